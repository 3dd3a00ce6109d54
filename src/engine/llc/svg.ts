/**
 * Figures of the LLC files as SVG (no DOM): the calibration grid (ε × nβ, coloured by the estimate, each
 * cell marked healthy or with its warnings, the recommendation outlined) and the developmental figure
 * (LLC with its chain band, per-head LLC, loss and induction strength over log sequences, stage
 * boundaries as lines and stages as bands on every panel). Light background, viridis / Dark2 colours.
 */
import type { LlcCalibrationFile, LlcCheckpointFile, LlcRunFile } from '../../shared/llc';
import { escapeXml as esc, viridis } from '../io/svgParts';

const DARK2 = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666'];

const title = (t: string): string => `<text x="8" y="20" font-size="14" font-weight="bold">${esc(t)}</text>`;

/** The polygon of a ±band around a curve: the upper edge forward, the lower edge back. */
function bandPoints(band: Array<[number, number]>, X: (i: number) => number, Y: (y: number) => number): string {
  const up = band.map((b, i) => `${X(i).toFixed(1)},${Y(b[1]).toFixed(1)}`);
  const dn = band.map((b, i) => `${X(i).toFixed(1)},${Y(b[0]).toFixed(1)}`).reverse();
  return [...up, ...dn].join(' ');
}

const LETTER: Record<string, string> = {
  diverged: 'd',
  'not-flattened': 'f',
  negative: 'n',
  'low-acceptance': 'a',
  'not-significant': 's',
};
/** ★ equilibrated, ✓ healthy, else the warnings' letters. */
const markOf = (x: LlcCalibrationFile['cells'][number]): string =>
  x.equilibrated ? '★' : x.healthy ? '✓' : x.warnings.map((w) => LETTER[w] ?? '').join('');

const num = (x: number | null | undefined, d = 2): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(d);
const seqLabel = (x: number): string =>
  x >= 1e6 ? `${+(x / 1e6).toFixed(1)}M` : x >= 1e3 ? `${+(x / 1e3).toFixed(1)}k` : `${x}`;

export function calibrationCsv(c: LlcCalibrationFile): string {
  const rows = [
    'epsilon,nbeta,nbeta_multiplier,llc,llc_std,llc_stderr,mala_acceptance,relative_gap,flattened,diverged_chains,' +
      'healthy,equilibrated,refined,warnings',
  ];
  for (const x of c.cells) {
    rows.push(
      [
        x.epsilon,
        x.nbeta,
        x.nbetaMultiplier,
        x.mean ?? '',
        x.std ?? '',
        x.stderr ?? '',
        x.meanAcceptance ?? '',
        x.relativeGap ?? '',
        x.flattened ? 1 : 0,
        x.divergedChains,
        x.healthy ? 1 : 0,
        x.equilibrated ? 1 : 0,
        x.refined ? 1 : 0,
        x.warnings.join(' '),
      ].join(','),
    );
  }
  return rows.join('\n') + '\n';
}

