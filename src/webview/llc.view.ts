/**
 * "LLC and stages" (issue 12 §6): the local learning coefficient of one run over training with the band of
 * its chains (mean ± std), every head's weight-refined LLC, the loss and induction strength beside them, the
 * diagnostics of the selected checkpoint with the warnings next to each number (and its running estimate),
 * and the essential-dynamics trajectory in a chosen pair of principal components, coloured by training time.
 * Stages (critical points of the LLC over log-time, llc.json) are bands on every time-axis chart. Follows
 * the shared step; clicking a point of a curve or of the trajectory selects that checkpoint everywhere.
 * Needs from the host: `llc` (src/extension/llcData.ts), `runs`, `step`.
 */
import { select } from 'd3-selection';
import { scaleLinear } from 'd3-scale';
import { line } from 'd3-shape';
import type { LlcMode, LlcRunFile, LlcSettings } from '../shared/llc';
import type { LlcModeData, RunSummary, ToWebviewMessage } from '../shared/webviewProtocol';
import { LN2, LN2_LABEL } from '../shared/webviewProtocol';
import { persisted } from './lib/state';
import { h, statusLine, segmented, selectBox } from './lib/dom';
import { createPanel } from './lib/panel';
import { child, createLineChart, type LineSeries, type LinePoint, type PlotLayer, type XMarker } from './lib/chart';
import { createSharedStep } from './lib/sharedStep';
import { seriesColor, viridis, onThemeChange } from './lib/theme';
import { drawColorbar } from './lib/colorbar';
import { extentDomain, sequencesDomain } from './lib/domains';
import { toCsv } from './lib/csv';
import { fileStem, fmtInt, fmtValue } from './lib/format';
import { showTip, hideTip } from './lib/tooltip';
import { stageAt, stageBands, stageLayer, stageSegments } from './lib/stages';
import {
  diagnosticsRows,
  headCurves,
  lossAndStrength,
  modelCurve,
  pairLabel,
  parsePair,
  pcPairs,
  pointAt,
  runningCurve,
  trajectory,
  variancePct,
  viewSteps,
  warningCounts,
  type TrajectoryPoint,
} from './lib/llcSeries';
import type { XScaleMode } from './lib/xscale';

// runId is the panel's identity (PanelIdentity): the host restores the panel with it after a reload.
const S = persisted({
  runId: '',
  step: null as number | null,
  mode: 'as-trained' as string,
  xScale: 'log' as string,
  pair: 'PC1–PC2',
  hidden: [] as string[],
});

let runs: RunSummary[] = [];
let runId = S.value.runId;
let data: LlcModeData[] = [];

const current = (): LlcModeData | undefined => data.find((d) => d.mode === S.value.mode) ?? data[0];
const llcOf = (): LlcRunFile | null => current()?.llc ?? null;
const runName = () => runs.find((r) => r.id === runId)?.name ?? runId;
const xScale = (): XScaleMode => (S.value.xScale === 'linear' ? 'linear' : 'log');

