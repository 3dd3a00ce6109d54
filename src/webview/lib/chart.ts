/**
 * Line charts over "# sequences seen": a plot (axes, shaded bands, reference lines, series, selected
 * step, hover cursor) that can be drawn into any <g> (so small multiples share one SVG), a legend, and
 * `createLineChart`, a responsive single chart. Every element is joined by key (series id, point key),
 * so new rows and a moving step update the same nodes instead of redrawing.
 */
import { select, pointer, type Selection } from 'd3-selection';
import { scaleLinear, type ScaleLinear } from 'd3-scale';
import { axisBottom, axisLeft } from 'd3-axis';
import { line } from 'd3-shape';
import type { Band } from './domains';
import { fmtInt, fmtSeqShort, fmtValue } from './format';
import { nearestIndex, pointKey, uniqueSorted } from './steps';
import { showTip, hideTip, type TipLine } from './tooltip';
import { indexAtPixel } from './hitTest';

export interface LinePoint { x: number; y: number }
export interface LineSeries { id: string; label: string; color: string; dash?: string; hidden?: boolean; points: LinePoint[] }
export interface RefLine { id: string; y: number; label: string }

export interface PlotData {
  series: LineSeries[];
  bands?: Band[];
  refLines?: RefLine[];
  /** The shared step; drawn as a vertical rule with a dot on each series. */
  selectedX?: number | null;
  xDomain: [number, number];
  yDomain: [number, number];
  xLabel: string;
  yLabel: string;
  /** Drawn above the plot (small multiples); single charts put their title in the panel header. */
  title?: string;
  /** y tick format; default 2 decimals. */
  yFormat?: (v: number) => string;
}

