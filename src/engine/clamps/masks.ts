/** Boolean masks of head-major and position-major sites, as plain arrays (no TensorFlow.js). */

/** A mask of a head-major [B, H, T, X] site (scores, patterns): true on the given heads (and rows, if given). */
export function headMaskArray(shape: number[], heads: number[], rows?: number[]): Uint8Array {
  const [B, H, T, X] = shape;
  const m = new Uint8Array(B * H * T * X);
  for (let b = 0; b < B; b++)
    for (const h of heads)
      for (let t = 0; t < T; t++) {
        if (rows && !rows.includes(t)) continue;
        m.fill(1, ((b * H + h) * T + t) * X, ((b * H + h) * T + t + 1) * X);
      }
  return m;
}

/** A mask of a position-major per-head site [B, T, H, D] (hook_v, hook_z, …): true on the given heads. */
export function perHeadMaskArray(shape: number[], heads: number[]): Uint8Array {
  const [B, T, H, D] = shape;
  const m = new Uint8Array(B * T * H * D);
  for (let bt = 0; bt < B * T; bt++) for (const h of heads) m.fill(1, (bt * H + h) * D, (bt * H + h + 1) * D);
  return m;
}