const app = document.getElementById('app')!;
const runLabel = h('span', { class: 'meta' });
app.append(h('div', { class: 'run-header' }, [h('h1', { text: 'LLC and stages' }), runLabel]));
const controls = h('div', { class: 'toolbar' });
app.append(controls);
const modeSeg = segmented<LlcMode>(
  'Sampling',
  [
    { value: 'as-trained', label: 'As trained (run\u2019s clamps)' },
    { value: 'clean', label: 'Clean (no clamp)' },
  ],
  S.value.mode === 'clean' ? 'clean' : 'as-trained',
  (v) => {
    S.update({ mode: v });
    renderAll();
  },
);
const xSeg = segmented<XScaleMode>(
  'Time axis',
  [
    { value: 'log', label: 'log' },
    { value: 'linear', label: 'linear' },
  ],
  xScale(),
  (v) => {
    S.update({ xScale: v });
    renderCharts();
  },
);
controls.append(modeSeg.root, xSeg.root);
const about = h('div', { class: 'llc-about' });
app.append(about);
const step = createSharedStep(app, S, { runId: () => runId, render: renderSelection, playMs: 600 });
const slider = step.slider;
// The stages along the slider's track (slider.ts is index-based: checkpoints equally spaced).
const strip = h('div', { class: 'stage-strip', 'aria-hidden': 'true' });
slider.root.after(strip);
function renderStrip(): void {
  const input = slider.root.querySelector('input.step-range') as HTMLInputElement | null;
  const segs = stageSegments(bands(), viewSteps(llcOf(), current()?.dynamics ?? null));
  strip.style.display = input && segs.length ? '' : 'none';
  if (!input || !segs.length) return;
  // The thumb's centre travels the track inset by about half its width.
  const inset = 7;
  strip.style.marginLeft = `${input.offsetLeft - slider.root.offsetLeft + inset}px`;
  strip.style.width = `${Math.max(0, input.offsetWidth - 2 * inset)}px`;
  strip.replaceChildren(
    ...segs.map((g) =>
      h('span', {
        class: `stage-seg ${g.trend}`,
        title: g.title,
        text: `${g.index}`,
        style: `left:${(100 * g.f0).toFixed(2)}%;width:${(100 * (g.f1 - g.f0)).toFixed(2)}%`,
      }),
    ),
  );
}
new ResizeObserver(() => renderStrip()).observe(slider.root);
const setStatus = statusLine(app);
const pick = (x: number) => step.pick(x);

const meta = () => ({
  run: runs.find((r) => r.id === runId),
  view: 'llc',
  mode: current()?.mode,
  checkpoint: pointAt(llcOf(), S.value.step)?.sequences,
  settings: llcOf()?.settings,
  headSettings: llcOf()?.headSettings,
  clamps: llcOf()?.clampsNote,
});
const stem = (...parts: Array<string | number | undefined>) =>
  fileStem(runName() || 'run', 'llc', current()?.mode, ...parts);

// ---- LLC over training ----
const llcPanel = createPanel(
  app,
  'LLC over training',
  {
    stem: () => stem('curve'),
    title: () => `${runName()}: LLC over training (${current()?.mode ?? ''})`,
    svg: () => llcChart.svg,
    csv: () =>
      toCsv(
        ['sequences', 'llc_mean', 'llc_std', 'llc_stderr', 'init_loss', 'mala_acceptance', 'warnings'],
        (llcOf()?.points ?? [])
          .filter((p) => p.model)
          .map((p) => [
            p.sequences,
            p.model!.mean,
            p.model!.std,
            p.model!.stderr,
            p.model!.initLoss,
            p.model!.meanAcceptance,
            p.model!.warnings.map((w) => w.code).join(' '),
          ]),
      ),
    json: () => ({ points: llcOf()?.points.map(({ heads: _h, ...p }) => p), stages: llcOf()?.stages }),
    meta,
  },
  setStatus,
);
const llcNote = h('p', { class: 'llc-note' });
llcPanel.body.append(llcNote);
const llcChart = createLineChart(llcPanel.body, { ariaLabel: 'LLC over sequences seen', height: 240, onPick: pick });

// ---- per-head LLC ----
const headPanel = createPanel(
  app,
  'Per-head (weight-refined) LLC',
  {
    stem: () => stem('heads'),
    title: () => `${runName()}: per-head LLC (${current()?.mode ?? ''})`,
    svg: () => headChart.svg,
    csv: () =>
      toCsv(
        ['sequences', 'head', 'llc_mean', 'llc_std', 'llc_stderr', 'ablated', 'warnings'],
        (llcOf()?.points ?? []).flatMap((p) =>
          Object.entries(p.heads ?? {}).map(([k, e]) => [
            p.sequences,
            k,
            e.mean,
            e.std,
            e.stderr,
            (p.ablatedHeads ?? []).includes(k),
            e.warnings.map((w) => w.code).join(' '),
          ]),
        ),
      ),
    json: () => ({
      heads: headCurves(llcOf() ?? ({ points: [] } as unknown as LlcRunFile)),
      headSettings: llcOf()?.headSettings,
    }),
    meta,
  },
  setStatus,
);
const headNote = h('p', { class: 'llc-note' });
headPanel.body.append(headNote);
const headChart = createLineChart(headPanel.body, {
  ariaLabel: 'Per-head LLC over sequences seen',
  height: 240,
  onPick: pick,
});