export interface PlotHandlers {
  /** Cursor moved to a data x (null when it leaves). */
  onHover?: (x: number | null) => void;
  /** Click / Enter on a data x. */
  onPick?: (x: number) => void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type G = Selection<SVGGElement, any, any, any>;

/** The single child `tag.cls` of `parent`, created on first use. */
export function child<K extends keyof SVGElementTagNameMap>(parent: { node(): Element | null }, tag: K, cls: string): Selection<SVGElementTagNameMap[K], unknown, null, undefined> {
  const node = parent.node()!;
  const classes = cls.split(/\s+/).filter(Boolean);
  let el = Array.from(node.children).find((c) => c.tagName === tag && classes.every((k) => c.classList.contains(k))) as SVGElementTagNameMap[K] | undefined;
  if (!el) {
    el = document.createElementNS('http://www.w3.org/2000/svg', tag) as SVGElementTagNameMap[K];
    el.setAttribute('class', cls);
    node.append(el);
  }
  return select(el);
}

let clipCounter = 0;
const MAX_MARKERS = 240;

/** Nearest point of a sorted series to x. */
function nearestPoint(s: LineSeries, x: number): LinePoint | undefined {
  const i = nearestIndex(s.points.map((p) => p.x), x);
  return i < 0 ? undefined : s.points[i];
}

/** Draws (or updates) a plot inside `g`, occupying `width`×`height`. */
export function drawPlot(g: G, d: PlotData, width: number, height: number, handlers: PlotHandlers = {}): void {
  const m = { top: d.title ? 22 : 10, right: 14, bottom: 36, left: 46 };
  const w = Math.max(40, width - m.left - m.right);
  const ih = Math.max(40, height - m.top - m.bottom);
  const x = scaleLinear().domain(d.xDomain).range([0, w]);
  const y = scaleLinear().domain(d.yDomain).range([ih, 0]);
  const visible = d.series.filter((s) => !s.hidden);
  const node = g.node() as SVGGElement & { __clip?: string; __cursor?: number };
  if (!node.__clip) node.__clip = `clip${++clipCounter}`;

  g.classed('plot', true).attr('tabindex', 0).attr('role', 'group')
    .attr('aria-label', `${d.title ? d.title + ': ' : ''}${d.yLabel} vs ${d.xLabel}. Arrow keys move the cursor, Enter selects the step.`);

  child(g, 'text', 'plot-title').attr('x', m.left).attr('y', 14).text(d.title ?? '');
  const root = child(g, 'g', 'inner').attr('transform', `translate(${m.left},${m.top})`);
  child(root, 'rect', 'focus-frame no-export').attr('x', -m.left + 2).attr('y', -m.top + 2)
    .attr('width', width - 4).attr('height', height - 4).attr('rx', 3);
  const clip = child(root, 'clipPath', 'clip').attr('id', node.__clip);
  child(clip as unknown as G, 'rect', 'clip-rect').attr('width', w).attr('height', ih);

  // Bands (clamp windows).
  const bands = child(root, 'g', 'bands');
  bands.selectAll<SVGGElement, Band>('g.band').data(d.bands ?? [], (b) => b.id).join((e) => {
    const b = e.append('g').attr('class', 'band');
    b.append('rect'); b.append('text');
    b.append('title');
    return b;
  }).each(function (b, i) {
    const s = select(this);
    const x0 = x(b.x0), x1 = x(b.x1);
    s.select('rect').attr('x', x0).attr('width', Math.max(1, x1 - x0)).attr('y', 0).attr('height', ih);
    s.select('text').attr('x', x0 + 3).attr('y', 11 + i * 12).text(x1 - x0 > 40 ? b.label : '');
    s.select('title').text(`clamp: ${b.label}`);
  });

  // Grid and axes.
  child(root, 'g', 'grid').call((sel) => sel.selectAll<SVGLineElement, number>('line').data(y.ticks(5), (v) => String(v))
    .join('line').attr('x1', 0).attr('x2', w).attr('y1', (v) => y(v)).attr('y2', (v) => y(v)));
  child(root, 'g', 'axis x').attr('transform', `translate(0,${ih})`)
    .call(axisBottom(x).ticks(Math.max(2, Math.floor(w / 70))).tickFormat((v) => fmtSeqShort(+v)) as never);
  child(root, 'g', 'axis y').call(axisLeft(y).ticks(5).tickFormat((v) => (d.yFormat ?? ((n: number) => n.toFixed(2)))(+v)) as never);
  child(root, 'text', 'axis-label x').attr('x', w / 2).attr('y', ih + 31).text(d.xLabel);
  child(root, 'text', 'axis-label y').attr('transform', `translate(${-36},${ih / 2}) rotate(-90)`).text(d.yLabel);

  // Reference lines (ln 2).
  child(root, 'g', 'refs').selectAll<SVGGElement, RefLine>('g.ref').data((d.refLines ?? []).filter((r) => r.y >= d.yDomain[0] && r.y <= d.yDomain[1]), (r) => r.id)
    .join((e) => { const r = e.append('g').attr('class', 'ref'); r.append('line'); r.append('text'); return r; })
    .each(function (r) {
      const s = select(this);
      s.select('line').attr('x1', 0).attr('x2', w).attr('y1', y(r.y)).attr('y2', y(r.y));
      s.select('text').attr('x', w - 4).attr('y', y(r.y) - 4).text(r.label);
    });

  // Series.
  const series = child(root, 'g', 'series').attr('clip-path', `url(#${node.__clip})`);
  const path = line<LinePoint>().defined((p) => Number.isFinite(p.y)).x((p) => x(p.x)).y((p) => y(p.y));
  series.selectAll<SVGPathElement, LineSeries>('path.line').data(visible, (s) => s.id).join('path')
    .attr('class', 'line').attr('d', (s) => path(s.points)).style('stroke', (s) => s.color)
    .attr('stroke-dasharray', (s) => s.dash ?? null);
  const total = visible.reduce((n, s) => n + s.points.length, 0);
  type Marker = { key: string; p: LinePoint; color: string };
  const markers: Marker[] = total > MAX_MARKERS ? [] : visible.flatMap((s) => s.points.filter((p) => Number.isFinite(p.y)).map((p) => ({ key: pointKey(s.id, p.x), p, color: s.color })));
  series.selectAll<SVGCircleElement, Marker>('circle.marker').data(markers, (k) => k.key).join('circle')
    .attr('class', 'marker').attr('r', 1.8).attr('cx', (k) => x(k.p.x)).attr('cy', (k) => y(k.p.y)).style('fill', (k) => k.color);

  // Selected step.
  const sel = d.selectedX ?? null;
  const selG = child(root, 'g', 'selected');
  const inRange = sel !== null && sel >= d.xDomain[0] && sel <= d.xDomain[1];
  selG.selectAll('line').data(inRange ? [sel] : []).join('line')
    .attr('x1', (v) => x(v)).attr('x2', (v) => x(v)).attr('y1', 0).attr('y2', ih);
  type Dot = { id: string; p: LinePoint; color: string };
  const dots: Dot[] = inRange ? visible.flatMap((s) => { const p = nearestPoint(s, sel!); return p && Number.isFinite(p.y) ? [{ id: s.id, p, color: s.color }] : []; }) : [];
  selG.selectAll<SVGCircleElement, Dot>('circle').data(dots, (k) => k.id).join('circle')
    .attr('r', 3.5).attr('cx', (k) => x(k.p.x)).attr('cy', (k) => y(Math.max(d.yDomain[0], Math.min(d.yDomain[1], k.p.y)))).style('fill', (k) => k.color);

  attachCursor(g, root, d, visible, x, y, w, ih, m, handlers);
}

function attachCursor(g: G, root: G, d: PlotData, visible: LineSeries[], x: ScaleLinear<number, number>, y: ScaleLinear<number, number>,
  w: number, ih: number, m: { left: number; top: number }, handlers: PlotHandlers): void {
  const node = g.node() as SVGGElement & { __cursor?: number };
  const xs = uniqueSorted(visible.flatMap((s) => s.points.map((p) => p.x)));
  const hover = child(root, 'g', 'hover no-export');
  const overlay = child(root, 'rect', 'overlay no-export');
  const show = (i: number, clientX?: number, clientY?: number, announce = false) => {
    if (i < 0 || i >= xs.length) return;
    node.__cursor = i;
    const xv = xs[i];
    const pts = visible.map((s) => ({ s, p: nearestPoint(s, xv) })).filter((o) => o.p && o.p.x === xv && Number.isFinite(o.p.y));
    hover.selectAll('line').data([xv]).join('line').attr('x1', x(xv)).attr('x2', x(xv)).attr('y1', 0).attr('y2', ih);
    hover.selectAll<SVGCircleElement, (typeof pts)[number]>('circle').data(pts, (o) => o.s.id).join('circle')
      .attr('r', 4).attr('cx', x(xv)).attr('cy', (o) => y(o.p!.y)).style('stroke', (o) => o.s.color);
    const lines: TipLine[] = [{ text: `${fmtInt(xv)} sequences`, strong: true },
      ...pts.map((o) => ({ text: `${o.s.label}: ${fmtValue(o.p!.y)}`, color: o.s.color }))];
    if (d.title) lines.unshift({ text: d.title });
    if (clientX === undefined || clientY === undefined) {
      // The overlay's box starts at the plot origin (the <g> box would start at the y-axis labels).
      const r = overlay.node()!.getBoundingClientRect();
      clientX = r.left + x(xv); clientY = r.top + (pts.length ? y(pts[0].p!.y) : ih / 2);
    }
    showTip(lines, clientX, clientY, announce);
    handlers.onHover?.(xv);
  };
  const clear = () => { hover.selectAll('*').remove(); hideTip(); handlers.onHover?.(null); };
  // Pointer in plot-area coordinates (d3's pointer inverts the overlay's screen transform), matched on screen.
  const indexAt = (event: PointerEvent | MouseEvent) => indexAtPixel(xs, x, pointer(event, overlay.node())[0]);
  overlay.attr('width', w).attr('height', ih).attr('data-x-domain', d.xDomain.join(' '))
    .on('pointermove', (event: PointerEvent) => show(indexAt(event), event.clientX, event.clientY))
    .on('pointerleave', clear)
    .on('click', (event: MouseEvent) => { const i = indexAt(event); if (i >= 0) handlers.onPick?.(xs[i]); });
  g.on('keydown', (event: KeyboardEvent) => {
    if (!xs.length) return;
    let i = node.__cursor ?? (d.selectedX != null ? nearestIndex(xs, d.selectedX) : xs.length - 1);
    const step = event.shiftKey ? 10 : 1;
    switch (event.key) {
      case 'ArrowLeft': i = Math.max(0, i - step); break;
      case 'ArrowRight': i = Math.min(xs.length - 1, i + step); break;
      case 'Home': i = 0; break;
      case 'End': i = xs.length - 1; break;
      case 'Enter': case ' ': handlers.onPick?.(xs[Math.min(i, xs.length - 1)]); event.preventDefault(); return;
      case 'Escape': clear(); return;
      default: return;
    }
    event.preventDefault();
    show(i, undefined, undefined, true);
  }).on('blur', () => { node.__cursor = undefined; clear(); });
  void m;
}

export interface LegendItem { id: string; label: string; color: string; dash?: string; hidden?: boolean; title?: string }
export interface LegendOptions { title?: string; onToggle?: (id: string) => void; dashedRef?: { label: string } }

/** Draws a wrapping legend into `g` (width `width`); returns its height. Items toggle when onToggle is given. */
export function drawLegend(g: G, items: LegendItem[], width: number, o: LegendOptions = {}): number {
  const rowH = 18, gap = 18;
  child(g, 'text', 'legend-title').attr('x', 0).attr('y', 12).text(o.title ?? '');
  type Item = LegendItem & { ref?: boolean };
  const all: Item[] = [...items];
  if (o.dashedRef) all.push({ id: '__ref', label: o.dashedRef.label, color: 'currentColor', dash: '5 4', ref: true });
  const joined = g.selectAll<SVGGElement, Item>('g.legend-item').data(all, (p) => p.id).join((e) => {
    const it = e.append('g').attr('class', 'legend-item');
    it.append('line'); it.append('text'); it.append('title');
    return it;
  });
  // Measure the rendered labels, then wrap into rows.
  let cx = 0, cy = o.title ? rowH : 0;
  joined.each(function (p) {
    const s = select(this).classed('off', !!p.hidden).classed('is-ref', !!p.ref);
    s.select('line').attr('x1', 0).attr('x2', 20).attr('y1', 9).attr('y2', 9).style('stroke', p.color).attr('stroke-dasharray', p.dash ?? null);
    const text = s.select<SVGTextElement>('text').attr('x', 25).attr('y', 13).text(p.label);
    s.select('title').text(p.title ?? p.label);
    let tw = p.label.length * 6.5;
    try { tw = text.node()!.getComputedTextLength() || tw; } catch { /* not rendered */ }
    const iw = 25 + tw + gap;
    if (cx > 0 && cx + iw > width) { cx = 0; cy += rowH; }
    s.attr('transform', `translate(${cx},${cy})`);
    cx += iw;
    const toggle = o.onToggle && !p.ref;
    s.attr('tabindex', toggle ? 0 : null).attr('role', toggle ? 'switch' : null)
      .attr('aria-checked', toggle ? String(!p.hidden) : null)
      .attr('aria-label', toggle ? `Show ${p.label}` : null);
    if (toggle) {
      s.on('click', () => o.onToggle!(p.id))
        .on('keydown', (ev: KeyboardEvent) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); o.onToggle!(p.id); } });
    } else s.on('click', null).on('keydown', null);
  });
  return all.length ? cy + rowH + 4 : (o.title ? rowH : 0);
}

