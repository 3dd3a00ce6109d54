/**
 * Line charts over "# sequences seen": a plot (axes, shaded clamp windows, reference lines, markers,
 * series, selected step, hover cursor) that can be drawn into any <g> (so small multiples share one
 * SVG), a legend, and `createLineChart`, a responsive single chart with a data table as its text
 * alternative. Every element is joined by key (series id, point key), so new rows and a moving step
 * update the same nodes instead of redrawing. The x axis is linear or log (xscale.ts); curves can be
 * smoothed as in TensorBoard (smoothing.ts), the raw curve then drawn faint behind.
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
import { makeXAxis, type XAxis, type XScaleMode } from './xscale';
import { emaSmooth } from './smoothing';
import { h } from './dom';

export interface LinePoint {
  x: number;
  y: number;
}
export interface LineSeries {
  id: string;
  label: string;
  color: string;
  dash?: string;
  hidden?: boolean;
  points: LinePoint[];
  /** Drawn thin and translucent (e.g. an ablated head's score, which no longer means anything). */
  faded?: boolean;
}
/** A horizontal reference line; `short` is written in the right margin (the long label goes in the legend). */
export interface RefLine {
  id: string;
  y: number;
  label: string;
  short?: string;
}
/** A vertical marker: a labelled rule (stop/resume) or a small coloured tick on the x axis (learning time). */
export interface XMarker {
  id: string;
  x: number;
  label: string;
  kind: 'rule' | 'tick';
  color?: string;
}

/** What a layer drawn under the plot's bands gets: the scales of the plot area and its clip path's id. */
export interface PlotScales {
  x: XAxis;
  y: ScaleLinear<number, number>;
  width: number;
  height: number;
  clipId: string;
}
/** Extra drawing under the clamp windows and curves (stage bands, a ±std band), keyed by `id`. */
export interface PlotLayer {
  id: string;
  draw: (g: G, s: PlotScales) => void;
}

