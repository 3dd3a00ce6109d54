/**
 * Live run dashboard (side bar, or an editor tab). Needs from the host: `runs` (+ activeRunId), `metrics`
 * of the shown run, then `metricsAppend` rows, and `step` (per run). Shows the eval-set loss curves with
 * the ln 2 line, clamp windows as bands (whole-run clamps as a note in the legend), stop/resume marks,
 * the per-head board (previous-token score of Layer-1 heads, induction strength of Layer-2 heads) at the
 * selected step with the heads the clamps touch marked, and the head scores over training. Hover or the
 * slider selects the run's step, shared by every view of that run; a new run starts at "latest".
 */
import { select } from 'd3-selection';
import type { MetricsRecord, RunSummary, ToWebviewMessage } from '../shared/webviewProtocol';
import { EVAL_SETS, EVAL_SET_LEGENDS, LN2, LN2_LABEL } from '../shared/webviewProtocol';
import { connect, post, createStepSharer, handleCommon } from './lib/host';
import { persisted } from './lib/state';
import { h, statusLine, selectBox, segmented } from './lib/dom';
import { createPanel } from './lib/panel';
import { createLineChart, child, type LineSeries, type XMarker } from './lib/chart';
import { createChartOptions } from './lib/chartOptions';
import { drawHeatmaps } from './lib/heatmap';
import { drawColorbar } from './lib/colorbar';
import { createStepSlider } from './lib/slider';
import { createRunHeader, chooseRun } from './lib/runHeader';
import { evalSetColor, seriesColor, viridis, onThemeChange } from './lib/theme';
import { metricDomain, sequencesDomain } from './lib/domains';
import {
  clampBands,
  clampSlug,
  headMarks,
  MARK_WORD,
  resumePoints,
  strongestFreeHead,
  wholeRunClamps,
} from './lib/clampMarks';
import { mergeRecords, snapStep } from './lib/steps';
import { metricsCsv, toCsv, curvesCsv } from './lib/csv';
import { fileStem, fmtInt, fmtValue, wrapText } from './lib/format';
import type { XScaleMode } from './lib/xscale';

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

const S = persisted({
  step: null as number | null,
  runId: '',
  lastActive: '',
  metric: 'loss' as string,
  hidden: [] as string[],
  headMeasure: 'inductionStrength' as string,
  xScale: 'linear' as string,
  smoothing: 0,
});

let runs: RunSummary[] = [];
const metrics = new Map<string, MetricsRecord[]>();
/** Steps the host announced per run (a run never announced follows the latest). */
const knownSteps = new Map<string, number | null>();
const run = (): RunSummary | undefined => runs.find((r) => r.id === S.value.runId);
const records = (): MetricsRecord[] => metrics.get(S.value.runId) ?? [];
const metric = (): Metric => (METRICS.some((m) => m.value === S.value.metric) ? (S.value.metric as Metric) : 'loss');
const xScale = (): XScaleMode => (S.value.xScale === 'log' ? 'log' : 'linear');
/** The record shown on the head board: the one at the selected step (or the latest). */
const selectedRecord = (): MetricsRecord | undefined => {
  const rs = records();
  const s = snapStep(
    rs.map((r) => r.sequences),
    S.value.step,
  );
  return s === null ? undefined : rs.find((r) => r.sequences === s);
};
/** Shows run `id` at the step last selected for it (latest when none). */
const showRun = (id: string) => {
  S.update({ runId: id, step: knownSteps.get(id) ?? null });
  slider.setValue(S.value.step);
};

// ---- Layout ----
const app = document.getElementById('app')!;
const header = createRunHeader(app, {
  onPick: (id) => {
    showRun(id);
    renderAll();
  },
  onOpen: (id) => post({ type: 'openRun', runId: id }),
});
const share = createStepSharer(() => S.value.runId || undefined);
const slider = createStepSlider(app, {
  label: 'Selected step (sequences seen)',
  follow: true,
  onChange: (v, final) => {
    S.update({ step: v });
    knownSteps.set(S.value.runId, v);
    renderSelection();
    share(v, final);
  },
});
const options = createChartOptions(app, { xScale: xScale(), smoothing: S.value.smoothing }, (v) => {
  S.update({ xScale: v.xScale, smoothing: v.smoothing });
  renderLoss();
  renderHeadTime();
});
const setStatus = statusLine(app);

