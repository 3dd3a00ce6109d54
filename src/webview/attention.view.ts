/**
 * Attention patterns: a layers × heads grid of query × key heatmaps (viridis, 0…1) at one checkpoint.
 * Needs from the host: `runs` (with `checkpoints` so the slider snaps to loadable steps), `step` (per
 * run), and `patterns` in reply to `requestPatterns`, which this view posts whenever the run, the
 * checkpoint or what is shown changes: one sequence (default; of an eval set, picked by number, or
 * typed as "x1 ℓ1 x2 ℓ2 xq"), or the eval set's mean — aligned to correct / other label (an induction
 * head reads .9 / .1) or plain (it reads .45 / .45). Heads the run's clamps touch at that checkpoint
 * are marked; the snap to the nearest saved checkpoint is said.
 */
import { select } from 'd3-selection';
import type { AttentionPatterns, PatternMode, RunSummary, ToWebviewMessage } from '../shared/webviewProtocol';
import { EVAL_SETS, EVAL_SET_LEGENDS } from '../shared/webviewProtocol';
import { parseSequenceSpec } from '../shared/attentionViews';
import { connect, post, createStepSharer, nextRequestId, handleCommon } from './lib/host';
import { persisted, pref, onPrefs } from './lib/state';
import { h, statusLine, segmented, selectBox, button, checkbox } from './lib/dom';
import { createPanel } from './lib/panel';
import { child } from './lib/chart';
import { drawHeatmaps, type HeatmapSpec } from './lib/heatmap';
import { drawColorbar } from './lib/colorbar';
import { createStepSlider } from './lib/slider';
import { createRunHeader, chooseRun } from './lib/runHeader';
import { viridis, onThemeChange } from './lib/theme';
import { clampSlug, headMarks, MARK_WORD } from './lib/clampMarks';
import { snapStep } from './lib/steps';
import { toCsv } from './lib/csv';
import { fileStem, fmtInt, fmtValue, wrapText } from './lib/format';
import { attentionLayout } from './lib/layout';

const S = persisted({
  step: null as number | null,
  runId: '',
  lastActive: '',
  mode: 'single' as string,
  values: false,
  evalSet: 'fsl_train' as string,
  sequenceIndex: 0,
  custom: '',
});

/** The mode last used in any attention panel: a new panel starts in it. */
const lastMode = pref<string>('attentionMode', 'single', ['single', 'aligned', 'average']);
onPrefs(() => {
  if (lastMode.get() !== S.value.mode) {
    S.update({ mode: lastMode.get() });
    refresh();
  }
});

let runs: RunSummary[] = [];
let patterns: AttentionPatterns | undefined;
let lastRequest = '';
let pendingId = 0;
const run = () => runs.find((r) => r.id === S.value.runId);
const mode = (): PatternMode => (S.value.mode === 'average' || S.value.mode === 'aligned' ? S.value.mode : 'single');
const evalSet = () => ((EVAL_SETS as readonly string[]).includes(S.value.evalSet) ? S.value.evalSet : 'fsl_train');
const ALIGNED_NOTE =
  '* query row aligned per sequence: column ℓ2 = the correct label, x2 = its exemplar; ' +
  'ℓ1, x1 = the other pair (ℓ2 − ℓ1 = induction strength)';
const PLAIN_NOTE =
  'The plain mean mixes answers ℓ1 and ℓ2 (half each): an induction head shows ≈ .45 on both; ' +
  'use "Mean, aligned".';
const MODE_TEXT: Record<PatternMode, string> = {
  single: 'one sequence',
  aligned: 'eval-set mean, aligned to the correct label',
  average: 'eval-set mean (plain)',
};

const app = document.getElementById('app')!;
const header = createRunHeader(app, {
  onPick: (id) => {
    S.update({ runId: id });
    refresh();
  },
  onOpen: (id) => post({ type: 'openRun', runId: id }),
});
const share = createStepSharer(() => S.value.runId || undefined);

// ---- What is shown: mode, sequence (eval set + number, or typed), values ----
const controls = h('div', { class: 'toolbar' });
app.append(controls);
const modeSeg = segmented<PatternMode>(
  'Patterns of',
  [
    { value: 'single', label: 'One sequence' },
    { value: 'aligned', label: 'Mean, aligned' },
    { value: 'average', label: 'Mean, plain' },
  ],
  mode(),
  (v) => {
    S.update({ mode: v });
    lastMode.set(v);
    refresh();
  },
);
const valuesBox = checkbox('Show values', S.value.values, (v) => {
  S.update({ values: v });
  render();
});
controls.append(h('span', { class: 'field-label', text: 'Patterns of' }), modeSeg.root, valuesBox.root);

