/**
 * The perfect-copy clamp's logits (spec §4.7) on host arrays, in the reference's float32 arithmetic
 * (clamps/apply.ts computes oh1·z1 + oh2·z2 + (1 − oh1 − oh2)·(−1e9) with float32 tensors), so the fast
 * engine's folded copy and its forward-only copy give exactly the TensorFlow.js numbers.
 */
import { HostOverride, newHostOverride } from '../model/hostOverride';
import { site } from '../model/sites';

const fr = Math.fround;

/** Logit j at the query: z1 where j = y1, z2 where j = y2, −1e9 elsewhere (written as the reference writes it). */
export function copyLogit(j: number, y1: number, y2: number, z1: number, z2: number): number {
  const a = j === y1 ? 1 : 0,
    c = j === y2 ? 1 : 0;
  return fr(fr(fr(a * z1) + fr(c * z2)) + fr((1 - (a + c)) * -1e9));
}

/**
 * The query-row override of hook_logits [B, T, L] from one head's pre-softmax scores at the query,
 * `queryScores` [B, H, T_key] (the query's row of hook_attn_scores): z1 = S[b, head, 1], z2 = S[b, head, 3]
 * (the two label keys), y1, y2 = the context labels.
 */
export function copyLogitsOverride(
  queryScores: Float32Array,
  head: number,
  labels: Int32Array,
  B: number,
  H: number,
  T: number,
  L: number,
): HostOverride {
  const o = newHostOverride(site.logits, [B, T, L]),
    items = labels.length / B;
  for (let b = 0; b < B; b++) {
    const r = (b * H + head) * T,
      z1 = queryScores[r + 1],
      z2 = queryScores[r + 3];
    const y1 = labels[b * items],
      y2 = labels[b * items + 1],
      at = (b * T + T - 1) * L;
    for (let j = 0; j < L; j++) {
      o.value[at + j] = copyLogit(j, y1, y2, z1, z2);
      o.mask[at + j] = 1;
    }
  }
  return o;
}
