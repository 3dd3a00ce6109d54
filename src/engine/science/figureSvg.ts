/**
 * Figures as data and as SVG (no DOM needed): a grid of panels, each a line chart or a heatmap. The CLI
 * writes them next to their data (JSON, CSV); docs/reproduction.md embeds them.
 */
import { escapeXml as esc, viridis } from '../io/svgParts';

export interface LineSeries {
  label: string;
  xs: number[];
  ys: number[];
  color?: string;
  dashed?: boolean;
  /** Shaded band around the line (several seeds: their range); same length as xs. */
  band?: { lo: number[]; hi: number[] };
  /** Each seed's values at xs, when the line is a mean over seeds. */
  perSeed?: Array<{ seed: number; ys: number[] }>;
}
export interface LinePanel {
  kind: 'lines';
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  yDomain?: [number, number];
  hline?: { y: number; label: string };
}
export interface HeatPanel {
  kind: 'heat';
  title: string;
  rows: string[];
  cols: string[];
  values: number[][];
  domain: [number, number];
  signed: boolean;
  note?: string;
}
export interface ScatterPanel {
  kind: 'scatter';
  title: string;
  xLabel: string;
  yLabel: string;
  points: Array<{ x: number; y: number; label: string; marker: 'circle' | 'triangle'; seed?: number }>;
  hline?: { y: number; label: string };
  xDomain?: [number, number];
  yDomain?: [number, number];
}
export type Panel = LinePanel | HeatPanel | ScatterPanel;
export interface FigureData {
  id: string;
  title: string;
  columns: number;
  panels: Panel[];
  notes: string[];
  /** The seeds drawn (one, or several combined by seedBands.combineSeeds). */
  seeds?: number[];
}

// Dark2 (colour-blind-considerate qualitative), as the paper's Fig 3b.
export const DARK2 = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666'];

const fmt = (x: number) =>
  Math.abs(x) >= 1e6
    ? `${+(x / 1e6).toFixed(2)}M`
    : Math.abs(x) >= 1e3
      ? `${+(x / 1e3).toFixed(1)}k`
      : `${+x.toFixed(2)}`;

