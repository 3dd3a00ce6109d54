/**
 * Matrix heatmaps in SVG (attention patterns, influence matrices, head strips). Each heatmap is a <g>
 * joined by `key` and its cells are joined by (row, col), so a new step recolours the same nodes.
 * Hover shows a tooltip; a focused heatmap moves a cell cursor with the arrow keys.
 */
import { select, type Selection } from 'd3-selection';
import { matrixKey } from './steps';
import type { HeadState } from './clampMarks';
import { textOn } from './theme';
import { fmtCell } from './format';
import { showTip, hideTip } from './tooltip';

export interface HeatmapSpec {
  key: string;
  x: number;
  y: number;
  rows: string[];
  cols: string[];
  values: number[][];
  cell: number;
  /** Cell width if not square. */
  cellW?: number;
  color: (v: number) => string;
  title?: string;
  rowLabels?: boolean;
  /** Width reserved for row labels (default 34). */
  labelW?: number;
  colLabels?: 'top' | 'bottom' | false;
  /** Font size (px) of the column labels; smaller cells get smaller labels so they never run together. */
  labelFont?: number;
  showValues?: boolean;
  format?: (v: number) => string;
  /** Cells drawn empty (e.g. the causal mask: a key after the query). */
  masked?: (r: number, c: number, v: number) => boolean;
  /** Tooltip lines of a cell. */
  describe: (r: number, c: number, v: number) => string[];
  ariaLabel: string;
  /** The whole heatmap is one head that a clamp touches (attention grid): framed, hatched when ablated. */
  mark?: { state: HeadState; label: string };
  /** Cells that are heads a clamp touches (the head board). */
  cellMark?: (r: number, c: number) => HeadState | undefined;
  /** Rows to flag (influence rows of ablated heads): hatched, with a note after the row. */
  rowMark?: (r: number) => { state: HeadState; note: string } | undefined;
}

/** The id of a diagonal-hatch <pattern> in the <svg> that holds `g` (created once per svg). */
export function hatchPattern(g: Element): string {
  const svg = (g as SVGElement).ownerSVGElement ?? (g as SVGSVGElement);
  const node = svg as SVGSVGElement & { __hatch?: string };
  if (node.__hatch && svg.querySelector(`#${node.__hatch}`)) return node.__hatch;
  node.__hatch = `hatch${++hatchCounter}`;
  const ns = 'http://www.w3.org/2000/svg';
  let defs = svg.querySelector(':scope > defs.marks-defs');
  if (!defs) {
    defs = document.createElementNS(ns, 'defs');
    defs.setAttribute('class', 'marks-defs');
    svg.prepend(defs);
  }
  const p = document.createElementNS(ns, 'pattern');
  p.setAttribute('id', node.__hatch);
  p.setAttribute('width', '5');
  p.setAttribute('height', '5');
  p.setAttribute('patternUnits', 'userSpaceOnUse');
  p.setAttribute('patternTransform', 'rotate(45)');
  // A light and a dark stroke side by side: the hatching reads on any viridis / RdBu cell colour.
  for (const [cls, x] of [
    ['hatch-light', '1'],
    ['hatch-dark', '2.4'],
  ]) {
    const l = document.createElementNS(ns, 'line');
    for (const [k, v] of [
      ['class', cls],
      ['x1', x],
      ['y1', '0'],
      ['x2', x],
      ['y2', '5'],
    ])
      l.setAttribute(k, v);
    p.append(l);
  }
  defs.append(p);
  return node.__hatch;
}
let hatchCounter = 0;

