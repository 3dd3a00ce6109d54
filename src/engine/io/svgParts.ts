/**
 * Pieces every SVG figure the engine writes shares: text escaping and the viridis colour map (the
 * figures of reproduce, llc, dynamics and the run report draw on a light background, as papers do).
 */

/** Text safe inside SVG elements and attribute values. */
export const escapeXml = (s: string): string =>
  s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** Five stops of matplotlib's viridis, interpolated linearly. */
const VIRIDIS = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** viridis(t) for t in [0, 1] (clamped), as an `rgb(…)` colour. */
export function viridis(t: number): string {
  const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x)),
    f = x - i;
  return `rgb(${[0, 1, 2].map((k) => Math.round(VIRIDIS[i][k] + (VIRIDIS[i + 1][k] - VIRIDIS[i][k]) * f)).join(',')})`;
}