// ---- loss and induction strength ----
const lossPanel = createPanel(
  app,
  'Loss and induction strength',
  {
    stem: () => stem('loss-is'),
    title: () => `${runName()}: loss and induction strength at the estimated checkpoints`,
    svg: () => lossChart.svg,
    csv: () => {
      const { loss, strength } = lossAndStrength(llcOf() ?? ({ points: [] } as unknown as LlcRunFile));
      const is = new Map(strength.map((p) => [p.x, p.y]));
      return toCsv(
        ['sequences', 'fsl_train_loss', 'max_induction_strength'],
        loss.map((p) => [p.x, p.y, is.get(p.x)]),
      );
    },
    json: () => lossAndStrength(llcOf() ?? ({ points: [] } as unknown as LlcRunFile)),
    meta,
  },
  setStatus,
);
const lossChart = createLineChart(lossPanel.body, {
  ariaLabel: 'Loss and induction strength',
  height: 200,
  onPick: pick,
});

// ---- diagnostics of the selected checkpoint ----
const diagPanel = createPanel(
  app,
  'Diagnostics',
  {
    stem: () => stem('diagnostics', `seq${pointAt(llcOf(), S.value.step)?.sequences ?? ''}`),
    title: () => `${runName()}: LLC diagnostics at ${fmtInt(pointAt(llcOf(), S.value.step)?.sequences ?? 0)} sequences`,
    svg: () => runChart.svg,
    csv: () => {
      const p = pointAt(llcOf(), S.value.step);
      return toCsv(
        [
          'sequences',
          'estimate',
          'llc_mean',
          'llc_std',
          'stderr',
          'init_loss',
          'mala_acceptance',
          'gap',
          'diverged',
          'ablated',
          'warnings',
        ],
        p
          ? diagnosticsRows(p).map((r) => [
              p.sequences,
              r.name,
              r.mean,
              r.std,
              r.stderr,
              r.initLoss,
              r.acceptance,
              r.gap,
              r.diverged,
              r.ablated,
              r.warnings.map((w) => w.message).join(' | '),
            ])
          : [],
      );
    },
    json: () => pointAt(llcOf(), S.value.step) ?? {},
    meta,
  },
  setStatus,
);
const diagBody = h('div', { class: 'llc-diagnostics' });
diagPanel.body.append(diagBody);
const runChart = createLineChart(diagPanel.body, { ariaLabel: 'Running LLC estimate over draws', height: 170 });

// ---- essential dynamics ----
const edPanel = createPanel(
  app,
  'Essential dynamics',
  {
    stem: () => stem('dynamics', S.value.pair.replace('–', '-')),
    title: () => `${runName()}: essential dynamics, ${S.value.pair}`,
    svg: () => edSvg.node(),
    csv: () => {
      const d = current()?.dynamics;
      const n = d ? Math.min(...d.points.map((p) => p.pcs.length)) : 0;
      return toCsv(
        ['sequences', ...Array.from({ length: n }, (_, i) => `pc${i + 1}`)],
        (d?.points ?? []).map((p) => [p.sequences, ...p.pcs.slice(0, n)]),
      );
    },
    json: () => current()?.dynamics ?? {},
    meta: () => ({ ...meta(), pair: S.value.pair }),
  },
  setStatus,
);
const pairSel = selectBox('Components', [], S.value.pair, (v) => {
  S.update({ pair: v });
  renderDynamics();
});
edPanel.controls.append(pairSel.root);
const edNote = h('p', { class: 'llc-note' });
edPanel.body.append(edNote);
const edSvg = select(edPanel.body)
  .append('svg')
  .attr('class', 'chart ed')
  .attr('role', 'figure')
  .attr('tabindex', 0)
  .attr('aria-label', 'Essential-dynamics trajectory: arrow keys move along it, Enter selects the checkpoint');

