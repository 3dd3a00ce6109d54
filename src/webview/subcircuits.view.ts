/**
 * Subcircuit progress curves (science spec §5.9, §7.4, §7.6). Overlay = Fig 5b (fsl_train loss of the
 * clamp conditions, legend '"Clamped" steps'); grid = Fig 6 (small multiples: columns = panel, e.g.
 * "Subcircuit B evolution", rows = data condition). Dashed ln 2 and the 0.4·ln 2 learning threshold in
 * both, each curve's learning time (spec §5.10) as a tick on the x axis. Needs from the host:
 * `subcircuits` (curves, each naming its source: Run Subcircuit Progress, Reproduce fig5b / fig6) —
 * resent while the runs stream — and `step` (drawn as a rule; clicking a curve moves it).
 */
import { select } from 'd3-selection';
import type {
  SubcircuitPlotCurve,
  SubcircuitCurves,
  SubcircuitLayout,
  ToWebviewMessage,
} from '../shared/webviewProtocol';
import { LN2, LN2_LABEL } from '../shared/webviewProtocol';
import { connect, createStepSharer, handleCommon } from './lib/host';
import { persisted } from './lib/state';
import { h, statusLine, segmented, selectBox } from './lib/dom';
import { createPanel } from './lib/panel';
import {
  createLineChart,
  drawPlot,
  drawLegend,
  renderDataTable,
  type LineSeries,
  type PlotData,
  type XMarker,
  type RefLine,
} from './lib/chart';
import { createChartOptions } from './lib/chartOptions';
import { seriesColor, onThemeChange } from './lib/theme';
import { metricDomain, sequencesDomain, type DomainMode } from './lib/domains';
import { curvesCsv } from './lib/csv';
import { fileStem, fmtInt } from './lib/format';
import { gridColumns } from './lib/layout';
import { groupCurves } from './lib/curves';

const S = persisted({
  step: null as number | null,
  layout: '' as string,
  range: 'paper' as string,
  hidden: [] as string[],
  source: '' as string,
  xScale: 'linear' as string,
  smoothing: 0,
});

let data: SubcircuitCurves = { curves: [] };
const sources = (): string[] => [...new Set(data.curves.map((c) => c.source ?? 'runs'))];
const source = (): string => (sources().includes(S.value.source) ? S.value.source : (sources()[0] ?? ''));
const curves = (): SubcircuitPlotCurve[] => data.curves.filter((c) => (c.source ?? 'runs') === source());
/** Fig 6 sources have rows: they default to small multiples. */
const layout = (): SubcircuitLayout =>
  S.value.layout === 'grid' || S.value.layout === 'overlay'
    ? S.value.layout
    : curves().some((c) => c.row)
      ? 'grid'
      : (data.layout ?? 'overlay');
const share = createStepSharer();
const pick = (x: number) => {
  S.update({ step: x });
  share(x, true);
  render();
};

const app = document.getElementById('app')!;
const heading = h('h1', { text: 'Subcircuit progress' });
app.append(h('div', { class: 'run-header' }, [heading]));
const controls = h('div', { class: 'toolbar' });
app.append(controls);
const sourceSel = selectBox('Runs', [], '', (v) => {
  S.update({ source: v, layout: '' });
  render();
});
const layoutSeg = segmented<SubcircuitLayout>(
  'Layout',
  [
    { value: 'overlay', label: 'Overlay (Fig 5b)' },
    { value: 'grid', label: 'Small multiples (Fig 6)' },
  ],
  layout(),
  (v) => {
    S.update({ layout: v });
    render();
  },
);
const rangeSeg = segmented<DomainMode>(
  'y range',
  [
    { value: 'paper', label: 'Paper y range' },
    { value: 'auto', label: 'Fit to data' },
  ],
  S.value.range === 'auto' ? 'auto' : 'paper',
  (v) => {
    S.update({ range: v });
    render();
  },
);
controls.append(sourceSel.root, h('span', { class: 'field-label', text: 'Layout' }), layoutSeg.root, rangeSeg.root);
createChartOptions(app, { xScale: S.value.xScale === 'log' ? 'log' : 'linear', smoothing: S.value.smoothing }, (v) => {
  S.update({ xScale: v.xScale, smoothing: v.smoothing });
  render();
});
const setStatus = statusLine(app);