export interface PlotData {
  series: LineSeries[];
  /** Drawn first, in order (stages.ts: developmental stages; the LLC view: the chains' band). */
  layers?: PlotLayer[];
  /** Clamp windows (whole-run clamps go in the legend's notes, not here). */
  bands?: Band[];
  refLines?: RefLine[];
  markers?: XMarker[];
  /** The shared step; drawn as a vertical rule with a dot on each series (left out of exports). */
  selectedX?: number | null;
  xDomain: [number, number];
  yDomain: [number, number];
  xLabel: string;
  yLabel: string;
  xScale?: XScaleMode;
  /** TensorBoard EMA weight in [0, 1); 0 = raw. */
  smoothing?: number;
  /** Drawn above the plot (small multiples); single charts put their title in the panel header. */
  title?: string;
  /** y tick format; default 2 decimals. */
  yFormat?: (v: number) => string;
  /** x format of tooltips and the data table; default "12,000 sequences". */
  xFormat?: (v: number) => string;
  /** Short x tick format; default 12k / 1.5M. */
  xTickFormat?: (v: number) => string;
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
export function child<K extends keyof SVGElementTagNameMap>(
  parent: { node(): Element | null },
  tag: K,
  cls: string,
): Selection<SVGElementTagNameMap[K], unknown, null, undefined> {
  const node = parent.node()!;
  const classes = cls.split(/\s+/).filter(Boolean);
  let el = Array.from(node.children).find((c) => c.tagName === tag && classes.every((k) => c.classList.contains(k))) as
    SVGElementTagNameMap[K] | undefined;
  if (!el) {
    el = document.createElementNS('http://www.w3.org/2000/svg', tag) as SVGElementTagNameMap[K];
    el.setAttribute('class', cls);
    node.append(el);
  }
  return select(el);
}

let clipCounter = 0;
const MAX_MARKERS = 240;
/** Width of a 10 px label character (axis and band text), for fitting labels without measuring. */
const CHAR_W = 5.8;

/** `text` cut to `px` pixels with an ellipsis ('' when not even one character fits). */
export function fitLabel(text: string, px: number): string {
  const n = Math.floor(px / CHAR_W);
  if (n >= text.length) return text;
  return n < 2 ? '' : `${text.slice(0, n - 1)}…`;
}

/** Series as drawn: smoothed when asked, points the x axis cannot place (x ≤ 0 on log) left out. */
function drawnSeries(d: PlotData, ax: XAxis): Array<LineSeries & { raw: LinePoint[] }> {
  return d.series
    .filter((s) => !s.hidden)
    .map((s) => {
      const raw = s.points.filter((p) => ax.places(p.x));
      if (!d.smoothing) return { ...s, points: raw, raw };
      const sm = emaSmooth(
        raw.map((p) => p.y),
        d.smoothing,
      );
      return { ...s, points: raw.map((p, i) => ({ x: p.x, y: sm[i] })), raw };
    });
}

/** Nearest point of a sorted series to x. */
function nearestPoint(s: { points: LinePoint[] }, x: number): LinePoint | undefined {
  const i = nearestIndex(
    s.points.map((p) => p.x),
    x,
  );
  return i < 0 ? undefined : s.points[i];
}

/** Draws (or updates) a plot inside `g`, occupying `width`×`height`. */
export function drawPlot(g: G, d: PlotData, width: number, height: number, handlers: PlotHandlers = {}): void {
  // The right margin holds the last x tick's half width and the reference lines' short labels.
  const refShort = Math.max(0, ...(d.refLines ?? []).map((r) => (r.short ?? '').length));
  const m = { top: d.title ? 22 : 10, right: Math.max(18, refShort * CHAR_W + 8), bottom: 36, left: 46 };
  const w = Math.max(40, width - m.left - m.right);
  const ih = Math.max(40, height - m.top - m.bottom);
  const shownXs = d.series.filter((s) => !s.hidden).flatMap((s) => s.points.map((p) => p.x));
  const ax = makeXAxis(d.xScale ?? 'linear', d.xDomain, w, shownXs);
  const x = ax;
  const y = scaleLinear().domain(d.yDomain).range([ih, 0]);
  const visible = drawnSeries(d, ax);
  const node = g.node() as SVGGElement & { __clip?: string; __cursor?: number };
  if (!node.__clip) node.__clip = `clip${++clipCounter}`;
  const xTick = d.xTickFormat ?? fmtSeqShort;

  g.classed('plot', true)
    .attr('tabindex', 0)
    .attr('role', 'group')
    .attr(
      'aria-label',
      `${d.title ? d.title + ': ' : ''}${d.yLabel} vs ${d.xLabel}` +
        `${ax.mode === 'log' ? ' (log scale)' : ''}. Arrow keys move the cursor, Enter selects the step.`,
    );

  child(g, 'text', 'plot-title')
    .attr('x', m.left)
    .attr('y', 14)
    .text(d.title ?? '');
  const root = child(g, 'g', 'inner').attr('transform', `translate(${m.left},${m.top})`);
  child(root, 'rect', 'focus-frame no-export')
    .attr('x', -m.left + 2)
    .attr('y', -m.top + 2)
    .attr('width', width - 4)
    .attr('height', height - 4)
    .attr('rx', 3);
  const clip = child(root, 'clipPath', 'clip').attr('id', node.__clip);
  child(clip as unknown as G, 'rect', 'clip-rect')
    .attr('width', w)
    .attr('height', ih);
  const px = (v: number) => Math.max(0, Math.min(w, Number.isFinite(x(v)) ? x(v) : 0));

  child(root, 'g', 'layers')
    .selectAll<SVGGElement, PlotLayer>('g.layer')
    .data(d.layers ?? [], (l) => l.id)
    .join('g')
    .attr('class', 'layer')
    .each(function (l) {
      l.draw(select(this), { x, y, width: w, height: ih, clipId: node.__clip! });
    });

  // Bands (clamp windows), labels cut to the band's width (full text in the <title>).
  const bands = child(root, 'g', 'bands');
  bands
    .selectAll<SVGGElement, Band>('g.band')
    .data(d.bands ?? [], (b) => b.id)
    .join((e) => {
      const b = e.append('g').attr('class', 'band');
      b.append('rect');
      b.append('text');
      b.append('title');
      return b;
    })
    .each(function (b, i) {
      const s = select(this);
      const x0 = px(b.x0),
        x1 = px(b.x1);
      s.select('rect')
        .attr('x', x0)
        .attr('width', Math.max(1, x1 - x0))
        .attr('y', 0)
        .attr('height', ih);
      s.select('text')
        .attr('x', x0 + 3)
        .attr('y', 11 + (i % 3) * 12)
        .text(fitLabel(b.label, x1 - x0 - 6));
      s.select('title').text(`clamp window: ${b.label}`);
    });

  // Grid and axes.
  child(root, 'g', 'grid').call((sel) =>
    sel
      .selectAll<SVGLineElement, number>('line')
      .data(y.ticks(5), (v) => String(v))
      .join('line')
      .attr('x1', 0)
      .attr('x2', w)
      .attr('y1', (v) => y(v))
      .attr('y2', (v) => y(v)),
  );
  const xScaleForAxis = scaleLinear().domain([0, w]).range([0, w]);
  const ticks = ax.ticks(w);
  child(root, 'g', 'axis x')
    .attr('transform', `translate(0,${ih})`)
    .call(
      axisBottom(xScaleForAxis)
        .tickValues(ticks.map((t) => x(t)))
        .tickFormat((_v, i) => xTick(ticks[i])) as never,
    );
  child(root, 'g', 'axis y').call(
    axisLeft(y)
      .ticks(5)
      .tickFormat((v) => (d.yFormat ?? ((n: number) => n.toFixed(2)))(+v)) as never,
  );
  child(root, 'text', 'axis-label x')
    .attr('x', w / 2)
    .attr('y', ih + 31)
    .text(`${d.xLabel}${ax.mode === 'log' ? ' (log)' : ''}`);
  child(root, 'text', 'axis-label y')
    .attr('transform', `translate(${-36},${ih / 2}) rotate(-90)`)
    .text(d.yLabel);

  // Reference lines (ln 2): the short label sits in the right margin, never over the curves.
  child(root, 'g', 'refs')
    .selectAll<SVGGElement, RefLine>('g.ref')
    .data(
      (d.refLines ?? []).filter((r) => r.y >= d.yDomain[0] && r.y <= d.yDomain[1]),
      (r) => r.id,
    )
    .join((e) => {
      const r = e.append('g').attr('class', 'ref');
      r.append('line');
      r.append('text');
      r.append('title');
      return r;
    })
    .each(function (r) {
      const s = select(this);
      s.select('line').attr('x1', 0).attr('x2', w).attr('y1', y(r.y)).attr('y2', y(r.y));
      s.select('text')
        .attr('class', 'ref-label')
        .attr('x', w + 3)
        .attr('y', y(r.y) + 3)
        .text(r.short ?? '');
      s.select('title').text(`${r.label} (${fmtValue(r.y)})`);
    });

  // Markers: labelled rules (stop / resume) and ticks on the x axis (learning times).
  const marks = (d.markers ?? []).filter((k) => ax.places(k.x) && k.x >= ax.domain[0] && k.x <= ax.domain[1]);
  child(root, 'g', 'xmarks')
    .selectAll<SVGGElement, XMarker>('g.xmark')
    .data(marks, (k) => k.id)
    .join((e) => {
      const k = e.append('g');
      k.append('line');
      k.append('path');
      k.append('text');
      k.append('title');
      return k;
    })
    .attr('class', (k) => `xmark ${k.kind}`)
    .each(function (k) {
      const s = select(this),
        xv = x(k.x);
      s.select('line')
        .attr('x1', xv)
        .attr('x2', xv)
        .attr('y1', k.kind === 'rule' ? 0 : ih - 6)
        .attr('y2', ih)
        .style('stroke', () => k.color ?? null);
      s.select('path')
        .attr('d', k.kind === 'tick' ? `M${xv},${ih - 1}l-4,-7h8z` : null)
        .style('fill', () => k.color ?? null);
      // Rule labels run down the rule's left side from the top: they never leave the plot or cover a curve's run.
      s.select('text')
        .attr('transform', `translate(${xv - 3},4) rotate(-90)`)
        .attr('text-anchor', 'end')
        .text(k.kind === 'rule' ? fitLabel(k.label, ih - 8) : '');
      s.select('title').text(k.label);
    });

  // Series (raw curves faint behind smoothed ones).
  const series = child(root, 'g', 'series').attr('clip-path', `url(#${node.__clip})`);
  const path = line<LinePoint>()
    .defined((p) => Number.isFinite(p.y) && Number.isFinite(x(p.x)))
    .x((p) => x(p.x))
    .y((p) => y(p.y));
  type Drawn = (typeof visible)[number];
  series
    .selectAll<SVGPathElement, Drawn>('path.raw')
    .data(d.smoothing ? visible : [], (s) => s.id)
    .join('path')
    .attr('class', 'line raw')
    .attr('d', (s) => path(s.raw))
    .style('stroke', (s) => s.color);
  series
    .selectAll<SVGPathElement, Drawn>('path.main')
    .data(visible, (s) => s.id)
    .join('path')
    .attr('class', (s) => `line main${s.faded ? ' faded' : ''}`)
    .attr('d', (s) => path(s.points))
    .style('stroke', (s) => s.color)
    .attr('stroke-dasharray', (s) => s.dash ?? (s.faded ? '3 3' : null));
  const total = visible.reduce((n, s) => n + s.points.length, 0);
  type Marker = { key: string; p: LinePoint; color: string };
  const markers: Marker[] =
    total > MAX_MARKERS
      ? []
      : visible.flatMap((s) =>
          s.points.filter((p) => Number.isFinite(p.y)).map((p) => ({ key: pointKey(s.id, p.x), p, color: s.color })),
        );
  series
    .selectAll<SVGCircleElement, Marker>('circle.marker')
    .data(markers, (k) => k.key)
    .join('circle')
    .attr('class', 'marker')
    .attr('r', 1.8)
    .attr('cx', (k) => x(k.p.x))
    .attr('cy', (k) => y(k.p.y))
    .style('fill', (k) => k.color);

  // Selected step (UI state: not exported).
  const sel = d.selectedX ?? null;
  const selG = child(root, 'g', 'selected no-export');
  const inRange = sel !== null && ax.places(sel) && sel >= ax.domain[0] && sel <= ax.domain[1];
  selG
    .selectAll('line')
    .data(inRange ? [sel] : [])
    .join('line')
    .attr('x1', (v) => x(v))
    .attr('x2', (v) => x(v))
    .attr('y1', 0)
    .attr('y2', ih);
  type Dot = { id: string; p: LinePoint; color: string };
  const dots: Dot[] = inRange
    ? visible.flatMap((s) => {
        const p = nearestPoint(s, sel!);
        return p && Number.isFinite(p.y) ? [{ id: s.id, p, color: s.color }] : [];
      })
    : [];
  selG
    .selectAll<SVGCircleElement, Dot>('circle')
    .data(dots, (k) => k.id)
    .join('circle')
    .attr('r', 3.5)
    .attr('cx', (k) => x(k.p.x))
    .attr('cy', (k) => y(Math.max(d.yDomain[0], Math.min(d.yDomain[1], k.p.y))))
    .style('fill', (k) => k.color);

  attachCursor(g, root, d, visible, x, y, w, ih, handlers);
}

function attachCursor(
  g: G,
  root: G,
  d: PlotData,
  visible: Array<LineSeries & { raw: LinePoint[] }>,
  x: XAxis,
  y: ScaleLinear<number, number>,
  w: number,
  ih: number,
  handlers: PlotHandlers,
): void {
  const node = g.node() as SVGGElement & { __cursor?: number };
  const xs = uniqueSorted(visible.flatMap((s) => s.points.map((p) => p.x)));
  const fmtX = d.xFormat ?? ((v: number) => `${fmtInt(v)} sequences`);
  const hover = child(root, 'g', 'hover no-export');
  const overlay = child(root, 'rect', 'overlay no-export');
  const show = (i: number, clientX?: number, clientY?: number, announce = false) => {
    if (i < 0 || i >= xs.length) return;
    node.__cursor = i;
    const xv = xs[i];
    const pts = visible
      .map((s) => ({ s, p: nearestPoint(s, xv), r: nearestPoint({ points: s.raw }, xv) }))
      .filter((o) => o.p && o.p.x === xv && Number.isFinite(o.p.y));
    hover.selectAll('line').data([xv]).join('line').attr('x1', x(xv)).attr('x2', x(xv)).attr('y1', 0).attr('y2', ih);
    hover
      .selectAll<SVGCircleElement, (typeof pts)[number]>('circle')
      .data(pts, (o) => o.s.id)
      .join('circle')
      .attr('r', 4)
      .attr('cx', x(xv))
      .attr('cy', (o) => y(o.p!.y))
      .style('stroke', (o) => o.s.color);
    const lines: TipLine[] = [
      { text: fmtX(xv), strong: true },
      ...pts.map((o) => ({
        text: `${o.s.label}: ${fmtValue(o.p!.y)}${d.smoothing && o.r ? ` (raw ${fmtValue(o.r.y)})` : ''}`,
        color: o.s.color,
      })),
    ];
    if (d.title) lines.unshift({ text: d.title });
    if (clientX === undefined || clientY === undefined) {
      // The overlay's box starts at the plot origin (the <g> box would start at the y-axis labels).
      const r = overlay.node()!.getBoundingClientRect();
      clientX = r.left + x(xv);
      clientY = r.top + (pts.length ? y(pts[0].p!.y) : ih / 2);
    }
    showTip(lines, clientX, clientY, announce);
    handlers.onHover?.(xv);
  };
  const clear = () => {
    hover.selectAll('*').remove();
    hideTip();
    handlers.onHover?.(null);
  };
  // Pointer in plot-area coordinates (d3's pointer inverts the overlay's screen transform), matched on screen.
  const indexAt = (event: PointerEvent | MouseEvent) => indexAtPixel(xs, x, pointer(event, overlay.node())[0]);
  overlay
    .attr('width', w)
    .attr('height', ih)
    .attr('data-x-domain', x.domain.join(' '))
    .attr('data-x-scale', x.mode)
    .on('pointermove', (event: PointerEvent) => show(indexAt(event), event.clientX, event.clientY))
    .on('pointerleave', clear)
    .on('click', (event: MouseEvent) => {
      const i = indexAt(event);
      if (i >= 0) handlers.onPick?.(xs[i]);
    });
  g.on('keydown', (event: KeyboardEvent) => {
    if (!xs.length) return;
    let i = node.__cursor ?? (d.selectedX != null ? nearestIndex(xs, d.selectedX) : xs.length - 1);
    const step = event.shiftKey ? 10 : 1;
    switch (event.key) {
      case 'ArrowLeft':
        i = Math.max(0, i - step);
        break;
      case 'ArrowRight':
        i = Math.min(xs.length - 1, i + step);
        break;
      case 'Home':
        i = 0;
        break;
      case 'End':
        i = xs.length - 1;
        break;
      case 'Enter':
      case ' ':
        handlers.onPick?.(xs[Math.min(i, xs.length - 1)]);
        event.preventDefault();
        return;
      case 'Escape':
        clear();
        return;
      default:
        return;
    }
    event.preventDefault();
    show(i, undefined, undefined, true);
  }).on('blur', () => {
    node.__cursor = undefined;
    clear();
  });
}

export interface LegendItem {
  id: string;
  label: string;
  color: string;
  dash?: string;
  hidden?: boolean;
  title?: string;
  faded?: boolean;
}
export interface LegendOptions {
  title?: string;
  onToggle?: (id: string) => void;
  dashedRef?: { label: string };
  /** Text lines after the items, e.g. the clamps active for the whole run (a grey square marks them). */
  notes?: string[];
}

/** Draws a wrapping legend into `g` (width `width`); returns its height. Items toggle when onToggle is given. */
export function drawLegend(g: G, items: LegendItem[], width: number, o: LegendOptions = {}): number {
  const rowH = 18,
    gap = 18;
  child(g, 'text', 'legend-title')
    .attr('x', 0)
    .attr('y', 12)
    .text(o.title ?? '');
  type Item = LegendItem & { ref?: boolean };
  const all: Item[] = [...items];
  if (o.dashedRef) all.push({ id: '__ref', label: o.dashedRef.label, color: 'currentColor', dash: '5 4', ref: true });
  const joined = g
    .selectAll<SVGGElement, Item>('g.legend-item')
    .data(all, (p) => p.id)
    .join((e) => {
      const it = e.append('g').attr('class', 'legend-item');
      it.append('line');
      it.append('text');
      it.append('title');
      return it;
    });
  // Measure the rendered labels, then wrap into rows.
  let cx = 0,
    cy = o.title ? rowH : 0;
  joined.each(function (p) {
    const s = select(this).classed('off', !!p.hidden).classed('is-ref', !!p.ref).classed('faded', !!p.faded);
    s.select('line')
      .attr('x1', 0)
      .attr('x2', 20)
      .attr('y1', 9)
      .attr('y2', 9)
      .style('stroke', p.color)
      .attr('stroke-dasharray', p.dash ?? (p.faded ? '3 3' : null));
    const text = s.select<SVGTextElement>('text').attr('x', 25).attr('y', 13).text(p.label);
    s.select('title').text(p.title ?? p.label);
    let tw = p.label.length * 6.5;
    try {
      tw = text.node()!.getComputedTextLength() || tw;
    } catch {
      /* not rendered */
    }
    const iw = 25 + tw + gap;
    if (cx > 0 && cx + iw > width) {
      cx = 0;
      cy += rowH;
    }
    s.attr('transform', `translate(${cx},${cy})`);
    cx += iw;
    const toggle = o.onToggle && !p.ref;
    s.attr('tabindex', toggle ? 0 : null)
      .attr('role', toggle ? 'switch' : null)
      .attr('aria-checked', toggle ? String(!p.hidden) : null)
      .attr('aria-label', toggle ? `Show ${p.label}` : null);
    if (toggle) {
      s.on('click', () => o.onToggle!(p.id)).on('keydown', (ev: KeyboardEvent) => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          o.onToggle!(p.id);
        }
      });
    } else s.on('click', null).on('keydown', null);
  });
  let hgt = all.length ? cy + rowH : o.title ? rowH : 0;
  // Notes (whole-run clamps): wrapped lines behind a grey square.
  const perLine = Math.max(20, Math.floor((width - 16) / 6));
  const lines = (o.notes ?? []).flatMap((n) => wrapWords(n, perLine));
  const notes = child(g, 'g', 'legend-notes').attr('transform', `translate(0,${hgt})`);
  notes
    .selectAll('rect')
    .data(lines.length ? [0] : [])
    .join('rect')
    .attr('x', 4)
    .attr('y', 4)
    .attr('width', 10)
    .attr('height', 10);
  notes
    .selectAll('text')
    .data(lines)
    .join('text')
    .attr('x', 20)
    .attr('y', (_l, i) => 13 + i * 14)
    .text((l) => l);
  hgt += lines.length ? lines.length * 14 + 4 : 0;
  return hgt + 4;
}