let hoverTimer: ReturnType<typeof setTimeout> | undefined;
/** Hovering a curve selects that checkpoint: locally at once, shared after a short pause. */
const hoverSelect = (x: number | null) => {
  if (x === null || x === S.value.step) return;
  S.update({ step: x });
  knownSteps.set(S.value.runId, x);
  slider.setValue(x);
  renderBoard();
  if (hoverTimer) clearTimeout(hoverTimer);
  hoverTimer = setTimeout(() => {
    share(x, true);
    renderLoss();
    renderHeadTime();
  }, 250);
};
const pick = (x: number) => {
  S.update({ step: x });
  knownSteps.set(S.value.runId, x);
  slider.setValue(x);
  renderSelection();
  share(x, true);
};

const stem = (...parts: Array<string | number | undefined>) => fileStem(run()?.name ?? 'run', ...parts);
const clampStem = () => clampSlug(run()?.clamps ?? []) || undefined;
const lastSeq = () => {
  const rs = records();
  return rs.length ? `seq${rs[rs.length - 1].sequences}` : undefined;
};

const lossPanel = createPanel(
  app,
  'Loss',
  {
    stem: () => stem(metric(), clampStem(), lastSeq()),
    title: () => `${run()?.name ?? ''}: ${metric()} vs # sequences seen`,
    svg: () => lossChart.svg,
    csv: () => metricsCsv(records()),
    json: () => ({ run: run(), records: records() }),
    meta: () => ({ run: run(), view: 'loss', metric: metric(), xScale: xScale(), smoothing: S.value.smoothing }),
  },
  setStatus,
);
const metricSel = selectBox(
  'Metric',
  METRICS.map((m) => ({ value: m.value, label: m.label })),
  metric(),
  (v) => {
    S.update({ metric: v });
    renderLoss();
  },
);
lossPanel.controls.append(metricSel.root);
const lossChart = createLineChart(lossPanel.body, {
  ariaLabel: 'Eval-set curves vs sequences seen',
  height: 240,
  onHover: hoverSelect,
  onPick: pick,
});

const boardPanel = createPanel(
  app,
  'Heads at the selected step',
  {
    stem: () => stem('heads', `seq${selectedRecord()?.sequences ?? ''}`, clampStem()),
    title: () => `${run()?.name ?? ''}: head scores at ${fmtInt(selectedRecord()?.sequences ?? 0)} sequences`,
    svg: () => boardSvg.node(),
    csv: () => {
      const r = selectedRecord();
      const head = ['sequences', 'layer', 'head', 'measure', 'value', 'clamp'];
      if (!r) return toCsv(head, []);
      const marks = headMarks(run()?.clamps ?? [], r.sequences);
      const mk = (l: number, i: number) => marks.get(`L${l}H${i}`)?.clamps.join('; ') ?? '';
      return toCsv(head, [
        ...r.prevTokenScore.map((v, i) => [r.sequences, 1, i, 'prevTokenScore', v, mk(1, i)]),
        ...r.inductionStrength.map((v, i) => [r.sequences, 2, i, 'inductionStrength', v, mk(2, i)]),
      ]);
    },
    json: () => {
      const r = selectedRecord();
      if (!r) return null;
      const marks = Object.fromEntries(headMarks(run()?.clamps ?? [], r.sequences));
      return {
        sequences: r.sequences,
        prevTokenScore: r.prevTokenScore,
        inductionStrength: r.inductionStrength,
        clampedHeads: marks,
        formulas: { prevTokenScore: PT_FORMULA, inductionStrength: IS_FORMULA },
      };
    },
    meta: () => ({ run: run(), view: 'heads', sequences: selectedRecord()?.sequences }),
  },
  setStatus,
);
const boardSvg = select(boardPanel.body)
  .append('svg')
  .attr('class', 'chart')
  .attr('role', 'figure')
  .attr('aria-label', 'Per-head scores');
const boardText = h('p', { class: 'note', 'aria-live': 'polite' });
boardPanel.body.append(boardText);

