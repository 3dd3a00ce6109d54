/**
 * Compare runs: one eval-set curve (fsl_train loss by default) per run, overlaid. Needs from the host:
 * `runs` (the runs it shows), `metrics` for each of them (and `metricsAppend` for live ones), `step`.
 * Runs of different lengths align on sequences, optimiser steps or the fraction of each run, on a
 * linear or log axis; runs of one condition (preset + clamps) share a hue, each seed its own dash, and
 * are listed together; runs can be added (`addRuns`) and removed while the panel is open.
 */
import type { MetricsRecord, RunSummary, ToWebviewMessage } from '../shared/webviewProtocol';
import { EVAL_SETS, EVAL_SET_LEGENDS, LN2, LN2_LABEL } from '../shared/webviewProtocol';
import { connect, post, createStepSharer, handleCommon } from './lib/host';
import { persisted } from './lib/state';
import { h, button, statusLine, selectBox } from './lib/dom';
import { createPanel } from './lib/panel';
import { createLineChart, type LineSeries } from './lib/chart';
import { createChartOptions } from './lib/chartOptions';
import { seriesColor, seriesDash, onThemeChange } from './lib/theme';
import { metricDomain, sequencesDomain } from './lib/domains';
import { describeClamp } from './lib/clampMarks';
import {
  COMPARE_X,
  COMPARE_X_LABEL,
  compareStyles,
  compareX,
  distinctNames,
  groupByCondition,
  type CompareX,
} from './lib/compareRuns';
import { mergeRecords } from './lib/steps';
import { curvesCsv } from './lib/csv';
import { fileStem, fmtInt, fmtSeqShort } from './lib/format';

const METRICS = [
  { value: 'loss', label: 'loss', axis: 'loss (nats)' },
  { value: 'acc', label: 'accuracy', axis: 'accuracy' },
  { value: 'inContextAcc', label: 'in-context accuracy', axis: 'in-context accuracy' },
  { value: 'prob', label: 'p(target)', axis: 'p(target)' },
  { value: 'useContextProb', label: 'p(label in context)', axis: 'p(label in context)' },
] as const;
type Metric = (typeof METRICS)[number]['value'];
const DASHES = [undefined, '6 3', '2 2', '8 3 2 3', '1 3'];

// runIds is the panel's identity (PanelIdentity): the host restores the panel with it after a reload.
const S = persisted({
  runIds: [] as string[],
  step: null as number | null,
  evalSet: 'fsl_train',
  metric: 'loss' as string,
  hidden: [] as string[],
  x: 'sequences' as string,
  xScale: 'linear' as string,
  smoothing: 0,
});

let runs: RunSummary[] = [];
const metrics = new Map<string, MetricsRecord[]>();
const metric = (): Metric => (METRICS.some((m) => m.value === S.value.metric) ? (S.value.metric as Metric) : 'loss');
const xMode = (): CompareX => (COMPARE_X.includes(S.value.x as CompareX) ? (S.value.x as CompareX) : 'sequences');
const share = createStepSharer();
// The shared cursor is in sequences; in another x unit a pick has no single step to share.
const pick = (x: number) => {
  if (xMode() !== 'sequences') return;
  S.update({ step: x });
  share(x, true);
  render();
};

const app = document.getElementById('app')!;
app.append(
  h('div', { class: 'run-header' }, [
    h('h1', { text: 'Compare runs' }),
    button('Add runs…', 'Add runs to this comparison', () => post({ type: 'addRuns' }), 'btn small'),
  ]),
);
const controls = h('div', { class: 'toolbar' });
app.append(controls);
const setSel = selectBox(
  'Eval set',
  EVAL_SETS.map((s) => ({ value: s, label: `${EVAL_SET_LEGENDS[s]} (${s})` })),
  S.value.evalSet,
  (v) => {
    S.update({ evalSet: v });
    render();
  },
);
const metricSel = selectBox(
  'Metric',
  METRICS.map((m) => ({ value: m.value, label: m.label })),
  metric(),
  (v) => {
    S.update({ metric: v });
    render();
  },
);
const xOptions = COMPARE_X.map((x) => ({ value: x, label: x === 'fraction' ? 'fraction of run' : x }));
const xSel = selectBox('x', xOptions, xMode(), (v) => {
  S.update({ x: v });
  render();
});
controls.append(setSel.root, metricSel.root, xSel.root);
createChartOptions(app, { xScale: S.value.xScale === 'log' ? 'log' : 'linear', smoothing: S.value.smoothing }, (v) => {
  S.update({ xScale: v.xScale, smoothing: v.smoothing });
  render();
});
const setStatus = statusLine(app);

