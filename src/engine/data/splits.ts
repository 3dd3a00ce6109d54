import type { Split } from './types';

/**
 * Contiguous half-open index ranges [start, end) from split counts, train first, then val, then test
 * (spec §1.2: `--class_split 50 1473 100` → train [0, 50), val [50, 1523), test [1523, 1623)).
 */
export function splitRanges(counts: [number, number, number]): Split {
  if (!Array.isArray(counts) || counts.length !== 3) {
    throw new Error(`A split needs exactly 3 counts [train, val, test], got ${JSON.stringify(counts)}`);
  }
  for (const c of counts) {
    if (!Number.isInteger(c) || c < 0) {
      throw new Error(`Split counts must be non-negative integers, got ${JSON.stringify(counts)}`);
    }
  }
  const [tr, va, te] = counts;
  return { train: [0, tr], val: [tr, tr + va], test: [tr + va, tr + va + te] };
}

/** Number of indices in a half-open range. */
export function rangeSize(r: [number, number]): number {
  return r[1] - r[0];
}