export function calibrationSvg(c: LlcCalibrationFile): string {
  const cell = 58,
    left = 120,
    top = 66,
    cols = c.epsilons.length,
    rows = c.nbetaMultipliers.length;
  const W = left + cols * cell + 30,
    H = top + rows * cell + 110;
  const grid = c.cells.filter((x) => !x.refined);
  const vals = grid
    .filter((x) => x.mean !== null && x.divergedChains === 0)
    .map((x) => Math.log10(Math.max(1e-3, x.mean!)));
  const lo = vals.length ? Math.min(...vals) : 0,
    hi = vals.length ? Math.max(...vals) : 1;
  const o = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" fill="#222">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    title(
      `LLC calibration at ${c.sequences} sequences (${c.mode}; γ = ${c.settings.gamma}, ` +
        `${c.settings.chains} chains × ${c.settings.draws} draws)`,
    ),
    `<text x="8" y="38" font-size="10">colour: log10 LLC (viridis; grey = diverged or negative); ★ equilibrated ` +
      `(what the recommendation needs), ✓ healthy;</text>`,
    `<text x="8" y="51" font-size="10">letters: d diverged, f not flattened, n negative, a MALA acceptance &lt; ` +
      `0.1, s not significant</text>`,
  ];
  c.nbetaMultipliers.forEach((m, i) => {
    o.push(
      `<text x="${left - 6}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end" font-size="10">nβ ×${m} ` +
        `(${num(m * c.nbetaDefault)})</text>`,
    );
    c.epsilons.forEach((e, j) => {
      const x = grid.find((g) => g.epsilon === e && Math.abs(g.nbetaMultiplier - m) < 1e-9);
      const bad = !x || x.mean === null || x.divergedChains > 0 || x.mean <= 0;
      const fill = bad ? '#bbb' : viridis((Math.log10(Math.max(1e-3, x!.mean!)) - lo) / (hi - lo || 1));
      const X = left + j * cell,
        Y = top + i * cell;
      const rec =
        c.recommendation &&
        x &&
        Math.abs(c.recommendation.nbeta - x.nbeta) < 1e-9 &&
        c.recommendation.epsilon === x.epsilon;
      const tip = x
        ? `ε ${e.toExponential(2)}, nβ ${num(x.nbeta, 3)}: LLC ${num(x.mean)} ± ${num(x.std)}, ` +
          `MALA ${num(x.meanAcceptance)}, ${x.warnings.join(', ') || 'healthy'}`
        : '';
      o.push(
        `<rect x="${X}" y="${Y}" width="${cell - 2}" height="${cell - 2}" ` +
          `fill="${fill}"${rec ? ' stroke="#d62728" stroke-width="3"' : ''}><title>${esc(tip)}</title></rect>`,
      );
      if (x) {
        const dark = !bad && (Math.log10(Math.max(1e-3, x.mean!)) - lo) / (hi - lo || 1) < 0.55;
        o.push(
          `<text x="${X + cell / 2 - 1}" y="${Y + cell / 2 - 2}" text-anchor="middle" font-size="11" ` +
            `fill="${dark ? 'white' : '#111'}">${esc(num(x.mean))}</text>`,
        );
        o.push(
          `<text x="${X + cell / 2 - 1}" y="${Y + cell / 2 + 12}" text-anchor="middle" font-size="10" ` +
            `fill="${dark ? 'white' : '#111'}">${esc(markOf(x))}</text>`,
        );
      }
    });
  });
  c.epsilons.forEach((e, j) =>
    o.push(
      `<text x="${left + j * cell + cell / 2}" y="${top + rows * cell + 14}" text-anchor="middle" ` +
        `font-size="10">${e.toExponential(1)}</text>`,
    ),
  );
  o.push(
    `<text x="${left + (cols * cell) / 2}" y="${top + rows * cell + 30}" text-anchor="middle" font-size="11">ε ` +
      `(step size)</text>`,
  );
  const note = c.recommendation
    ? `recommended: ε = ${c.recommendation.epsilon.toPrecision(3)}, nβ = ${num(c.recommendation.nbeta, 3)} → LLC ` +
      `${num(c.recommendation.mean)} ± ${num(c.recommendation.std)} (outlined)`
    : c.note;
  wrap(note, 110).forEach((l, i) =>
    o.push(`<text x="8" y="${top + rows * cell + 52 + i * 14}" font-size="11">${esc(l)}</text>`),
  );
  o.push('</svg>');
  return o.join('\n');
}

function wrap(s: string, n: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const w of s.split(' ')) {
    if ((line + ' ' + w).trim().length > n) {
      out.push(line.trim());
      line = w;
    } else line += ' ' + w;
  }
  if (line.trim()) out.push(line.trim());
  return out;
}

interface Series {
  label: string;
  xs: number[];
  ys: Array<number | null>;
  color: string;
  width?: number;
  dashed?: boolean;
  band?: Array<[number, number] | null>;
}