// ---- helpers ----
const fmtSettings = (s: LlcSettings | undefined) =>
  s
    ? `ε ${s.epsilon}, γ ${s.gamma}, nβ ${s.nbeta.toFixed(2)}` +
      `${s.nbeta === s.nbetaDefault ? ' (m/ln m)' : ''}, ${s.chains} chains × ${s.draws} draws, burn-in ${s.burnIn}, ` +
      `minibatch ${s.batchSize}`
    : '';
const bands = () => stageBands(llcOf()?.stages);
const stageLayers = (): PlotLayer[] => [stageLayer(bands())];
function xDomain(): [number, number] {
  const total = runs.find((r) => r.id === runId)?.totalSequences ?? 0;
  return sequencesDomain(total, viewSteps(llcOf(), null));
}
/** The area between two curves of the same xs, clipped to the plot: the chains' ±std band. */
function bandLayer(id: string, lo: LinePoint[], hi: LinePoint[], color: string): PlotLayer {
  return {
    id,
    draw: (g, s) => {
      const pts = lo.map((p, i) => ({ x: p.x, lo: p.y, hi: hi[i].y })).filter((p) => s.x.places(p.x));
      const top = pts.map((p) => `${s.x(p.x)},${s.y(p.hi)}`),
        bottom = pts.map((p) => `${s.x(p.x)},${s.y(p.lo)}`).reverse();
      g.attr('clip-path', `url(#${s.clipId})`);
      child(g, 'path', 'chain-band')
        .attr('d', pts.length > 1 ? `M${top.join('L')}L${bottom.join('L')}Z` : null)
        .style('fill', color);
    },
  };
}
/** Rings around the estimates that carry a warning (their numbers are not to be read as findings). */
function flagLayer(pts: LinePoint[]): PlotLayer {
  return {
    id: 'flags',
    draw: (g, s) => {
      g.selectAll('circle')
        .data(
          pts.filter((p) => s.x.places(p.x)),
          (p) => `${(p as LinePoint).x}|${(p as LinePoint).y}`,
        )
        .join('circle')
        .attr('class', 'flagged')
        .attr('r', 5)
        .attr('cx', (p) => s.x(p.x))
        .attr('cy', (p) => s.y(p.y));
    },
  };
}
function learningMarker(llc: LlcRunFile): XMarker[] {
  const t = llc.learningTime;
  return t?.reached && t.sequences !== null
    ? [{ id: 'lt', x: t.sequences, kind: 'tick', label: `learning time of the loss: ${fmtInt(t.sequences)} sequences` }]
    : [];
}
const ys = (...ss: LinePoint[][]) => ss.flatMap((s) => s.map((p) => p.y));
const pad = ([a, b]: [number, number]): [number, number] => {
  const m = 0.05 * (b - a || 1);
  return [a - m, b + m];
};

// ---- rendering ----
function renderHeader(): void {
  const d = current(),
    llc = d?.llc;
  runLabel.textContent = runId ? `run ${runName()}` : '';
  modeSeg.root.style.display = data.length > 1 ? '' : 'none';
  modeSeg.set(d?.mode ?? 'as-trained');
  const lines: string[] = [];
  if (llc) {
    lines.push(`${llc.clampsNote} · ${llc.engine.detail}${llc.engine.reason ? ` (${llc.engine.reason})` : ''}`);
    lines.push(`SGLD: ${fmtSettings(llc.settings)}`);
    const counts = [...warningCounts(llc)].map(([k, n]) => `${n} ${k}`);
    lines.push(
      counts.length
        ? `warnings over all estimates: ${counts.join(', ')} (ringed on the curves)`
        : 'no estimate carries a warning',
    );
    const st = llc.stages.stages.length;
    const lt = llc.learningTime;
    const stages = st
      ? `${st} stage${st === 1 ? '' : 's'} (critical points of the smoothed LLC over log-time)`
      : 'no stage boundary above the noise';
    const learned = lt?.reached && lt.sequences !== null ? `${fmtInt(lt.sequences)} sequences` : 'not reached';
    lines.push(`${stages} · learning time of the loss: ${learned}`);
  }
  about.replaceChildren(
    ...lines.map((t) => h('div', { text: t })),
    ...(d?.problems ?? []).map((t) => h('div', { class: 'warn', text: t })),
  );
}