function wrapWords(text: string, maxChars: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (cur && cur.length + 1 + w.length > maxChars) {
      out.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) out.push(cur);
  return out;
}

/** Rows of a chart's data table: one per x, one column per visible series (smoothed values when smoothing). */
export function dataTableRows(d: PlotData): { header: string[]; rows: string[][] } {
  const ax = makeXAxis(
    d.xScale ?? 'linear',
    d.xDomain,
    100,
    d.series.flatMap((s) => s.points.map((p) => p.x)),
  );
  const vis = drawnSeries(d, ax);
  const xs = uniqueSorted(vis.flatMap((s) => s.points.map((p) => p.x)));
  const fmtX = d.xFormat ?? ((v: number) => fmtInt(v));
  const byX = vis.map((s) => new Map(s.points.map((p) => [p.x, p.y])));
  return {
    header: [d.xLabel, ...vis.map((s) => s.label)],
    rows: xs.map((xv) => [fmtX(xv), ...byX.map((mp) => fmtValue(mp.get(xv)))]),
  };
}

/** Fills a <details> element with the data table of `d` (only while it is open: tables can be long). */
export function renderDataTable(details: HTMLDetailsElement, d: PlotData | undefined, caption: string): void {
  const body = details.querySelector('.table-body') ?? details.appendChild(h('div', { class: 'table-body' }));
  if (!details.open || !d) {
    body.replaceChildren();
    return;
  }
  const { header, rows } = dataTableRows(d);
  const table = h('table', {}, [
    h('caption', { class: 'sr-only', text: caption }),
    h('thead', {}, [
      h(
        'tr',
        {},
        header.map((c) => h('th', { scope: 'col', text: c })),
      ),
    ]),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          r.map((c, i) => (i === 0 ? h('th', { scope: 'row', text: c }) : h('td', { text: c }))),
        ),
      ),
    ),
  ]);
  body.replaceChildren(table);
}

