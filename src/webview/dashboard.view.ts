/**
 * Live run dashboard (side panel). Needs from the host: `runs` (+ activeRunId), `metrics` of the shown
 * run, then `metricsAppend` rows, and `step`. Shows the eval-set loss curves with the ln 2 line and the
 * clamp windows, the per-head board (previous-token score of Layer-1 heads, induction strength of
 * Layer-2 heads) at the selected step, and the head scores over training. Hover or the slider selects
 * the step shared by every view.
 */
import { select } from 'd3-selection';
import type { MetricsRecord, RunSummary, ToWebviewMessage } from '../shared/webviewProtocol';
import { EVAL_SETS, EVAL_SET_LEGENDS, LN2, LN2_LABEL } from '../shared/webviewProtocol';
import { connect, post, createStepSharer } from './lib/host';
import { persisted } from './lib/state';
import { h, statusLine, selectBox, segmented } from './lib/dom';
import { createPanel } from './lib/panel';
import { createLineChart, child, type LineSeries } from './lib/chart';
import { drawHeatmaps } from './lib/heatmap';
import { drawColorbar } from './lib/colorbar';
import { createStepSlider } from './lib/slider';
import { createRunHeader, chooseRun } from './lib/runHeader';
import { evalSetColor, seriesColor, viridis, onThemeChange } from './lib/theme';
import { clampBands, metricDomain, sequencesDomain } from './lib/domains';
import { mergeRecords, snapStep } from './lib/steps';
import { metricsCsv, toCsv, curvesCsv } from './lib/csv';
import { fileStem, fmtInt, fmtValue, wrapText } from './lib/format';

const METRICS = [
  { value: 'loss', label: 'loss', axis: 'loss (nats)' },
  { value: 'acc', label: 'accuracy', axis: 'accuracy' },
  { value: 'inContextAcc', label: 'in-context accuracy', axis: 'in-context accuracy' },
  { value: 'prob', label: 'p(target)', axis: 'p(target)' },
  { value: 'useContextProb', label: 'p(label in context)', axis: 'p(label in context)' },
] as const;
type Metric = (typeof METRICS)[number]['value'];
type HeadMeasure = 'inductionStrength' | 'prevTokenScore';

const IS_FORMULA = 'IS_h = mean over fsl_train of A_h[xq, correct ℓ] − A_h[xq, other ℓ]  (Layer 2, range −1…1)';
const PT_FORMULA = 'PT_h = mean over fsl_train and rows i ∈ {ℓ1, ℓ2} of A_h[i, i−1]  (Layer 1, range 0…1)';

const S = persisted({ step: null as number | null, runId: '', lastActive: '', metric: 'loss' as string, hidden: [] as string[], headMeasure: 'inductionStrength' as string });

let runs: RunSummary[] = [];
const metrics = new Map<string, MetricsRecord[]>();
const run = (): RunSummary | undefined => runs.find((r) => r.id === S.value.runId);
const records = (): MetricsRecord[] => metrics.get(S.value.runId) ?? [];
const metric = (): Metric => (METRICS.some((m) => m.value === S.value.metric) ? S.value.metric as Metric : 'loss');
/** The record shown on the head board: the one at the selected step (or the latest). */
const selectedRecord = (): MetricsRecord | undefined => {
  const rs = records();
  const s = snapStep(rs.map((r) => r.sequences), S.value.step);
  return s === null ? undefined : rs.find((r) => r.sequences === s);
};

// ---- Layout ----
const app = document.getElementById('app')!;
const header = createRunHeader(app, {
  onPick: (id) => { S.update({ runId: id }); renderAll(); },
  onOpen: (id) => post({ type: 'openRun', runId: id }),
});
const share = createStepSharer();
const slider = createStepSlider(app, {
  label: 'Selected step (sequences seen)', follow: true,
  onChange: (v, final) => { S.update({ step: v }); renderSelection(); share(v, final); },
});
const setStatus = statusLine(app);