function renderCharts(): void {
  const llc = llcOf();
  const x = xScale();
  const sel = pointAt(llc, S.value.step)?.sequences ?? null;
  if (!llc) {
    llcNote.textContent = 'No LLC estimate for this run (mode) yet: run "Induction Lab: Estimate LLC".';
    headNote.textContent = '';
    for (const c of [llcChart, headChart, lossChart])
      c.update({ series: [], xDomain: [0, 1], yDomain: [0, 1], xLabel: 'sequences seen', yLabel: '' });
    return;
  }
  const m = modelCurve(llc);
  const color = seriesColor(0);
  llcNote.textContent = m.mean.length
    ? `λ̂ = nβ·(mean draw loss − L(w*)), mean ± std over chains (band); ` +
      'stages shaded (↑ rising, ↓ falling LLC); ringed: an estimate with a warning.'
    : 'No whole-model estimate in this file.';
  llcChart.update(
    {
      series: [{ id: 'llc', label: 'LLC (mean over chains)', color, points: m.mean }],
      layers: [...stageLayers(), bandLayer('band', m.lo, m.hi, color), flagLayer(m.flagged)],
      markers: learningMarker(llc),
      selectedX: sel,
      xDomain: xDomain(),
      yDomain: pad(extentDomain(ys(m.lo, m.hi), [0, 1])),
      xLabel: 'sequences seen',
      yLabel: 'LLC λ̂',
      xScale: x,
    },
    { items: [{ id: 'llc', label: 'LLC, mean ± std over chains', color }] },
  );

  const heads = headCurves(llc);
  const hidden = new Set(S.value.hidden);
  const series: LineSeries[] = heads.map((c, i) => ({
    id: c.head,
    label: c.head + (c.ablated ? ' (ablated)' : ''),
    color: seriesColor(i % 8),
    dash: c.head.startsWith('L1') ? '5 3' : undefined,
    hidden: hidden.has(c.head),
    faded: c.ablated,
    points: c.points,
  }));
  headNote.textContent = heads.length
    ? `sampling confined to one head's Q, K, V rows and W_proj columns; ` +
      `${fmtSettings(llc.headSettings)}; each draw against w* on its own minibatch. Layer 1 dashed, Layer 2 solid.`
    : 'No per-head estimate in this file: run "Induction Lab: Estimate LLC" with per-head LLC.';
  headChart.update(
    {
      series,
      markers: learningMarker(llc),
      selectedX: sel,
      xDomain: xDomain(),
      layers: [...stageLayers(), flagLayer(heads.filter((c) => !hidden.has(c.head)).flatMap((c) => c.flagged))],
      yDomain: pad(extentDomain(ys(...series.filter((s) => !s.hidden).map((s) => s.points)), [0, 1])),
      xLabel: 'sequences seen',
      yLabel: 'per-head LLC',
      xScale: x,
    },
    {
      items: series.map((s) => ({
        id: s.id,
        label: s.label,
        color: s.color,
        dash: s.dash,
        hidden: s.hidden,
        faded: s.faded,
      })),
      options: {
        onToggle: (id) => {
          const hs = new Set(S.value.hidden);
          if (hs.has(id)) hs.delete(id);
          else hs.add(id);
          S.update({ hidden: [...hs] });
          renderCharts();
        },
      },
    },
  );

  const ls = lossAndStrength(llc);
  lossChart.update(
    {
      series: [
        { id: 'loss', label: 'fsl_train loss', color: seriesColor(0), points: ls.loss },
        { id: 'is', label: 'max induction strength (Layer 2)', color: seriesColor(1), points: ls.strength },
      ],
      layers: stageLayers(),
      refLines: [{ id: 'ln2', y: LN2, label: LN2_LABEL, short: 'ln 2' }],
      markers: learningMarker(llc),
      selectedX: sel,
      xDomain: xDomain(),
      yDomain: [Math.min(0, ...ys(ls.strength)), Math.max(1, ...ys(ls.loss, ls.strength))],
      xLabel: 'sequences seen',
      yLabel: 'loss · IS',
      xScale: x,
    },
    {
      items: [
        { id: 'loss', label: 'fsl_train loss', color: seriesColor(0) },
        { id: 'is', label: 'max induction strength (Layer 2)', color: seriesColor(1) },
      ],
      options: { dashedRef: { label: LN2_LABEL } },
    },
  );
}

