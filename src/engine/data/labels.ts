import { Rng } from './rng';
import type { LabelScheme } from './types';

const MAX_ATTEMPTS = 100;

/**
 * Few-shot relabelling pairs (spec §1.3): all unordered pairs i < j of L labels, permuted with a seeded
 * RNG and split by floor(n·w/Σw), test slice first, then val, train takes the remainder. Reseeds
 * (seed + attempt) until every label occurs in some train pair, so held-out pairs only re-pair seen labels.
 */
export function makeLabelScheme(numLabels: number, splitWeights: [number, number, number], seed: number): LabelScheme {
  if (!Number.isInteger(numLabels) || numLabels < 2) {
    throw new Error(`makeLabelScheme: numLabels must be an integer ≥ 2, got ${numLabels}`);
  }
  if (!Array.isArray(splitWeights) || splitWeights.length !== 3 || splitWeights.some((w) => !(w >= 0))) {
    throw new Error(
      `makeLabelScheme: label split weights must be 3 non-negative numbers, got ${JSON.stringify(splitWeights)}`,
    );
  }
  const total = splitWeights[0] + splitWeights[1] + splitWeights[2];
  if (!(total > 0))
    throw new Error(`makeLabelScheme: label split weights must not all be 0, got ${JSON.stringify(splitWeights)}`);

  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < numLabels; i++) for (let j = i + 1; j < numLabels; j++) pairs.push([i, j]);
  const n = pairs.length;
  const nTest = Math.floor((n * splitWeights[2]) / total);
  const nVal = Math.floor((n * splitWeights[1]) / total);

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const perm = new Rng(seed + attempt).shuffle(pairs.slice());
    const test = perm.slice(0, nTest);
    const val = perm.slice(nTest, nTest + nVal);
    const train = perm.slice(nTest + nVal);
    const seen = new Set<number>();
    for (const [a, b] of train) {
      seen.add(a);
      seen.add(b);
    }
    if (seen.size === numLabels) return { numLabels, train, val, test };
  }
  throw new Error(
    `makeLabelScheme: no split of the ${n} pairs of ${numLabels} labels with weights ${JSON.stringify(splitWeights)} ` +
      `(${n - nTest - nVal} train pairs) covers every label in the train pairs after ${MAX_ATTEMPTS} seeds from ${seed}`,
  );
}
