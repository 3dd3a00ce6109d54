/**
 * A thumbnail grid of every head's attention pattern (layers × heads, each a T×T viridis grid) as an
 * SVG `data:` URI — hovers strip inline SVG but show data-URI images. No vscode import: unit-testable.
 */

// Viridis at 9 stops (matplotlib's), interpolated linearly.
const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];

export function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
  const a = hex(VIRIDIS[i]), b = hex(VIRIDIS[i + 1]);
  return '#' + a.map((v, k) => Math.round(v + (b[k] - v) * f).toString(16).padStart(2, '0')).join('');
}
const hex = (s: string) => [1, 3, 5].map((i) => parseInt(s.slice(i, i + 2), 16));

export interface ThumbnailOptions { cell?: number; gap?: number; tokens?: string[]; scores?: Array<number[] | undefined> }

/** patterns: [layer][head][query][key] in [0, 1]. Returns the SVG text. */
export function patternGridSvg(patterns: number[][][][], o: ThumbnailOptions = {}): string {
  const cell = o.cell ?? 5, gap = o.gap ?? 4, label = 26, top = 14;
  const L = patterns.length, H = patterns[0]?.length ?? 0, T = patterns[0]?.[0]?.length ?? 0;
  const size = T * cell;
  const W = label + H * (size + gap), Hh = top + L * (size + gap + 10);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${Hh}" font-family="sans-serif" font-size="8">`, `<rect width="${W}" height="${Hh}" fill="#1e1e1e"/>`];
  for (let h = 0; h < H; h++) parts.push(`<text x="${label + h * (size + gap) + size / 2}" y="9" fill="#ccc" text-anchor="middle">H${h}</text>`);
  for (let l = 0; l < L; l++) {
    const y0 = top + l * (size + gap + 10);
    parts.push(`<text x="2" y="${y0 + size / 2 + 3}" fill="#ccc">L${l + 1}</text>`);
    for (let h = 0; h < H; h++) {
      const x0 = label + h * (size + gap);
      for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
        parts.push(`<rect x="${x0 + j * cell}" y="${y0 + i * cell}" width="${cell}" height="${cell}" fill="${viridis(patterns[l][h][i][j])}"/>`);
      }
      const s = o.scores?.[l]?.[h];
      if (s !== undefined) parts.push(`<text x="${x0 + size / 2}" y="${y0 + size + 8}" fill="#ccc" text-anchor="middle">${s.toFixed(2)}</text>`);
    }
  }
  parts.push('</svg>');
  return parts.join('');
}

export function svgDataUri(svg: string): string {
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
}
