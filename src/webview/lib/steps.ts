/**
 * Steps (sequences seen) and data-join keys. Pure module, unit-tested: the slider, the charts and the
 * heatmaps use these so that a moving step or appended rows update elements in place.
 */
import type { MetricsRecord } from '../../shared/webviewProtocol';

/** Key of a curve point: the series and the x (sequences). */
export const pointKey = (series: string, sequences: number): string => `${series}@${sequences}`;
/** Key of an attention cell; `layer` is 0-based as in the data. */
export const cellKey = (layer: number, head: number, query: number, key: number): string =>
  `${layer}:${head}:${query}:${key}`;
/** Key of a matrix cell. */
export const matrixKey = (row: number, col: number): string => `${row}:${col}`;

/** Merges appended records into a sorted list keyed by `sequences` (a repeated key replaces the old row). */
export function mergeRecords(existing: readonly MetricsRecord[], added: readonly MetricsRecord[]): MetricsRecord[] {
  if (added.length === 0) return existing.slice();
  const last = existing.length ? existing[existing.length - 1].sequences : -Infinity;
  // Fast path: strictly increasing appends (the live case).
  if (added.every((r, i) => r.sequences > (i === 0 ? last : added[i - 1].sequences))) return [...existing, ...added];
  const byKey = new Map<number, MetricsRecord>();
  for (const r of existing) byKey.set(r.sequences, r);
  for (const r of added) byKey.set(r.sequences, r);
  return [...byKey.values()].sort((a, b) => a.sequences - b.sequences);
}

/** Sorted, de-duplicated finite numbers. */
export function uniqueSorted(xs: Iterable<number>): number[] {
  return [...new Set([...xs].filter(Number.isFinite))].sort((a, b) => a - b);
}

/** Index of the value in sorted `steps` nearest to x (ties go to the earlier); -1 when empty. */
export function nearestIndex(steps: readonly number[], x: number): number {
  if (steps.length === 0) return -1;
  let lo = 0,
    hi = steps.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (steps[mid] <= x) lo = mid;
    else hi = mid;
  }
  return Math.abs(steps[hi] - x) < Math.abs(x - steps[lo]) ? hi : lo;
}

/** The step nearest to x, or null when there are none. `null` x means "latest". */
export function snapStep(steps: readonly number[], x: number | null): number | null {
  if (steps.length === 0) return null;
  if (x === null) return steps[steps.length - 1];
  return steps[nearestIndex(steps, x)];
}

/** The last step ≤ x (the checkpoint "in force" at x); the first one if x is before all. */
export function floorStep(steps: readonly number[], x: number | null): number | null {
  if (steps.length === 0) return null;
  if (x === null) return steps[steps.length - 1];
  let best = steps[0];
  for (const s of steps)
    if (s <= x) best = s;
    else break;
  return best;
}
