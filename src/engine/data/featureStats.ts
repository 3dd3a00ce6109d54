/**
 * The properties a stand-in for the Omniglot ResNet-18 features is judged by (spec §1.5): scale,
 * non-negativity, how similar classes are, how many directions their differences span, and how much of a
 * new class lies in the directions the training classes span. The same numbers can be measured on real
 * features loaded with `data.features`, so a stand-in can be compared with them.
 */
import type { FeatureBank } from './types';

export interface FeatureProperties {
  /** Classes measured (prototypes = exemplar 0). */
  classes: number;
  /** Mean ‖x_c,0‖₂. */
  meanNorm: number;
  /** Mean entry of x_c,0. */
  meanValue: number;
  /** Smallest entry of the whole bank (≥ 0 for non-negative features). */
  minValue: number;
  /** Fraction of exact zeros among the x_c,0 entries. */
  zeroFraction: number;
  /** Mean cos(x_a,0, x_b,0) over pairs of distinct classes. */
  meanInterClassCosine: number;
  /**
   * Participation ratio of the prototypes' covariance C (centred over classes): (tr C)² / tr(C²) — the
   * number of directions class differences spread over (dim for isotropic, 1 for a single direction).
   */
  effectiveRank: number;
  /** Fraction of the prototypes' total variance in the top 32 principal directions. */
  top32VarianceFraction: number;
  /**
   * Mean over the test classes of ‖P (x_c − m)‖² / ‖x_c − m‖², P = projection on the span of the training
   * prototypes centred by their mean m: how much of a new class's difference from the training mean lies
   * where training can have shaped the model's exemplar embedding (its gradient lies in that span).
   */
  testInTrainSpan: number;
  /** Mean cos(x_c,e, x_c,0) over classes and held-out exemplars e ≥ 1 (NaN with one exemplar). */
  exemplarToPrototypeCosine: number;
}

const row = (b: FeatureBank, c: number, e = 0) =>
  b.data.subarray((c * b.exemplars + e) * b.dim, (c * b.exemplars + e + 1) * b.dim);

/**
 * Measures a bank. `train` and `test` are the class ranges [start, end) of the paper's split (default
 * [0, 50) and the last 100 classes); `sample` caps the classes used for the cosine (every pair of the
 * first `sample` classes).
 */
export function featureProperties(
  b: FeatureBank,
  opts: { train?: [number, number]; test?: [number, number]; sample?: number } = {},
): FeatureProperties {
  const { dim, classes } = b;
  const train = opts.train ?? [0, Math.min(50, classes)];
  const test = opts.test ?? [Math.max(train[1], classes - 100), classes];
  const sample = Math.min(classes, opts.sample ?? 300);

  let minValue = Infinity;
  for (let i = 0; i < b.data.length; i++) if (b.data[i] < minValue) minValue = b.data[i];
  let normSum = 0,
    valueSum = 0,
    zeros = 0;
  const mean = new Float64Array(dim);
  for (let c = 0; c < classes; c++) {
    const x = row(b, c);
    let n = 0;
    for (let d = 0; d < dim; d++) {
      n += x[d] * x[d];
      valueSum += x[d];
      if (x[d] === 0) zeros++;
      mean[d] += x[d] / classes;
    }
    normSum += Math.sqrt(n);
  }

  // The cosines from the inner products of the first `sample` prototypes.
  const protos = new Float64Array(sample * dim);
  for (let c = 0; c < sample; c++) protos.set(row(b, c), c * dim);
  const inner = gram(protos, sample, dim, 1);
  let cosSum = 0,
    pairs = 0;
  for (let i = 0; i < sample; i++)
    for (let j = i + 1; j < sample; j++) {
      const norms = Math.sqrt(inner[i * sample + i]) * Math.sqrt(inner[j * sample + j]);
      cosSum += inner[i * sample + j] / (norms || 1);
      pairs++;
    }

  // Covariance over classes, C = (1/N) Σ (x − mean)(x − mean)ᵀ = (1/N) X̃ᵀX̃ [dim, dim], X̃ the centred
  // prototypes [N, dim]. Its nonzero eigenvalues, tr C and tr C² are those of the Gram matrix G = (1/N) X̃X̃ᵀ
  // [N, N]: the smaller of the two is built and decomposed.
  const xc = new Float64Array(classes * dim);
  for (let c = 0; c < classes; c++) {
    const x = row(b, c);
    for (let d = 0; d < dim; d++) xc[c * dim + d] = x[d] - mean[d];
  }
  const size = Math.min(classes, dim),
    cg = classes <= dim ? gram(xc, classes, dim, classes) : gram(transpose(xc, classes, dim), dim, classes, classes);
  let tr = 0,
    tr2 = 0;
  for (let i = 0; i < size; i++) tr += cg[i * size + i];
  for (let i = 0; i < cg.length; i++) tr2 += cg[i] * cg[i];
  // The top 32 eigenvalues (all of them with fewer; those of C beyond G's are zero). Overwrites cg.
  const top = symmetricEigenvalues(cg, size).reverse().slice(0, 32);

  return {
    classes,
    meanNorm: normSum / classes,
    meanValue: valueSum / (classes * dim),
    minValue,
    zeroFraction: zeros / (classes * dim),
    meanInterClassCosine: pairs ? cosSum / pairs : NaN,
    effectiveRank: tr2 > 0 ? (tr * tr) / tr2 : NaN,
    top32VarianceFraction: tr > 0 ? top.reduce((s, x) => s + x, 0) / tr : NaN,
    testInTrainSpan: spanCoverage(b, train, test),
    exemplarToPrototypeCosine: exemplarCosine(b),
  };
}