function rdbu(t: number): string {
  // t in [-1, 1]: blue negative, white 0, red positive (RdBu reversed to blue = negative).
  const c = Math.max(-1, Math.min(1, t));
  const a = c < 0 ? [33, 102, 172] : [178, 24, 43];
  const f = Math.abs(c);
  return `rgb(${[0, 1, 2].map((k) => Math.round(247 + (a[k] - 247) * f)).join(',')})`;
}
function linePanel(p: LinePanel, x0: number, y0: number, W: number, H: number): string {
  const m = { l: 44, r: 22, t: 22, b: 34 };
  const all = p.series.flatMap((s) => s.ys.filter(Number.isFinite));
  const xMax = Math.max(1, ...p.series.flatMap((s) => s.xs));
  const [yLo, yHi] = p.yDomain ?? [Math.min(0, ...all), Math.max(...all, 1e-9)];
  const X = (x: number) => x0 + m.l + (x / xMax) * (W - m.l - m.r);
  const Y = (y: number) =>
    y0 + H - m.b - ((Math.max(yLo, Math.min(yHi, y)) - yLo) / (yHi - yLo || 1)) * (H - m.t - m.b);
  const o: string[] = [`<text x="${x0 + m.l}" y="${y0 + 14}" font-size="12" font-weight="bold">${esc(p.title)}</text>`];
  o.push(
    `<line x1="${X(0)}" y1="${Y(yLo)}" x2="${X(xMax)}" y2="${Y(yLo)}" stroke="#333"/><line x1="${X(0)}" y1="${Y(yLo)}" x2="${X(0)}" y2="${Y(yHi)}" stroke="#333"/>`,
  );
  for (let i = 0; i <= 4; i++) {
    const xv = (xMax * i) / 4,
      yv = yLo + ((yHi - yLo) * i) / 4;
    o.push(
      `<text x="${X(xv)}" y="${Y(yLo) + 12}" text-anchor="middle" font-size="9">${fmt(xv)}</text><text x="${X(0) - 4}" y="${Y(yv) + 3}" text-anchor="end" font-size="9">${fmt(yv)}</text>`,
    );
  }
  o.push(
    `<text x="${(X(0) + X(xMax)) / 2}" y="${y0 + H - 6}" text-anchor="middle" font-size="10">${esc(p.xLabel)}</text>`,
  );
  o.push(
    `<text transform="translate(${x0 + 10},${(Y(yLo) + Y(yHi)) / 2}) rotate(-90)" text-anchor="middle" font-size="10">${esc(p.yLabel)}</text>`,
  );
  if (p.hline)
    o.push(
      `<line x1="${X(0)}" x2="${X(xMax)}" y1="${Y(p.hline.y)}" y2="${Y(p.hline.y)}" stroke="#888" stroke-dasharray="4 3"/>`,
    );
  p.series.forEach((s, i) => {
    if (!s.band) return;
    const up: string[] = [],
      down: string[] = [];
    s.xs.forEach((x, k) => {
      if (Number.isFinite(s.band!.lo[k]) && Number.isFinite(s.band!.hi[k])) {
        up.push(`${X(x).toFixed(1)},${Y(s.band!.hi[k]).toFixed(1)}`);
        down.unshift(`${X(x).toFixed(1)},${Y(s.band!.lo[k]).toFixed(1)}`);
      }
    });
    if (up.length)
      o.push(
        `<polygon fill="${s.color ?? DARK2[i % 8]}" fill-opacity="0.18" stroke="none" points="${[...up, ...down].join(' ')}"/>`,
      );
  });
  // Several seeds: each seed thin and faint under the mean, so a sharp drop at different times stays sharp.
  p.series.forEach((s, i) => {
    for (const ps of s.perSeed ?? []) {
      const pts = s.xs
        .map((x, k) => (Number.isFinite(ps.ys[k]) ? `${X(x).toFixed(1)},${Y(ps.ys[k]).toFixed(1)}` : ''))
        .filter(Boolean)
        .join(' ');
      o.push(
        `<polyline fill="none" stroke="${s.color ?? DARK2[i % 8]}" stroke-opacity="0.45" stroke-width="0.8"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${pts}"><title>${esc(`${s.label}, seed ${ps.seed}`)}</title></polyline>`,
      );
    }
  });
  p.series.forEach((s, i) => {
    const pts = s.xs
      .map((x, k) => (Number.isFinite(s.ys[k]) ? `${X(x).toFixed(1)},${Y(s.ys[k]).toFixed(1)}` : ''))
      .filter(Boolean)
      .join(' ');
    o.push(
      `<polyline fill="none" stroke="${s.color ?? DARK2[i % 8]}" stroke-width="${s.perSeed ? 2.2 : 1.5}"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${pts}"/>`,
    );
  });
  const legend = [
    ...p.series.map((s, i) => ({ label: s.label, color: s.color ?? DARK2[i % 8], dashed: s.dashed })),
    ...(p.hline ? [{ label: p.hline.label, color: '#888', dashed: true }] : []),
  ];
  legend.forEach((l, i) => {
    const ly = y0 + m.t + 4 + i * 11,
      lx = X(xMax) - 150;
    o.push(
      `<line x1="${lx}" x2="${lx + 14}" y1="${ly}" y2="${ly}" stroke="${l.color}" stroke-width="2"${l.dashed ? ' stroke-dasharray="4 2"' : ''}/><text x="${lx + 17}" y="${ly + 3}" font-size="8.5">${esc(l.label)}</text>`,
    );
  });
  return o.join('');
}

