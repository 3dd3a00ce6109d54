/**
 * Path patching over training (issue 18, docs/path-patching.md): for every edge sender (Layer-1 head, column)
 * → receiver (Layer-2 head, row) the exact change of the query's logit difference when the receiver's Q, K or
 * V reads the sender's corrupted output along that edge alone, three 8 × 8 heat maps (RdBu, blue negative)
 * following the one shared step (Play over the measured checkpoints). A toggle shows the attribution
 * approximation or its error A − E instead, with the error statistics under each map. Ablated heads are
 * hatched (rows and columns), pattern-clamped receivers framed, edges the run's path clamps act on
 * outlined; the learning time (spec §5.10) is marked as the phase change on the timeline of the strongest
 * edges. Needs from the host: `pathPatching` (and `runs`, `metrics` for the run's name and clamps);
 * "Compute" posts `computeOverTraining` with measures ["path-patching"].
 */
import { select } from 'd3-selection';
import type { PathInputName, PathPatchingData, RunSummary, ToWebviewMessage } from '../shared/webviewProtocol';
import { post } from './lib/host';
import { persisted } from './lib/state';
import { h, statusLine, segmented, selectBox, checkbox, button } from './lib/dom';
import { createPanel } from './lib/panel';
import { child, createLineChart, type PlotData } from './lib/chart';
import { drawHeatmaps, heatmapSize, type HeatmapSpec } from './lib/heatmap';
import { drawColorbar } from './lib/colorbar';
import { createSharedStep } from './lib/sharedStep';
import { createChartOptions } from './lib/chartOptions';
import { diverging, onThemeChange, seriesColor } from './lib/theme';
import { snapNote, snapToMeasured } from './lib/overTraining';
import { toCsv } from './lib/csv';
import { clampBands, headMarks, MARK_WORD, wholeRunClamps } from './lib/clampMarks';
import { hideTip } from './lib/tooltip';
import { fileStem, fmtInt, fmtValue, wrapText } from './lib/format';
import { gridColumns } from './lib/layout';
import { sequencesDomain } from './lib/domains';
import {
  INPUT_LABEL,
  SHOWN_LABEL,
  cellValues,
  describeEdge,
  edgeClamps,
  edgeDomain,
  errorLine,
  panelsAt,
  pathCoverageNote,
  pathSteps,
  phaseNote,
  strongestEdges,
  type CellShown,
  type EdgePanel,
  type RangeMode,
} from './lib/pathMatrix';

// runId is the panel's identity (PanelIdentity): the host restores the panel with it after a reload.
const S = persisted({
  runId: '',
  step: null as number | null,
  corruption: 'matched',
  shown: 'exact' as string,
  range: 'training' as string,
  values: true,
  xScale: 'linear' as string,
  smoothing: 0,
});

let runs: RunSummary[] = [];
let runId = S.value.runId;
let data: PathPatchingData | undefined;

const shownOf = (): CellShown =>
  S.value.shown === 'attribution' || S.value.shown === 'error' ? S.value.shown : 'exact';
const rangeOf = (): RangeMode => (S.value.range === 'frame' ? 'frame' : 'training');
const run = () => runs.find((r) => r.id === runId);
const runName = () => run()?.name ?? runId;
const steps = () => pathSteps(data, S.value.corruption);
const panels = (): EdgePanel[] => panelsAt(data, S.value.corruption, S.value.step);