/** (1/scale) R Rᵀ [n, n] for the first n rows R of [·, len]; four running sums: independent additions overlap. */
function gram(r: Float64Array, n: number, len: number, scale: number): Float64Array {
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const oi = i * len;
    for (let j = 0; j <= i; j++) {
      const oj = j * len;
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0,
        k = 0;
      for (; k + 4 <= len; k += 4) {
        s0 += r[oi + k] * r[oj + k];
        s1 += r[oi + k + 1] * r[oj + k + 1];
        s2 += r[oi + k + 2] * r[oj + k + 2];
        s3 += r[oi + k + 3] * r[oj + k + 3];
      }
      for (; k < len; k++) s0 += r[oi + k] * r[oj + k];
      g[i * n + j] = g[j * n + i] = (s0 + s1 + s2 + s3) / scale;
    }
  }
  return g;
}

/** [cols, rows] from [rows, cols]. */
function transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

/**
 * Every eigenvalue of a symmetric [n, n] matrix, ascending, from its lower triangle (overwritten; the upper
 * one is not read). Householder reflections reduce it to a tridiagonal matrix with the same eigenvalues,
 * whose eigenvalues the implicit QL iteration with shifts finds (Golub & Van Loan, Matrix Computations §8.3;
 * Numerical Recipes' tred2 and tqli without the eigenvectors). Exact up to rounding, O(n³). (dynamics/pca.ts's
 * jacobiEigen also returns the vectors, for the few dozen checkpoints a PCA has; its sweeps are too slow for the
 * hundreds of dimensions here, where only the values are needed.)
 */
