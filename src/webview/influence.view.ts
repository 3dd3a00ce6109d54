/**
 * PTH → IH influence matrices (science spec §5.6, App Fig 11): 8×8 heatmaps, rows = Layer-2 head,
 * columns = Layer-1 head; RdBu (blue negative, symmetric) for signed kinds, viridis for unsigned; the
 * formula under each; with them the composition scores and the remove-one / keep-one head ablations
 * (§5.5, 8 × 2). Needs from the host: `influence` (any mix of kinds and checkpoints), `step`,
 * `overTraining` (curves over training, lib/overTrainingCurves.ts) and optionally `runs` (run name).
 * Measured at several checkpoints, the heat maps follow the one shared step (Play), each showing the
 * measured checkpoint nearest to it and saying so. Picking a kind the host has not sent posts
 * `requestInfluence`; "Compute Measures over Training" posts `computeOverTraining`.
 */
import { select } from 'd3-selection';
import type {
  InfluenceKind,
  InfluenceHeatmap,
  OverTrainingData,
  RunSummary,
  ToWebviewMessage,
} from '../shared/webviewProtocol';
import { INFLUENCE_INFO, INFLUENCE_KINDS } from '../shared/webviewProtocol';
import { post, nextRequestId } from './lib/host';
import { persisted } from './lib/state';
import { h, statusLine, segmented, selectBox, checkbox } from './lib/dom';
import { createPanel } from './lib/panel';
import { child } from './lib/chart';
import { drawHeatmaps, heatmapSize, type HeatmapSpec } from './lib/heatmap';
import { drawColorbar } from './lib/colorbar';
import { createSharedStep } from './lib/sharedStep';
import { viridis, diverging, onThemeChange } from './lib/theme';
import { influenceDomain, type DomainMode } from './lib/domains';
import { framesAt, measuredSteps, snapNote, snapToMeasured } from './lib/overTraining';
import { createOverTrainingCurves } from './lib/overTrainingCurves';
import { toCsv } from './lib/csv';
import { headMarks, MARK_WORD, type HeadMark } from './lib/clampMarks';
import { hideTip } from './lib/tooltip';
import { fileStem, fmtInt, fmtValue, wrapText } from './lib/format';
import { gridColumns } from './lib/layout';

// runId is the panel's identity (PanelIdentity): the host restores the panel with it after a reload.
const S = persisted({
  runId: '',
  step: null as number | null,
  kind: 'all' as string,
  range: 'paper' as string,
  values: true,
  xScale: 'linear' as string,
  smoothing: 0,
});

let runs: RunSummary[] = [];
let runId = S.value.runId;
let matrices: InfluenceHeatmap[] = [];
let overTraining: OverTrainingData | undefined;
const requested = new Set<string>();

const kindOf = (): InfluenceKind | 'all' =>
  S.value.kind === 'all' || INFLUENCE_KINDS.includes(S.value.kind as InfluenceKind)
    ? (S.value.kind as InfluenceKind | 'all')
    : 'all';
const available = (): InfluenceKind[] => INFLUENCE_KINDS.filter((k) => matrices.some((m) => m.kind === k));
const shownKinds = (): InfluenceKind[] => {
  const k = kindOf();
  return k === 'all' ? available() : [k];
};
/** For each shown kind, the frame at the measured checkpoint nearest the selected step. */
const current = (): InfluenceHeatmap[] => framesAt(matrices, shownKinds(), S.value.step);
const steps = (): number[] => measuredSteps(matrices, shownKinds());
const runName = () => runs.find((r) => r.id === runId)?.name ?? runId;

