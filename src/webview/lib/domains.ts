/**
 * Scale domains and derived geometry. Pure module (no DOM), unit-tested.
 */
import type { InfluenceKind } from '../../shared/webviewProtocol';
import { INFLUENCE_INFO } from '../../shared/webviewProtocol';

/** 'paper': the figure's fixed range (±0.16, [0, 1], [0.09, 0.16]); 'auto': fitted to the data. */
export type DomainMode = 'paper' | 'auto';

function finite(values: Iterable<number>): number[] {
  const out: number[] = [];
  for (const v of values) if (Number.isFinite(v)) out.push(v);
  return out;
}

/** ±max|v| (symmetric around 0); `fallback` when all values are 0 or missing. */
export function symmetricDomain(values: Iterable<number>, fallback = 0.16): [number, number] {
  let m = 0;
  for (const v of finite(values)) m = Math.max(m, Math.abs(v));
  if (m === 0) m = fallback;
  return [-m, m];
}

/** [min, max] of the data; a degenerate range is widened by ±0.5 (or `fallback` when empty). */
export function extentDomain(values: Iterable<number>, fallback: [number, number] = [0, 1]): [number, number] {
  const f = finite(values);
  if (f.length === 0) return fallback;
  let lo = Math.min(...f),
    hi = Math.max(...f);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  return [lo, hi];
}

/**
 * The colour domain of an influence heatmap. Signed kinds are symmetric: the paper's ±0.16 in 'paper'
 * mode, widened to ±max|v| if a value falls outside (never clipped silently); ±max|v| in 'auto' mode.
 */
export function influenceDomain(
  m: { kind: InfluenceKind; signed: boolean; values: number[][] },
  mode: DomainMode,
): [number, number] {
  const flat = m.values.flat();
  const paper = INFLUENCE_INFO[m.kind].range;
  if (m.signed) {
    const [, auto] = symmetricDomain(flat, Math.max(Math.abs(paper[0]), Math.abs(paper[1])));
    if (mode === 'auto') return [-auto, auto];
    const p = INFLUENCE_INFO[m.kind].signed ? Math.max(Math.abs(paper[0]), Math.abs(paper[1])) : auto;
    const r = Math.max(p, auto);
    return [-r, r];
  }
  if (mode === 'auto' || INFLUENCE_INFO[m.kind].signed) return extentDomain(flat, [0, 1]);
  const [lo, hi] = extentDomain(flat, paper);
  return [Math.min(paper[0], lo), Math.max(paper[1], hi)];
}

/** Rounds up to the next multiple of `step`. */
export const ceilTo = (x: number, step: number): number => Math.ceil(x / step - 1e-9) * step;

/** Metrics that are probabilities live on [0, 1]; loss starts at 0 and shows at least ln 5 ≈ 1.61. */
export function metricDomain(metric: string, values: Iterable<number>): [number, number] {
  if (metric !== 'loss') return [0, 1];
  const f = finite(values);
  const max = f.length ? Math.max(...f) : 0;
  return [0, ceilTo(Math.max(max, 1.7), 0.25)];
}

/** x runs from 0 to the run's planned length (so live appends do not rescale), or the data's max if larger. */
export function sequencesDomain(totalSequences: number, xs: Iterable<number>): [number, number] {
  let max = totalSequences > 0 ? totalSequences : 0;
  for (const x of finite(xs)) max = Math.max(max, x);
  return [0, max > 0 ? max : 1];
}

export interface Band {
  id: string;
  x0: number;
  x1: number;
  label: string;
}