/** One panel on a shared log-x axis; stages shaded, boundaries dashed. */
function logPanel(
  o: string[],
  title: string,
  yLabel: string,
  series: Series[],
  x0: number,
  y0: number,
  W: number,
  H: number,
  xDomain: [number, number],
  f: LlcRunFile,
  legendCols = 1,
): void {
  const m = { l: 56, r: 150, t: 20, b: 26 };
  const ys = series.flatMap((s) => [
    ...s.ys.filter((y): y is number => y !== null && Number.isFinite(y)),
    ...(s.band ?? []).flatMap((b) => (b ? b : [])),
  ]);
  let lo = ys.length ? Math.min(...ys) : 0,
    hi = ys.length ? Math.max(...ys) : 1;
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const [a, b] = xDomain.map(Math.log10);
  const X = (x: number) => x0 + m.l + ((Math.log10(x) - a) / (b - a)) * (W - m.l - m.r);
  const Y = (y: number) => y0 + H - m.b - ((y - lo) / (hi - lo)) * (H - m.t - m.b);
  f.stages.stages.forEach((s, i) => {
    if (i % 2 === 1)
      o.push(
        `<rect x="${X(Math.max(s.from, xDomain[0]))}" y="${Y(hi)}" ` +
          `width="${Math.max(0, X(Math.min(s.until, xDomain[1])) - X(Math.max(s.from, xDomain[0])))}" ` +
          `height="${Y(lo) - Y(hi)}" fill="#eef1f7"/>`,
      );
  });
  for (const bd of f.stages.boundaries)
    o.push(
      `<line x1="${X(bd.sequences)}" x2="${X(bd.sequences)}" y1="${Y(hi)}" y2="${Y(lo)}" stroke="#888" ` +
        `stroke-dasharray="4 3"><title>${esc(`stage boundary (${bd.kind}) at ${bd.sequences}`)}</title></line>`,
    );
  if (f.learningTime.sequences && f.learningTime.reached) {
    const lx = X(f.learningTime.sequences);
    o.push(
      `<line x1="${lx}" x2="${lx}" y1="${Y(hi)}" y2="${Y(lo)}" stroke="#d62728" stroke-width="1" ` +
        `stroke-dasharray="1 2"><title>learning time of the loss</title></line>`,
    );
  }
  o.push(`<text x="${x0 + m.l}" y="${y0 + 14}" font-size="12" font-weight="bold">${esc(title)}</text>`);
  o.push(
    `<line x1="${X(xDomain[0])}" y1="${Y(lo)}" x2="${X(xDomain[1])}" y2="${Y(lo)}" stroke="#333"/><line ` +
      `x1="${X(xDomain[0])}" y1="${Y(lo)}" x2="${X(xDomain[0])}" y2="${Y(hi)}" stroke="#333"/>`,
  );
  for (let e = Math.floor(a); e <= Math.floor(b); e++) {
    for (const k of [1, 2, 5]) {
      const v = k * 10 ** e;
      if (v < xDomain[0] || v > xDomain[1]) continue;
      o.push(
        `<line x1="${X(v)}" x2="${X(v)}" y1="${Y(lo)}" y2="${Y(lo) + 3}" stroke="#333"/><text x="${X(v)}" ` +
          `y="${Y(lo) + 13}" text-anchor="middle" font-size="9">${seqLabel(v)}</text>`,
      );
    }
  }
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    o.push(`<text x="${X(xDomain[0]) - 4}" y="${Y(v) + 3}" text-anchor="end" font-size="9">${num(v)}</text>`);
  }
  o.push(
    `<text transform="translate(${x0 + 12},${(Y(lo) + Y(hi)) / 2}) rotate(-90)" text-anchor="middle" ` +
      `font-size="10">${esc(yLabel)}</text>`,
  );
  for (const s of series) {
    if (s.band) {
      const up: string[] = [],
        dn: string[] = [];
      s.xs.forEach((x, k) => {
        const bd = s.band![k];
        if (bd) {
          up.push(`${X(x).toFixed(1)},${Y(bd[1]).toFixed(1)}`);
          dn.unshift(`${X(x).toFixed(1)},${Y(bd[0]).toFixed(1)}`);
        }
      });
      if (up.length)
        o.push(`<polygon points="${[...up, ...dn].join(' ')}" fill="${s.color}" fill-opacity="0.2" stroke="none"/>`);
    }
    const pts = s.xs
      .map((x, k) =>
        s.ys[k] !== null && Number.isFinite(s.ys[k]!) ? `${X(x).toFixed(1)},${Y(s.ys[k]!).toFixed(1)}` : '',
      )
      .filter(Boolean)
      .join(' ');
    o.push(
      `<polyline fill="none" stroke="${s.color}" ` +
        `stroke-width="${s.width ?? 1.4}"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${pts}"/>`,
    );
  }
  series.forEach((s, i) => {
    const col = i % legendCols,
      r = Math.floor(i / legendCols);
    const lx = x0 + W - m.r + 8 + col * 70,
      ly = y0 + m.t + 6 + r * 11;
    o.push(
      `<line x1="${lx}" x2="${lx + 14}" y1="${ly}" y2="${ly}" stroke="${s.color}" ` +
        `stroke-width="2"${s.dashed ? ' stroke-dasharray="4 2"' : ''}/><text x="${lx + 17}" y="${ly + 3}" ` +
        `font-size="8.5">${esc(s.label)}</text>`,
    );
  });
}

