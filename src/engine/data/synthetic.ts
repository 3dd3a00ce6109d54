import { Rng } from './rng';
import type { FeatureBank } from './types';

export interface SyntheticOptions {
  classes?: number;
  exemplars?: number;
  dim?: number;
  seed: number;
  /** Scale of the per-class component z_c (0.5): smaller → more similar classes → harder match. */
  classScale?: number;
  /** σ of exemplars 1.. (0.25); exemplar 0 is always the noise-free prototype. */
  exemplarNoise?: number;
}

/**
 * The correlated, non-negative stand-in for the missing Omniglot ResNet-18 features (spec §1.5):
 *   shared[d] = |N(0,1)|, z_c[d] ~ N(0,1), x_{c,e} = max(0, shared + classScale·z_c + σ_e·ε), σ_0 = 0.
 * Prototypes and exemplar noise come from separate streams, so a class's prototype (the only thing
 * training sees) depends on neither the exemplar count nor the noise level, and class c's prototype
 * does not depend on how many classes follow it.
 */
export function makeSyntheticFeatures(opts: SyntheticOptions): FeatureBank {
  const { classes = 1623, exemplars = 5, dim = 512, seed, classScale = 0.5, exemplarNoise = 0.25 } = opts;
  for (const [k, v] of [
    ['classes', classes],
    ['exemplars', exemplars],
    ['dim', dim],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`makeSyntheticFeatures: ${k} must be a positive integer, got ${v}`);
  }
  if (!Number.isFinite(seed)) throw new Error(`makeSyntheticFeatures: seed must be a number, got ${seed}`);
  if (!(classScale >= 0) || !(exemplarNoise >= 0)) {
    throw new Error(
      `makeSyntheticFeatures: classScale and exemplarNoise must be ≥ 0, got ${classScale}, ${exemplarNoise}`,
    );
  }
  const protoRng = new Rng(seed, 0);
  const noiseRng = new Rng(seed, 1);
  const shared = new Float64Array(dim);
  for (let d = 0; d < dim; d++) shared[d] = Math.abs(protoRng.normal());
  const data = new Float32Array(classes * exemplars * dim);
  const proto = new Float64Array(dim);
  for (let c = 0; c < classes; c++) {
    for (let d = 0; d < dim; d++) proto[d] = shared[d] + classScale * protoRng.normal();
    for (let e = 0; e < exemplars; e++) {
      const base = (c * exemplars + e) * dim;
      const sigma = e === 0 ? 0 : exemplarNoise;
      for (let d = 0; d < dim; d++) {
        const v = sigma === 0 ? proto[d] : proto[d] + sigma * noiseRng.normal();
        data[base + d] = v > 0 ? v : 0;
      }
    }
  }
  return {
    classes,
    exemplars,
    dim,
    data,
    source: `synthetic stand-in (spec §1.5) seed ${seed}, classScale ${classScale}, exemplarNoise ${exemplarNoise}`,
  };
}
