/**
 * Curve smoothing as TensorBoard does it: an exponential moving average with weight w ∈ [0, 1),
 * debiased so the first points are not pulled towards 0:
 *   m_i = w·m_{i−1} + (1 − w)·y_i,  m_0 = 0;   ŷ_i = m_i / (1 − w^n_i)   (n_i = finite points so far).
 * Non-finite values pass through and do not advance the average. Pure module, unit-tested.
 */
export function emaSmooth(ys: readonly number[], weight: number): number[] {
  const w = Math.min(0.999, Math.max(0, weight));
  if (w === 0) return ys.slice();
  let m = 0,
    n = 0;
  return ys.map((y) => {
    if (!Number.isFinite(y)) return y;
    m = w * m + (1 - w) * y;
    n++;
    return m / (1 - w ** n);
  });
}