const fmtPct = (v: number | null) => (v === null || !Number.isFinite(v) ? '—' : `${(100 * v).toFixed(1)} %`);

function renderDiagnostics(): void {
  const llc = llcOf();
  const p = pointAt(llc, S.value.step);
  diagPanel.setTitle(p ? `Diagnostics at ${fmtInt(p.sequences)} sequences` : 'Diagnostics');
  if (!llc || !p) {
    diagBody.replaceChildren(h('div', { class: 'empty', text: 'No estimate to show.' }));
    runChart.update({ series: [], xDomain: [0, 1], yDomain: [0, 1], xLabel: 'draw', yLabel: '' });
    return;
  }
  const stage = stageAt(bands(), p.sequences);
  const rows = diagnosticsRows(p);
  const head = ['estimate', 'LLC ± std', 'stderr', 'L(w*)', 'MALA acc.', 'gap', 'diverged', 'warnings'];
  const table = h('table', { class: 'llc-table' }, [
    h('thead', {}, [
      h(
        'tr',
        {},
        head.map((c) => h('th', { scope: 'col', text: c })),
      ),
    ]),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h('tr', { class: r.warnings.length ? 'warned' : '' }, [
          h('th', { scope: 'row', text: r.name + (r.ablated ? ' (ablated)' : '') }),
          h('td', { text: r.mean === null ? '—' : `${fmtValue(r.mean)} ± ${fmtValue(r.std)}` }),
          h('td', { text: fmtValue(r.stderr) }),
          h('td', { text: fmtValue(r.initLoss) }),
          h('td', { text: fmtValue(r.acceptance, 2) }),
          h('td', { text: fmtPct(r.gap) }),
          h('td', { text: r.diverged }),
          h(
            'td',
            { class: 'warnings' },
            r.warnings.length
              ? r.warnings.map((w) => h('span', { class: 'badge', title: w.message, text: w.code }))
              : [h('span', { class: 'ok', text: 'none' })],
          ),
        ]),
      ),
    ),
  ]);
  const model = rows.find((r) => r.name === 'model');
  const lines = [
    `${fmtInt(p.sequences)} sequences (step ${fmtInt(p.step)})` +
      (stage ? ` · ${stage.title}` : '') +
      (p.trainLoss !== null ? ` · fsl_train loss ${fmtValue(p.trainLoss)}` : ''),
    ...(model?.warnings ?? []).map((w) => `model: ${w.message}`),
  ];
  diagBody.replaceChildren(...lines.map((t, i) => h('p', { class: i ? 'warn' : 'llc-note', text: t })), table);
  const rc = runningCurve(p);
  const color = seriesColor(0);
  runChart.update(
    {
      series: [{ id: 'running', label: 'running LLC (mean over chains)', color, points: rc.mean }],
      layers: [bandLayer('band', rc.lo, rc.hi, color)],
      xDomain: [1, Math.max(2, rc.mean.length)],
      yDomain: pad(extentDomain(ys(rc.lo, rc.hi), [0, 1])),
      xLabel: 'draw',
      yLabel: 'running LLC',
      xFormat: (v) => `draw ${v}`,
      xTickFormat: (v) => String(v),
    },
    {
      items: [
        { id: 'running', label: 'running estimate nβ·(mean of the first k draws − L(w*)), ± std over chains', color },
      ],
    },
  );
}