const panel = createPanel(
  app,
  'fsl_train loss by clamped steps',
  {
    stem: () => fileStem(layout() === 'grid' ? 'fig6' : 'fig5b', 'subcircuits', source()),
    title: () =>
      (layout() === 'grid'
        ? 'Subcircuit evolution (loss vs # sequences seen)'
        : '"Clamped" steps: fsl_train loss vs # sequences seen') + ` · ${source()}`,
    svg: () => (layout() === 'grid' ? gridSvg.node() : overlay.svg),
    csv: () =>
      curvesCsv(
        curves().map((c) => ({
          cols: {
            label: c.label,
            stepsClamped: c.stepsClamped,
            stepsLearned: c.stepsLearned,
            panel: c.panel ?? '',
            row: c.row ?? '',
            learningTime: c.learningTime ?? '',
          },
          xs: c.xs,
          ys: c.ys,
        })),
        'sequences',
        'loss',
      ),
    json: () => ({ ...data, curves: curves() }),
    meta: () => ({
      view: 'subcircuits',
      source: source(),
      layout: layout(),
      runs: curves()
        .map((c) => c.runId)
        .filter(Boolean),
    }),
  },
  setStatus,
);
const overlayHost = h('div');
const gridHost = h('div');
const empty = h('div', { class: 'empty', text: 'Waiting for subcircuit curves…' });
panel.body.append(overlayHost, gridHost, empty);
const overlay = createLineChart(overlayHost, {
  ariaLabel: 'Loss of the clamp conditions vs sequences seen',
  height: 300,
  onPick: pick,
});
const gridSvg = select(gridHost)
  .append('svg')
  .attr('class', 'chart')
  .attr('role', 'figure')
  .attr('aria-label', 'Subcircuit evolution, small multiples');
const gridTable = h('details', { class: 'data-table' }, [h('summary', { text: 'Data table' })]);
gridHost.append(gridTable);
let gridData: PlotData | undefined;
gridTable.addEventListener('toggle', () => renderDataTable(gridTable, gridData, 'Subcircuit evolution'));

const seriesOf = (c: SubcircuitPlotCurve, id: string, label: string, color: string): LineSeries => ({
  id,
  label,
  color,
  hidden: S.value.hidden.includes(id),
  points: c.xs.map((x, i) => ({ x, y: c.ys[i] })),
});
const refs: RefLine[] = [
  { id: 'ln2', y: LN2, label: `ln 2: ${LN2_LABEL}`, short: 'ln 2' },
  { id: 'learned', y: 0.4 * LN2, label: 'learning threshold 0.4·ln 2 (spec §5.10)', short: '.4 ln2' },
];
/** Learning-time ticks (spec §5.10) of the shown curves, in their colours. */
const learnMarks = (cs: Array<{ c: SubcircuitPlotCurve; color: string; id: string }>): XMarker[] =>
  cs
    .filter((o) => typeof o.c.learningTime === 'number' && !S.value.hidden.includes(o.id))
    .map((o) => ({
      id: `lt-${o.id}`,
      x: o.c.learningTime as number,
      kind: 'tick',
      color: o.color,
      label: `${o.c.stepsClamped || o.c.label}: learned at ${fmtInt(o.c.learningTime as number)} (loss < 0.4·ln 2)`,
    }));
/** The paper's y range, widened (never clipping a curve silently) when the data go above it. */
const yRange = (paper: number, ys: number[]): [number, number] =>
  S.value.range === 'auto' ? metricDomain('loss', ys) : [0, Math.max(paper, metricDomain('loss', ys)[1])];
const learned = (c: SubcircuitPlotCurve) =>
  typeof c.learningTime === 'number' ? `learned at ${fmtInt(c.learningTime)}` : 'not learned in the run';
const notLearned = (cs: SubcircuitPlotCurve[]) =>
  cs.filter((c) => c.learningTime === null).map((c) => c.stepsClamped || c.label);

function renderOverlay(): void {
  const cs = curves();
  const styled = cs.map((c, i) => ({ c, id: `${c.stepsClamped}|${c.label}`, color: seriesColor(i) }));
  const series = styled.map((o) => seriesOf(o.c, o.id, o.c.stepsClamped || o.c.label, o.color));
  const vis = series.filter((s) => !s.hidden);
  const xs = vis.flatMap((s) => s.points.map((p) => p.x));
  const d: PlotData = {
    series,
    xDomain: sequencesDomain(0, xs),
    xScale: S.value.xScale === 'log' ? 'log' : 'linear',
    smoothing: S.value.smoothing,
    yDomain: yRange(
      2,
      vis.flatMap((s) => s.points.map((p) => p.y)),
    ),
    refLines: refs,
    markers: learnMarks(styled),
    selectedX: S.value.step,
    xLabel: '# sequences seen',
    yLabel: 'loss (fsl_train)',
  };
  const nl = notLearned(cs);
  overlay.update(d, {
    items: series.map((s, i) => ({
      id: s.id,
      label: s.label,
      color: s.color,
      hidden: s.hidden,
      title: `${cs[i].label}: clamped ${cs[i].stepsClamped}; learns ${cs[i].stepsLearned}; ${learned(cs[i])}`,
    })),
    options: {
      title: '"Clamped" steps',
      dashedRef: { label: `ln 2: ${LN2_LABEL}` },
      notes: [
        `Ticks on the x axis: learning time (first loss < 0.4·ln 2, spec §5.10)` +
          `${nl.length ? `; not learned within the run: ${nl.join(', ')}` : ''}.`,
      ],
      onToggle: (id) => {
        const h0 = S.value.hidden;
        S.update({ hidden: h0.includes(id) ? h0.filter((x) => x !== id) : [...h0, id] });
        renderOverlay();
      },
    },
  });
}