const app = document.getElementById('app')!;
const runLabel = h('span', { class: 'meta' });
app.append(h('div', { class: 'run-header' }, [h('h1', { text: 'Path patching: Layer 1 → Layer 2 edges' }), runLabel]));
const controls = h('div', { class: 'toolbar' });
app.append(controls);
const corruptionSel = selectBox('Corruption', [], S.value.corruption, (v) => {
  S.update({ corruption: v });
  render();
});
const shownSeg = segmented<CellShown>(
  'Cells show',
  [
    { value: 'exact', label: 'Exact' },
    { value: 'attribution', label: 'Attribution' },
    { value: 'error', label: 'A − E' },
  ],
  shownOf(),
  (v) => {
    S.update({ shown: v });
    render();
  },
);
const rangeSeg = segmented<RangeMode>(
  'Colour range',
  [
    { value: 'training', label: 'Fixed over training' },
    { value: 'frame', label: 'Fit to checkpoint' },
  ],
  rangeOf(),
  (v) => {
    S.update({ range: v });
    render();
  },
);
const valuesBox = checkbox('Show values', S.value.values, (v) => {
  S.update({ values: v });
  render();
});
// Each label stays with its control when the toolbar wraps (narrow panels).
const group = (label: string, el: HTMLElement) =>
  h('span', { class: 'field' }, [h('span', { class: 'field-label', text: label }), el]);
controls.append(corruptionSel.root, group('Cells', shownSeg.root), group('Colours', rangeSeg.root), valuesBox.root);

const step = createSharedStep(app, S, { runId: () => runId, render, playMs: 700 });
const slider = step.slider;
const pick = step.pick;
const phaseLine = h('p', { class: 'snap-note phase-note', 'aria-live': 'polite' });
const phaseBtn = button('Go to phase change', 'Show the measured checkpoint nearest the learning time', () => {
  const c = phaseNote(data?.learningTime ?? null, steps()).checkpoint;
  if (c !== null) pick(c);
});
const snapLine = h('p', { class: 'snap-note', 'aria-live': 'polite' });
const phaseBar = h('div', { class: 'toolbar' }, [phaseLine, phaseBtn]);
app.append(phaseBar, snapLine);
const coverage = h('p', { class: 'coverage-note' });
const computeBtn = button(
  'Compute path patching over training',
  'Compute path patching at every checkpoint of this run (measure --what path-patching --checkpoints all)',
  () => {
    if (!runId) return;
    post({ type: 'computeOverTraining', runId, measures: ['path-patching'] });
    setStatus('Asked to compute path patching over training…');
  },
);
app.append(h('div', { class: 'toolbar' }, [coverage, computeBtn]));
const setStatus = statusLine(app);

const panel = createPanel(
  app,
  'Edge matrices',
  {
    stem: () =>
      fileStem(
        runName() || 'run',
        'path-patching',
        S.value.corruption,
        shownOf(),
        panels()[0] ? `seq${panels()[0].frame.sequences}` : undefined,
      ),
    title: () =>
      `${runName()}: path patching (${SHOWN_LABEL[shownOf()]}) at ${fmtInt(panels()[0]?.frame.sequences ?? 0)} sequences`,
    svg: () => svg.node(),
    csv: () =>
      toCsv(
        ['sequences', 'corruption', 'input', 'receiver', 'sender', 'exact', 'attribution'],
        (data?.frames ?? []).flatMap((f) =>
          (['q', 'k', 'v'] as PathInputName[]).flatMap((x) =>
            f.exact[x].flatMap((row, i) =>
              row.map((v, j) => [
                f.sequences,
                f.corruption,
                x,
                data!.receivers[i],
                data!.senders[j],
                v,
                f.attribution?.[x][i][j] ?? '',
              ]),
            ),
          ),
        ),
      ),
    json: () => data ?? null,
    meta: () => ({
      run: run(),
      view: 'path-patching',
      corruption: S.value.corruption,
      cells: shownOf(),
      checkpoint: panels()[0]?.frame.sequences,
      source: data?.source?.file,
    }),
  },
  setStatus,
);
const svg = select(panel.body)
  .append('svg')
  .attr('class', 'chart')
  .attr('role', 'figure')
  .attr('aria-label', 'Path patching edge matrices');
const empty = h('div', { class: 'empty', text: 'Waiting for path patching…' });
panel.body.append(empty);