let edCursor = -1;
function renderDynamics(): void {
  const d = current()?.dynamics;
  const width = Math.max(260, Math.min(640, edPanel.body.clientWidth));
  if (!d) {
    edNote.textContent = 'No essential dynamics for this run (mode) yet: run "Induction Lab: Essential Dynamics".';
    pairSel.setOptions([], '');
    edSvg.attr('width', 0).attr('height', 0).selectAll('*').remove();
    return;
  }
  const pairs = pcPairs(d);
  if (!pairs.some((p) => pairLabel(p) === S.value.pair) && pairs.length) S.update({ pair: pairLabel(pairs[0]) });
  pairSel.setOptions(
    pairs.map((p) => ({ value: pairLabel(p), label: pairLabel(p) })),
    S.value.pair,
  );
  const pair = parsePair(S.value.pair) ?? [0, 1];
  const pts = trajectory(d, pair);
  edNote.textContent =
    `${d.features.join(' + ')} on ${fmtInt(d.probe.sequences)} probe sequences, ${pts.length} ` +
    `checkpoints; explained variance ${d.explainedVariance
      .slice(0, 4)
      .map((v, i) => `PC${i + 1} ${(100 * v).toFixed(1)} %`)
      .join(
        ', ',
      )}; cusps (turns > 60°): ${d.cusps.length ? d.cusps.map((c) => fmtInt(c.sequences)).join(', ') : 'none'}. ` +
    'Click a point to select its checkpoint.';
  const m = { top: 10, right: 14, bottom: 40, left: 52 };
  const height = Math.round(width * 0.72);
  const w = width - m.left - m.right,
    ih = height - m.top - m.bottom - 40;
  const x = scaleLinear()
    .domain(pad(extentDomain(pts.map((p) => p.x))))
    .range([0, w]);
  const y = scaleLinear()
    .domain(pad(extentDomain(pts.map((p) => p.y))))
    .range([ih, 0]);
  const col = viridis([0, 1]);
  edSvg.attr('width', width).attr('height', height);
  const root = child(edSvg, 'g', 'inner').attr('transform', `translate(${m.left},${m.top})`);
  child(root, 'g', 'axis x')
    .attr('transform', `translate(0,${ih})`)
    .call((g) => {
      g.selectAll('*').remove();
      for (const t of x.ticks(5)) {
        g.append('line').attr('x1', x(t)).attr('x2', x(t)).attr('y1', 0).attr('y2', 4);
        g.append('text')
          .attr('x', x(t))
          .attr('y', 16)
          .attr('text-anchor', 'middle')
          .text(Number(t.toPrecision(3)));
      }
      g.append('line').attr('x1', 0).attr('x2', w).attr('y1', 0).attr('y2', 0);
    });
  child(root, 'g', 'axis y').call((g) => {
    g.selectAll('*').remove();
    for (const t of y.ticks(5)) {
      g.append('line').attr('x1', -4).attr('x2', 0).attr('y1', y(t)).attr('y2', y(t));
      g.append('text')
        .attr('x', -7)
        .attr('y', y(t) + 3)
        .attr('text-anchor', 'end')
        .text(Number(t.toPrecision(3)));
    }
    g.append('line').attr('x1', 0).attr('x2', 0).attr('y1', 0).attr('y2', ih);
  });
  child(root, 'text', 'axis-label x')
    .attr('x', w / 2)
    .attr('y', ih + 32)
    .text(`PC${pair[0] + 1} (${variancePct(d, pair[0])})`);
  child(root, 'text', 'axis-label y')
    .attr('transform', `translate(${-40},${ih / 2}) rotate(-90)`)
    .text(`PC${pair[1] + 1} (${variancePct(d, pair[1])})`);
  child(root, 'path', 'ed-path').attr(
    'd',
    line<TrajectoryPoint>()
      .x((p) => x(p.x))
      .y((p) => y(p.y))(pts),
  );
  const cusps = new Set(d.cusps.map((c) => c.sequences));
  const sel =
    S.value.step === null
      ? pts[pts.length - 1]?.sequences
      : pts[
          pts.reduce(
            (b, p, i) => (Math.abs(p.sequences - S.value.step!) < Math.abs(pts[b].sequences - S.value.step!) ? i : b),
            0,
          )
        ]?.sequences;
  const tip = (p: TrajectoryPoint, cx: number, cy: number) =>
    showTip(
      [
        { text: `${fmtInt(p.sequences)} sequences`, strong: true },
        `PC${pair[0] + 1} ${fmtValue(p.x)}, PC${pair[1] + 1} ${fmtValue(p.y)}`,
        ...(cusps.has(p.sequences) ? ['cusp'] : []),
      ],
      cx,
      cy,
    );
  root
    .selectAll<SVGCircleElement, TrajectoryPoint>('circle.ed-point')
    .data(pts, (p) => String(p.sequences))
    .join('circle')
    .attr('class', (p) => `ed-point${cusps.has(p.sequences) ? ' cusp' : ''}`)
    .attr('r', (p) => (cusps.has(p.sequences) ? 5 : 3))
    .attr('cx', (p) => x(p.x))
    .attr('cy', (p) => y(p.y))
    .style('fill', (p) => col(p.t))
    .on('pointerenter', (ev: PointerEvent, p) => tip(p, ev.clientX, ev.clientY))
    .on('pointerleave', () => hideTip())
    .on('click', (_ev, p) => pick(p.sequences));
  const sp = pts.find((p) => p.sequences === sel);
  root
    .selectAll('circle.ed-selected')
    .data(sp ? [sp] : [])
    .join('circle')
    .attr('class', 'ed-selected no-export')
    .attr('r', 8)
    .attr('cx', (p) => x(p.x))
    .attr('cy', (p) => y(p.y));
  const lo = pts[0]?.sequences ?? 0,
    hi = pts[pts.length - 1]?.sequences ?? 1;
  drawColorbar(child(edSvg, 'g', 'ed-colorbar').attr('transform', `translate(${m.left},${height - 42})`), {
    id: 'ed-time',
    domain: [0, 1],
    color: col,
    width: Math.min(260, w),
    ticks: 2,
    label: `training time (log), ${fmtInt(lo)} → ${fmtInt(hi)} sequences`,
    format: (t) => fmtInt(10 ** (Math.log10(lo + 1) + t * (Math.log10(hi + 1) - Math.log10(lo + 1))) - 1),
  });
  edCursor = sp ? pts.indexOf(sp) : -1;
  edSvg.on('keydown', (ev: KeyboardEvent) => {
    if (!pts.length) return;
    let i = edCursor < 0 ? pts.length - 1 : edCursor;
    if (ev.key === 'ArrowLeft' || ev.key === 'ArrowDown') i = Math.max(0, i - 1);
    else if (ev.key === 'ArrowRight' || ev.key === 'ArrowUp') i = Math.min(pts.length - 1, i + 1);
    else if (ev.key === 'Enter' || ev.key === ' ') {
      pick(pts[i].sequences);
      ev.preventDefault();
      return;
    } else return;
    ev.preventDefault();
    edCursor = i;
    const r = (edSvg.node() as SVGSVGElement).getBoundingClientRect();
    tip(pts[i], r.left + m.left + x(pts[i].x), r.top + m.top + y(pts[i].y));
  });
}

function renderSelection(): void {
  renderCharts();
  renderDiagnostics();
  renderDynamics();
}
function renderAll(): void {
  renderHeader();
  slider.setSteps(viewSteps(llcOf(), current()?.dynamics ?? null));
  slider.setValue(S.value.step);
  renderStrip();
  renderSelection();
}

function onMessage(m: ToWebviewMessage): void {
  switch (m.type) {
    case 'runs':
      runs = m.runs;
      if (m.activeRunId && m.activeRunId !== runId) {
        data = [];
        runId = m.activeRunId;
        S.update({ runId });
      }
      renderHeader();
      break;
    case 'llc':
      if (m.runId !== runId) {
        runId = m.runId;
        S.update({ runId });
      }
      data = m.modes;
      if (!data.length)
        setStatus('No LLC estimate or essential dynamics for this run yet: run "Induction Lab: Estimate LLC".');
      else setStatus('');
      renderAll();
      break;
    default:
      break;
  }
}

new ResizeObserver(() => renderDynamics()).observe(edPanel.body);
window.addEventListener('scroll', () => hideTip(), { passive: true });
onThemeChange(renderSelection);
renderAll();
step.connect('llc', onMessage, setStatus);