const timePanel = createPanel(
  app,
  'Head scores over training',
  {
    stem: () => stem(S.value.headMeasure, clampStem(), lastSeq()),
    title: () =>
      `${run()?.name ?? ''}: ${S.value.headMeasure === 'prevTokenScore' ? 'previous-token score (Layer 1)' : 'induction strength (Layer 2)'}`,
    svg: () => timeChart.svg,
    csv: () =>
      curvesCsv(
        headSeries().map((s) => ({
          cols: { head: s.id },
          xs: s.points.map((p) => p.x),
          ys: s.points.map((p) => p.y),
        })),
        'sequences',
        S.value.headMeasure,
      ),
    json: () => ({
      measure: S.value.headMeasure,
      series: headSeries().map((s) => ({ head: s.id, label: s.label, points: s.points })),
    }),
    meta: () => ({
      run: run(),
      view: 'head scores',
      measure: S.value.headMeasure,
      xScale: xScale(),
      smoothing: S.value.smoothing,
    }),
  },
  setStatus,
);
const measureSeg = segmented<HeadMeasure>(
  'Head measure',
  [
    { value: 'inductionStrength', label: 'Induction (L2)' },
    { value: 'prevTokenScore', label: 'Prev-token (L1)' },
  ],
  S.value.headMeasure as HeadMeasure,
  (v) => {
    S.update({ headMeasure: v });
    renderHeadTime();
  },
);
timePanel.controls.append(measureSeg.root);
const timeChart = createLineChart(timePanel.body, {
  ariaLabel: 'Head scores vs sequences seen',
  height: 200,
  onHover: hoverSelect,
  onPick: pick,
});

// ---- Rendering ----
function lossSeries(): LineSeries[] {
  const rs = records(),
    m = metric();
  const sets: string[] = EVAL_SETS.filter((s) => rs.some((r) => r.eval[s]));
  return sets.map((set) => ({
    id: set,
    label: EVAL_SET_LEGENDS[set as keyof typeof EVAL_SET_LEGENDS] ?? set,
    color: evalSetColor(set),
    hidden: S.value.hidden.includes(set),
    points: rs.map((r) => ({ x: r.sequences, y: r.eval[set]?.[m] ?? NaN })),
  }));
}

/** Stop / resume marks: where the wall clock restarted, and where a stopped run ended. */
function runMarkers(): XMarker[] {
  const rs = records(),
    r = run();
  const out: XMarker[] = resumePoints(rs).map((x, i) => ({
    id: `resume${i}`,
    x,
    label: `resumed at ${fmtInt(x)}`,
    kind: 'rule',
  }));
  if (r && (r.status === 'cancelled' || r.status === 'failed' || r.status === 'interrupted') && rs.length) {
    const x = rs[rs.length - 1].sequences;
    out.push({ id: 'stop', x, label: `${r.status === 'failed' ? 'failed' : 'stopped'} at ${fmtInt(x)}`, kind: 'rule' });
  }
  return out;
}

/** Whole-run clamps: one note in the legend (bands would cover the whole chart). */
const clampNotes = (): string[] => {
  const r = run();
  const whole = wholeRunClamps(r?.clamps ?? [], r?.totalSequences || Infinity);
  return whole.length ? [`Clamped for the whole run: ${whole.join('; ')}`] : [];
};

function renderLoss(): void {
  const rs = records(),
    r = run(),
    m = metric();
  const series = lossSeries();
  const xDomain = sequencesDomain(
    r?.totalSequences ?? 0,
    rs.map((x) => x.sequences),
  );
  const yDomain = metricDomain(
    m,
    series.filter((s) => !s.hidden).flatMap((s) => s.points.map((p) => p.y)),
  );
  lossChart.update(
    {
      series,
      xDomain,
      yDomain,
      xScale: xScale(),
      smoothing: S.value.smoothing,
      bands: clampBands(r?.clamps ?? [], xDomain[1]),
      markers: runMarkers(),
      refLines: m === 'loss' ? [{ id: 'ln2', y: LN2, label: `ln 2: ${LN2_LABEL}`, short: 'ln 2' }] : [],
      selectedX: selectedRecord()?.sequences ?? null,
      xLabel: '# sequences seen',
      yLabel: METRICS.find((x) => x.value === m)!.axis,
    },
    {
      items: series.map((s) => ({
        id: s.id,
        label: s.label,
        color: s.color,
        hidden: s.hidden,
        title: `${s.label} (${s.id})`,
      })),
      options: {
        onToggle: (id) => {
          const hidden = S.value.hidden.includes(id) ? S.value.hidden.filter((x) => x !== id) : [...S.value.hidden, id];
          S.update({ hidden });
          renderLoss();
        },
        dashedRef: m === 'loss' ? { label: `ln 2: ${LN2_LABEL}` } : undefined,
        notes: clampNotes(),
      },
    },
  );
}

