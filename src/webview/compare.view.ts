/**
 * Compare runs: one eval-set curve (fsl_train loss by default) per run, overlaid. Needs from the host:
 * `runs` (the runs it picked), `metrics` for each of them (and `metricsAppend` for live ones), `step`.
 */
import type { MetricsRecord, RunSummary, ToWebviewMessage } from '../shared/webviewProtocol';
import { EVAL_SETS, EVAL_SET_LEGENDS, LN2, LN2_LABEL } from '../shared/webviewProtocol';
import { connect, post, createStepSharer, handleCommon } from './lib/host';
import { persisted } from './lib/state';
import { h, button, statusLine, selectBox } from './lib/dom';
import { createPanel } from './lib/panel';
import { createLineChart, type LineSeries } from './lib/chart';
import { seriesColor, seriesDash, onThemeChange } from './lib/theme';
import { metricDomain, sequencesDomain } from './lib/domains';
import { describeClamp } from './lib/clampMarks';
import { mergeRecords } from './lib/steps';
import { curvesCsv } from './lib/csv';
import { fileStem } from './lib/format';

const METRICS = ['loss', 'acc', 'inContextAcc', 'prob', 'useContextProb'] as const;
type Metric = (typeof METRICS)[number];
// runIds is the panel's identity (PanelIdentity): the host restores the panel with it after a reload.
const S = persisted({ runIds: [] as string[], step: null as number | null, evalSet: 'fsl_train', metric: 'loss' as string, hidden: [] as string[] });

let runs: RunSummary[] = [];
const metrics = new Map<string, MetricsRecord[]>();
const metric = (): Metric => (METRICS.includes(S.value.metric as Metric) ? S.value.metric as Metric : 'loss');
const share = createStepSharer();
const pick = (x: number) => { S.update({ step: x }); share(x, true); render(); };

const app = document.getElementById('app')!;
app.append(h('div', { class: 'run-header' }, [h('h1', { text: 'Compare runs' })]));
const controls = h('div', { class: 'toolbar' });
app.append(controls);
const setSel = selectBox('Eval set', EVAL_SETS.map((s) => ({ value: s, label: `${EVAL_SET_LEGENDS[s]} (${s})` })), S.value.evalSet, (v) => { S.update({ evalSet: v }); render(); });
const metricSel = selectBox('Metric', METRICS.map((m) => ({ value: m, label: m })), metric(), (v) => { S.update({ metric: v }); render(); });
controls.append(setSel.root, metricSel.root);
const setStatus = statusLine(app);

const legendName = () => EVAL_SET_LEGENDS[S.value.evalSet as keyof typeof EVAL_SET_LEGENDS] ?? S.value.evalSet;
const panel = createPanel(app, 'Runs overlaid', {
  stem: () => fileStem('compare', S.value.evalSet, metric()),
  title: () => `${S.value.evalSet} (${legendName()}) ${metric()} vs # sequences seen`,
  svg: () => chart.svg,
  csv: () => curvesCsv(series().map((s) => ({ cols: { run: s.label, runId: s.id, evalSet: S.value.evalSet }, xs: s.points.map((p) => p.x), ys: s.points.map((p) => p.y) })), 'sequences', metric()),
  json: () => ({ evalSet: S.value.evalSet, metric: metric(), runs: series().map((s) => ({ runId: s.id, name: s.label, points: s.points })) }),
}, setStatus);
const chart = createLineChart(panel.body, { ariaLabel: 'Runs overlaid: curve vs sequences seen', height: 300, onPick: pick });
const openList = h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Open a run' });
app.append(openList);

function series(): LineSeries[] {
  return runs.filter((r) => metrics.has(r.id)).map((r, i) => ({
    id: r.id, label: r.name, color: seriesColor(i), dash: seriesDash(i), hidden: S.value.hidden.includes(r.id),
    points: (metrics.get(r.id) ?? []).map((rec) => ({ x: rec.sequences, y: rec.eval[S.value.evalSet]?.[metric()] ?? NaN })),
  }));
}

function render(): void {
  const ss = series();
  const vis = ss.filter((s) => !s.hidden);
  const m = metric();
  chart.update({
    series: ss,
    xDomain: sequencesDomain(Math.max(0, ...runs.filter((r) => metrics.has(r.id)).map((r) => r.totalSequences)), vis.flatMap((s) => s.points.map((p) => p.x))),
    yDomain: metricDomain(m, vis.flatMap((s) => s.points.map((p) => p.y))),
    refLines: m === 'loss' ? [{ id: 'ln2', y: LN2, label: 'ln 2' }] : [],
    selectedX: S.value.step, xLabel: '# sequences seen', yLabel: `${m} (${S.value.evalSet})`,
  }, {
    items: ss.map((s) => {
      const r = runs.find((x) => x.id === s.id)!;
      return { id: s.id, label: s.label, color: s.color, hidden: s.hidden,
        title: `${r.name} · ${r.status}${r.preset ? ` · preset ${r.preset}` : ''} · ${r.clamps.length ? r.clamps.map(describeClamp).join('; ') : 'no clamps'}` };
    }),
    options: {
      title: 'Run', dashedRef: m === 'loss' ? { label: LN2_LABEL } : undefined,
      onToggle: (id) => { S.update({ hidden: S.value.hidden.includes(id) ? S.value.hidden.filter((x) => x !== id) : [...S.value.hidden, id] }); render(); },
    },
  });
  openList.replaceChildren(h('span', { class: 'field-label', text: 'Open run:' }),
    ...runs.map((r) => button(r.name, `Open run ${r.name}`, () => post({ type: 'openRun', runId: r.id }), 'btn small')));
  if (!runs.length) setStatus('Waiting for runs to compare…');
}

function onMessage(m: ToWebviewMessage): void {
  if (handleCommon(m, setStatus)) return;
  switch (m.type) {
    case 'runs': runs = m.runs; S.update({ runIds: runs.map((r) => r.id) }); setStatus(''); render(); break;
    case 'metrics': metrics.set(m.runId, mergeRecords([], m.records)); render(); break;
    case 'metricsAppend': metrics.set(m.runId, mergeRecords(metrics.get(m.runId) ?? [], m.records)); render(); break;
    case 'step': if (m.sequences !== S.value.step) { S.update({ step: m.sequences }); render(); } break;
    default: break;
  }
}

onThemeChange(render);
render();
connect('compare', onMessage);
