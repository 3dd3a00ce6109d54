/**
 * Pointer → data mapping of the line charts. Pure module, unit-tested. The pointer is converted into
 * the plot area's own coordinates (origin = the top-left of the data area, after the axis margins)
 * and then matched in pixel space, so the nearest point is the one nearest on screen on a linear or
 * a log axis alike.
 */

/**
 * Index of the x in sorted `xs` whose pixel `scale(x)` is nearest to `px` (plot-local pixels);
 * ties go to the earlier point; points the scale cannot place (x ≤ 0 on a log axis) are skipped;
 * -1 when none can be placed.
 */
export function indexAtPixel(xs: readonly number[], scale: (x: number) => number, px: number): number {
  let best = -1,
    bestD = Infinity;
  let lo = 0,
    hi = xs.length - 1;
  // Skip the unplaceable prefix (log axis: x ≤ 0), then bisect on the monotone pixel positions.
  while (lo <= hi && !Number.isFinite(scale(xs[lo]))) lo++;
  if (lo > hi) return -1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (scale(xs[mid]) <= px) lo = mid;
    else hi = mid;
  }
  for (const i of lo === hi ? [lo] : [lo, hi]) {
    const d = Math.abs(scale(xs[i]) - px);
    if (d < bestD) {
      best = i;
      bestD = d;
    }
  }
  return best;
}