function renderBoard(): void {
  const rec = selectedRecord();
  const width = Math.max(240, boardPanel.body.clientWidth);
  const labelW = width < 330 ? 78 : 100;
  const cell = Math.max(16, Math.min(40, Math.floor((width - labelW - 8) / 8)));
  const color = viridis([0, 1]);
  // Narrow cells: column labels are the head numbers only (H0…H7 would touch).
  const heads = (n: number) => Array.from({ length: n }, (_, i) => (cell < 24 ? `${i}` : `H${i}`));
  const pt = rec?.prevTokenScore ?? [],
    is = rec?.inductionStrength ?? [];
  const at = rec ? `at ${fmtInt(rec.sequences)} sequences` : '';
  const marks = headMarks(run()?.clamps ?? [], rec?.sequences ?? null);
  const markOf = (layer: number) => (_r: number, c: number) => marks.get(`L${layer}H${c}`)?.state;
  const markLine = (layer: number, c: number) => {
    const mk = marks.get(`L${layer}H${c}`);
    return mk ? [`${MARK_WORD[mk.state]}: ${mk.clamps.join('; ')}`] : [];
  };
  drawHeatmaps(
    child(boardSvg, 'g', 'maps'),
    rec
      ? [
          {
            key: 'pt',
            x: 0,
            y: 0,
            rows: [labelW < 100 ? 'L1 PT' : 'L1 prev-token'],
            cols: heads(pt.length),
            values: [pt],
            cell,
            color,
            rowLabels: true,
            colLabels: 'top',
            showValues: cell >= 26,
            labelW,
            ariaLabel: `Previous-token score of Layer 1 heads ${at}`,
            cellMark: markOf(1),
            describe: (_r, c, v) => [
              `Layer 1 · Head ${c} (L1H${c})`,
              `previous-token score ${fmtValue(v)}`,
              ...markLine(1, c),
              at,
              PT_FORMULA,
            ],
          },
          {
            key: 'is',
            x: 0,
            y: cell + 22,
            rows: [labelW < 100 ? 'L2 IS' : 'L2 induction'],
            cols: heads(is.length),
            values: [is],
            cell,
            color,
            rowLabels: true,
            labelW,
            colLabels: false,
            showValues: cell >= 26,
            ariaLabel: `Induction strength of Layer 2 heads ${at}`,
            cellMark: markOf(2),
            describe: (_r, c, v) => [
              `Layer 2 · Head ${c} (L2H${c})`,
              `induction strength ${fmtValue(v)}`,
              ...markLine(2, c),
              at,
              IS_FORMULA,
            ],
          },
        ]
      : [],
  );
  const top = rec ? 2 * cell + 30 : 0;
  // The colour bar starts a little in, so its "0" tick label is not cut at the left edge.
  const cb = child(boardSvg, 'g', 'cbar').attr('transform', `translate(8,${top})`);
  const cbH = rec
    ? drawColorbar(cb, {
        id: 'board',
        domain: [0, 1],
        color,
        width: Math.min(240, 8 * cell, width - 24),
        label: 'score (viridis, clamped to 0…1)',
      })
    : 0;
  cb.style('display', () => (rec ? null : 'none'));
  const legend = marks.size
    ? ['Hatched: ablated · framed: pattern clamped · dashed frame: replaced (layer-1 clamp)']
    : [];
  const f = child(boardSvg, 'g', 'formulas').attr('transform', `translate(0,${top + cbH + 6})`);
  const empty = 'No metrics yet: the board fills in at the first evaluation.';
  const lines = (rec ? [...legend, PT_FORMULA, IS_FORMULA] : [empty]).flatMap((t) =>
    wrapText(t, Math.floor(width / 6.2)).map((l, i) => (i ? `    ${l}` : l)),
  );
  f.selectAll('text')
    .data(lines)
    .join('text')
    .attr('class', 'formula-text')
    .attr('y', (_d, i) => 10 + i * 13)
    .text((d) => d);
  boardSvg.attr('width', width).attr('height', top + cbH + 14 + lines.length * 13);
  boardPanel.setTitle(rec ? `Heads at ${fmtInt(rec.sequences)} sequences` : 'Heads');
  // The strongest induction head among the heads no clamp touches (a clamped head is strong by fiat).
  const best = rec ? strongestFreeHead(is, marks) : null;
  const anyMarked = [...marks.keys()].some((k) => k.startsWith('L2'));
  boardText.textContent = !rec
    ? ''
    : best
      ? `Strongest ${anyMarked ? 'unclamped ' : ''}induction head: L2H${best.head} (IS ${fmtValue(best.value)})`
      : 'Every Layer-2 head is clamped or ablated here: no induction head to report.';
}