const app = document.getElementById('app')!;
const top = h('div', { class: 'run-header' }, [h('h1', { text: 'PTH → IH influence' })]);
const runLabel = h('span', { class: 'meta' });
top.append(runLabel);
app.append(top);
const controls = h('div', { class: 'toolbar' });
app.append(controls);
const kindSel = selectBox('Matrix', [], kindOf(), (v) => {
  S.update({ kind: v });
  ensureRequested();
  render();
});
const rangeSeg = segmented<DomainMode>(
  'Colour range',
  [
    { value: 'paper', label: 'Paper range' },
    { value: 'auto', label: 'Fit to data' },
  ],
  S.value.range === 'auto' ? 'auto' : 'paper',
  (v) => {
    S.update({ range: v });
    render();
  },
);
const valuesBox = checkbox('Show values', S.value.values, (v) => {
  S.update({ values: v });
  render();
});
controls.append(kindSel.root, h('span', { class: 'field-label', text: 'Colours' }), rangeSeg.root, valuesBox.root);
const step = createSharedStep(app, S, { runId: () => runId, render, playMs: 700 });
const slider = step.slider;
const snapLine = h('p', { class: 'snap-note', 'aria-live': 'polite' });
app.append(snapLine);
const setStatus = statusLine(app);

const panel = createPanel(
  app,
  'Influence matrices',
  {
    stem: () =>
      fileStem(runName() || 'run', 'influence', kindOf(), current()[0] ? `seq${current()[0].sequences}` : undefined),
    title: () => `${runName()}: PTH → IH influence at ${fmtInt(current()[0]?.sequences ?? 0)} sequences`,
    svg: () => svg.node(),
    csv: () =>
      toCsv(
        ['sequences', 'kind', 'row', 'col', 'value'],
        matrices
          .filter((m) => shownKinds().includes(m.kind))
          .flatMap((m) => m.values.flatMap((r, i) => r.map((v, j) => [m.sequences, m.kind, m.rows[i], m.cols[j], v]))),
      ),
    json: () => ({
      matrices: matrices
        .filter((m) => shownKinds().includes(m.kind))
        .map((m) => ({ ...m, flaggedRows: Object.fromEntries([...marksAt(m)].filter(([k]) => m.rows.includes(k))) })),
    }),
    meta: () => ({
      run: runs.find((r) => r.id === runId),
      view: 'influence',
      kind: kindOf(),
      checkpoint: current()[0]?.sequences,
    }),
  },
  setStatus,
);
const svg = select(panel.body)
  .append('svg')
  .attr('class', 'chart')
  .attr('role', 'figure')
  .attr('aria-label', 'Influence matrices');
const empty = h('div', { class: 'empty', text: 'Waiting for influence matrices…' });
panel.body.append(empty);
const curves = createOverTrainingCurves(app, {
  options: { xScale: S.value.xScale === 'log' ? 'log' : 'linear', smoothing: S.value.smoothing },
  onOptions: (v) => S.update({ xScale: v.xScale, smoothing: v.smoothing }),
  onPick: (x) => step.pick(x),
  onCompute: () => {
    if (!runId) return;
    post({ type: 'computeOverTraining', runId });
    setStatus('Asked to compute the measures over training…');
  },
  setStatus,
});

/** ".12", "−.05", "+.03"; near-zero values as ".00" without a sign. */
function signedCell(v: number, signed: boolean): string {
  const a = Math.abs(v).toFixed(2).replace(/^0/, '');
  if (!signed || a === '.00') return a;
  return (v < 0 ? '−' : '+') + a;
}

/** The run's clamps at the matrix's checkpoint, by head. */
const marksAt = (m: InfluenceHeatmap): Map<string, HeadMark> =>
  headMarks(runs.find((r) => r.id === runId)?.clamps ?? [], m.sequences);

/**
 * Why a row is flagged: the configurations keep the run's own ablations, so "only L2H i" with L2H i
 * ablated by the run ablates all of Layer 2 — every such row is the same (degenerate).
 */
function rowFlag(head: string, mk: HeadMark): string {
  if (mk.state === 'ablated') {
    return `${head} is ablated in this run: its row is degenerate (every configuration also ablates it)`;
  }
  return `${head} is ${MARK_WORD[mk.state]} in this run (${mk.clamps.join('; ')}): its pattern is set by the clamp`;
}

