/**
 * The x axis of the line charts: linear, or log (TensorBoard / W&B "log x"), with the domain, ticks
 * and the test of which points the axis can place. Pure module (no DOM), unit-tested.
 *
 * A log axis cannot show x = 0 (the initial evaluation): its domain starts at the first positive x
 * and points at x ≤ 0 are left out of the lines (the view says so).
 */
import { scaleLinear, scaleLog } from 'd3-scale';

export type XScaleMode = 'linear' | 'log';

export interface XAxis {
  mode: XScaleMode;
  domain: [number, number];
  /** Data x → pixel; NaN for x the axis cannot place (x ≤ 0 on a log axis). */
  (x: number): number;
  invert(px: number): number;
  ticks(width: number): number[];
  /** Whether a point at x is drawn. */
  places(x: number): boolean;
}

/**
 * The domain of a log axis over the data xs within `linear`: from the first positive x (or 1) to the
 * linear domain's end; a degenerate range is widened to one decade.
 */
export function logDomain(linear: [number, number], xs: Iterable<number>): [number, number] {
  let lo = Infinity;
  for (const x of xs) if (Number.isFinite(x) && x > 0 && x < lo) lo = x;
  if (!Number.isFinite(lo)) lo = Math.max(1, linear[0]);
  const hi = Math.max(linear[1], lo);
  return hi > lo ? [lo, hi] : [lo, lo * 10];
}

/** Log ticks: 1·10^k, else 1, 2, 5 ·10^k when they fit (≥ `minPx` apart on average). */
export function logTicks(domain: [number, number], width: number, minPx = 55): number[] {
  const [lo, hi] = domain;
  const all: number[] = [],
    ones: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** k;
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) {
        all.push(v);
        if (m === 1) ones.push(v);
      }
    }
  }
  // Less than two ticks inside: label the ends too.
  if (all.length < 2) return [...new Set([lo, ...all, hi])].sort((a, b) => a - b);
  if (width / all.length >= minPx) return all;
  return ones.length >= 2 ? ones : [all[0], all[all.length - 1]];
}

/** Builds the x axis over `[0, width]`: `domain` is the linear domain; a log axis derives its own from xs. */
export function makeXAxis(mode: XScaleMode, domain: [number, number], width: number, xs: Iterable<number> = []): XAxis {
  if (mode === 'log') {
    const d = logDomain(domain, xs);
    const s = scaleLog().domain(d).range([0, width]);
    const f = ((x: number) => (x > 0 ? s(x) : NaN)) as XAxis;
    return Object.assign(f, {
      mode,
      domain: d,
      invert: (px: number) => s.invert(px),
      ticks: (w: number) => logTicks(d, w),
      places: (x: number) => x > 0,
    });
  }
  const s = scaleLinear().domain(domain).range([0, width]);
  const f = ((x: number) => s(x)) as XAxis;
  return Object.assign(f, {
    mode,
    domain,
    invert: (px: number) => s.invert(px),
    ticks: (w: number) => s.ticks(Math.max(2, Math.floor(w / 70))),
    places: () => true,
  });
}
