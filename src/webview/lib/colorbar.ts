/** A horizontal colour bar with an axis, drawn into a <g> (gradient stops sampled from the scale). */
import type { Selection } from 'd3-selection';
import { scaleLinear } from 'd3-scale';
import { axisBottom } from 'd3-axis';
import { child } from './chart';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type G = Selection<SVGGElement, any, any, any>;

export interface ColorbarSpec {
  id: string;
  domain: [number, number];
  color: (v: number) => string;
  width: number;
  label: string;
  ticks?: number;
  format?: (v: number) => string;
}

export function drawColorbar(g: G, s: ColorbarSpec): number {
  const h = 10;
  const gradId = `cb-${s.id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const defs = child(g, 'defs', 'cb-defs');
  const grad = child(defs as unknown as G, 'linearGradient', 'cb-grad')
    .attr('id', gradId)
    .attr('x1', '0%')
    .attr('x2', '100%');
  const stops = Array.from({ length: 17 }, (_, i) => i / 16);
  grad
    .selectAll('stop')
    .data(stops)
    .join('stop')
    .attr('offset', (t) => `${t * 100}%`)
    .attr('stop-color', (t) => s.color(s.domain[0] + t * (s.domain[1] - s.domain[0])));
  child(g, 'text', 'cb-label').attr('x', 0).attr('y', 9).text(s.label);
  child(g, 'rect', 'cb-bar').attr('y', 14).attr('width', s.width).attr('height', h).attr('fill', `url(#${gradId})`);
  const x = scaleLinear().domain(s.domain).range([0, s.width]);
  child(g, 'g', 'axis cb-axis')
    .attr('transform', `translate(0,${14 + h})`)
    .call(
      axisBottom(x)
        .ticks(s.ticks ?? 5)
        .tickSize(4)
        .tickFormat((v) => (s.format ?? ((n: number) => String(Number(n.toFixed(3)))))(+v)) as never,
    );
  return 14 + h + 18;
}