function heatPanel(p: HeatPanel, x0: number, y0: number, W: number, H: number): string {
  const top = 22,
    left = 40,
    cell = Math.min((W - left - 10) / p.cols.length, (H - top - 40) / p.rows.length);
  const o: string[] = [`<text x="${x0 + 4}" y="${y0 + 14}" font-size="11" font-weight="bold">${esc(p.title)}</text>`];
  const [lo, hi] = p.domain;
  p.values.forEach((row, i) =>
    row.forEach((v, j) => {
      const c = p.signed ? rdbu(v / Math.max(Math.abs(lo), Math.abs(hi))) : viridis((v - lo) / (hi - lo || 1));
      o.push(
        `<rect x="${x0 + left + j * cell}" y="${y0 + top + i * cell}" width="${cell}" height="${cell}" fill="${c}"><title>${esc(`${p.rows[i]} × ${p.cols[j]}: ${v.toFixed(4)}`)}</title></rect>`,
      );
    }),
  );
  p.rows.forEach((r, i) =>
    o.push(
      `<text x="${x0 + left - 3}" y="${y0 + top + (i + 0.6) * cell}" text-anchor="end" font-size="8">${esc(r)}</text>`,
    ),
  );
  p.cols.forEach((c, j) =>
    o.push(
      `<text x="${x0 + left + (j + 0.5) * cell}" y="${y0 + top + p.rows.length * cell + 10}" text-anchor="middle" font-size="8">${esc(c)}</text>`,
    ),
  );
  o.push(
    `<text x="${x0 + left}" y="${y0 + top + p.rows.length * cell + 24}" font-size="8.5">${esc(`${p.note ?? ''} range [${lo}, ${hi}]`)}</text>`,
  );
  return o.join('');
}

function scatterPanel(p: ScatterPanel, x0: number, y0: number, W: number, H: number): string {
  const m = { l: 44, r: 8, t: 22, b: 34 };
  const [xl, xh] = p.xDomain ?? [0, 1],
    [yl, yh] = p.yDomain ?? [0, 1.05];
  const X = (x: number) => x0 + m.l + ((x - xl) / (xh - xl)) * (W - m.l - m.r);
  const Y = (y: number) => y0 + H - m.b - ((y - yl) / (yh - yl)) * (H - m.t - m.b);
  const o: string[] = [`<text x="${x0 + m.l}" y="${y0 + 14}" font-size="12" font-weight="bold">${esc(p.title)}</text>`];
  o.push(
    `<line x1="${X(xl)}" y1="${Y(yl)}" x2="${X(xh)}" y2="${Y(yl)}" stroke="#333"/><line x1="${X(xl)}" y1="${Y(yl)}" x2="${X(xl)}" y2="${Y(yh)}" stroke="#333"/>`,
  );
  for (let i = 0; i <= 4; i++) {
    o.push(
      `<text x="${X(xl + ((xh - xl) * i) / 4)}" y="${Y(yl) + 12}" text-anchor="middle" font-size="9">${fmt(xl + ((xh - xl) * i) / 4)}</text><text x="${X(xl) - 4}" y="${Y(yl + ((yh - yl) * i) / 4) + 3}" text-anchor="end" font-size="9">${fmt(yl + ((yh - yl) * i) / 4)}</text>`,
    );
  }
  o.push(
    `<text x="${(X(xl) + X(xh)) / 2}" y="${y0 + H - 6}" text-anchor="middle" font-size="10">${esc(p.xLabel)}</text><text transform="translate(${x0 + 10},${(Y(yl) + Y(yh)) / 2}) rotate(-90)" text-anchor="middle" font-size="10">${esc(p.yLabel)}</text>`,
  );
  if (p.hline)
    o.push(
      `<line x1="${X(xl)}" x2="${X(xh)}" y1="${Y(p.hline.y)}" y2="${Y(p.hline.y)}" stroke="#888" stroke-dasharray="4 3"/><text x="${X(xh) - 2}" y="${Y(p.hline.y) - 3}" text-anchor="end" font-size="8">${esc(p.hline.label)}</text>`,
    );
  p.points.forEach((pt, i) => {
    const c = DARK2[Number(pt.label.replace(/\D/g, '')) % 8 || i % 8],
      x = X(pt.x),
      y = Y(pt.y);
    o.push(
      pt.marker === 'circle'
        ? `<circle cx="${x}" cy="${y}" r="4" fill="${c}"><title>${esc(pt.label)}</title></circle>`
        : `<path d="M${x},${y - 5}L${x + 5},${y + 4}L${x - 5},${y + 4}Z" fill="${c}"><title>${esc(pt.label)}</title></path>`,
    );
  });
  return o.join('');
}

