/**
 * The structured stand-in for the missing Omniglot ResNet-18 features (spec §1.5, "Measured limits"):
 * classes share low-dimensional structure, as real image features do, so that a match learned on the
 * 50 training classes carries over to new ones.
 *
 *   shared[d] = |N(0,1)|                                          the shared positive offset, drawn once
 *   u_k = T e_k, T a random rotation of R^dim (RandomRotation)    drawn once
 *   λ_k ∝ k^(−α), k = 1..dim, scaled so Σλ_k = classScale²·dim     power-law class spectrum (α = 1)
 *   p_c   = shared + Σ_k √λ_k g_ck u_k,  g_ck ~ N(0,1)             class c's pre-clip prototype
 *   x_c,0 = max(0, p_c)                                            the training exemplar
 *   x_c,e = max(0, p_c + exemplarNoise·√(dim/(dim−r))·(I − U_r U_rᵀ) ε),  ε ~ N(0, I), e ≥ 1
 *
 * The class component has the same per-dimension RMS (classScale) as the independent generator, so
 * norm, mean and inter-class cosine stay close to it; what differs is the spectrum: with α = 1 its
 * participation ratio (effective rank) is ≈ 28 instead of ≈ dim. Held-out exemplars move only outside
 * the top r = 32 class directions (U_r), with the same per-dimension RMS as the independent generator's.
 * Prototypes, basis and noise come from separate streams, so the training exemplars depend neither on
 * the exemplar count nor on the noise, and class c does not depend on how many classes follow it.
 */
import { Rng } from './rng';
import type { FeatureBank } from './types';

export interface StructuredOptions {
  classes?: number;
  exemplars?: number;
  dim?: number;
  seed: number;
  /** Per-dimension RMS of the class component (0.5, as the independent generator's classScale). */
  classScale?: number;
  /** Per-dimension RMS of the held-out exemplars' noise (0.25). */
  exemplarNoise?: number;
  /** Power-law exponent α of the class spectrum λ_k ∝ k^(−α) (1). */
  spectrumDecay?: number;
  /** The top class directions the exemplar noise avoids (32). */
  noiseFreeRank?: number;
}

export const STRUCTURED_DEFAULTS = { spectrumDecay: 1, noiseFreeRank: 32 } as const;

/**
 * A random rotation of R^n, n a power of two: T = (H D₃)(H D₂)(H D₁) with H the orthonormal Walsh–Hadamard
 * matrix and D_i random ±1 diagonals (the structured orthogonal construction of Yu et al. 2016, "Orthogonal
 * Random Features"): exactly orthogonal, not axis-aligned, and O(n log n) per vector instead of O(n²).
 */
export class RandomRotation {
  private readonly signs: Float64Array[];
  constructor(
    rng: Rng,
    readonly n: number,
  ) {
    if (!Number.isInteger(Math.log2(n)))
      throw new Error(`RandomRotation: the dimension must be a power of two, got ${n}`);
    this.signs = [0, 1, 2].map(() => Float64Array.from({ length: n }, () => (rng.uniform() < 0.5 ? -1 : 1)));
  }
  /** v ← T v in place. */
  apply(v: Float64Array): void {
    const n = this.n,
      scale = 1 / Math.sqrt(n);
    for (const s of this.signs) {
      for (let i = 0; i < n; i++) v[i] *= s[i];
      for (let h = 1; h < n; h *= 2) {
        for (let i = 0; i < n; i += 2 * h) {
          for (let j = i; j < i + h; j++) {
            const a = v[j],
              b = v[j + h];
            v[j] = a + b;
            v[j + h] = a - b;
          }
        }
      }
      for (let i = 0; i < n; i++) v[i] *= scale;
    }
  }
}

export function makeStructuredFeatures(opts: StructuredOptions): FeatureBank {
  const {
    classes = 1623,
    exemplars = 5,
    dim = 512,
    seed,
    classScale = 0.5,
    exemplarNoise = 0.25,
    spectrumDecay = STRUCTURED_DEFAULTS.spectrumDecay,
    noiseFreeRank = STRUCTURED_DEFAULTS.noiseFreeRank,
  } = opts;
  for (const [k, v] of [
    ['classes', classes],
    ['exemplars', exemplars],
    ['dim', dim],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`makeStructuredFeatures: ${k} must be a positive integer, got ${v}`);
  }
  if (!Number.isFinite(seed)) throw new Error(`makeStructuredFeatures: seed must be a number, got ${seed}`);
  if (!(classScale >= 0) || !(exemplarNoise >= 0) || !(spectrumDecay >= 0)) {
    throw new Error(
      'makeStructuredFeatures: classScale, exemplarNoise and spectrumDecay must be ≥ 0, ' +
        `got ${classScale}, ${exemplarNoise}, ${spectrumDecay}`,
    );
  }
  if (!Number.isInteger(noiseFreeRank) || noiseFreeRank < 0 || noiseFreeRank >= dim) {
    throw new Error(
      `makeStructuredFeatures: noiseFreeRank must be an integer in [0, ${dim - 1}], got ${noiseFreeRank}`,
    );
  }
  const protoRng = new Rng(seed, 0),
    noiseRng = new Rng(seed, 1),
    basisRng = new Rng(seed, 2);
  const shared = new Float64Array(dim);
  for (let d = 0; d < dim; d++) shared[d] = Math.abs(protoRng.normal());
  const rot = new RandomRotation(basisRng, dim);
  // √λ_k with Σλ_k = classScale²·dim: the class component's mean squared entry is classScale².
  const sqrtLambda = new Float64Array(dim);
  let z = 0;
  for (let k = 0; k < dim; k++) z += (k + 1) ** -spectrumDecay;
  for (let k = 0; k < dim; k++) sqrtLambda[k] = classScale * Math.sqrt((dim * (k + 1) ** -spectrumDecay) / z);
  // Noise projected off U_r keeps dim − r of its dim dimensions; rescaled to the same per-dimension RMS.
  const noiseGain = exemplarNoise * Math.sqrt(dim / (dim - noiseFreeRank));

  const data = new Float32Array(classes * exemplars * dim);
  const proto = new Float64Array(dim),
    noise = new Float64Array(dim);
  for (let c = 0; c < classes; c++) {
    for (let k = 0; k < dim; k++) proto[k] = sqrtLambda[k] * protoRng.normal();
    rot.apply(proto);
    for (let d = 0; d < dim; d++) proto[d] += shared[d];
    for (let e = 0; e < exemplars; e++) {
      const base = (c * exemplars + e) * dim;
      if (e === 0 || exemplarNoise === 0) {
        for (let d = 0; d < dim; d++) data[base + d] = proto[d] > 0 ? proto[d] : 0;
        continue;
      }
      // (I − U_r U_rᵀ) ε for ε ~ N(0, I) is T ε' with ε' ~ N(0, I) and its first r coordinates zeroed.
      for (let k = 0; k < dim; k++) noise[k] = k < noiseFreeRank ? 0 : noiseRng.normal();
      rot.apply(noise);
      for (let d = 0; d < dim; d++) {
        const v = proto[d] + noiseGain * noise[d];
        data[base + d] = v > 0 ? v : 0;
      }
    }
  }
  return {
    classes,
    exemplars,
    dim,
    data,
    source:
      `structured stand-in (spec §1.5) seed ${seed}, classScale ${classScale}, exemplarNoise ${exemplarNoise}, ` +
      `spectrum k^-${spectrumDecay}, noise off the top ${noiseFreeRank} directions`,
  };
}