export interface LineChart {
  svg: SVGSVGElement;
  update(d: PlotData, legend?: { items: LegendItem[]; options?: LegendOptions }): void;
}

/**
 * A responsive single chart: plot plus legend below, redrawn in place on update and on resize, never
 * wider than its container; under it a collapsed "Data table" (the chart's text alternative).
 */
export function createLineChart(
  parent: HTMLElement,
  o: { ariaLabel: string; height?: number; minWidth?: number } & PlotHandlers,
): LineChart {
  const svg = select(parent)
    .append('svg')
    .attr('class', 'chart')
    .attr('aria-label', o.ariaLabel)
    .attr('role', 'figure');
  const plotG = svg.append('g').attr('class', 'plot-host') as unknown as G;
  const legendG = svg.append('g').attr('class', 'legend') as unknown as G;
  const details = h('details', { class: 'data-table' }, [h('summary', { text: 'Data table' })]);
  parent.append(details);
  let last: { d: PlotData; legend?: { items: LegendItem[]; options?: LegendOptions } } | undefined;
  const render = () => {
    if (!last) return;
    const width = Math.max(o.minWidth ?? 200, parent.clientWidth);
    const height = o.height ?? 260;
    drawPlot(plotG, last.d, width, height, o);
    const lg = legendG.attr('transform', `translate(46,${height + 2})`);
    const lh = last.legend ? drawLegend(lg, last.legend.items, width - 52, last.legend.options) : 0;
    svg.attr('width', width).attr('height', height + lh + 6);
    renderDataTable(details, last.d, o.ariaLabel);
  };
  details.addEventListener('toggle', () => renderDataTable(details, last?.d, o.ariaLabel));
  new ResizeObserver(() => render()).observe(parent);
  return {
    svg: svg.node()!,
    update(d, legend) {
      last = { d, legend };
      render();
    },
  };
}
