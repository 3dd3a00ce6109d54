/**
 * Developmental stages as bands on time-axis charts (issue 12 §5): the stages `induction-lab llc` read from
 * the LLC curve over log-time (critical points of the smoothed curve, llc.json `stages`), each a shaded
 * band labelled with its number and trend, the boundaries as thin rules. `stageBands` is pure (unit-tested);
 * `stageLayer` draws them through the charts' `layers` hook (chart.ts), under the clamp windows and curves.
 */
import { select } from 'd3-selection';
import type { LlcRunFile } from '../../shared/llc';
import type { PlotLayer } from './chart';
import { fmtInt } from './format';

export interface StageBand {
  id: string;
  /** 1-based, as printed by the CLI and in docs/llc.md. */
  index: number;
  x0: number;
  x1: number;
  trend: 'rising' | 'falling';
  /** "stage 2 ↓" (fits a narrow band); `title` has the full text. */
  label: string;
  title: string;
}

/** The stages of an llc.json as bands (empty when the curve has no critical point above its noise). */
export function stageBands(stages: Pick<LlcRunFile['stages'], 'stages'> | null | undefined): StageBand[] {
  return (stages?.stages ?? [])
    .filter((s) => s.until > s.from)
    .map((s) => {
      const index = s.index + 1;
      const arrow = s.trend === 'rising' ? '↑' : '↓';
      return {
        id: `stage-${index}`,
        index,
        x0: s.from,
        x1: s.until,
        trend: s.trend,
        label: `stage ${index} ${arrow}`,
        title:
          `stage ${index}: ${fmtInt(s.from)} – ${fmtInt(s.until)} sequences, LLC ${s.trend} ` +
          `${s.llcFrom.toFixed(2)} → ${s.llcUntil.toFixed(2)} (smoothed)`,
      };
    });
}

/** The band of the stage containing `x` (a boundary belongs to the later stage), or undefined. */
export function stageAt(bands: readonly StageBand[], x: number | null | undefined): StageBand | undefined {
  if (x === null || x === undefined) return undefined;
  return bands.find((b, i) => x >= b.x0 && (x < b.x1 || (i === bands.length - 1 && x <= b.x1)));
}

/** A chart layer drawing `bands`: alternating shades by trend, a rule at each inner boundary, labels at the top. */
export function stageLayer(bands: readonly StageBand[]): PlotLayer {
  return {
    id: 'stages',
    draw: (g, s) => {
      const px = (v: number) => {
        const p = s.x(v);
        return Number.isFinite(p) ? Math.max(0, Math.min(s.width, p)) : 0;
      };
      const drawn = bands.filter((b) => s.x.places(b.x1));
      g.attr('class', 'layer stages');
      g.selectAll<SVGGElement, StageBand>('g.stage')
        .data(drawn, (b) => b.id)
        .join((e) => {
          const k = e.append('g');
          k.append('rect');
          k.append('line');
          k.append('text');
          k.append('title');
          return k;
        })
        .attr('class', (b) => `stage ${b.trend}`)
        .each(function (b, i) {
          const k = select(this);
          const x0 = s.x.places(b.x0) ? px(b.x0) : 0,
            x1 = px(b.x1);
          k.select('rect')
            .attr('x', x0)
            .attr('width', Math.max(0, x1 - x0))
            .attr('y', 0)
            .attr('height', s.height);
          k.select('line')
            .attr('x1', x0)
            .attr('x2', x0)
            .attr('y1', 0)
            .attr('y2', s.height)
            .style('display', () => (i === 0 ? 'none' : null));
          const fits = x1 - x0 > b.label.length * 5.8 + 6;
          k.select('text')
            .attr('x', x0 + 3)
            .attr('y', s.height - 4)
            .text(fits ? b.label : x1 - x0 > 12 ? `${b.index}` : '');
          k.select('title').text(b.title);
        });
    },
  };
}

/** A stage as a stretch of an index-based step slider: fractions [f0, f1] of its track (steps equally spaced). */
export interface StageSegment {
  id: string;
  index: number;
  trend: 'rising' | 'falling';
  f0: number;
  f1: number;
  title: string;
}

/**
 * The stretch of the slider's track each stage covers: from half a step before its first checkpoint to half a
 * step after its last (clamped to the track), so adjacent stages meet; stages with no checkpoint are left out.
 */
export function stageSegments(bands: readonly StageBand[], steps: readonly number[]): StageSegment[] {
  const n = steps.length;
  if (n < 2) return [];
  const f = (i: number) => Math.max(0, Math.min(1, i / (n - 1)));
  return bands.flatMap((b) => {
    const idx = steps.map((s, i) => (stageAt(bands, s) === b ? i : -1)).filter((i) => i >= 0);
    if (!idx.length) return [];
    return [
      {
        id: b.id,
        index: b.index,
        trend: b.trend,
        f0: f(idx[0] - 0.5),
        f1: f(idx[idx.length - 1] + 0.5),
        title: b.title,
      },
    ];
  });
}
