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
  return isOfRows(pattern, B, H, T, correct, (b, h) => ((b * H + h) * T + (T - 1)) * T);
}

/** The same from the query rows alone, [B, H, T_key] (what a forward pass records with `recordQuery`). */
export function inductionStrengthAtQuery(
  rows: Float32Array,
  B: number,
  H: number,
  T: number,
  correct: Uint8Array,
): Float64Array {
  return isOfRows(rows, B, H, T, correct, (b, h) => (b * H + h) * T);
}

function isOfRows(
  a: Float32Array,
  B: number,
  H: number,
  T: number,
  correct: Uint8Array,
  rowAt: (b: number, h: number) => number,
): Float64Array {
  if (T !== 5) throw new Error(`induction strength is defined for 2 context pairs (5 tokens), got ${T} tokens`);
  const out = new Float64Array(H);
  for (let b = 0; b < B; b++) {
    const c = correct[b];
    for (let h = 0; h < H; h++) {
      const row = rowAt(b, h);
      out[h] += a[row + 2 * c + 1] - a[row + 2 * (1 - c) + 1];
    }
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
  const out = new Float64Array(H);
  const rows: number[] = [];
  for (let i = 1; i < T; i += 2) rows.push(i);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (const i of rows) {
        const a = pattern[((b * H + h) * T + i) * T + i - 1];
        out[h] += baselineCorrected ? a - (1 - a) / i : a;
      }
  for (let h = 0; h < H; h++) out[h] /= B * rows.length;
  return out;
}