const legendName = () => EVAL_SET_LEGENDS[S.value.evalSet as keyof typeof EVAL_SET_LEGENDS] ?? S.value.evalSet;
const metricLabel = () => METRICS.find((m) => m.value === metric())!.label;
const panel = createPanel(
  app,
  'Runs overlaid',
  {
    stem: () => fileStem('compare', S.value.evalSet, metric(), xMode(), `${runs.length}runs`),
    title: () => `${legendName()} (${S.value.evalSet}) ${metricLabel()} vs ${COMPARE_X_LABEL[xMode()]}`,
    svg: () => chart.svg,
    csv: () =>
      curvesCsv(
        series().map((s) => ({
          cols: { run: s.label, runId: s.id, evalSet: S.value.evalSet },
          xs: s.points.map((p) => p.x),
          ys: s.points.map((p) => p.y),
        })),
        xMode(),
        metric(),
      ),
    json: () => ({
      evalSet: S.value.evalSet,
      metric: metric(),
      x: xMode(),
      runs: series().map((s) => ({ runId: s.id, name: s.label, points: s.points })),
    }),
    meta: () => ({
      view: 'compare',
      runs: runs.map((r) => ({ id: r.id, name: r.name, preset: r.preset, clamps: r.clamps })),
      evalSet: S.value.evalSet,
      metric: metric(),
      x: xMode(),
      xScale: S.value.xScale,
      smoothing: S.value.smoothing,
    }),
  },
  setStatus,
);
const chart = createLineChart(panel.body, {
  ariaLabel: 'Runs overlaid: curve vs sequences seen',
  height: 300,
  onPick: pick,
});
const groupsList = h('div', { class: 'compare-groups', role: 'list', 'aria-label': 'Runs by condition' });
app.append(groupsList);

function series(): LineSeries[] {
  const shown = runs.filter((r) => metrics.has(r.id));
  const styles = compareStyles(groupByCondition(shown));
  const names = distinctNames(shown);
  return shown.map((r) => {
    const st = styles.get(r.id)!;
    const recs = metrics.get(r.id) ?? [];
    const last = recs.length ? recs[recs.length - 1].sequences : 0;
    return {
      id: r.id,
      label: names.get(r.id)!,
      color: seriesColor(st.color),
      dash: st.dash ? DASHES[st.dash % DASHES.length] : seriesDash(st.color),
      hidden: S.value.hidden.includes(r.id),
      points: recs.map((rec) => ({
        x: compareX(rec, r, xMode(), last),
        y: rec.eval[S.value.evalSet]?.[metric()] ?? NaN,
      })),
    };
  });
}

function xDomainOf(ss: LineSeries[]): [number, number] {
  const xs = ss.filter((s) => !s.hidden).flatMap((s) => s.points.map((p) => p.x));
  if (xMode() === 'fraction') return [0, Math.max(1, ...xs.filter(Number.isFinite))];
  if (xMode() === 'steps') return sequencesDomain(0, xs);
  return sequencesDomain(Math.max(0, ...runs.filter((r) => metrics.has(r.id)).map((r) => r.totalSequences)), xs);
}

