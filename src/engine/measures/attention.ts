/**
 * Attention-pattern measures on host arrays. `pattern` is post-softmax attention of one layer,
 * [B, H, T, T] row-major (query row, key column).
 */

/**
 * Induction strength of each head (spec §5.3):
 *   IS_h = mean_seq ( A_h[q, 2c+1] − A_h[q, 2(1−c)+1] ),  q = the query row (T−1), c = correct_ind
 * i.e. attention on the correct label token minus attention on the other label token.
 */
export function inductionStrength(
  pattern: Float32Array,
  B: number,
  H: number,
  T: number,
  correct: Uint8Array,
): Float64Array {
  return isOfRows(pattern, B, H, T, correct, T * T, (T - 1) * T);
}

/** The same from the query rows alone, [B, H, T_key] (what a forward pass records with `recordQuery`). */
export function inductionStrengthAtQuery(
  rows: Float32Array,
  B: number,
  H: number,
  T: number,
  correct: Uint8Array,
): Float64Array {
  return isOfRows(rows, B, H, T, correct, T, 0);
}

function isOfRows(
  a: Float32Array,
  B: number,
  H: number,
  T: number,
  correct: Uint8Array,
  stride: number,
  offset: number,
): Float64Array {
  // Head (b, h)'s query row starts at (b·H + h)·stride + offset.
  if (T !== 5) throw new Error(`induction strength is defined for 2 context pairs (5 tokens), got ${T} tokens`);
  const out = new Float64Array(H);
  for (let b = 0; b < B; b++) {
    const c = correct[b];
    const on = 2 * c + 1,
      off = 2 * (1 - c) + 1;
    for (let h = 0, row = b * H * stride + offset; h < H; h++, row += stride) out[h] += a[row + on] - a[row + off];
  }
  for (let h = 0; h < H; h++) out[h] /= B;
  return out;
}

/**
 * Previous-token score of each head (spec §5.4, the recommended form): mean over sequences and the
 * label rows i ∈ {1, 3, …} of A[i, i−1]. `baselineCorrected` subtracts the average attention to each of
 * the other i allowed keys: A[i, i−1] − (1 − A[i, i−1]) / i.
 */
export function prevTokenScore(
  pattern: Float32Array,
  B: number,
  H: number,
  T: number,
  baselineCorrected = false,
): Float64Array {
  const out = new Float64Array(H),
    rows = T >> 1; // i = 1, 3, … < T
  for (let b = 0; b < B; b++)
    for (let h = 0, at = b * H * T * T; h < H; h++, at += T * T)
      for (let i = 1; i < T; i += 2) {
        const a = pattern[at + i * T + i - 1];
        out[h] += baselineCorrected ? a - (1 - a) / i : a;
      }
  for (let h = 0; h < H; h++) out[h] /= B * rows;
  return out;
}