const seqRow = h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Sequence' });
app.append(seqRow);
const setOptions = EVAL_SETS.map((s) => ({ value: s, label: `${EVAL_SET_LEGENDS[s]} (${s})` }));
const setSel = selectBox('Eval set', setOptions, evalSet(), (v) => {
  S.update({ evalSet: v, sequenceIndex: 0, custom: '' });
  customInput.value = '';
  refresh();
});
const indexInput = h('input', {
  type: 'number',
  min: 0,
  step: 1,
  class: 'num',
  'aria-label': 'Sequence number in the eval set',
});
indexInput.value = String(S.value.sequenceIndex);
const setIndex = (i: number) => {
  const max = (patterns?.evalSet === evalSet() ? patterns.evalSetSize : undefined) ?? Infinity;
  const v = Math.max(0, Math.min(max - 1, Math.floor(i)));
  if (!Number.isFinite(v)) return;
  S.update({ sequenceIndex: v, custom: '' });
  customInput.value = '';
  indexInput.value = String(v);
  refresh();
};
indexInput.addEventListener('change', () => setIndex(Number(indexInput.value)));
const indexField = h('label', { class: 'field' }, [
  h('span', { class: 'field-label', text: 'Sequence #' }),
  button('◀', 'Previous sequence', () => setIndex(S.value.sequenceIndex - 1), 'btn icon'),
  indexInput,
  button('▶', 'Next sequence', () => setIndex(S.value.sequenceIndex + 1), 'btn icon'),
]);
const customInput = h('input', {
  type: 'text',
  class: 'seq-input',
  placeholder: 'x1 ℓ1 x2 ℓ2 xq, e.g. 12 3 40 1 12',
  'aria-label': 'Type a sequence: x1 ℓ1 x2 ℓ2 xq, each x a class or class/exemplar, each ℓ a label',
  spellcheck: 'false',
});
customInput.value = S.value.custom;
const customError = h('span', { class: 'status', 'data-level': 'error', role: 'alert' });
const showTyped = () => {
  const t = customInput.value.trim();
  if (!t) {
    customError.textContent = '';
    S.update({ custom: '' });
    refresh();
    return;
  }
  const p = parseSequenceSpec(t);
  customError.textContent = typeof p === 'string' ? p : '';
  if (typeof p !== 'string') {
    S.update({ custom: t });
    refresh();
  }
};
customInput.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') {
    e.preventDefault();
    showTyped();
  }
});
const customField = h('span', { class: 'field' }, [
  h('span', { class: 'field-label', text: 'or type' }),
  customInput,
  button('Show', 'Show the typed sequence', showTyped, 'btn small'),
  button(
    'Clear',
    'Back to the eval-set sequence',
    () => {
      customInput.value = '';
      showTyped();
    },
    'btn small',
  ),
  customError,
]);
seqRow.append(setSel.root, indexField, customField);

const slider = createStepSlider(app, {
  label: 'Checkpoint (sequences seen)',
  follow: true,
  play: true,
  playMs: 900,
  onChange: (v, final) => {
    S.update({ step: v });
    share(v, final);
    if (final) request();
  },
});
const snapNote = h('div', { class: 'snap-note', 'aria-live': 'polite' });
app.append(snapNote);
const setStatus = statusLine(app);

const panel = createPanel(
  app,
  'Attention patterns',
  {
    stem: () =>
      fileStem(
        run()?.name ?? 'run',
        'attention',
        clampSlug(run()?.clamps ?? []) || undefined,
        mode(),
        patterns?.evalSet,
        mode() === 'single' ? (S.value.custom ? 'typed' : `n${S.value.sequenceIndex}`) : undefined,
        patterns ? `seq${patterns.sequences}` : undefined,
      ),
    title: () =>
      `${run()?.name ?? ''}: attention at ${fmtInt(patterns?.sequences ?? 0)} sequences` + ` (${MODE_TEXT[mode()]})`,
    svg: () => svg.node(),
    csv: () => patternsCsv(patterns),
    json: () => patterns ?? null,
    meta: () => ({
      run: run(),
      view: 'attention',
      checkpoint: patterns?.sequences,
      mode: mode(),
      evalSet: patterns?.evalSet,
      sequence: patterns?.sequence,
      clamps: patterns?.clamps,
    }),
  },
  setStatus,
);
const svg = select(panel.body)
  .append('svg')
  .attr('class', 'chart')
  .attr('role', 'figure')
  .attr('aria-label', 'Attention patterns, layers by heads');
