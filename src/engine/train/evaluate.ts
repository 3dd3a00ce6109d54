/**
 * Periodic evaluation (spec §1.4, §2.4): the run's clamped forward on each fixed eval set, giving the
 * per-evaluator metrics, plus the live head measures (induction strength of last-layer heads and
 * previous-token score of first-layer heads) on the fsl_train set.
 */
import { Batch, EvalSetSpec } from '../data';
import { ModelConfig, seqLen } from '../model/config';
import { classificationMetrics } from '../measures/classification';
import { inductionStrength, prevTokenScore } from '../measures/attention';
import type { EvalSetMetrics } from '../../shared/protocol';

export interface EvalResult {
  eval: Record<string, EvalSetMetrics>;
  inductionStrength: number[];
  prevTokenScore: number[];
  /** Attention of every layer and head on fsl_train: [layer][head][query][key]. */
  patterns: { canonical: number[][][][]; mean: number[][][][]; tokens: string[]; canonicalLabels: number[] };
}

export interface EvalSet { spec: EvalSetSpec; batch: Batch }

/** One forward pass of an engine on an eval batch: query logits [B, L] and, if asked, every layer's pattern [B, H, T, T]. */
export type EvalForward = (batch: Batch, withPatterns: boolean) => { logits: Float32Array; patterns: Float32Array[] };

export function evaluate(c: ModelConfig, sets: EvalSet[], run: EvalForward): EvalResult {
  const T = seqLen(c), H = c.numHeads;
  const out: EvalResult = { eval: {}, inductionStrength: [], prevTokenScore: [], patterns: { canonical: [], mean: [], tokens: tokenNames(c.contextLen), canonicalLabels: [] } };
  for (const { spec, batch } of sets) {
    const isTrain = spec.name === 'fsl_train';
    const { logits, patterns } = run(batch, isTrain);
    out.eval[spec.name] = classificationMetrics(logits, batch.size, c.numLabels, batch.labels, c.contextLen + 1);
    if (isTrain) {
      const first = patterns[0], last = patterns[patterns.length - 1];
      if (T === 5 && c.depth >= 2) out.inductionStrength = Array.from(inductionStrength(last, batch.size, H, T, batch.correct));
      out.prevTokenScore = Array.from(prevTokenScore(first, batch.size, H, T));
      out.patterns.canonical = patterns.map((p) => headGrids(p, 0, 1, H, T));
      out.patterns.mean = patterns.map((p) => headGrids(p, 0, batch.size, H, T));
      out.patterns.canonicalLabels = Array.from(batch.labels.subarray(0, c.contextLen + 1));
    }
  }
  return out;
}

/** Token names of a sequence: x1 ℓ1 x2 ℓ2 … xq. */
export function tokenNames(contextLen: number): string[] {
  const t: string[] = [];
  for (let i = 1; i <= contextLen; i++) t.push(`x${i}`, `ℓ${i}`);
  return [...t, 'xq'];
}

/** Mean over sequences [from, to) of a [B, H, T, T] pattern → [H][T][T]. */
function headGrids(p: Float32Array, from: number, to: number, H: number, T: number): number[][][] {
  const out = Array.from({ length: H }, () => Array.from({ length: T }, () => new Array<number>(T).fill(0)));
  for (let b = from; b < to; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
    out[h][i][j] += p[((b * H + h) * T + i) * T + j] / (to - from);
  }
  return out;
}
