/**
 * A readable grid of every head's attention pattern for hovers — 4 heads per row, each a T×T viridis grid
 * with the tokens on both axes (rows = query, columns = key), the future (upper) triangle left empty as
 * the causal mask makes it, a title with the head's score, and ablated / clamped / replaced heads marked —
 * as an SVG `data:` URI (hovers strip inline SVG but show data-URI images). Colours follow the editor's
 * theme kind (the SVG cannot read CSS variables). No vscode import: unit-testable.
 */
import type { HeadMark } from '../shared/headMarks';

// Viridis at 9 stops (matplotlib's), interpolated linearly.
const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];

export function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x)),
    f = x - i;
  const a = hex(VIRIDIS[i]),
    b = hex(VIRIDIS[i + 1]);
  return (
    '#' +
    a
      .map((v, k) =>
        Math.round(v + (b[k] - v) * f)
          .toString(16)
          .padStart(2, '0'),
      )
      .join('')
  );
}
const hex = (s: string) => [1, 3, 5].map((i) => parseInt(s.slice(i, i + 2), 16));

export type ThemeKind = 'dark' | 'light' | 'hc-dark' | 'hc-light';

/** Text, grid-line and mark colours per theme kind; the background stays transparent (the hover's own). */
export const THEME_INK: Record<ThemeKind, { text: string; faint: string; mark: string }> = {
  dark: { text: '#cccccc', faint: '#5a5a5a', mark: '#f0a030' },
  light: { text: '#333333', faint: '#b0b0b0', mark: '#b85c00' },
  'hc-dark': { text: '#ffffff', faint: '#ffffff', mark: '#ffd700' },
  'hc-light': { text: '#000000', faint: '#000000', mark: '#8a3800' },
};

export interface ThumbnailOptions {
  /** Pixels per attention cell (default 13). */
  cell?: number;
  /** Heads per row (default 4). */
  perRow?: number;
  /** Axis labels, one per position (default x1 ℓ1 x2 ℓ2 xq … by position). */
  tokens?: string[];
  /** Score under each head's title, per layer ([layer][head]); undefined: none. */
  scores?: Array<number[] | undefined>;
  /** Short name of the score per layer ("PT", "IS"). */
  scoreNames?: Array<string | undefined>;
  /** Marks keyed "L<layer>H<head>" (paper layers). */
  marks?: Map<string, HeadMark>;
  theme?: ThemeKind;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Default axis labels: exemplar x and label ℓ alternate, the last is the query xq. */
export function defaultTokens(T: number): string[] {
  return Array.from({ length: T }, (_, i) => (i === T - 1 ? 'xq' : i % 2 === 0 ? `x${i / 2 + 1}` : `ℓ${(i + 1) / 2}`));
}

/** patterns: [layer][head][query][key] in [0, 1]. Returns the SVG text. */
export function patternGridSvg(patterns: number[][][][], o: ThumbnailOptions = {}): string {
  const cell = o.cell ?? 13,
    perRow = o.perRow ?? 4;
  const ink = THEME_INK[o.theme ?? 'dark'];
  const L = patterns.length,
    H = patterns[0]?.length ?? 0,
    T = patterns[0]?.[0]?.length ?? 0;
  const tokens = o.tokens?.length === T ? o.tokens : defaultTokens(T);
  const size = T * cell,
    axis = 16,
    title = 15,
    below = 14,
    gap = 14;
  const tileW = axis + size + gap,
    tileH = title + size + below + 6;
  const rowsPerLayer = Math.ceil(H / perRow);
  const W = perRow * tileW,
    Ht = L * rowsPerLayer * tileH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${Ht}" font-family="sans-serif" font-size="9">`,
  ];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const tx = (h % perRow) * tileW,
        ty = (l * rowsPerLayer + Math.floor(h / perRow)) * tileH;
      const x0 = tx + axis,
        y0 = ty + title;
      const name = `L${l + 1}H${h}`;
      const mark = o.marks?.get(name);
      const s = o.scores?.[l]?.[h];
      const head = `${name}${s !== undefined && Number.isFinite(s) ? ` ${o.scoreNames?.[l] ?? ''} ${s.toFixed(2)}`.replace(/\s+/g, ' ') : ''}`;
      parts.push(
        `<text x="${x0}" y="${ty + 11}" fill="${mark ? ink.mark : ink.text}" font-size="10"${mark ? ' font-weight="bold"' : ''}>${esc(head)}</text>`,
      );
      for (let i = 0; i < T; i++) {
        // Rows = query i; only keys j ≤ i exist (the causal mask): the future stays empty.
        for (let j = 0; j <= i; j++) {
          parts.push(
            `<rect x="${x0 + j * cell}" y="${y0 + i * cell}" width="${cell}" height="${cell}" fill="${viridis(patterns[l][h][i][j])}"/>`,
          );
        }
      }
      // The causal triangle's outline, so an empty cell reads as "masked", not as 0.
      parts.push(
        `<path d="M${x0} ${y0}h${cell}v${cell}${Array.from({ length: T - 1 }, () => `h${cell}v${cell}`).join('')}H${x0}Z" fill="none" stroke="${ink.faint}" stroke-width="0.8"/>`,
      );
      if (mark === 'ablated') {
        // Hatched: an ablated head's output is zero whatever its pattern shows.
        for (let k = cell; k < 2 * size; k += cell) {
          parts.push(
            `<line x1="${x0 + Math.max(0, k - size)}" y1="${y0 + Math.min(k, size)}" x2="${x0 + Math.min(k, size)}" y2="${y0 + Math.max(0, k - size)}" stroke="${ink.text}" stroke-opacity="0.55" stroke-width="1"/>`,
          );
        }
      }
      if (mark)
        parts.push(
          `<rect x="${x0 - 1.5}" y="${y0 - 1.5}" width="${size + 3}" height="${size + 3}" fill="none" stroke="${ink.mark}" stroke-width="2"${mark === 'replaced' ? ' stroke-dasharray="3 2"' : ''}/>`,
        );
      for (let i = 0; i < T; i++) {
        parts.push(
          `<text x="${x0 - 3}" y="${y0 + i * cell + cell / 2 + 3}" fill="${ink.text}" text-anchor="end">${esc(tokens[i])}</text>`,
        );
        parts.push(
          `<text x="${x0 + i * cell + cell / 2}" y="${y0 + size + 10}" fill="${ink.text}" text-anchor="middle">${esc(tokens[i])}</text>`,
        );
      }
      if (mark)
        parts.push(
          `<text x="${x0 + size}" y="${y0 + 9}" fill="${ink.mark}" text-anchor="end" font-size="8" font-weight="bold">${mark}</text>`,
        );
    }
  }
  parts.push('</svg>');
  return parts.join('');
}

export function svgDataUri(svg: string): string {
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
}