/** Greedy word wrap to lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of text.split(' ')) {
    if (cur && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  return cur ? [...lines, cur] : lines;
}

export function figureSvg(f: FigureData): string {
  const PW = f.columns === 1 ? 560 : 420,
    PH = f.panels.some((p) => p.kind === 'heat') ? 300 : 260;
  const cols = Math.max(1, f.columns),
    rows = Math.ceil(f.panels.length / cols);
  const W = cols * PW;
  // ≈ 0.55 em per character of sans-serif: shrink a long title to fit, wrap long notes.
  const titleSize = Math.max(9, Math.min(14, (W - 16) / (0.58 * f.title.length)));
  const notes = f.notes.flatMap((n) => wrap(n, Math.floor((W - 16) / 5.6)));
  const H = 30 + rows * PH + 14 * notes.length;
  const o = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" fill="#222">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="8" y="20" font-size="${titleSize.toFixed(1)}" font-weight="bold">${esc(f.title)}</text>`,
  ];
  f.panels.forEach((p, i) => {
    const x0 = (i % cols) * PW,
      y0 = 30 + Math.floor(i / cols) * PH;
    o.push(
      p.kind === 'lines'
        ? linePanel(p, x0, y0, PW, PH)
        : p.kind === 'heat'
          ? heatPanel(p, x0, y0, PW, PH)
          : scatterPanel(p, x0, y0, PW, PH),
    );
  });
  notes.forEach((n, i) => o.push(`<text x="8" y="${30 + rows * PH + 10 + i * 14}" font-size="10">${esc(n)}</text>`));
  o.push('</svg>');
  return o.join('\n');
}

/**
 * Long-format CSV of every series / cell of a figure: panel, series, x, y, seed. A line that is a mean
 * over seeds gives each seed's rows, then its "mean", "min" and "max" rows.
 */
export function figureCsv(f: FigureData): string {
  const q = (s: string | number) =>
    typeof s === 'number' ? String(s) : /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  const one = f.seeds?.length === 1 ? f.seeds[0] : '';
  const rows = ['panel,series,x,y,seed'];
  const line = (p: string, s: string, x: number, y: number, seed: string | number) =>
    rows.push([p, s, x, y, seed].map(q).join(','));
  for (const p of f.panels) {
    if (p.kind === 'lines') {
      for (const s of p.series) {
        if (!s.perSeed) {
          s.xs.forEach((x, i) => line(p.title, s.label, x, s.ys[i], one));
          continue;
        }
        for (const ps of s.perSeed) s.xs.forEach((x, i) => line(p.title, s.label, x, ps.ys[i], ps.seed));
        s.xs.forEach((x, i) => line(p.title, s.label, x, s.ys[i], 'mean'));
        if (s.band)
          for (const [k, v] of [
            ['min', s.band.lo],
            ['max', s.band.hi],
          ] as const)
            s.xs.forEach((x, i) => line(p.title, s.label, x, v[i], k));
      }
    } else if (p.kind === 'heat')
      p.values.forEach((r, i) =>
        r.forEach((v, j) => rows.push([p.title, p.rows[i], p.cols[j], v, f.seeds?.[0] ?? ''].map(q).join(','))),
      );
    else for (const pt of p.points) line(p.title, `${pt.label} (${pt.marker})`, pt.x, pt.y, pt.seed ?? one);
  }
  return rows.join('\n') + '\n';
}