let hoverTimer: ReturnType<typeof setTimeout> | undefined;
/** Hovering a curve selects that checkpoint: locally at once, shared after a short pause. */
const hoverSelect = (x: number | null) => {
  if (x === null || x === S.value.step) return;
  S.update({ step: x });
  slider.setValue(x);
  renderBoard();
  if (hoverTimer) clearTimeout(hoverTimer);
  hoverTimer = setTimeout(() => { post({ type: 'selectStep', sequences: x }); renderLoss(); renderHeadTime(); }, 250);
};
const pick = (x: number) => { S.update({ step: x }); slider.setValue(x); renderSelection(); share(x, true); };

const stem = (...parts: Array<string | number | undefined>) => fileStem(run()?.name ?? 'run', ...parts);

const lossPanel = createPanel(app, 'Loss', {
  stem: () => stem(metric()),
  title: () => `${run()?.name ?? ''}: ${metric()} vs # sequences seen`,
  svg: () => lossChart.svg,
  csv: () => metricsCsv(records()),
  json: () => ({ run: run(), records: records() }),
}, setStatus);
const metricSel = selectBox('Metric', METRICS.map((m) => ({ value: m.value, label: m.label })), metric(), (v) => { S.update({ metric: v }); renderLoss(); });
lossPanel.controls.append(metricSel.root);
const lossChart = createLineChart(lossPanel.body, { ariaLabel: 'Eval-set curves vs sequences seen', height: 250, onHover: hoverSelect, onPick: pick });

const boardPanel = createPanel(app, 'Heads at the selected step', {
  stem: () => stem('heads', `seq${selectedRecord()?.sequences ?? ''}`),
  title: () => `${run()?.name ?? ''}: head scores at ${fmtInt(selectedRecord()?.sequences ?? 0)} sequences`,
  svg: () => boardSvg.node(),
  csv: () => {
    const r = selectedRecord();
    if (!r) return toCsv(['sequences', 'layer', 'head', 'measure', 'value'], []);
    return toCsv(['sequences', 'layer', 'head', 'measure', 'value'], [
      ...r.prevTokenScore.map((v, i) => [r.sequences, 1, i, 'prevTokenScore', v]),
      ...r.inductionStrength.map((v, i) => [r.sequences, 2, i, 'inductionStrength', v]),
    ]);
  },
  json: () => { const r = selectedRecord(); return r ? { sequences: r.sequences, prevTokenScore: r.prevTokenScore, inductionStrength: r.inductionStrength, formulas: { prevTokenScore: PT_FORMULA, inductionStrength: IS_FORMULA } } : null; },
}, setStatus);
const boardSvg = select(boardPanel.body).append('svg').attr('class', 'chart').attr('role', 'figure').attr('aria-label', 'Per-head scores');

const timePanel = createPanel(app, 'Head scores over training', {
  stem: () => stem(S.value.headMeasure),
  title: () => `${run()?.name ?? ''}: ${S.value.headMeasure === 'prevTokenScore' ? 'previous-token score (Layer 1)' : 'induction strength (Layer 2)'}`,
  svg: () => timeChart.svg,
  csv: () => curvesCsv(headSeries().map((s) => ({ cols: { head: s.label }, xs: s.points.map((p) => p.x), ys: s.points.map((p) => p.y) })), 'sequences', S.value.headMeasure),
  json: () => ({ measure: S.value.headMeasure, series: headSeries().map((s) => ({ head: s.label, points: s.points })) }),
}, setStatus);
const measureSeg = segmented<HeadMeasure>('Head measure', [
  { value: 'inductionStrength', label: 'Induction strength (L2)' }, { value: 'prevTokenScore', label: 'Previous-token (L1)' },
], S.value.headMeasure as HeadMeasure, (v) => { S.update({ headMeasure: v }); renderHeadTime(); });
timePanel.controls.append(measureSeg.root);
const timeChart = createLineChart(timePanel.body, { ariaLabel: 'Head scores vs sequences seen', height: 200, onHover: hoverSelect, onPick: pick });