function renderGrid(): void {
  const width = Math.max(300, panel.body.clientWidth);
  const cs = curves();
  const g = groupCurves(cs);
  const cols = Math.min(g.panels.length, gridColumns(width, 210, 4));
  const pw = Math.floor(width / cols),
    ph = 200;
  const yDomain = yRange(
    1.5,
    cs.flatMap((c) => c.ys),
  );
  type Leg = { key: string; row: string; labels: string[] };
  const legends: Leg[] = g.rows.map((row) => ({ key: row, row, labels: g.labels(row) }));
  // Legends first: their measured heights decide where the next row of plots starts (nothing clipped).
  const heights = new Map<string, number>();
  gridSvg
    .selectAll<SVGGElement, Leg>('g.legend')
    .data(legends, (l) => l.key)
    .join('g')
    .attr('class', 'legend')
    .each(function (l) {
      const items = l.labels.map((lab, i) => ({ id: lab, label: lab, color: seriesColor(i) }));
      heights.set(
        l.row,
        drawLegend(select(this), items, width - 60, {
          title: l.row || undefined,
          dashedRef: { label: `ln 2: ${LN2_LABEL}` },
        }),
      );
    });
  type Cell = { key: string; x: number; y: number; d: PlotData };
  const cells: Cell[] = [];
  const legendY = new Map<string, number>();
  let y = 0;
  for (const row of g.rows) {
    const labels = g.labels(row);
    g.panels
      .filter((p) => g.cell(row, p).length > 0)
      .forEach((p, i) => {
        if (i > 0 && i % cols === 0) y += ph;
        const styled = g.cell(row, p).map((c) => ({ c, id: c.label, color: seriesColor(labels.indexOf(c.label)) }));
        cells.push({
          key: `${row}|${p}`,
          x: (i % cols) * pw,
          y,
          d: {
            title: p,
            series: styled.map((o) => seriesOf(o.c, o.id, o.c.label, o.color)),
            xDomain: sequencesDomain(
              0,
              styled.flatMap((o) => o.c.xs),
            ),
            yDomain,
            refLines: refs,
            markers: learnMarks(styled),
            selectedX: S.value.step,
            xScale: S.value.xScale === 'log' ? 'log' : 'linear',
            smoothing: S.value.smoothing,
            xLabel: '# sequences seen',
            yLabel: 'loss',
          },
        });
      });
    y += ph;
    legendY.set(row, y);
    y += (heights.get(row) ?? 0) + 8;
  }
  gridSvg
    .selectAll<SVGGElement, Leg>('g.legend')
    .attr('transform', (l) => `translate(46,${(legendY.get(l.row) ?? 0) + 2})`);
  gridSvg
    .selectAll<SVGGElement, Cell>('g.cell-plot')
    .data(cells, (c) => c.key)
    .join('g')
    .attr('class', 'cell-plot')
    .attr('transform', (c) => `translate(${c.x},${c.y})`)
    .each(function (c) {
      drawPlot(select(this), c.d, pw, ph, { onPick: pick });
    });
  gridSvg.attr('width', width).attr('height', y + 4);
  gridData = {
    series: cs.map((c, i) =>
      seriesOf(
        c,
        `${c.row ?? ''}|${c.panel ?? c.stepsLearned}|${c.label}|${i}`,
        `${c.row ?? ''} · ${c.panel ?? ''} · ${c.label}`,
        seriesColor(i),
      ),
    ),
    xDomain: sequencesDomain(
      0,
      cs.flatMap((c) => c.xs),
    ),
    yDomain,
    xLabel: '# sequences seen',
    yLabel: 'loss',
  };
  renderDataTable(gridTable, gridData, 'Subcircuit evolution');
}

function render(): void {
  const ss = sources();
  sourceSel.setOptions(
    ss.map((s) => ({ value: s, label: s })),
    source(),
  );
  sourceSel.root.style.display = ss.length > 1 ? '' : 'none';
  const has = curves().length > 0;
  const l = layout();
  layoutSeg.set(l);
  empty.style.display = has ? 'none' : '';
  overlayHost.style.display = has && l === 'overlay' ? '' : 'none';
  gridHost.style.display = has && l === 'grid' ? '' : 'none';
  heading.textContent = data.title ?? 'Subcircuit progress';
  panel.setTitle(l === 'grid' ? 'Subcircuit evolution' : 'fsl_train loss by clamped steps');
  if (!has) return;
  if (l === 'overlay') renderOverlay();
  else renderGrid();
}

function onMessage(m: ToWebviewMessage): void {
  if (handleCommon(m, setStatus)) return;
  switch (m.type) {
    case 'subcircuits':
      data = m.data;
      setStatus('');
      render();
      break;
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

new ResizeObserver(() => {
  if (layout() === 'grid') render();
}).observe(panel.body);
onThemeChange(render);
render();
connect('subcircuits', onMessage);