// The timeline: the strongest edges' exact values over training, the learning time marked.
const timeline = createPanel(
  app,
  'Strongest edges over training',
  {
    stem: () => fileStem(runName() || 'run', 'path-patching-over-training', S.value.corruption),
    title: () => `${runName()}: strongest edges over training`,
    svg: () => chart.svg,
    csv: () => {
      const st = steps();
      const lines = data ? strongestEdges(data, S.value.corruption, st) : [];
      return toCsv(
        ['sequences', ...lines.map((l) => l.label)],
        st.map((x, k) => [x, ...lines.map((l) => l.ys[k])]),
      );
    },
    json: () => (data ? strongestEdges(data, S.value.corruption, steps()) : null),
    meta: () => ({ run: run(), view: 'path-patching', section: 'strongest edges', learningTime: data?.learningTime }),
  },
  setStatus,
);
let curveOpts = {
  xScale: S.value.xScale === 'log' ? ('log' as const) : ('linear' as const),
  smoothing: S.value.smoothing,
};
createChartOptions(timeline.body, curveOpts, (v) => {
  curveOpts = v;
  S.update({ xScale: v.xScale, smoothing: v.smoothing });
  render();
});
const chart = createLineChart(timeline.body, {
  ariaLabel: 'Exact effect of the strongest edges over training',
  height: 220,
  onPick: (x) => pick(x),
});
const hidden = new Set<string>();

/** ".12", "−.05", "+1.3"; near-zero values as ".00" without a sign. */
function signedCell(v: number): string {
  const a = Math.abs(v);
  const t = (a >= 10 ? a.toFixed(0) : a >= 1 ? a.toFixed(1) : a.toFixed(2)).replace(/^0\./, '.');
  if (t === '.00') return t;
  return (v < 0 ? '−' : '+') + t;
}

function updateControls(): void {
  const cs = data?.corruptions ?? [];
  // A saved choice the run does not have falls back to matched (only once the run's corruptions are known).
  const known = S.value.corruption === 'matched' || cs.some((c) => c.name === S.value.corruption);
  if (data && !known) S.update({ corruption: 'matched' });
  corruptionSel.setOptions(
    [
      { value: 'matched', label: 'Matched (Q: class, K: prev-token, V: labels)' },
      ...cs.map((c) => ({ value: c.name, label: `${c.name}: ${c.description}` })),
    ],
    S.value.corruption,
  );
  runLabel.textContent = runId ? `run ${runName()}` : '';
}

function render(): void {
  slider.setSteps(steps());
  slider.setValue(S.value.step);
  snapLine.textContent = snapNote(steps(), S.value.step);
  const ph = phaseNote(data?.learningTime ?? null, steps());
  phaseLine.textContent = data && data.frames.length ? ph.text : '';
  phaseBtn.style.display = ph.checkpoint !== null ? '' : 'none';
  phaseBar.style.display = phaseLine.textContent ? '' : 'none';
  const cov = pathCoverageNote(data);
  coverage.textContent = cov;
  computeBtn.style.display = runId && (!data?.frames.length || data.source?.missing.length) ? '' : 'none';
  renderMatrices();
  renderTimeline();
}