// ---- Rendering ----
function lossSeries(): LineSeries[] {
  const rs = records(), m = metric();
  const sets: string[] = EVAL_SETS.filter((s) => rs.some((r) => r.eval[s]));
  return sets.map((set) => ({
    id: set,
    label: EVAL_SET_LEGENDS[set as keyof typeof EVAL_SET_LEGENDS] ?? set,
    color: evalSetColor(set),
    hidden: S.value.hidden.includes(set),
    points: rs.map((r) => ({ x: r.sequences, y: r.eval[set]?.[m] ?? NaN })),
  }));
}

function renderLoss(): void {
  const rs = records(), r = run(), m = metric();
  const series = lossSeries();
  const xDomain = sequencesDomain(r?.totalSequences ?? 0, rs.map((x) => x.sequences));
  const yDomain = metricDomain(m, series.filter((s) => !s.hidden).flatMap((s) => s.points.map((p) => p.y)));
  lossChart.update({
    series, xDomain, yDomain,
    bands: clampBands(r?.clamps ?? [], xDomain[1]),
    refLines: m === 'loss' ? [{ id: 'ln2', y: LN2, label: `ln 2: ${LN2_LABEL}` }] : [],
    selectedX: selectedRecord()?.sequences ?? null,
    xLabel: '# sequences seen', yLabel: METRICS.find((x) => x.value === m)!.axis,
  }, {
    items: series.map((s) => ({ id: s.id, label: s.label, color: s.color, hidden: s.hidden, title: `${s.label} (${s.id})` })),
    options: {
      onToggle: (id) => {
        const hidden = S.value.hidden.includes(id) ? S.value.hidden.filter((x) => x !== id) : [...S.value.hidden, id];
        S.update({ hidden }); renderLoss();
      },
      dashedRef: m === 'loss' ? { label: LN2_LABEL } : undefined,
    },
  });
}

function renderBoard(): void {
  const rec = selectedRecord();
  const width = Math.max(260, boardPanel.body.clientWidth);
  const cell = Math.max(18, Math.min(40, Math.floor((width - 110) / 8)));
  const color = viridis([0, 1]);
  const heads = (n: number) => Array.from({ length: n }, (_, i) => `H${i}`);
  const pt = rec?.prevTokenScore ?? [], is = rec?.inductionStrength ?? [];
  const at = rec ? `at ${fmtInt(rec.sequences)} sequences` : '';
  drawHeatmaps(child(boardSvg, 'g', 'maps'), rec ? [
    { key: 'pt', x: 0, y: 0, rows: ['L1 prev-token'], cols: heads(pt.length), values: [pt], cell, color, rowLabels: true, colLabels: 'top', showValues: cell >= 26,
      labelW: 100, ariaLabel: `Previous-token score of Layer 1 heads ${at}`,
      describe: (_r, c, v) => [`Layer 1 · Head ${c} (L1H${c})`, `previous-token score ${fmtValue(v)}`, at, PT_FORMULA] },
    { key: 'is', x: 0, y: cell + 22, rows: ['L2 induction'], cols: heads(is.length), values: [is], cell, color, rowLabels: true, labelW: 100, colLabels: false, showValues: cell >= 26,
      ariaLabel: `Induction strength of Layer 2 heads ${at}`,
      describe: (_r, c, v) => [`Layer 2 · Head ${c} (L2H${c})`, `induction strength ${fmtValue(v)}`, at, IS_FORMULA] },
  ] : []);
  const top = rec ? 2 * cell + 30 : 0;
  const cb = child(boardSvg, 'g', 'cbar').attr('transform', `translate(0,${top})`);
  const cbH = rec ? drawColorbar(cb, { id: 'board', domain: [0, 1], color, width: Math.min(240, 8 * cell), label: 'score (viridis, clamped to 0…1)' }) : 0;
  cb.style('display', () => (rec ? null : 'none'));
  const f = child(boardSvg, 'g', 'formulas').attr('transform', `translate(0,${top + cbH + 6})`);
  const lines = (rec ? [PT_FORMULA, IS_FORMULA] : ['No metrics yet: the board fills in at the first evaluation.'])
    .flatMap((t) => wrapText(t, Math.floor(width / 6.2)).map((l, i) => (i ? `    ${l}` : l)));
  f.selectAll('text').data(lines).join('text').attr('class', 'formula-text').attr('y', (_d, i) => 10 + i * 13).text((d) => d);
  boardSvg.attr('width', width).attr('height', top + cbH + 14 + lines.length * 13);
  boardPanel.setTitle(rec ? `Heads at ${fmtInt(rec.sequences)} sequences` : 'Heads');
}

