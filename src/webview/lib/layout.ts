/** Grid layouts of small heatmaps. Pure module, unit-tested. */

export interface GridLayout {
  cell: number;
  labelW: number;
  perRow: number;
  height: number;
  width: number;
  /** Top-left of the heatmap of (layer, head); `firstInRow` ones carry the row labels. */
  position(layer: number, head: number): { x: number; y: number; firstInRow: boolean };
}

/**
 * Layers × heads grid of n×n patterns fitted to `width`: all heads of a layer on one row while cells
 * stay ≥ 11 px, else half of them per row; cells between 8 and 26 px.
 */
export function attentionLayout(width: number, nLayers: number, nHeads: number, nTok: number): GridLayout {
  const labelW = 24,
    gap = 10,
    titleH = 16,
    keyH = 16,
    layerTitleH = 22;
  const fit = (perRow: number) => Math.floor((width - labelW - gap * perRow) / (perRow * nTok));
  let perRow = Math.max(1, nHeads);
  let cell = fit(perRow);
  while (cell < 11 && perRow > 1) {
    perRow = Math.ceil(perRow / 2);
    cell = fit(perRow);
  }
  cell = Math.max(8, Math.min(26, cell));
  const blockW = cell * nTok + gap;
  const blockH = titleH + cell * nTok + keyH + 4;
  const rowsPerLayer = Math.ceil(nHeads / perRow);
  const layerH = layerTitleH + rowsPerLayer * blockH;
  return {
    cell,
    labelW,
    perRow,
    width: labelW + perRow * blockW,
    height: nLayers * layerH,
    position(layer, head) {
      const col = head % perRow,
        row = Math.floor(head / perRow);
      return {
        x: col === 0 ? 0 : labelW + col * blockW,
        y: layer * layerH + layerTitleH + row * blockH,
        firstInRow: col === 0,
      };
    },
  };
}

/** Columns for a small-multiples grid: as many panels of at least `minW` px as fit, at most `max`. */
export function gridColumns(width: number, minW: number, max: number): number {
  return Math.max(1, Math.min(max, Math.floor(width / minW)));
}
