/**
 * Periodic evaluation (spec §1.4, §2.4): the run's clamped forward on each fixed eval set, giving the
 * per-evaluator metrics, plus the live head measures (induction strength of last-layer heads and
 * previous-token score of first-layer heads) on the fsl_train set.
 */
import { tf } from '../tf';
import { Batch, EvalSetSpec, FeatureBank } from '../data';
import { ModelConfig, seqLen } from '../model/config';
import { Weights } from '../model/forward';
import { batchTensors } from '../model/tfModel';
import { site } from '../model/sites';
import { clampedForward } from '../clamps/apply';
import { ClampSpec } from '../clamps/spec';
import { classificationMetrics } from '../measures/classification';
import { inductionStrength, prevTokenScore } from '../measures/attention';
import type { EvalSetMetrics } from '../../shared/protocol';

export interface EvalResult {
  eval: Record<string, EvalSetMetrics>;
  inductionStrength: number[];
  prevTokenScore: number[];
}

export interface EvalSet { spec: EvalSetSpec; batch: Batch }

export function evaluate(c: ModelConfig, w: Weights, bank: FeatureBank, sets: EvalSet[], clamps: ClampSpec[], sequences: number): EvalResult {
  const out: EvalResult = { eval: {}, inductionStrength: [], prevTokenScore: [] };
  const T = seqLen(c), H = c.numHeads;
  for (const { spec, batch } of sets) {
    const isTrain = spec.name === 'fsl_train';
    const wanted = new Set(isTrain ? [site.pattern(0), site.pattern(c.depth - 1)] : []);
    const { logits, patterns } = tf.tidy(() => {
      const { inputs, host } = batchTensors(bank, batch);
      const r = clampedForward(c, w, inputs, host, clamps, sequences, { record: wanted });
      return { logits: r.logits.dataSync() as Float32Array, patterns: [...wanted].map((s) => r.acts.get(s)!.dataSync() as Float32Array) };
    });
    out.eval[spec.name] = classificationMetrics(logits, batch.size, c.numLabels, batch.labels, c.contextLen + 1);
    if (isTrain) {
      const [first, last] = patterns.length === 2 ? patterns : [patterns[0], patterns[0]];
      if (T === 5 && c.depth >= 2) out.inductionStrength = Array.from(inductionStrength(last, batch.size, H, T, batch.correct));
      out.prevTokenScore = Array.from(prevTokenScore(first, batch.size, H, T));
    }
  }
  return out;
}
