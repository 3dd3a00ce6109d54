/**
 * "Learning time" of a single-Layer-2-head run (spec §5.10, App Fig 18): the first logged eval x
 * (# sequences) at which the `fsl_train` loss is below 0.4·ln 2 ≈ 0.277; if the loss never gets there,
 * the last logged x (the run's length, 1e6 in the paper) — so "never" is censored, not Infinity.
 *
 *   t = min { x_k : loss_k < threshold },  or x_last if the set is empty
 */
export function learningTime(xs: number[], losses: number[], threshold = 0.4 * Math.LN2): number {
  if (xs.length !== losses.length) throw new Error(`learningTime: ${xs.length} x-values but ${losses.length} losses`);
  if (xs.length === 0) throw new Error('learningTime: empty curve');
  for (let k = 0; k < xs.length; k++) if (losses[k] < threshold) return xs[k];
  return xs[xs.length - 1];
}