/** The developmental figure of an llc.json: LLC, per-head LLC, loss and induction strength over log sequences. */
export function developmentSvg(f: LlcRunFile, title: string): string {
  const pts = f.points.filter((p) => p.sequences > 0);
  const xs = pts.map((p) => p.sequences);
  const xDomain: [number, number] = [Math.min(...xs), Math.max(...xs)];
  const heads = [...new Set(pts.flatMap((p) => Object.keys(p.heads)))].sort();
  const panels: Array<{ title: string; y: string; series: Series[]; cols?: number }> = [];
  if (pts.some((p) => p.model)) {
    panels.push({
      title: 'LLC (every weight), mean ± std over chains',
      y: 'λ̂',
      series: [
        {
          label: 'LLC',
          xs,
          ys: pts.map((p) => p.model?.mean ?? null),
          color: '#1f77b4',
          width: 2,
          band: pts.map((p) =>
            p.model?.mean != null && p.model.std != null
              ? [p.model.mean - p.model.std, p.model.mean + p.model.std]
              : null,
          ),
        },
        {
          label: 'smoothed (stages)',
          xs: f.stages.smoothed.map((s) => s.sequences),
          ys: f.stages.smoothed.map((s) => s.llc),
          color: '#444',
          dashed: true,
        },
      ],
    });
  }
  if (heads.length) {
    panels.push({
      title: 'per-head LLC (weight-refined)',
      y: 'λ̂ of the head',
      cols: 2,
      series: heads.map((h) => {
        const layer = Number(/^L(\d+)/.exec(h)?.[1] ?? 1),
          idx = Number(/H(\d+)$/.exec(h)?.[1] ?? 0);
        return {
          label: h,
          xs,
          ys: pts.map((p) => p.heads[h]?.mean ?? null),
          color: DARK2[idx % 8],
          dashed: layer === 1,
        };
      }),
    });
  }
  panels.push({
    title: 'eval loss (fsl_train)',
    y: 'loss',
    series: [{ label: 'train (eval)', xs, ys: pts.map((p) => p.trainLoss), color: '#d62728', width: 1.8 }],
  });
  const nIS = pts.find((p) => p.inductionStrength)?.inductionStrength?.length ?? 0;
  if (nIS) {
    panels.push({
      title: 'induction strength of each last-layer head',
      y: 'IS',
      cols: 2,
      series: Array.from({ length: nIS }, (_, h) => ({
        label: `H${h}`,
        xs,
        ys: pts.map((p) => p.inductionStrength?.[h] ?? null),
        color: DARK2[h % 8],
      })),
    });
  }
  const W = 760,
    PH = 190,
    H = 34 + panels.length * PH + 40;
  const o = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" fill="#222">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="8" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  panels.forEach((p, i) => logPanel(o, p.title, p.y, p.series, 0, 30 + i * PH, W, PH, xDomain, f, p.cols ?? 1));
  const s = f.settings;
  const notes = [
    `x: sequences seen (log). Shaded / dashed: stages and their boundaries from the LLC curve; dotted red: learning ` +
      `time of the loss.`,
    `SGLD ε ${s.epsilon}, γ ${s.gamma}, nβ ${num(s.nbeta, 3)}, ${s.chains} chains × ${s.draws} draws; ${f.clampsNote}.`,
  ];
  notes.forEach((n, i) =>
    o.push(`<text x="8" y="${30 + panels.length * PH + 14 + i * 13}" font-size="10">${esc(n)}</text>`),
  );
  o.push('</svg>');
  return o.join('\n');
}