export function symmetricEigenvalues(a: Float64Array, n: number): Float64Array {
  // The tridiagonal matrix: diagonal d, off-diagonal e (e[i] couples i and i + 1; e[n − 1] = 0).
  const d = new Float64Array(n),
    e = new Float64Array(n),
    v = new Float64Array(n),
    w = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    // H = I − β v vᵀ maps x = a[k + 1 …, k] to α e₁ (v = x − α e₁, α of the sign that avoids cancellation);
    // the trailing block A' becomes H A' H = A' − v wᵀ − w vᵀ, p = β A' v, w = p − (β pᵀv / 2) v.
    let norm2 = 0;
    for (let i = k + 1; i < n; i++) norm2 += a[i * n + k] ** 2;
    const x0 = a[(k + 1) * n + k],
      alpha = x0 > 0 ? -Math.sqrt(norm2) : Math.sqrt(norm2);
    d[k] = a[k * n + k];
    e[k] = alpha;
    if (norm2 === 0) continue; // already tridiagonal in this column
    for (let i = k + 1; i < n; i++) v[i] = a[i * n + k];
    v[k + 1] -= alpha;
    const beta = 1 / (norm2 - alpha * x0); // 2 / vᵀv
    // A' v from the lower triangle: each a_ij, j < i, stands for a_ji too.
    w.fill(0, k + 1);
    for (let i = k + 1; i < n; i++) {
      const o = i * n,
        vi = v[i];
      let s = a[o + i] * vi;
      for (let j = k + 1; j < i; j++) {
        s += a[o + j] * v[j];
        w[j] += a[o + j] * vi;
      }
      w[i] += s;
    }
    let pv = 0;
    for (let i = k + 1; i < n; i++) {
      w[i] *= beta;
      pv += w[i] * v[i];
    }
    const half = (beta * pv) / 2;
    for (let i = k + 1; i < n; i++) w[i] -= half * v[i];
    for (let i = k + 1; i < n; i++) {
      const o = i * n;
      for (let j = k + 1; j <= i; j++) a[o + j] -= v[i] * w[j] + w[i] * v[j];
    }
  }
  if (n >= 2) {
    d[n - 2] = a[(n - 2) * n + n - 2];
    e[n - 2] = a[(n - 1) * n + n - 2];
  }
  if (n >= 1) d[n - 1] = a[n * n - 1];

  // Implicit QL: deflate from the top; each sweep over the unreduced block [l, m] applies a shifted QL step
  // as a chain of Givens rotations from m up to l. An off-diagonal below ε‖T‖ is negligible: dropping it
  // moves no eigenvalue by more than that (a test relative to the neighbouring diagonal alone never passes
  // in a block of rounding-level eigenvalues, as a low-rank covariance has).
  let norm = 0;
  for (let i = 0; i < n; i++) norm = Math.max(norm, (i > 0 ? Math.abs(e[i - 1]) : 0) + Math.abs(d[i]) + Math.abs(e[i]));
  for (let l = 0; l < n; l++) {
    for (let iter = 0; ; iter++) {
      let m = l;
      while (m < n - 1 && Math.abs(e[m]) > Number.EPSILON * norm) m++;
      if (m === l) break; // d[l] is an eigenvalue
      if (iter === 60) throw new Error('symmetricEigenvalues: the QL iteration did not converge');
      // The shift: the eigenvalue of the leading 2 × 2 of the block nearer d[l].
      let g = (d[l + 1] - d[l]) / (2 * e[l]),
        r = Math.hypot(g, 1);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      let s = 1,
        c = 1,
        p = 0,
        i = m - 1;
      for (; i >= l; i--) {
        const f = s * e[i],
          bb = c * e[i];
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // Underflow: the block splits at i + 1; undo the pending shift and start again.
          d[i + 1] -= p;
          e[m] = 0;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * bb;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - bb;
      }
      if (r === 0 && i >= l) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
  return d.sort();
}

/** Gram–Schmidt on the rows of [k, n] in place; returns how many rows stayed independent (others zeroed). */
function orthonormalRows(q: Float64Array, k: number, n: number): number {
  let kept = 0;
  for (let j = 0; j < k; j++) {
    const v = q.subarray(j * n, (j + 1) * n);
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        const u = q.subarray(p * n, (p + 1) * n);
        let dot = 0;
        for (let i = 0; i < n; i++) dot += v[i] * u[i];
        for (let i = 0; i < n; i++) v[i] -= dot * u[i];
      }
    }
    const norm = Math.hypot(...v);
    if (norm > 1e-9) {
      for (let i = 0; i < n; i++) v[i] /= norm;
      kept++;
    } else v.fill(0);
  }
  return kept;
}

function spanCoverage(b: FeatureBank, train: [number, number], test: [number, number]): number {
  const { dim } = b,
    nTrain = train[1] - train[0];
  if (nTrain < 2 || test[1] <= test[0]) return NaN;
  const m = new Float64Array(dim);
  for (let c = train[0]; c < train[1]; c++) {
    const x = row(b, c);
    for (let d = 0; d < dim; d++) m[d] += x[d] / nTrain;
  }
  const q = new Float64Array(nTrain * dim);
  for (let j = 0; j < nTrain; j++) {
    const x = row(b, train[0] + j);
    for (let d = 0; d < dim; d++) q[j * dim + d] = x[d] - m[d];
  }
  orthonormalRows(q, nTrain, dim);
  let sum = 0;
  const y = new Float64Array(dim);
  for (let c = test[0]; c < test[1]; c++) {
    const x = row(b, c);
    let total = 0,
      inside = 0;
    for (let d = 0; d < dim; d++) {
      y[d] = x[d] - m[d];
      total += y[d] * y[d];
    }
    for (let j = 0; j < nTrain; j++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += y[d] * q[j * dim + d];
      inside += dot * dot;
    }
    sum += total > 0 ? inside / total : 0;
  }
  return sum / (test[1] - test[0]);
}

function exemplarCosine(b: FeatureBank): number {
  if (b.exemplars < 2) return NaN;
  let s = 0,
    n = 0;
  for (let c = 0; c < b.classes; c++) {
    const p = row(b, c),
      np = Math.hypot(...p);
    for (let e = 1; e < b.exemplars; e++) {
      const x = row(b, c, e);
      let dot = 0,
        nx = 0;
      for (let d = 0; d < b.dim; d++) {
        dot += x[d] * p[d];
        nx += x[d] * x[d];
      }
      s += dot / (np * Math.sqrt(nx) || 1);
      n++;
    }
  }
  return s / n;
}
