/**
 * Attention patterns: a layers × heads grid of query × key heatmaps (viridis, 0…1) for one checkpoint.
 * Needs from the host: `runs` (with `checkpoints` so the slider snaps to loadable steps), `step`, and
 * `patterns` in reply to `requestPatterns(runId, sequences, mode)`, which this view posts whenever
 * the run, the shared step or the "one sequence / average" toggle changes.
 */
import { select } from 'd3-selection';
import type { AttentionPatterns, PatternMode, RunSummary, ToWebviewMessage } from '../shared/webviewProtocol';
import { connect, post, createStepSharer, nextRequestId, handleCommon } from './lib/host';
import { persisted } from './lib/state';
import { h, statusLine, segmented } from './lib/dom';
import { createPanel } from './lib/panel';
import { child } from './lib/chart';
import { drawHeatmaps, type HeatmapSpec } from './lib/heatmap';
import { drawColorbar } from './lib/colorbar';
import { createStepSlider } from './lib/slider';
import { createRunHeader, chooseRun } from './lib/runHeader';
import { viridis, onThemeChange } from './lib/theme';
import { snapStep } from './lib/steps';
import { toCsv } from './lib/csv';
import { fileStem, fmtInt, fmtValue } from './lib/format';
import { attentionLayout } from './lib/layout';

const S = persisted({ step: null as number | null, runId: '', lastActive: '', mode: 'average' as string, values: false });

let runs: RunSummary[] = [];
let patterns: AttentionPatterns | undefined;
let lastRequest = '';
let pendingId = 0;
const run = () => runs.find((r) => r.id === S.value.runId);
const mode = (): PatternMode => (S.value.mode === 'single' ? 'single' : 'average');

const app = document.getElementById('app')!;
const header = createRunHeader(app, {
  onPick: (id) => { S.update({ runId: id }); refresh(); },
  onOpen: (id) => post({ type: 'openRun', runId: id }),
});
const share = createStepSharer(() => S.value.runId || undefined);
const controls = h('div', { class: 'toolbar' });
app.append(controls);
const modeSeg = segmented<PatternMode>('Patterns of', [
  { value: 'single', label: 'One sequence' }, { value: 'average', label: 'Average over eval set' },
], mode(), (v) => { S.update({ mode: v }); refresh(); });
controls.append(h('span', { class: 'field-label', text: 'Patterns of' }), modeSeg.root);
const valuesBox = h('input', { type: 'checkbox', 'aria-label': 'Show values in cells' });
valuesBox.checked = S.value.values;
valuesBox.addEventListener('change', () => { S.update({ values: valuesBox.checked }); render(); });
controls.append(h('label', { class: 'field check' }, [valuesBox, h('span', { text: 'Show values' })]));
const slider = createStepSlider(app, {
  label: 'Checkpoint (sequences seen)', follow: true,
  onChange: (v, final) => { S.update({ step: v }); share(v, final); if (final) request(); },
});
const setStatus = statusLine(app);

const panel = createPanel(app, 'Attention patterns', {
  stem: () => fileStem(run()?.name ?? 'run', 'attention', mode(), patterns ? `seq${patterns.sequences}` : undefined),
  title: () => `${run()?.name ?? ''}: attention patterns at ${fmtInt(patterns?.sequences ?? 0)} sequences (${mode() === 'single' ? 'one sequence' : 'average over eval set'})`,
  svg: () => svg.node(),
  csv: () => patternsCsv(patterns),
  json: () => patterns ?? null,
}, setStatus);
const svg = select(panel.body).append('svg').attr('class', 'chart').attr('role', 'figure').attr('aria-label', 'Attention patterns, layers by heads');
const empty = h('div', { class: 'empty', text: 'Waiting for attention patterns…' });
panel.body.append(empty);

function patternsCsv(p: AttentionPatterns | undefined): string {
  const rows: Array<Array<string | number>> = [];
  p?.layers.forEach((layer, l) => layer.forEach((head, hd) => head.forEach((row, q) => row.forEach((v, k) => {
    rows.push([p.sequences, p.mode, l + 1, hd, p.tokens[q], p.tokens[k], v]);
  }))));
  return toCsv(['sequences', 'mode', 'layer', 'head', 'query', 'key', 'value'], rows);
}

/** Posts requestPatterns when (run, snapped step, mode) changed since the last request. */
function request(): void {
  const r = run();
  if (!r) return;
  const steps = r.checkpoints ?? [];
  const seq = steps.length ? snapStep(steps, S.value.step) : S.value.step;
  const key = `${r.id}|${seq}|${mode()}`;
  if (key === lastRequest) return;
  lastRequest = key;
  pendingId = nextRequestId();
  post({ type: 'requestPatterns', runId: r.id, sequences: seq, mode: mode(), requestId: pendingId });
  setStatus(`Loading patterns at ${seq === null ? 'the latest checkpoint' : `${fmtInt(seq)} sequences`}…`);
}