interface Cell {
  key: string;
  r: number;
  c: number;
  v: number;
  spec: HeatmapSpec;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type G = Selection<SVGGElement, any, any, any>;

/** Space a heatmap takes with its labels (for layout). */
export function heatmapSize(
  s: Pick<HeatmapSpec, 'rows' | 'cols' | 'cell' | 'cellW' | 'title' | 'rowLabels' | 'colLabels' | 'labelW'>,
): { width: number; height: number; left: number; top: number } {
  const left = s.rowLabels ? (s.labelW ?? 34) : 0;
  const top = (s.title ? 16 : 0) + (s.colLabels === 'top' ? 14 : 0);
  const bottom = s.colLabels === 'bottom' ? 14 : 0;
  return {
    width: left + s.cols.length * (s.cellW ?? s.cell),
    height: top + s.rows.length * s.cell + bottom,
    left,
    top,
  };
}

export function drawHeatmaps(parent: G, specs: HeatmapSpec[]): void {
  parent
    .selectAll<SVGGElement, HeatmapSpec>('g.heatmap')
    .data(specs, (s) => s.key)
    .join((e) => {
      const g = e.append('g').attr('class', 'heatmap').attr('tabindex', 0).attr('role', 'img');
      g.append('text').attr('class', 'hm-title');
      g.append('g').attr('class', 'row-labels');
      g.append('g').attr('class', 'col-labels');
      g.append('g').attr('class', 'cells');
      g.append('g').attr('class', 'marks');
      g.append('rect').attr('class', 'hm-cursor no-export');
      return g;
    })
    .each(function (s) {
      drawOne(select(this), s);
    });
}

function drawOne(g: G, s: HeatmapSpec): void {
  const cw = s.cellW ?? s.cell,
    ch = s.cell;
  const size = heatmapSize(s);
  const fmt = s.format ?? ((v: number) => fmtCell(v));
  g.attr('transform', `translate(${s.x},${s.y})`).attr('aria-label', `${s.ariaLabel}. Arrow keys read the cells.`);
  g.select('.hm-title')
    .attr('x', size.left)
    .attr('y', 11)
    .text(s.title ?? '');
  g.select('.row-labels')
    .selectAll<SVGTextElement, string>('text')
    .data(s.rowLabels ? s.rows : [])
    .join('text')
    .attr('x', size.left - 4)
    .attr('y', (_r, i) => size.top + i * ch + ch / 2)
    .text((r) => r);
  const colY = s.colLabels === 'top' ? size.top - 4 : size.top + s.rows.length * ch + 11;
  g.select('.col-labels')
    .selectAll<SVGTextElement, string>('text')
    .data(s.colLabels ? s.cols : [])
    .join('text')
    .attr('x', (_c, i) => size.left + i * cw + cw / 2)
    .attr('y', colY)
    .style('font-size', () => (s.labelFont ? `${Math.max(6, s.labelFont)}px` : null))
    .text((c) => c);

  const cells: Cell[] = s.values.flatMap((row, r) => row.map((v, c) => ({ key: matrixKey(r, c), r, c, v, spec: s })));
  const cellsG = g.select<SVGGElement>('.cells').attr('transform', `translate(${size.left},${size.top})`);
  const joined = cellsG
    .selectAll<SVGGElement, Cell>('g.cell')
    .data(cells, (d) => d.key)
    .join((e) => {
      const c = e.append('g').attr('class', 'cell');
      c.append('rect');
      c.append('text');
      return c;
    });
  joined.each(function (d) {
    const masked = s.masked?.(d.r, d.c, d.v) ?? false;
    const fill = Number.isFinite(d.v) ? s.color(d.v) : 'transparent';
    const c = select(this)
      .attr('transform', `translate(${d.c * cw},${d.r * ch})`)
      .classed('masked', masked);
    // data-value: the number behind the colour (what tests and the data table read).
    c.select('rect')
      .attr('width', cw - 1)
      .attr('height', ch - 1)
      .style('fill', () => (masked ? null : fill))
      .attr('data-value', Number.isFinite(d.v) ? String(d.v) : null);
    c.select('text')
      .attr('x', cw / 2)
      .attr('y', ch / 2)
      .style('fill', () => (masked ? null : textOn(fill)))
      .text(s.showValues && !masked && ch >= 14 ? fmt(d.v) : '');
  });
  drawMarks(g, s, size, cw, ch);
  const tip = (d: Cell, x: number, y: number, announce = false) => showTip(s.describe(d.r, d.c, d.v), x, y, announce);
  joined
    .on('pointerenter pointermove', (ev: PointerEvent, d) => tip(d, ev.clientX, ev.clientY))
    .on('pointerleave', () => hideTip());

  // Keyboard cursor.
  const node = g.node() as SVGGElement & { __rc?: [number, number] };
  const cursor = g
    .select('.hm-cursor')
    .attr('width', cw + 1)
    .attr('height', ch + 1);
  const place = (r: number, c: number) => {
    node.__rc = [r, c];
    cursor
      .attr('x', size.left + c * cw - 1)
      .attr('y', size.top + r * ch - 1)
      .style('display', 'inline');
    const rect = (cursor.node() as SVGRectElement).getBoundingClientRect();
    tip(cells[r * s.cols.length + c], rect.right, rect.top, true);
  };
  cursor.style('display', node.__rc && g.node() === document.activeElement ? 'inline' : 'none');
  g.on('keydown', (ev: KeyboardEvent) => {
    const [r0, c0] = node.__rc ?? [0, 0];
    let r = r0,
      c = c0;
    if (ev.key === 'ArrowUp') r = Math.max(0, r - 1);
    else if (ev.key === 'ArrowDown') r = Math.min(s.rows.length - 1, r + 1);
    else if (ev.key === 'ArrowLeft') c = Math.max(0, c - 1);
    else if (ev.key === 'ArrowRight') c = Math.min(s.cols.length - 1, c + 1);
    else if (ev.key === 'Escape') {
      hideTip();
      cursor.style('display', 'none');
      return;
    } else return;
    ev.preventDefault();
    place(r, c);
  })
    .on('focus', () => place(...(node.__rc ?? [0, 0])))
    .on('blur', () => {
      hideTip();
      cursor.style('display', 'none');
    });
}

type Mark = { key: string; state: HeadState; x: number; y: number; w: number; h: number; note?: string };

/** Frames, hatching and notes for heads a clamp touches (whole heatmap, cells or rows). */
function drawMarks(g: G, s: HeatmapSpec, size: { left: number; top: number }, cw: number, ch: number): void {
  const marks: Mark[] = [];
  const W = s.cols.length * cw,
    H = s.rows.length * ch;
  if (s.mark) marks.push({ key: 'all', state: s.mark.state, x: -1, y: -1, w: W + 1, h: H + 1 });
  if (s.cellMark)
    s.rows.forEach((_r, r) =>
      s.cols.forEach((_c, c) => {
        const st = s.cellMark!(r, c);
        if (st) marks.push({ key: `c${r}:${c}`, state: st, x: c * cw, y: r * ch, w: cw - 1, h: ch - 1 });
      }),
    );
  if (s.rowMark)
    s.rows.forEach((_r, r) => {
      const m = s.rowMark!(r);
      if (m) marks.push({ key: `r${r}`, state: m.state, x: 0, y: r * ch, w: W - 1, h: ch - 1, note: m.note });
    });
  const hatch = marks.some((m) => m.state === 'ablated') ? hatchPattern(g.node()!) : '';
  const mg = g.select<SVGGElement>('.marks').attr('transform', `translate(${size.left},${size.top})`);
  mg.selectAll<SVGGElement, Mark>('g.mark')
    .data(marks, (m) => m.key)
    .join((e) => {
      const k = e.append('g').attr('class', 'mark');
      k.append('rect').attr('class', 'hatch');
      k.append('rect').attr('class', 'head-mark');
      k.append('text').attr('class', 'mark-label');
      return k;
    })
    .each(function (m) {
      const k = select(this);
      k.select('rect.hatch')
        .attr('x', m.x)
        .attr('y', m.y)
        .attr('width', m.w)
        .attr('height', m.h)
        .attr('fill', m.state === 'ablated' ? `url(#${hatch})` : 'none')
        .style('display', () => (m.state === 'ablated' ? null : 'none'));
      k.select('rect.head-mark')
        .attr('class', `head-mark ${m.state}`)
        .attr('x', m.x + 0.5)
        .attr('y', m.y + 0.5)
        .attr('width', Math.max(0, m.w - 1))
        .attr('height', Math.max(0, m.h - 1));
      k.select('text')
        .attr('class', `mark-label ${m.state}`)
        .attr('x', m.x + m.w + 6)
        .attr('y', m.y + m.h / 2 + 3)
        .text(m.note ?? '');
    });
  g.select('.hm-title').text(s.title ? `${s.title}${s.mark ? ` · ${s.mark.label}` : ''}` : '');
}
