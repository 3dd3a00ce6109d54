/**
 * The perfect-copy clamp folded into the fast model's pass (spec §4.7; FastOptions.copyHead): its query
 * logits from the copied head's scores, and the gradient those logits send back to the two scores.
 */
import { copyLogit } from '../clamps/copy';

/** logits[b, T−1, j] = the copy formula of clamps/copy.ts from S[b, h, T−1, 1] and S[b, h, T−1, 3]. */
export function foldCopyLogits(
  S: Float32Array,
  logits: Float32Array,
  labels: Int32Array,
  B: number,
  H: number,
  T: number,
  L: number,
  h: number,
): void {
  const items = labels.length / B;
  for (let b = 0; b < B; b++) {
    const r = ((b * H + h) * T + T - 1) * T,
      z1 = S[r + 1],
      z2 = S[r + 3],
      y1 = labels[b * items],
      y2 = labels[b * items + 1];
    const o = (b * T + T - 1) * L;
    for (let j = 0; j < L; j++) logits[o + j] = copyLogit(j, y1, y2, z1, z2);
  }
}

/**
 * dloss/dscores at the query row: keys 1 and 3 of the copied head receive dlogits[y1] and dlogits[y2] (the
 * logits' only inputs); every other entry of ds is 0.
 */
export function foldCopyScoreGradient(
  ds: Float32Array,
  dlogits: Float32Array,
  labels: Int32Array,
  B: number,
  H: number,
  T: number,
  L: number,
  h: number,
): void {
  const items = labels.length / B;
  ds.fill(0);
  for (let b = 0; b < B; b++) {
    const r = ((b * H + h) * T + T - 1) * T,
      o = (b * T + T - 1) * L;
    ds[r + 1] = dlogits[o + labels[b * items]];
    ds[r + 3] = dlogits[o + labels[b * items + 1]];
  }
}