function headSeries(): LineSeries[] {
  const rs = records();
  const key = S.value.headMeasure === 'prevTokenScore' ? 'prevTokenScore' : 'inductionStrength';
  const n = Math.max(0, ...rs.map((r) => r[key]?.length ?? 0));
  const layer = key === 'prevTokenScore' ? 1 : 2;
  const marks = headMarks(run()?.clamps ?? [], null);
  return Array.from({ length: n }, (_, hd) => {
    const mk = marks.get(`L${layer}H${hd}`);
    return {
      id: `L${layer}H${hd}`,
      label: mk ? `L${layer}H${hd} (${MARK_WORD[mk.state]})` : `L${layer}H${hd}`,
      color: seriesColor(hd),
      faded: mk?.state === 'ablated',
      points: rs.map((r) => ({ x: r.sequences, y: r[key]?.[hd] ?? NaN })),
    };
  });
}

function renderHeadTime(): void {
  const rs = records(),
    r = run();
  const series = headSeries();
  const xDomain = sequencesDomain(
    r?.totalSequences ?? 0,
    rs.map((x) => x.sequences),
  );
  const isIS = S.value.headMeasure !== 'prevTokenScore';
  const marks = headMarks(r?.clamps ?? [], null);
  timeChart.update(
    {
      series,
      xDomain,
      yDomain: isIS ? [-0.05, 1] : [0, 1],
      xScale: xScale(),
      smoothing: S.value.smoothing,
      bands: clampBands(r?.clamps ?? [], xDomain[1]),
      markers: runMarkers(),
      selectedX: selectedRecord()?.sequences ?? null,
      xLabel: '# sequences seen',
      yLabel: isIS ? 'induction strength' : 'previous-token score',
    },
    {
      items: series.map((s) => ({
        id: s.id,
        label: s.label,
        color: s.color,
        faded: s.faded,
        title: marks.get(s.id)?.clamps.join('; ') ?? s.id,
      })),
      options: { title: isIS ? 'Layer 2 Head #' : 'Layer 1 Head #', notes: clampNotes() },
    },
  );
}

function renderSelection(): void {
  renderLoss();
  renderBoard();
  renderHeadTime();
}

function renderAll(): void {
  const rs = records();
  header.update(runs, run(), rs.length ? rs[rs.length - 1].sequences : undefined);
  slider.setSteps(rs.map((r) => r.sequences));
  slider.setValue(S.value.step);
  if (!run()) setStatus('Waiting for a run…');
  renderSelection();
}

function onMessage(m: ToWebviewMessage): void {
  if (handleCommon(m, setStatus)) return;
  switch (m.type) {
    case 'runs': {
      runs = m.runs;
      const before = S.value.runId;
      const c = chooseRun(runs, S.value.runId, m.activeRunId, S.value.lastActive);
      S.update({ lastActive: c.lastActive });
      if (c.runId !== before) showRun(c.runId);
      renderAll();
      break;
    }
    case 'metrics':
      metrics.set(m.runId, mergeRecords([], m.records));
      if (m.runId === S.value.runId) {
        setStatus('');
        renderAll();
      }
      break;
    case 'metricsAppend':
      metrics.set(m.runId, mergeRecords(metrics.get(m.runId) ?? [], m.records));
      if (m.runId === S.value.runId) renderAll();
      break;
    case 'step':
      if (m.runId === undefined) break; // a multi-run view's cursor
      knownSteps.set(m.runId, m.sequences);
      if (m.runId === S.value.runId && m.sequences !== S.value.step) {
        S.update({ step: m.sequences });
        slider.setValue(m.sequences);
        renderSelection();
      }
      break;
    default:
      break;
  }
}

new ResizeObserver(() => renderBoard()).observe(boardPanel.body);
onThemeChange(renderSelection);
app.append(
  h('p', {
    class: 'note',
    text:
      'Hover a curve or move the slider to select a checkpoint for every open view ' +
      'of this run. Shaded bands mark clamp windows; clamps for the whole run are listed under the legend.',
  }),
);
if (S.value.runId) knownSteps.set(S.value.runId, S.value.step);
renderAll();
connect('dashboard', onMessage, { runId: S.value.runId || undefined, step: S.value.step });
void options;
