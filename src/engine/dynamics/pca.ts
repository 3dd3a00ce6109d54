/**
 * PCA of a few rows (checkpoints) in many dimensions (outputs), through the n × n Gram matrix:
 *
 *   X̃ = X − 1·μᵀ (columns centred over the rows),  G = X̃ X̃ᵀ = U Λ Uᵀ (Jacobi eigenvalue iteration),
 *   scores = U √Λ  (row i's coordinate on component k),  explained_k = λ_k / Σ λ
 *
 * which costs n²·D for the Gram matrix instead of D²·n for the covariance — with n ≈ 100 checkpoints and
 * D ≈ 5,000–90,000 outputs, the only sensible way round.
 */

export interface PcaResult {
  /** [n][k] coordinates of each row on the first k components. */
  scores: number[][];
  /** Every eigenvalue of the Gram matrix, descending (variance × n along each component). */
  eigenvalues: number[];
  /** λ_k / Σ λ for every component. */
  explained: number[];
}

/** rows: n vectors of equal length D. */
export function pca(rows: Float32Array[] | Float64Array[], k: number): PcaResult {
  const n = rows.length;
  if (n === 0) return { scores: [], eigenvalues: [], explained: [] };
  const D = rows[0].length;
  for (const r of rows) if (r.length !== D) throw new Error(`pca: rows of different lengths (${r.length} and ${D})`);
  const mu = new Float64Array(D);
  for (const r of rows) for (let j = 0; j < D; j++) mu[j] += r[j];
  for (let j = 0; j < D; j++) mu[j] /= n;
  const c = rows.map((r) => {
    const x = new Float64Array(D);
    for (let j = 0; j < D; j++) x[j] = r[j] - mu[j];
    return x;
  });
  const G = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      const a = c[i],
        b = c[j];
      for (let t = 0; t < D; t++) s += a[t] * b[t];
      G[i * n + j] = G[j * n + i] = s;
    }
  const { values, vectors } = jacobiEigen(G, n);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[b] - values[a]);
  const ev = order.map((i) => Math.max(0, values[i]));
  const total = ev.reduce((s, x) => s + x, 0);
  const kk = Math.min(k, n);
  const scores = Array.from({ length: n }, (_, i) =>
    order.slice(0, kk).map((o, m) => vectors[i * n + o] * Math.sqrt(ev[m])),
  );
  // Fix each component's sign so its first row is ≤ 0 (a deterministic orientation for plots).
  for (let m = 0; m < kk; m++) {
    const first = scores.find((s) => Math.abs(s[m]) > 1e-12)?.[m] ?? 0;
    if (first > 0) for (const s of scores) s[m] = -s[m];
  }
  return { scores, eigenvalues: ev, explained: ev.map((x) => (total > 0 ? x / total : 0)) };
}

/** Eigen-decomposition of a symmetric n × n matrix by cyclic Jacobi rotations; vectors in columns. */
export function jacobiEigen(A0: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(A0),
    V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  const scale = Math.max(1e-300, Math.sqrt(A.reduce((s, x) => s + x * x, 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q] ** 2;
    if (Math.sqrt(off) <= 1e-14 * scale) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (Math.abs(apq) <= 1e-300) continue;
        const app = A[p * n + p],
          aqq = A[q * n + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const cs = 1 / Math.sqrt(t * t + 1),
          sn = t * cs;
        for (let r = 0; r < n; r++) {
          const arp = A[r * n + p],
            arq = A[r * n + q];
          A[r * n + p] = cs * arp - sn * arq;
          A[r * n + q] = sn * arp + cs * arq;
        }
        for (let r = 0; r < n; r++) {
          const apr = A[p * n + r],
            aqr = A[q * n + r];
          A[p * n + r] = cs * apr - sn * aqr;
          A[q * n + r] = sn * apr + cs * aqr;
        }
        for (let r = 0; r < n; r++) {
          const vrp = V[r * n + p],
            vrq = V[r * n + q];
          V[r * n + p] = cs * vrp - sn * vrq;
          V[r * n + q] = sn * vrp + cs * vrq;
        }
      }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => A[i * n + i]), vectors: V };
}