/** Lines under a matrix naming the flagged rows (and a replaced Layer 1). */
function flagLines(m: InfluenceHeatmap): string[] {
  const marks = marksAt(m);
  const ablated = m.rows.filter((r) => marks.get(r)?.state === 'ablated');
  const clamped = m.rows.filter((r) => marks.get(r)?.state === 'clamped');
  const out: string[] = [];
  if (ablated.length) {
    out.push(
      `Hatched rows (${ablated.join(', ')}): ablated in this run, degenerate ` +
        '(every configuration also ablates them).',
    );
  }
  if (clamped.length) out.push(`Framed rows (${clamped.join(', ')}): pattern clamped in this run.`);
  if (m.cols.some((c) => marks.get(c)?.state === 'replaced')) {
    out.push('Layer 1 is replaced by the layer-1 clamp in this run: the columns do not measure learned heads.');
  }
  return out;
}

function ensureRequested(): void {
  const k = kindOf();
  if (k === 'all' || !runId || available().includes(k) || requested.has(`${runId}|${k}`)) return;
  requested.add(`${runId}|${k}`);
  post({ type: 'requestInfluence', runId, kind: k, requestId: nextRequestId() });
  setStatus(`Requested ${INFLUENCE_INFO[k].title}…`);
}

function updateControls(): void {
  const av = available();
  kindSel.setOptions(
    [
      { value: 'all', label: 'All (App Fig 11)' },
      ...INFLUENCE_KINDS.map((k) => ({
        value: k,
        label: `${INFLUENCE_INFO[k].title}${av.includes(k) ? '' : ' (not computed)'}`,
      })),
    ],
    kindOf(),
  );
  slider.setSteps(steps());
  slider.setValue(S.value.step);
  runLabel.textContent = runId ? `run ${runName()}` : '';
}

function render(): void {
  // The slider's stops are the checkpoints of the kinds shown (a kind picked may be measured elsewhere).
  slider.setSteps(steps());
  slider.setValue(S.value.step);
  renderMatrices();
  snapLine.textContent = snapNote(steps(), S.value.step);
  const shown = snapToMeasured(steps(), S.value.step).shown;
  curves.update(
    overTraining?.runId === runId ? overTraining : undefined,
    runs.find((r) => r.id === runId),
    shown ?? S.value.step,
  );
}

