/**
 * Periodic evaluation (spec §1.4, §2.4): the run's clamped forward on each fixed eval set, giving the
 * per-evaluator metrics, plus the live head measures (induction strength of last-layer heads and
 * previous-token score of first-layer heads) on the fsl_train set.
 */
import { Batch, EvalSetSpec } from '../data';
import { ModelConfig, seqLen } from '../model/config';
import { classificationMetrics } from '../measures/classification';
import { inductionStrength, inductionStrengthAtQuery, prevTokenScore } from '../measures/attention';
import { site } from '../model/sites';
import type { ForwardOutput } from '../forward';
import type { EvalSetMetrics } from '../../shared/protocol';

export interface EvalResult {
  eval: Record<string, EvalSetMetrics>;
  inductionStrength: number[];
  prevTokenScore: number[];
  /** Attention of every layer and head on fsl_train: [layer][head][query][key] (with EvaluateOptions.patterns). */
  patterns: { canonical: number[][][][]; mean: number[][][][]; tokens: string[]; canonicalLabels: number[] };
}

export interface EvalSet {
  spec: EvalSetSpec;
  batch: Batch;
}

/**
 * The run's clamped forward on an eval batch (an engine's one forward interface, src/engine/forward, with
 * the run's clamps at the current sequence count): query logits, recorded sites and query slices.
 */
export type EvalForward = (
  batch: Batch,
  want: { record?: ReadonlySet<string>; recordQuery?: ReadonlySet<string> },
) => ForwardOutput;

export interface EvaluateOptions {
  /**
   * Also the attention of every layer and head on fsl_train (canonical sequence and mean), for the
   * checkpoint summary. Without it the last layer runs at the query only and `patterns` holds empty lists.
   */
  patterns?: boolean;
  /**
   * Each set in a batch of its own, never the joint batch: a clamp makes a sequence's output depend on the other
   * sequences of its batch (clamps/support.ts mixesSequences), so a set's metrics must not see the other sets.
   */
  setsApart?: boolean;
}

/**
 * The sets whose evaluation reads only the query logits (every set but fsl_train) as one batch, made once
 * per list of sets (a run's eval sets are fixed): one forward pass instead of one per set. Each sequence's
 * logits must not depend on the other sequences of its batch (else EvaluateOptions.setsApart).
 */
const joined = new WeakMap<EvalSet[], { batch: Batch; sets: EvalSet[] } | null>();
function logitsOnlyBatch(sets: EvalSet[]): { batch: Batch; sets: EvalSet[] } | null {
  if (joined.has(sets)) return joined.get(sets)!;
  const rest = sets.filter((s) => s.spec.name !== 'fsl_train');
  let out: { batch: Batch; sets: EvalSet[] } | null = null;
  if (rest.length > 1) {
    const cat = <A extends Int32Array | Uint8Array>(k: 'classes' | 'exemplarIdx' | 'labels' | 'correct', make: A) => {
      let o = 0;
      for (const s of rest) {
        make.set(s.batch[k], o);
        o += s.batch[k].length;
      }
      return make;
    };
    const size = rest.reduce((n, s) => n + s.batch.size, 0);
    out = {
      sets: rest,
      batch: {
        size,
        classes: cat('classes', new Int32Array(size * 3)),
        exemplarIdx: cat('exemplarIdx', new Int32Array(size * 3)),
        labels: cat('labels', new Int32Array(size * 3)),
        correct: cat('correct', new Uint8Array(size)),
      },
    };
  }
  joined.set(sets, out);
  return out;
}

/**
 * Every batch `evaluate` passes to its forward for these sets: each set's own and, when there is one and not
 * `setsApart`, the joint logits-only batch (the same object on every call with the same list). The evaluation
 * worker (evalThread.ts) pairs them with their host arrays, which the parent makes from the feature bank.
 */
export function evaluationBatches(sets: EvalSet[], setsApart = false): Batch[] {
  const joint = setsApart ? null : logitsOnlyBatch(sets);
  return [...sets.map((s) => s.batch), ...(joint ? [joint.batch] : [])];
}

export function evaluate(c: ModelConfig, sets: EvalSet[], run: EvalForward, opts: EvaluateOptions = {}): EvalResult {
  const T = seqLen(c),
    H = c.numHeads,
    last = c.depth - 1;
  const out: EvalResult = {
    eval: {},
    inductionStrength: [],
    prevTokenScore: [],
    patterns: { canonical: [], mean: [], tokens: tokenNames(c.contextLen), canonicalLabels: [] },
  };
  const all = Array.from({ length: c.depth }, (_, l) => site.pattern(l));
  const L = c.numLabels,
    joint = opts.setsApart ? null : logitsOnlyBatch(sets);
  const jointLogits = joint ? run(joint.batch, {}).logits : null;
  for (const { spec, batch } of sets) {
    const isTrain = spec.name === 'fsl_train';
    if (joint && jointLogits && !isTrain) {
      // This set's rows of the joint pass's logits.
      let from = 0;
      for (const s of joint.sets) {
        if (s.spec.name === spec.name) break;
        from += s.batch.size;
      }
      const logits = jointLogits.subarray(from * L, (from + batch.size) * L);
      out.eval[spec.name] = classificationMetrics(logits, batch.size, L, batch.labels, c.contextLen + 1);
      continue;
    }
    // fsl_train: layer 0's pattern (previous-token score) and the last layer's query row (induction strength).
    const record = new Set(isTrain ? (opts.patterns ? all : [site.pattern(0)]) : []);
    const recordQuery = new Set(isTrain && !opts.patterns ? [site.pattern(last)] : []);
    const r = run(batch, { record, recordQuery });
    out.eval[spec.name] = classificationMetrics(r.logits, batch.size, c.numLabels, batch.labels, c.contextLen + 1);
    if (isTrain) {
      if (T === 5 && c.depth >= 2) {
        out.inductionStrength = Array.from(
          opts.patterns
            ? inductionStrength(r.acts.get(site.pattern(last))!, batch.size, H, T, batch.correct)
            : inductionStrengthAtQuery(r.queryActs.get(site.pattern(last))!, batch.size, H, T, batch.correct),
        );
      }
      out.prevTokenScore = Array.from(prevTokenScore(r.acts.get(site.pattern(0))!, batch.size, H, T));
      if (opts.patterns) {
        const patterns = all.map((s) => r.acts.get(s)!);
        out.patterns.canonical = patterns.map((p) => headGrids(p, 0, 1, H, T));
        out.patterns.mean = patterns.map((p) => headGrids(p, 0, batch.size, H, T));
      }
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
  for (let b = from; b < to; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < T; i++)
        for (let j = 0; j < T; j++) {
          out[h][i][j] += p[((b * H + h) * T + i) * T + j] / (to - from);
        }
  return out;
}