const empty = h('div', { class: 'empty', text: 'Waiting for attention patterns…' });
panel.body.append(empty);

/** Every clamp acting on a marked head, once. */
const clampList = (marks: Map<string, { clamps: string[] }>) =>
  [...new Set([...marks.values()].flatMap((m) => m.clamps))].join('; ');

function patternsCsv(p: AttentionPatterns | undefined): string {
  const rows: Array<Array<string | number>> = [];
  p?.layers.forEach((layer, l) =>
    layer.forEach((head, hd) =>
      head.forEach((row, q) =>
        row.forEach((v, k) => {
          rows.push([p.sequences, p.mode, l + 1, hd, p.tokens[q], keyName(p, q, k), v]);
        }),
      ),
    ),
  );
  return toCsv(['sequences', 'mode', 'layer', 'head', 'query', 'key', 'value'], rows);
}

/** A key's name; in the aligned query row the positions stand for roles. */
function keyName(p: AttentionPatterns, q: number, k: number): string {
  if (p.alignedRow !== q) return p.tokens[k];
  return ["other pair's exemplar", 'other label', 'matching exemplar', 'correct label', 'xq'][k] ?? p.tokens[k];
  return p.tokens[k];
}

function updateControls(): void {
  const m = mode();
  modeSeg.set(m);
  seqRow.style.display = '';
  indexField.style.display = m === 'single' ? '' : 'none';
  customField.style.display = m === 'single' ? '' : 'none';
  setSel.select.value = evalSet();
  indexInput.value = String(S.value.sequenceIndex);
  if (patterns?.evalSetSize) indexInput.max = String(patterns.evalSetSize - 1);
  setSel.root.style.opacity = m === 'single' && S.value.custom ? '0.5' : '';
}

/** Posts requestPatterns when (run, snapped step, what is shown) changed since the last request. */
function request(): void {
  const r = run();
  if (!r) return;
  const steps = r.checkpoints ?? [];
  const seq = steps.length ? snapStep(steps, S.value.step) : S.value.step;
  const m = mode(),
    custom = m === 'single' && S.value.custom ? S.value.custom : undefined;
  const what = {
    evalSet: evalSet(),
    ...(m === 'single' && !custom ? { sequenceIndex: S.value.sequenceIndex } : {}),
    ...(custom ? { custom } : {}),
  };
  const key = JSON.stringify([r.id, seq, m, what]);
  if (key === lastRequest) return;
  lastRequest = key;
  pendingId = nextRequestId();
  post({ type: 'requestPatterns', runId: r.id, sequences: seq, mode: m, requestId: pendingId, ...what });
  setStatus(`Computing patterns at ${seq === null ? 'the latest checkpoint' : `${fmtInt(seq)} sequences`}…`);
}

function refresh(): void {
  const r = run();
  header.update(runs, r, r?.checkpoints?.length ? r.checkpoints[r.checkpoints.length - 1] : undefined);
  slider.setSteps(r?.checkpoints ?? (patterns ? [patterns.sequences] : []));
  slider.setValue(S.value.step);
  updateControls();
  request();
  render();
}