function render(): void {
  const ss = series();
  const vis = ss.filter((s) => !s.hidden);
  const m = metric(),
    xm = xMode();
  chart.update(
    {
      series: ss,
      xDomain: xDomainOf(ss),
      xScale: S.value.xScale === 'log' ? 'log' : 'linear',
      smoothing: S.value.smoothing,
      yDomain: metricDomain(
        m,
        vis.flatMap((s) => s.points.map((p) => p.y)),
      ),
      refLines: m === 'loss' ? [{ id: 'ln2', y: LN2, label: `ln 2: ${LN2_LABEL}`, short: 'ln 2' }] : [],
      selectedX: xm === 'sequences' ? S.value.step : null,
      xLabel: COMPARE_X_LABEL[xm],
      yLabel: `${metricLabel()} (${S.value.evalSet})`,
      xFormat:
        xm === 'fraction'
          ? (v) => `${(100 * v).toFixed(1)} % of the run`
          : xm === 'steps'
            ? (v) => `step ${fmtInt(v)}`
            : undefined,
      xTickFormat: xm === 'fraction' ? (v) => `${Math.round(100 * v)}%` : fmtSeqShort,
    },
    {
      items: ss.map((s) => {
        const r = runs.find((x) => x.id === s.id)!;
        return {
          id: s.id,
          label: s.label,
          color: s.color,
          dash: s.dash,
          hidden: s.hidden,
          title: [
            r.name,
            r.status,
            ...(r.preset ? [`preset ${r.preset}`] : []),
            r.clamps.length ? r.clamps.map(describeClamp).join('; ') : 'no clamps',
            `${fmtInt(r.totalSequences)} sequences`,
          ].join(' · '),
        };
      }),
      options: {
        title: 'Run',
        dashedRef: m === 'loss' ? { label: `ln 2: ${LN2_LABEL}` } : undefined,
        onToggle: (id) => {
          S.update({
            hidden: S.value.hidden.includes(id) ? S.value.hidden.filter((x) => x !== id) : [...S.value.hidden, id],
          });
          render();
        },
      },
    },
  );
  renderGroups(ss);
  if (!runs.length) setStatus('No runs in this comparison: "Add runs…".');
}

/** The runs, grouped by condition, each with its line style, Open and Remove. */
function renderGroups(ss: LineSeries[]): void {
  const groups = groupByCondition(runs);
  groupsList.replaceChildren(
    ...groups.map((g) =>
      h('div', { class: 'compare-group', role: 'listitem' }, [
        h('div', {
          class: 'field-label',
          text: `${g.condition} (${g.runs.length} run${g.runs.length > 1 ? 's' : ''})`,
        }),
        h(
          'div',
          { class: 'toolbar' },
          g.runs.map((r) => {
            const s = ss.find((x) => x.id === r.id);
            const sw = h('span', { class: 'swatch' });
            if (s) {
              sw.style.background = s.color;
              if (s.dash) sw.classList.add('dashed');
            }
            return h('span', { class: 'field' }, [
              sw,
              button(
                s?.label ?? r.name,
                `Open run ${r.name} in the dashboard`,
                () => post({ type: 'openRun', runId: r.id }),
                'btn small',
              ),
              button(
                '×',
                `Remove ${r.name} from the comparison`,
                () => post({ type: 'removeRun', runId: r.id }),
                'btn small icon',
              ),
            ]);
          }),
        ),
      ]),
    ),
  );
}

function onMessage(m: ToWebviewMessage): void {
  if (handleCommon(m, setStatus)) return;
  switch (m.type) {
    case 'runs':
      runs = m.runs;
      S.update({ runIds: runs.map((r) => r.id) });
      setStatus('');
      render();
      break;
    case 'metrics':
      metrics.set(m.runId, mergeRecords([], m.records));
      render();
      break;
    case 'metricsAppend':
      metrics.set(m.runId, mergeRecords(metrics.get(m.runId) ?? [], m.records));
      render();
      break;
    // The cursor: any run's step (this view's x is shared by its runs).
    case 'step':
      if (m.sequences !== S.value.step) {
        S.update({ step: m.sequences });
        render();
      }
      break;
    default:
      break;
  }
}

onThemeChange(render);
render();
connect('compare', onMessage);