function renderMatrices(): void {
  const ps = data ? panels() : [];
  const shown = shownOf();
  empty.style.display = ps.length ? 'none' : '';
  empty.textContent = data ? 'No path patching measured for this run yet.' : 'Waiting for path patching…';
  svg.style('display', () => (ps.length ? null : 'none'));
  if (!data || !ps.length) return;
  const d = data;
  const r = run();
  const width = Math.max(300, panel.body.clientWidth);
  const cols = gridColumns(width, 300, 3);
  const blockW = Math.min(420, Math.floor(width / cols) - 12);
  const labelW = 40;
  const cell = Math.max(18, Math.min(40, Math.floor((blockW - labelW) / Math.max(1, d.senders.length))));
  const at = ps[0].frame.sequences;
  const marks = headMarks(r?.clamps ?? [], at);
  const layout = ps.map((p) => {
    const values = cellValues(p, shown);
    const title = wrapText(
      `${INPUT_LABEL[p.input]}: ${SHOWN_LABEL[shown]} · ${p.corruption} corruption · at ${fmtInt(at)} seen`,
      Math.floor(blockW / 6.6),
    );
    const notes = [
      `rows: receiver (Layer 2) reading through its ${INPUT_LABEL[p.input]}; columns: sender (Layer 1)`,
      shown === 'exact'
        ? 'E = mean change of the logit difference z[correct] − z[other] (negative: the edge carries signal)'
        : shown === 'attribution'
          ? 'A = first-order (attribution patching) estimate of E'
          : 'A − E: the attribution approximation’s error',
      errorLine(p.frame.error),
      `clean LD ${fmtValue(p.frame.cleanLD, 3)}, fully corrupted LD ${fmtValue(p.frame.corruptLD, 3)}`,
    ].flatMap((t) => wrapText(t, Math.floor(blockW / 6.1)));
    const hm = heatmapSize({ rows: d.receivers, cols: d.senders, cell, rowLabels: true, labelW, colLabels: 'top' });
    return { p, values, title, notes, h: title.length * 15 + hm.height + 8 + 42 + notes.length * 13 + 14 };
  });
  const heights: number[] = [];
  layout.forEach((b, i) => {
    const row = Math.floor(i / cols);
    heights[row] = Math.max(heights[row] ?? 0, b.h);
  });
  let y = 0;
  const rowY = heights.map((hgt) => {
    const v = y;
    y += hgt;
    return v;
  });
  svg
    .selectAll<SVGGElement, (typeof layout)[number]>('g.block')
    .data(layout, (b) => b.p.input)
    .join('g')
    .attr('class', 'block')
    .attr('transform', (_b, i) => `translate(${(i % cols) * (blockW + 12)},${rowY[Math.floor(i / cols)]})`)
    .each(function (b) {
      const g = select(this);
      const p = b.p;
      child(g, 'g', 'titles')
        .selectAll('text')
        .data(b.title)
        .join('text')
        .attr('class', 'panel-title')
        .attr('y', (_t, k) => 12 + k * 15)
        .text((t) => t);
      const ty = b.title.length * 15 + 2;
      const mapG = child(g, 'g', 'map');
      const missing = child(g, 'text', 'missing-note')
        .attr('y', ty + 40)
        .attr('x', labelW);
      if (!b.values) {
        mapG.selectAll('*').remove();
        missing.text('Attribution not computed at this checkpoint.');
        return;
      }
      missing.text('');
      const domain = edgeDomain(d, p, shown, rangeOf());
      const color = diverging(domain);
      const clampsOn = (i: number, j: number) =>
        edgeClamps(r?.clamps ?? [], at, { sender: d.senders[j], receiver: d.receivers[i], input: p.input });
      const headNotes = (i: number, j: number) =>
        [d.receivers[i], d.senders[j]].flatMap((hd) => {
          const mk = marks.get(hd);
          return mk ? [`${hd} is ${MARK_WORD[mk.state]} in this run (${mk.clamps.join('; ')})`] : [];
        });
      const spec: HeatmapSpec = {
        key: p.input,
        x: 0,
        y: ty,
        rows: d.receivers,
        cols: d.senders,
        values: b.values,
        cell,
        color,
        rowLabels: true,
        labelW,
        colLabels: 'top',
        showValues: S.value.values && cell >= 24,
        labelFont: d.senders.some((c) => c.length * 6 > cell) ? 8 : undefined,
        format: signedCell,
        ariaLabel:
          `${INPUT_LABEL[p.input]} edges, ${SHOWN_LABEL[shown]}, ${p.corruption} corruption: rows receivers ` +
          `(Layer 2), columns senders (Layer 1), at ${fmtInt(at)} sequences`,
        rowMark: (i) => {
          const mk = marks.get(d.receivers[i]);
          return mk ? { state: mk.state, note: '' } : undefined;
        },
        // A sender the run ablates: its column hatched; an edge a path clamp acts on: outlined.
        cellMark: (i, j) => {
          if (marks.get(d.senders[j])?.state === 'ablated') return 'ablated';
          return clampsOn(i, j).length ? 'clamped' : undefined;
        },
        describe: (i, j) =>
          describeEdge(p, i, j, {
            receiver: d.receivers[i],
            sender: d.senders[j],
            marks: headNotes(i, j),
            clamps: clampsOn(i, j),
          }),
      };
      drawHeatmaps(mapG, [spec]);
      const hm = heatmapSize(spec);
      const cb = child(g, 'g', 'cbar').attr('transform', `translate(${labelW},${ty + hm.height + 8})`);
      const cbH = drawColorbar(cb, {
        id: `path-${p.input}`,
        domain,
        color,
        width: Math.min(d.senders.length * cell, 260),
        ticks: 4,
        label:
          `RdBu, ±${Number(domain[1].toPrecision(2))} (blue negative), ` +
          (rangeOf() === 'training' ? 'fixed over training' : 'this checkpoint'),
      });
      child(g, 'g', 'formula')
        .attr('transform', `translate(0,${ty + hm.height + 8 + cbH + 6})`)
        .selectAll('text')
        .data(b.notes)
        .join('text')
        .attr('class', 'formula-text')
        .attr('y', (_t, k) => k * 13)
        .text((t) => t);
    });
  svg.attr('width', width).attr('height', y + 4);
}

