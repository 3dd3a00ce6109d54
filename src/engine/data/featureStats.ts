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

  let cosSum = 0,
    pairs = 0;
  const norms = Array.from({ length: sample }, (_, c) => Math.hypot(...row(b, c)));
  for (let i = 0; i < sample; i++) {
    const a = row(b, i);
    for (let j = i + 1; j < sample; j++) {
      const v = row(b, j);
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += a[d] * v[d];
      cosSum += dot / (norms[i] * norms[j] || 1);
      pairs++;
    }
  }

  // Covariance over classes, C = (1/N) Σ (x − mean)(x − mean)ᵀ, [dim, dim].
  const cov = new Float64Array(dim * dim),
    xc = new Float64Array(dim);
  for (let c = 0; c < classes; c++) {
    const x = row(b, c);
    for (let d = 0; d < dim; d++) xc[d] = x[d] - mean[d];
    for (let i = 0; i < dim; i++) {
      const xi = xc[i] / classes;
      if (xi === 0) continue;
      const o = i * dim;
      for (let j = 0; j < dim; j++) cov[o + j] += xi * xc[j];
    }
  }
  let tr = 0,
    tr2 = 0;
  for (let i = 0; i < dim; i++) tr += cov[i * dim + i];
  for (let i = 0; i < cov.length; i++) tr2 += cov[i] * cov[i];
  const top = topEigenvalues(cov, dim, Math.min(32, dim));

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

/** The k largest eigenvalues of a symmetric PSD [n, n] matrix by block power iteration (fixed seed-free start). */
function topEigenvalues(a: Float64Array, n: number, k: number): number[] {
  // Start from the first k coordinate vectors perturbed deterministically; 60 orthogonalised iterations
  // are ample for the sums of the top eigenvalues this module reports.
  let q = new Float64Array(k * n);
  for (let j = 0; j < k; j++) for (let i = 0; i < n; i++) q[j * n + i] = Math.sin(1 + (j + 1) * (i + 1) * 0.7548776662);
  orthonormalRows(q, k, n);
  for (let it = 0; it < 60; it++) {
    const next = new Float64Array(k * n);
    for (let j = 0; j < k; j++) {
      const v = q.subarray(j * n, (j + 1) * n),
        out = next.subarray(j * n, (j + 1) * n);
      for (let r = 0; r < n; r++) {
        let s = 0;
        const o = r * n;
        for (let c = 0; c < n; c++) s += a[o + c] * v[c];
        out[r] = s;
      }
    }
    orthonormalRows(next, k, n);
    q = next;
  }
  const vals: number[] = [];
  for (let j = 0; j < k; j++) {
    const v = q.subarray(j * n, (j + 1) * n);
    let s = 0;
    for (let r = 0; r < n; r++) {
      let t = 0;
      const o = r * n;
      for (let c = 0; c < n; c++) t += a[o + c] * v[c];
      s += v[r] * t;
    }
    vals.push(s);
  }
  return vals;
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
