/**
 * Subcircuit progress curves (science spec §5.9, §7.4, §7.6). Overlay = Fig 5b (fsl_train loss of the
 * clamp conditions, legend '"Clamped" steps'); grid = Fig 6 (small multiples: columns = panel, e.g.
 * "Subcircuit B evolution", rows = data condition). Dashed ln 2 in both. Needs from the host:
 * `subcircuits` (curves) and `step` (drawn as a rule; clicking a curve selects a step).
 */
import { select } from 'd3-selection';
import type { SubcircuitCurve, SubcircuitCurves, SubcircuitLayout, ToWebviewMessage } from '../shared/webviewProtocol';
import { LN2, LN2_LABEL } from '../shared/webviewProtocol';
import { connect, createStepSharer, handleCommon } from './lib/host';
import { persisted } from './lib/state';
import { h, statusLine, segmented } from './lib/dom';
import { createPanel } from './lib/panel';
import { createLineChart, drawPlot, drawLegend, type LineSeries, type PlotData } from './lib/chart';
import { seriesColor, onThemeChange } from './lib/theme';
import { metricDomain, sequencesDomain, type DomainMode } from './lib/domains';
import { curvesCsv } from './lib/csv';
import { fileStem } from './lib/format';
import { gridColumns } from './lib/layout';
import { groupCurves } from './lib/curves';

const S = persisted({ step: null as number | null, layout: '' as string, range: 'paper' as string, hidden: [] as string[] });

let data: SubcircuitCurves = { curves: [] };
const layout = (): SubcircuitLayout => (S.value.layout === 'grid' || S.value.layout === 'overlay' ? S.value.layout : data.layout ?? 'overlay');
const share = createStepSharer();
const pick = (x: number) => { S.update({ step: x }); share(x, true); render(); };

const app = document.getElementById('app')!;
const heading = h('h1', { text: 'Subcircuit progress' });
app.append(h('div', { class: 'run-header' }, [heading]));
const controls = h('div', { class: 'toolbar' });
app.append(controls);
const layoutSeg = segmented<SubcircuitLayout>('Layout', [
  { value: 'overlay', label: 'Overlay (Fig 5b)' }, { value: 'grid', label: 'Small multiples (Fig 6)' },
], layout(), (v) => { S.update({ layout: v }); render(); });
const rangeSeg = segmented<DomainMode>('y range', [{ value: 'paper', label: 'Paper y range' }, { value: 'auto', label: 'Fit to data' }],
  S.value.range === 'auto' ? 'auto' : 'paper', (v) => { S.update({ range: v }); render(); });
controls.append(h('span', { class: 'field-label', text: 'Layout' }), layoutSeg.root, rangeSeg.root);
const setStatus = statusLine(app);

const panel = createPanel(app, 'fsl_train loss by clamped steps', {
  stem: () => fileStem(data.title ?? 'subcircuits', layout()),
  title: () => data.title ?? (layout() === 'grid' ? 'Subcircuit evolution (loss vs # sequences seen)' : '"Clamped" steps: fsl_train loss vs # sequences seen'),
  svg: () => (layout() === 'grid' ? gridSvg.node() : overlay.svg),
  csv: () => curvesCsv(data.curves.map((c) => ({ cols: { label: c.label, stepsClamped: c.stepsClamped, stepsLearned: c.stepsLearned, panel: c.panel ?? '', row: c.row ?? '' }, xs: c.xs, ys: c.ys })), 'sequences', 'loss'),
  json: () => data,
}, setStatus);
const overlayHost = h('div');
const gridHost = h('div');
const empty = h('div', { class: 'empty', text: 'Waiting for subcircuit curves…' });
panel.body.append(overlayHost, gridHost, empty);
const overlay = createLineChart(overlayHost, { ariaLabel: 'Loss of the clamp conditions vs sequences seen', height: 300, onPick: pick });
const gridSvg = select(gridHost).append('svg').attr('class', 'chart').attr('role', 'figure').attr('aria-label', 'Subcircuit evolution, small multiples');

const seriesOf = (c: SubcircuitCurve, id: string, label: string, color: string): LineSeries =>
  ({ id, label, color, hidden: S.value.hidden.includes(id), points: c.xs.map((x, i) => ({ x, y: c.ys[i] })) });
const ln2 = [{ id: 'ln2', y: LN2, label: 'ln 2' }];