function refresh(): void {
  const r = run();
  header.update(runs, r, r?.checkpoints?.length ? r.checkpoints[r.checkpoints.length - 1] : undefined);
  slider.setSteps(r?.checkpoints ?? (patterns ? [patterns.sequences] : []));
  slider.setValue(S.value.step);
  modeSeg.set(mode());
  request();
  render();
}

function render(): void {
  const p = patterns;
  empty.style.display = p ? 'none' : '';
  svg.style('display', () => (p ? null : 'none'));
  if (!p) return;
  const width = Math.max(300, panel.body.clientWidth);
  const nLayers = p.layers.length, nHeads = Math.max(...p.layers.map((l) => l.length)), n = p.tokens.length;
  const L = attentionLayout(width, nLayers, nHeads, n);
  const color = viridis([0, 1]);
  const where = p.mode === 'single' ? `${p.evalSet ?? 'eval'} sequence${p.sequenceIndex !== undefined ? ` #${p.sequenceIndex}` : ''}` : `mean over ${p.evalSet ?? 'the eval set'}`;
  const specs: HeatmapSpec[] = [];
  p.layers.forEach((layer, l) => layer.forEach((head, hd) => {
    const pos = L.position(l, hd);
    specs.push({
      key: `${l}:${hd}`, x: pos.x, y: pos.y, rows: p.tokens, cols: p.tokens, values: head, cell: L.cell,
      color, title: `L${l + 1}H${hd}`, rowLabels: pos.firstInRow, labelW: L.labelW, colLabels: 'bottom',
      showValues: S.value.values && L.cell >= 22, format: (v) => v.toFixed(2).replace(/^0/, ''),
      masked: (q, k, v) => k > q && Math.abs(v) < 1e-9,
      ariaLabel: `Layer ${l + 1} head ${hd}: attention from query rows to key columns`,
      describe: (q, k, v) => [`Layer ${l + 1} · Head ${hd} (L${l + 1}H${hd})`, `query ${p.tokens[q]} → key ${p.tokens[k]}`,
        `attention ${fmtValue(v)}`, `${where} · ${fmtInt(p.sequences)} sequences`],
    });
  }));
  const maps = child(svg, 'g', 'maps');
  drawHeatmaps(maps, specs);
  // Layer titles.
  child(svg, 'g', 'layer-titles').selectAll('text').data(p.layers.map((_l, l) => l)).join('text')
    .attr('class', 'panel-title').attr('x', 0).attr('y', (l) => L.position(l, 0).y - 6).text((l) => `Layer ${l + 1}`);
  const bottom = L.height;
  const cb = child(svg, 'g', 'cbar').attr('transform', `translate(${L.labelW},${bottom + 8})`);
  const cbH = drawColorbar(cb, { id: 'attn', domain: [0, 1], color, width: Math.min(260, width - L.labelW - 10), label: 'attention (post-softmax), rows = query, columns = key' });
  const notes = [`${where} at ${fmtInt(p.sequences)} sequences`, ...(p.note ? [p.note] : [])];
  child(svg, 'g', 'notes').attr('transform', `translate(0,${bottom + cbH + 18})`).selectAll('text').data(notes).join('text')
    .attr('class', 'formula-text').attr('y', (_d, i) => i * 14).text((d) => d);
  svg.attr('width', width).attr('height', bottom + cbH + 18 + notes.length * 14);
}

function onMessage(m: ToWebviewMessage): void {
  if (handleCommon(m, setStatus)) return;
  switch (m.type) {
    case 'runs': runs = m.runs; S.update(chooseRun(runs, S.value.runId, m.activeRunId, S.value.lastActive)); refresh(); break;
    case 'step': if (m.runId === S.value.runId && m.sequences !== S.value.step) { S.update({ step: m.sequences }); slider.setValue(m.sequences); request(); } break;
    case 'patterns':
      if (m.patterns.runId !== S.value.runId && runs.length) break;
      if (m.inReplyTo !== undefined && m.inReplyTo !== pendingId) break; // a stale reply
      patterns = m.patterns;
      setStatus('');
      if (!run()?.checkpoints?.length) slider.setSteps([patterns.sequences]);
      render();
      break;
    default: break;
  }
}

new ResizeObserver(() => render()).observe(panel.body);
onThemeChange(render);
refresh();
connect('attention', onMessage, { runId: S.value.runId || undefined, step: S.value.step });
