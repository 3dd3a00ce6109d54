/**
 * A regular model with a known learning coefficient, for checking the estimator: linear regression
 * y = x·w + σ·noise with d weights, mean-squared-error loss (devinterp's evaluate_mse)
 *
 *   L_m(w) = (1/m) Σ_i (y_i − x_i·w)²,   ∇L_m(w) = −(2/m) Σ_i (y_i − x_i·w)·x_i
 *
 * over minibatches of m rows drawn with replacement from n fixed rows. Its empirical loss is a
 * non-degenerate quadratic around the least-squares solution w* (full-rank X), so its LLC is d/2: the
 * tempered posterior exp(−nβ·L) is Gaussian with E[nβ·(L(w) − L(w*))] = d/2 whatever nβ and the curvature.
 */
import { Rng } from '../data/rng';
import { Ranges } from './kernel';
import { SgldTarget } from './sampler';

export interface LinearRegressionOptions {
  /** Rows of the fixed dataset. */
  n: number;
  /** Weights (the LLC is d/2). */
  d: number;
  /** Minibatch size m. */
  batchSize: number;
  /** Std of the label noise. */
  noise: number;
  /** Std of every input feature. */
  inputScale: number;
  seed: number;
}

export interface LinearRegression {
  target: SgldTarget<Int32Array>;
  /** The least-squares solution (the point the LLC is estimated at). */
  wStar: Float32Array;
  /** The true LLC, d/2. */
  llc: number;
}

export function linearRegression(o: LinearRegressionOptions): LinearRegression {
  const { n, d, batchSize: m } = o;
  if (!(n >= d && d >= 1 && m >= 1))
    throw new Error(`linearRegression: need n ≥ d ≥ 1 and m ≥ 1 (n ${n}, d ${d}, m ${m})`);
  const rng = new Rng(o.seed, 7);
  const X = new Float64Array(n * d),
    y = new Float64Array(n),
    wTrue = new Float64Array(d);
  for (let j = 0; j < d; j++) wTrue[j] = rng.normal();
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const x = o.inputScale * rng.normal();
      X[i * d + j] = x;
      s += x * wTrue[j];
    }
    y[i] = s + o.noise * rng.normal();
  }
  const wStar = Float32Array.from(leastSquares(X, y, n, d));
  const w = new Float64Array(d);
  const target: SgldTarget<Int32Array> = {
    size: d,
    batchSize: m,
    drawBatch: (r) => {
      const idx = new Int32Array(m);
      for (let k = 0; k < m; k++) idx[k] = r.int(n);
      return idx;
    },
    load: (v) => {
      for (let j = 0; j < d; j++) w[j] = v[j];
    },
    update: (v, ranges: Ranges) => {
      for (const [a, b] of ranges) for (let j = a; j < b; j++) w[j] = v[j];
    },
    evaluate: (idx, grad, ranges: Ranges) => {
      let loss = 0;
      const g = grad ? new Float64Array(d) : null;
      for (let k = 0; k < idx.length; k++) {
        const row = idx[k] * d;
        let r = y[idx[k]];
        for (let j = 0; j < d; j++) r -= X[row + j] * w[j];
        loss += r * r;
        if (g) for (let j = 0; j < d; j++) g[j] -= (2 / idx.length) * r * X[row + j];
      }
      if (grad && g) for (const [a, b] of ranges) for (let j = a; j < b; j++) grad[j] = g[j];
      return loss / idx.length;
    },
  };
  return { target, wStar, llc: d / 2 };
}

/** argmin_w ‖y − Xw‖² by the normal equations (Cholesky, double precision). */
function leastSquares(X: Float64Array, y: Float64Array, n: number, d: number): Float64Array {
  const A = new Float64Array(d * d),
    b = new Float64Array(d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      b[j] += X[i * d + j] * y[i];
      for (let k = 0; k <= j; k++) A[j * d + k] += X[i * d + j] * X[i * d + k];
    }
  // A = LLᵀ (lower triangle in place)
  for (let j = 0; j < d; j++) {
    for (let k = 0; k < j; k++) A[j * d + j] -= A[j * d + k] ** 2;
    if (!(A[j * d + j] > 0)) throw new Error('linearRegression: XᵀX is singular');
    A[j * d + j] = Math.sqrt(A[j * d + j]);
    for (let i = j + 1; i < d; i++) {
      let s = A[i * d + j];
      for (let k = 0; k < j; k++) s -= A[i * d + k] * A[j * d + k];
      A[i * d + j] = s / A[j * d + j];
    }
  }
  const z = new Float64Array(d),
    w = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= A[i * d + k] * z[k];
    z[i] = s / A[i * d + i];
  }
  for (let i = d - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < d; k++) s -= A[k * d + i] * w[k];
    w[i] = s / A[i * d + i];
  }
  return w;
}