/** One checkpoint's diagnostics: every chain's loss trace, the running LLC with its band, ‖w − w*‖, MALA acceptance. */
export function tracesSvg(rec: LlcCheckpointFile, target = 'model'): string {
  const d = target === 'model' ? rec.model : rec.heads[target];
  if (!d) throw new Error(`checkpoint ${rec.sequences} has no estimate for ${target}`);
  const W = 760,
    PH = 170;
  const o = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${4 * PH + 60}" font-family="sans-serif" ` +
      `fill="#222">`,
    `<rect width="${W}" height="${4 * PH + 60}" fill="white"/>`,
    title(
      `SGLD diagnostics at ${rec.sequences} sequences (${target}, ${rec.mode}): ` +
        `λ̂ = ${num(d.mean)} ± ${num(d.std)}`,
    ),
  ];
  const draws = Math.max(...d.traces.map((t) => t.loss.length), 1);
  const panel = (
    k: number,
    title: string,
    series: Array<{ ys: Array<number | null>; color: string; width?: number; dashed?: boolean }>,
    band?: Array<[number, number]>,
  ): void => {
    const x0 = 0,
      y0 = 30 + k * PH,
      m = { l: 56, r: 20, t: 20, b: 24 };
    const vals = [
      ...series.flatMap((s) => s.ys.filter((y): y is number => y !== null && Number.isFinite(y))),
      ...(band ?? []).flat(),
    ];
    let lo = vals.length ? Math.min(...vals) : 0,
      hi = vals.length ? Math.max(...vals) : 1;
    if (lo === hi) {
      lo -= 1;
      hi += 1;
    }
    const X = (i: number) => x0 + m.l + (i / Math.max(1, draws - 1)) * (W - m.l - m.r),
      Y = (y: number) => y0 + PH - m.b - ((y - lo) / (hi - lo)) * (PH - m.t - m.b);
    o.push(`<text x="${m.l}" y="${y0 + 14}" font-size="12" font-weight="bold">${esc(title)}</text>`);
    o.push(
      `<line x1="${X(0)}" y1="${Y(lo)}" x2="${X(draws - 1)}" y2="${Y(lo)}" stroke="#333"/><line x1="${X(0)}" ` +
        `y1="${Y(lo)}" x2="${X(0)}" y2="${Y(hi)}" stroke="#333"/>`,
    );
    for (let i = 0; i <= 4; i++) {
      const v = lo + ((hi - lo) * i) / 4,
        xi = Math.round(((draws - 1) * i) / 4);
      o.push(
        `<text x="${X(0) - 4}" y="${Y(v) + 3}" text-anchor="end" font-size="9">${num(v, 3)}</text><text ` +
          `x="${X(xi)}" y="${Y(lo) + 12}" text-anchor="middle" font-size="9">${xi}</text>`,
      );
    }
    if (band) o.push(`<polygon points="${bandPoints(band, X, Y)}" fill="#1f77b4" fill-opacity="0.2"/>`);
    for (const s of series) {
      const pts = s.ys
        .map((y, i) => (y !== null && Number.isFinite(y) ? `${X(i).toFixed(1)},${Y(y).toFixed(1)}` : ''))
        .filter(Boolean)
        .join(' ');
      o.push(
        `<polyline fill="none" stroke="${s.color}" ` +
          `stroke-width="${s.width ?? 0.8}"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${pts}"/>`,
      );
    }
  };
  panel(0, 'minibatch loss per draw, every chain (dashed: L(w*))', [
    ...d.traces.map((t, i) => ({ ys: t.loss, color: DARK2[i % 8] })),
    { ys: Array(draws).fill(d.initLoss), color: '#000', dashed: true, width: 1.2 },
  ]);
  panel(
    1,
    'running LLC nβ·(mean of the first k draws − L(w*)), mean ± std over chains',
    [{ ys: d.running.mean, color: '#1f77b4', width: 2 }],
    d.running.mean.map((m, i) => [m - d.running.std[i], m + d.running.std[i]] as [number, number]),
  );
  panel(
    2,
    '‖w − w*‖ per draw',
    d.traces.map((t, i) => ({ ys: t.distance, color: DARK2[i % 8] })),
  );
  panel(
    3,
    'MALA acceptance of the step into each draw',
    d.traces.map((t, i) => ({ ys: t.acceptance, color: DARK2[i % 8] })),
  );
  const warned = d.warnings.length ? `warnings: ${d.warnings.map((w) => w.code).join(', ')}` : 'no warnings';
  const gap = d.relativeGap === null ? '—' : `${(100 * d.relativeGap).toFixed(1)} %`;
  const footer = `x: draw. ${warned}; MALA ${num(d.meanAcceptance)}, convergence gap ${gap}.`;
  o.push(`<text x="8" y="${30 + 4 * PH + 14}" font-size="10">${esc(footer)}</text>`);
  o.push('</svg>');
  return o.join('\n');
}
