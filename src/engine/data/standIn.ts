/**
 * The synthetic stand-ins for the missing Omniglot ResNet-18 features (spec §1.5), selected by
 * `data.standIn` when `data.features` is "synthetic". Both share the shared positive offset, the
 * non-negativity, the ResNet-scale norm (≈ 24), the mean inter-class cosine (≈ 0.83) and the split
 * structure; they differ in how the class differences are spread over directions.
 */
import { makeSyntheticFeatures } from './synthetic';
import { makeStructuredFeatures } from './structured';
import type { FeatureBank } from './types';

export const STAND_INS = ['structured', 'independent'] as const;
export type StandIn = (typeof STAND_INS)[number];

export const STAND_IN_HELP: Record<StandIn, string> = {
  structured:
    'class prototypes share a power-law spectrum (λ_k ∝ 1/k, effective rank ≈ 32 of 512), so what training ' +
    'learns about 50 classes carries over to new ones; held-out drawings vary off the top 32 class directions',
  independent:
    'the first generator of spec §1.5: every class drawn independently in all 512 dimensions ' +
    '(effective rank ≈ 370), so nothing learnt about one class says anything about another',
};

/**
 * The init seeds trained while a stand-in's generator and constants were chosen; results at every other seed
 * are held out. The structured generator was written and its constants fixed (commit 57af15f, 20:15 UTC on
 * 2026-12-01) while seeds 5 and 6 were trained; seeds 7–9 were first trained after it became the default
 * (21:06). The independent generator's constants are spec §1.5's, chosen before any run of this project.
 */
export const TUNING_SEEDS: Record<StandIn, readonly number[]> = { structured: [5, 6], independent: [] };

export interface StandInOptions {
  classes: number;
  exemplars: number;
  dim: number;
  seed: number;
  classScale: number;
  exemplarNoise: number;
}

export function makeStandIn(name: StandIn, o: StandInOptions): FeatureBank {
  switch (name) {
    case 'structured':
      return makeStructuredFeatures(o);
    case 'independent':
      return makeSyntheticFeatures(o);
  }
}

export function isStandIn(x: unknown): x is StandIn {
  return typeof x === 'string' && (STAND_INS as readonly string[]).includes(x);
}