function render(): void {
  const p = patterns;
  empty.style.display = p ? 'none' : '';
  svg.style('display', () => (p ? null : 'none'));
  // Snapping: the slider's step may have no checkpoint; say which one is shown instead.
  const asked = p?.requested ?? (S.value.step !== null && p && S.value.step !== p.sequences ? S.value.step : undefined);
  snapNote.textContent =
    p && asked !== undefined
      ? `Showing checkpoint ${fmtInt(p.sequences)}: the saved checkpoint nearest to the selected step ${fmtInt(asked)}.`
      : '';
  if (!p) return;
  const width = Math.max(300, panel.body.clientWidth);
  const nLayers = p.layers.length,
    nHeads = Math.max(...p.layers.map((l) => l.length)),
    n = p.tokens.length;
  const L = attentionLayout(width, nLayers, nHeads, n);
  const color = viridis([0, 1]);
  const marks = headMarks(run()?.clamps ?? [], p.sequences, nHeads);
  const where =
    p.mode === 'single'
      ? p.sequenceIndex !== undefined
        ? `${p.evalSet ?? 'eval'} sequence #${p.sequenceIndex}`
        : 'typed sequence'
      : `${p.mode === 'aligned' ? 'aligned mean' : 'mean'} over ${p.evalSet ?? 'the eval set'}`;
  const rowTokens = p.tokens.map((t, q) => (q === p.alignedRow ? `${t}*` : t));
  const specs: HeatmapSpec[] = [];
  p.layers.forEach((layer, l) =>
    layer.forEach((head, hd) => {
      const pos = L.position(l, hd);
      const mk = marks.get(`L${l + 1}H${hd}`);
      specs.push({
        key: `${l}:${hd}`,
        x: pos.x,
        y: pos.y,
        rows: rowTokens,
        cols: p.tokens,
        values: head,
        cell: L.cell,
        color,
        title: `L${l + 1}H${hd}`,
        rowLabels: pos.firstInRow,
        labelW: L.labelW,
        colLabels: 'bottom',
        labelFont: Math.min(10, L.cell - 2),
        showValues: S.value.values && L.cell >= 22,
        format: (v) => v.toFixed(2).replace(/^0/, ''),
        masked: (q, k, v) => k > q && Math.abs(v) < 1e-9,
        mark: mk ? { state: mk.state, label: MARK_WORD[mk.state] } : undefined,
        ariaLabel:
          `Layer ${l + 1} head ${hd}${mk ? ` (${MARK_WORD[mk.state]})` : ''}: ` +
          'attention from query rows to key columns',
        describe: (q, k, v) => [
          `Layer ${l + 1} · Head ${hd} (L${l + 1}H${hd})`,
          `query ${p.tokens[q]} → key ${keyName(p, q, k)}${q === p.alignedRow ? ' (aligned)' : ''}`,
          `attention ${fmtValue(v)}`,
          ...(mk ? [`${MARK_WORD[mk.state]}: ${mk.clamps.join('; ')}`] : []),
          `${where} · ${fmtInt(p.sequences)} sequences`,
        ],
      });
    }),
  );
  drawHeatmaps(child(svg, 'g', 'maps'), specs);
  child(svg, 'g', 'layer-titles')
    .selectAll('text')
    .data(p.layers.map((_l, l) => l))
    .join('text')
    .attr('class', 'panel-title')
    .attr('x', 0)
    .attr('y', (l) => L.position(l, 0).y - 6)
    .text((l) => `Layer ${l + 1}`);
  const bottom = L.height;
  const cb = child(svg, 'g', 'cbar').attr('transform', `translate(${Math.max(8, L.labelW)},${bottom + 8})`);
  const cbH = drawColorbar(cb, {
    id: 'attn',
    domain: [0, 1],
    color,
    width: Math.min(260, width - L.labelW - 16),
    label: 'attention (post-softmax), rows = query, columns = key',
  });
  const chars = Math.max(30, Math.floor(width / 6.2));
  const notes = [
    ...(p.note ? [p.note] : [`${where} at ${fmtInt(p.sequences)} sequences`]),
    ...(p.alignedRow !== undefined ? [ALIGNED_NOTE] : []),
    ...(p.mode === 'average' ? [PLAIN_NOTE] : []),
    ...(marks.size
      ? [
          `Clamps at this checkpoint: ${clampList(marks)}` +
            ' (framed: pattern clamped; hatched: ablated; dashed: replaced)',
        ]
      : []),
  ].flatMap((t) => wrapText(t, chars));
  child(svg, 'g', 'notes')
    .attr('transform', `translate(0,${bottom + cbH + 18})`)
    .selectAll('text')
    .data(notes)
    .join('text')
    .attr('class', 'formula-text')
    .attr('y', (_d, i) => i * 14)
    .text((d) => d);
  svg.attr('width', width).attr('height', bottom + cbH + 18 + notes.length * 14);
  panel.setTitle(`Attention at ${fmtInt(p.sequences)} sequences · ${MODE_TEXT[p.mode]}`);
}

function onMessage(m: ToWebviewMessage): void {
  if (handleCommon(m, setStatus)) return;
  switch (m.type) {
    case 'runs':
      runs = m.runs;
      S.update(chooseRun(runs, S.value.runId, m.activeRunId, S.value.lastActive));
      refresh();
      break;
    case 'step':
      if (m.runId === S.value.runId && m.sequences !== S.value.step) {
        S.update({ step: m.sequences });
        slider.setValue(m.sequences);
        request();
      }
      break;
    case 'patterns':
      if (m.patterns.runId !== S.value.runId && runs.length) break;
      if (m.inReplyTo !== undefined && m.inReplyTo !== pendingId) break; // a stale reply
      patterns = m.patterns;
      setStatus('');
      if (!run()?.checkpoints?.length) slider.setSteps([patterns.sequences]);
      updateControls();
      render();
      break;
    default:
      break;
  }
}

new ResizeObserver(() => render()).observe(panel.body);
onThemeChange(render);
refresh();
connect('attention', onMessage, { runId: S.value.runId || undefined, step: S.value.step });