function renderOverlay(): void {
  const series = data.curves.map((c, i) => seriesOf(c, `${c.stepsClamped}|${c.label}`, c.stepsClamped || c.label, seriesColor(i)));
  const vis = series.filter((s) => !s.hidden);
  const xs = vis.flatMap((s) => s.points.map((p) => p.x));
  const d: PlotData = {
    series, xDomain: sequencesDomain(0, xs),
    yDomain: S.value.range === 'auto' ? metricDomain('loss', vis.flatMap((s) => s.points.map((p) => p.y))) : [0, 2],
    refLines: ln2, selectedX: S.value.step, xLabel: '# sequences seen', yLabel: 'loss (fsl_train)',
  };
  overlay.update(d, {
    items: series.map((s, i) => ({ id: s.id, label: s.label, color: s.color, hidden: s.hidden,
      title: `${data.curves[i].label}: clamped ${data.curves[i].stepsClamped}; learns ${data.curves[i].stepsLearned}` })),
    options: {
      title: '"Clamped" steps', dashedRef: { label: LN2_LABEL },
      onToggle: (id) => { S.update({ hidden: S.value.hidden.includes(id) ? S.value.hidden.filter((x) => x !== id) : [...S.value.hidden, id] }); renderOverlay(); },
    },
  });
}

function renderGrid(): void {
  const width = Math.max(300, panel.body.clientWidth);
  const g = groupCurves(data.curves);
  const cols = Math.min(g.panels.length, gridColumns(width, 210, 4));
  const pw = Math.floor(width / cols), ph = 200;
  const allY = data.curves.flatMap((c) => c.ys);
  const yDomain: [number, number] = S.value.range === 'auto' ? metricDomain('loss', allY) : [0, 1.5];
  type Cell = { key: string; x: number; y: number; d: PlotData };
  type Leg = { key: string; y: number; row: string; labels: string[] };
  const cells: Cell[] = [], legends: Leg[] = [];
  let y = 0;
  for (const row of g.rows) {
    const labels = g.labels(row);
    const inRow = g.panels.filter((p) => g.cell(row, p).length > 0);
    inRow.forEach((p, i) => {
      if (i > 0 && i % cols === 0) y += ph;
      const curves = g.cell(row, p);
      cells.push({
        key: `${row}|${p}`, x: (i % cols) * pw, y,
        d: {
          title: p, series: curves.map((c) => seriesOf(c, c.label, c.label, seriesColor(labels.indexOf(c.label)))),
          xDomain: sequencesDomain(0, curves.flatMap((c) => c.xs)), yDomain, refLines: ln2, selectedX: S.value.step,
          xLabel: '# sequences seen', yLabel: 'loss',
        },
      });
    });
    y += ph;
    legends.push({ key: row, y, row, labels });
    y += 44;
  }
  gridSvg.selectAll<SVGGElement, Cell>('g.cell-plot').data(cells, (c) => c.key).join('g').attr('class', 'cell-plot')
    .attr('transform', (c) => `translate(${c.x},${c.y})`)
    .each(function (c) { drawPlot(select(this), c.d, pw, ph, { onPick: pick }); });
  gridSvg.selectAll<SVGGElement, Leg>('g.legend').data(legends, (l) => l.key).join('g').attr('class', 'legend')
    .attr('transform', (l) => `translate(46,${l.y + 2})`)
    .each(function (l) {
      drawLegend(select(this), l.labels.map((lab, i) => ({ id: lab, label: lab, color: seriesColor(i) })), width - 60,
        { title: l.row || undefined, dashedRef: { label: LN2_LABEL } });
    });
  gridSvg.attr('width', width).attr('height', y + 4);
}

function render(): void {
  const has = data.curves.length > 0;
  const l = layout();
  layoutSeg.set(l);
  empty.style.display = has ? 'none' : '';
  overlayHost.style.display = has && l === 'overlay' ? '' : 'none';
  gridHost.style.display = has && l === 'grid' ? '' : 'none';
  heading.textContent = data.title ?? 'Subcircuit progress';
  panel.setTitle(l === 'grid' ? 'Subcircuit evolution' : 'fsl_train loss by clamped steps');
  if (!has) return;
  if (l === 'overlay') renderOverlay(); else renderGrid();
}

function onMessage(m: ToWebviewMessage): void {
  if (handleCommon(m, setStatus)) return;
  switch (m.type) {
    case 'subcircuits': data = m.data; setStatus(''); render(); break;
    case 'step': if (m.sequences !== S.value.step) { S.update({ step: m.sequences }); render(); } break;
    default: break;
  }
}

new ResizeObserver(() => { if (layout() === 'grid') render(); }).observe(panel.body);
onThemeChange(render);
render();
connect('subcircuits', onMessage);