function renderMatrices(): void {
  const ms = current();
  empty.style.display = ms.length ? 'none' : '';
  svg.style('display', () => (ms.length ? null : 'none'));
  const width = Math.max(300, panel.body.clientWidth);
  const cols = ms.length > 1 ? gridColumns(width, 330, 2) : 1;
  const blockW = Math.min(460, Math.floor(width / cols) - 12);
  const labelW = 40;
  const cell = Math.max(18, Math.min(40, Math.floor((blockW - labelW) / 8)));
  type Block = { m: InfluenceHeatmap; x: number; y: number };
  const blocks: Block[] = [];
  const heights: number[] = [];
  const layout = ms.map((m) => {
    const title = wrapText(
      `${m.title ?? INFLUENCE_INFO[m.kind].title} · at ${fmtInt(m.sequences)} seen`,
      Math.floor(blockW / 6.6),
    );
    const formula = [
      ...wrapText(m.formula || INFLUENCE_INFO[m.kind].formula, Math.floor(blockW / 6.1)),
      ...flagLines(m).flatMap((t) => wrapText(t, Math.floor(blockW / 6.1))),
      // Frames may come from different computations (subsamples): each names its own.
      ...wrapText(m.source ? `from ${m.source}` : 'from a one-checkpoint result', Math.floor(blockW / 6.1)),
    ];
    const hm = heatmapSize({ rows: m.rows, cols: m.cols, cell, rowLabels: true, labelW, colLabels: 'top' });
    return { m, title, formula, h: title.length * 15 + hm.height + 8 + 42 + formula.length * 13 + 14 };
  });
  layout.forEach((b, i) => {
    const r = Math.floor(i / cols);
    heights[r] = Math.max(heights[r] ?? 0, b.h);
  });
  let y = 0;
  const rowY = heights.map((hgt) => {
    const v = y;
    y += hgt;
    return v;
  });
  layout.forEach((b, i) => blocks.push({ m: b.m, x: (i % cols) * (blockW + 12), y: rowY[Math.floor(i / cols)] }));

  svg
    .selectAll<SVGGElement, (typeof layout)[number]>('g.block')
    .data(layout, (b) => b.m.kind)
    .join('g')
    .attr('class', 'block')
    .each(function (b, i) {
      const g = select(this).attr('transform', `translate(${blocks[i].x},${blocks[i].y})`);
      const m = b.m;
      const domain = influenceDomain(m, S.value.range === 'auto' ? 'auto' : 'paper');
      const color = m.signed ? diverging(domain) : viridis(domain);
      child(g, 'g', 'titles')
        .selectAll('text')
        .data(b.title)
        .join('text')
        .attr('class', 'panel-title')
        .attr('y', (_t, k) => 12 + k * 15)
        .text((t) => t);
      const ty = b.title.length * 15 + 2;
      const spec: HeatmapSpec = {
        key: m.kind,
        x: 0,
        y: ty,
        rows: m.rows,
        cols: m.cols,
        values: m.values,
        cell,
        color,
        rowLabels: true,
        labelW,
        colLabels: 'top',
        showValues: S.value.values && cell >= 24,
        labelFont: m.cols.some((c) => c.length * 6 > cell) ? 8 : undefined,
        format: (v) => signedCell(v, m.signed),
        ariaLabel: `${INFLUENCE_INFO[m.kind].title}: rows Layer 2 heads, columns Layer 1 heads, at ${fmtInt(m.sequences)} sequences`,
        rowMark: (r) => {
          const mk = marksAt(m).get(m.rows[r]);
          return mk ? { state: mk.state, note: '' } : undefined;
        },
        describe: (r, c, v) => {
          const mk = marksAt(m).get(m.rows[r]);
          return [
            `row ${m.rows[r]} (Layer 2) · column ${m.cols[c]} (Layer 1)`,
            `${INFLUENCE_INFO[m.kind].title} = ${fmtValue(v, 4)}`,
            ...(mk ? [rowFlag(m.rows[r], mk)] : []),
            `checkpoint at ${fmtInt(m.sequences)} sequences seen`,
          ];
        },
      };
      drawHeatmaps(child(g, 'g', 'map'), [spec]);
      const hm = heatmapSize(spec);
      const cb = child(g, 'g', 'cbar').attr('transform', `translate(${labelW},${ty + hm.height + 8})`);
      const cbH = drawColorbar(cb, {
        id: `inf-${m.kind}`,
        domain,
        color,
        width: Math.min(8 * cell, 260),
        ticks: 4,
        label: m.signed
          ? `signed, RdBu, ±${Number(domain[1].toPrecision(2))} (blue negative)`
          : `viridis, ${Number(domain[0].toPrecision(2))}…${Number(domain[1].toPrecision(2))}`,
      });
      child(g, 'g', 'formula')
        .attr('transform', `translate(0,${ty + hm.height + 8 + cbH + 6})`)
        .selectAll('text')
        .data(b.formula)
        .join('text')
        .attr('class', 'formula-text')
        .attr('y', (_t, k) => k * 13)
        .text((t) => t);
    });
  svg.attr('width', width).attr('height', y + 4);
}

function onMessage(m: ToWebviewMessage): void {
  switch (m.type) {
    case 'runs':
      runs = m.runs;
      if (m.activeRunId && m.activeRunId !== runId) {
        matrices = [];
        overTraining = undefined;
        runId = m.activeRunId;
      }
      S.update({ runId });
      updateControls();
      break;
    case 'influence': {
      if (m.runId !== runId) {
        matrices = [];
        overTraining = undefined;
        runId = m.runId;
        S.update({ runId });
      }
      const key = (x: InfluenceHeatmap) => `${x.kind}|${x.sequences}`;
      const incoming = new Set(m.matrices.map(key));
      matrices = [...matrices.filter((x) => !incoming.has(key(x))), ...m.matrices].sort(
        (a, b) => a.sequences - b.sequences,
      );
      setStatus('');
      updateControls();
      ensureRequested();
      render();
      break;
    }
    case 'overTraining':
      if (m.data.runId !== runId) break;
      overTraining = m.data;
      render();
      break;
    default:
      break;
  }
}

new ResizeObserver(() => render()).observe(panel.body);
// A tooltip must not outlive the cell under the pointer.
window.addEventListener('scroll', () => hideTip(), { passive: true });
onThemeChange(render);
updateControls();
render();
step.connect('influence', onMessage, setStatus);