function headSeries(): LineSeries[] {
  const rs = records();
  const key = S.value.headMeasure === 'prevTokenScore' ? 'prevTokenScore' : 'inductionStrength';
  const n = Math.max(0, ...rs.map((r) => r[key]?.length ?? 0));
  const layer = key === 'prevTokenScore' ? 1 : 2;
  return Array.from({ length: n }, (_, hd) => ({
    id: `L${layer}H${hd}`, label: `L${layer}H${hd}`, color: seriesColor(hd),
    points: rs.map((r) => ({ x: r.sequences, y: r[key]?.[hd] ?? NaN })),
  }));
}

function renderHeadTime(): void {
  const rs = records(), r = run();
  const series = headSeries();
  const xDomain = sequencesDomain(r?.totalSequences ?? 0, rs.map((x) => x.sequences));
  const isIS = S.value.headMeasure !== 'prevTokenScore';
  timeChart.update({
    series, xDomain, yDomain: isIS ? [-0.05, 1] : [0, 1],
    bands: clampBands(r?.clamps ?? [], xDomain[1]),
    selectedX: selectedRecord()?.sequences ?? null,
    xLabel: '# sequences seen', yLabel: isIS ? 'induction strength' : 'previous-token score',
  }, { items: series.map((s) => ({ id: s.id, label: s.label, color: s.color })), options: { title: isIS ? 'Layer 2 Head #' : 'Layer 1 Head #' } });
}

function renderSelection(): void { renderLoss(); renderBoard(); renderHeadTime(); }

function renderAll(): void {
  const rs = records();
  header.update(runs, run(), rs.length ? rs[rs.length - 1].sequences : undefined);
  slider.setSteps(rs.map((r) => r.sequences));
  slider.setValue(S.value.step);
  if (!run()) setStatus('Waiting for a run…');
  renderSelection();
}

function onMessage(m: ToWebviewMessage): void {
  switch (m.type) {
    case 'runs': {
      runs = m.runs;
      const c = chooseRun(runs, S.value.runId, m.activeRunId, S.value.lastActive);
      S.update(c);
      renderAll();
      break;
    }
    case 'metrics': metrics.set(m.runId, mergeRecords([], m.records)); if (m.runId === S.value.runId) { setStatus(''); renderAll(); } break;
    case 'metricsAppend': metrics.set(m.runId, mergeRecords(metrics.get(m.runId) ?? [], m.records)); if (m.runId === S.value.runId) renderAll(); break;
    case 'step': if (m.sequences !== S.value.step) { S.update({ step: m.sequences }); slider.setValue(m.sequences); renderSelection(); } break;
    case 'exportResult': setStatus(m.ok ? `Saved ${m.path ?? ''}` : `Export failed: ${m.error ?? 'cancelled'}`, m.ok ? 'info' : 'error'); break;
    case 'status': setStatus(m.message, m.level); break;
    default: break;
  }
}

new ResizeObserver(() => renderBoard()).observe(boardPanel.body);
onThemeChange(renderSelection);
app.append(h('p', { class: 'note', text: 'Hover a curve or move the slider to select a checkpoint for every open view. Bands mark clamp windows.' }));
renderAll();
connect('dashboard', onMessage);
