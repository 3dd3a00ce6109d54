/**
 * Cross-entropy and argmax at the query position on host arrays (spec §2.1 step 6, §5.1), in double
 * precision — the one routine behind the fast engine's loss and gradient, the evaluation metrics and every
 * measure:
 *
 *   loss_b = logsumexp_j z_b[j] − z_b[y_b]          (over all L logits)
 *   pred_b = argmax_j z_b[j]                         (ties → the lowest label)
 *   dz_b[j] = (softmax(z_b)[j] − [j = y_b]) / n      (the gradient of Σ_b loss_b / n)
 *
 * y_b = labels[b·items + items − 1] (the query's label is the last item of each sequence).
 */
export interface QueryLossOptions {
  /** Floats between the starts of consecutive rows of `logits` (default L) and the first row's start (default 0). */
  stride?: number;
  offset?: number;
  /** Per-sequence loss / correctness, written at [outOffset + b]. */
  loss?: Float32Array | Float64Array;
  correct?: Uint8Array;
  outOffset?: number;
  /** Writes dz into `dlogits` at the logits' positions (same stride and offset), divided by `divisor` (n). */
  dlogits?: Float32Array;
  divisor?: number;
}

/** Returns the mean loss over the B rows. */
export function queryLoss(
  logits: ArrayLike<number>,
  B: number,
  L: number,
  labels: ArrayLike<number>,
  items: number,
  o: QueryLossOptions = {},
): number {
  const stride = o.stride ?? L,
    off = o.offset ?? 0,
    out = o.outOffset ?? 0,
    n = o.divisor ?? 1;
  let sum = 0;
  for (let b = 0; b < B; b++) {
    const r = off + b * stride,
      y = labels[b * items + items - 1];
    let max = -Infinity,
      arg = 0;
    for (let j = 0; j < L; j++) {
      const z = logits[r + j];
      if (z > max) {
        max = z;
        arg = j;
      }
    }
    let s = 0;
    for (let j = 0; j < L; j++) s += Math.exp(logits[r + j] - max);
    const loss = max + Math.log(s) - logits[r + y];
    sum += loss;
    if (o.loss) o.loss[out + b] = loss;
    if (o.correct) o.correct[out + b] = arg === y ? 1 : 0;
    if (o.dlogits)
      for (let j = 0; j < L; j++) o.dlogits[r + j] = (Math.exp(logits[r + j] - max) / s - (j === y ? 1 : 0)) / n;
  }
  return B ? sum / B : NaN;
}
