/**
 * The essential-dynamics figure as SVG: the trajectory in PC1–PC2, PC1–PC3 and PC2–PC3, points coloured
 * by log training time (viridis), cusps ringed, and the explained variance of the first components.
 */
import type { DynamicsFile } from '../../shared/llc';
import { escapeXml as esc, viridis } from '../io/svgParts';

export function dynamicsSvg(f: DynamicsFile): string {
  const P = 260,
    W = 3 * P + 200,
    H = P + 90;
  const pts = f.points;
  const lt = pts.map((p) => Math.log10(Math.max(1, p.sequences)));
  const lo = Math.min(...lt),
    hi = Math.max(...lt);
  const col = (i: number) => viridis((lt[i] - lo) / (hi - lo || 1));
  const cuspSet = new Set(f.cusps.map((c) => c.sequences));
  const heading =
    `Essential dynamics: ${f.features.join(' + ')} on ${f.probe.sequences} probe sequences, ` +
    `${pts.length} checkpoints (${f.mode})`;
  const o = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" fill="#222">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="8" y="20" font-size="14" font-weight="bold">${esc(heading)}</text>`,
  ];
  const pairs: Array<[number, number]> = [
    [0, 1],
    [0, 2],
    [1, 2],
  ];
  pairs.forEach(([a, b], k) => {
    if ((pts[0]?.pcs.length ?? 0) <= b) return;
    const x0 = k * P + 10,
      y0 = 34,
      m = 30;
    const xs = pts.map((p) => p.pcs[a]),
      ys = pts.map((p) => p.pcs[b]);
    const [xl, xh] = [Math.min(...xs), Math.max(...xs)],
      [yl, yh] = [Math.min(...ys), Math.max(...ys)];
    const X = (v: number) => x0 + m + ((v - xl) / (xh - xl || 1)) * (P - 2 * m),
      Y = (v: number) => y0 + P - m - ((v - yl) / (yh - yl || 1)) * (P - 2 * m);
    o.push(`<rect x="${x0 + m}" y="${y0 + m}" width="${P - 2 * m}" height="${P - 2 * m}" fill="none" stroke="#ccc"/>`);
    o.push(
      `<text x="${x0 + P / 2}" y="${y0 + P - 8}" text-anchor="middle" font-size="10">PC${a + 1} ` +
        `(${(100 * f.explainedVariance[a]).toFixed(1)} %)</text>`,
    );
    o.push(
      `<text transform="translate(${x0 + 12},${y0 + P / 2}) rotate(-90)" text-anchor="middle" ` +
        `font-size="10">PC${b + 1} (${(100 * f.explainedVariance[b]).toFixed(1)} %)</text>`,
    );
    for (let i = 1; i < pts.length; i++)
      o.push(
        `<line x1="${X(xs[i - 1]).toFixed(1)}" y1="${Y(ys[i - 1]).toFixed(1)}" x2="${X(xs[i]).toFixed(1)}" ` +
          `y2="${Y(ys[i]).toFixed(1)}" stroke="${col(i)}" stroke-width="1.5"/>`,
      );
    pts.forEach((p, i) => {
      const cusp = cuspSet.has(p.sequences);
      o.push(
        `<circle cx="${X(xs[i]).toFixed(1)}" cy="${Y(ys[i]).toFixed(1)}" r="${cusp ? 4 : 2.5}" fill="${col(i)}"` +
          `${cusp ? ' stroke="#d62728" stroke-width="1.5"' : ''}>` +
          `<title>${p.sequences} sequences (step ${p.step})</title></circle>`,
      );
    });
  });
  // Colour bar (log time) and explained variance.
  const bx = 3 * P + 30,
    by = 50;
  for (let i = 0; i < 100; i++)
    o.push(`<rect x="${bx}" y="${by + (99 - i) * 1.2}" width="12" height="1.3" fill="${viridis(i / 99)}"/>`);
  o.push(
    `<text x="${bx + 16}" y="${by + 6}" font-size="9">${Math.round(10 ** hi)} seq</text><text x="${bx + 16}" ` +
      `y="${by + 120}" font-size="9">${Math.round(10 ** lo)} seq</text>`,
  );
  o.push(`<text x="${bx}" y="${by + 140}" font-size="10">explained variance</text>`);
  f.explainedVariance
    .slice(0, 8)
    .forEach((v, i) =>
      o.push(
        `<rect x="${bx}" y="${by + 148 + i * 11}" width="${(v * 140).toFixed(1)}" height="8" fill="#4c72b0"/><text ` +
          `x="${bx + v * 140 + 4}" y="${by + 155 + i * 11}" font-size="8">PC${i + 1} ${(100 * v).toFixed(1)} %</text>`,
      ),
    );
  const at = f.cusps.length ? ` at ${f.cusps.map((c) => c.sequences).join(', ')}` : ': none';
  const foot = `ringed: cusps (turns > 60° of the smoothed path)${at}. ${f.blockScaling}.`;
  o.push(`<text x="8" y="${H - 8}" font-size="10">${esc(foot)}</text>`);
  o.push('</svg>');
  return o.join('\n');
}