function renderTimeline(): void {
  const st = steps();
  timeline.root.style.display = data && st.length ? '' : 'none';
  if (!data || !st.length) return;
  const r = run();
  const lines = strongestEdges(data, S.value.corruption, st);
  const series = lines.map((l, i) => ({
    id: l.id,
    label: l.label,
    color: seriesColor(i),
    hidden: hidden.has(l.id),
    points: st.flatMap((x, k) => (l.ys[k] === null ? [] : [{ x, y: l.ys[k] as number }])),
  }));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  const lo = Math.min(0, ...ys),
    hi = Math.max(0, ...ys);
  const pad = (hi - lo || 1) * 0.05;
  const xDomain = sequencesDomain(r?.totalSequences ?? 0, st);
  const lt = data.learningTime;
  const plot: PlotData = {
    series,
    xDomain,
    yDomain: [lo - pad, hi + pad],
    xScale: curveOpts.xScale,
    smoothing: curveOpts.smoothing,
    bands: clampBands(r?.clamps ?? [], xDomain[1]),
    markers: lt !== null ? [{ id: 'phase', x: lt, label: `learning time ${fmtInt(lt)}`, kind: 'rule' }] : [],
    selectedX: snapToMeasured(st, S.value.step).shown,
    xLabel: '# sequences seen',
    yLabel: 'exact E (Δ logit difference)',
  };
  const whole = wholeRunClamps(r?.clamps ?? [], r?.totalSequences || Infinity);
  chart.update(plot, {
    items: series.map((s) => ({ id: s.id, label: s.label, color: s.color, hidden: s.hidden })),
    options: {
      onToggle: (id) => {
        if (!hidden.delete(id)) hidden.add(id);
        renderTimeline();
      },
      notes: [
        'The six edges with the largest |E| at any checkpoint (each input under its corruption); the rule marks the learning time.',
        ...(whole.length ? [`Clamped for the whole run: ${whole.join('; ')}`] : []),
      ],
    },
  });
}

function onMessage(m: ToWebviewMessage): void {
  switch (m.type) {
    case 'runs':
      runs = m.runs;
      if (m.activeRunId && m.activeRunId !== runId) {
        data = undefined;
        runId = m.activeRunId;
      }
      S.update({ runId });
      updateControls();
      render();
      break;
    case 'pathPatching':
      if (m.data.runId !== runId) {
        runId = m.data.runId;
        S.update({ runId });
      }
      data = m.data;
      setStatus('');
      updateControls();
      render();
      break;
    default:
      break;
  }
}

new ResizeObserver(() => renderMatrices()).observe(panel.body);
// A tooltip must not outlive the cell under the pointer.
window.addEventListener('scroll', () => hideTip(), { passive: true });
onThemeChange(render);
updateControls();
render();
step.connect('paths', onMessage, setStatus);