export interface LineChart { svg: SVGSVGElement; update(d: PlotData, legend?: { items: LegendItem[]; options?: LegendOptions }): void }

/** A responsive single chart: plot plus legend below, redrawn in place on update and on resize. */
export function createLineChart(parent: HTMLElement, o: { ariaLabel: string; height?: number } & PlotHandlers): LineChart {
  const svg = select(parent).append('svg').attr('class', 'chart').attr('aria-label', o.ariaLabel).attr('role', 'figure');
  const plotG = svg.append('g').attr('class', 'plot-host') as unknown as G;
  const legendG = svg.append('g').attr('class', 'legend') as unknown as G;
  let last: { d: PlotData; legend?: { items: LegendItem[]; options?: LegendOptions } } | undefined;
  const render = () => {
    if (!last) return;
    const width = Math.max(260, parent.clientWidth);
    const height = o.height ?? 260;
    drawPlot(plotG, last.d, width, height, o);
    const lh = last.legend ? drawLegend(legendG.attr('transform', `translate(46,${height + 2})`), last.legend.items, width - 60, last.legend.options) : 0;
    svg.attr('width', width).attr('height', height + lh + 6);
  };
  new ResizeObserver(() => render()).observe(parent);
  return {
    svg: svg.node()!,
    update(d, legend) { last = { d, legend }; render(); },
  };
}
