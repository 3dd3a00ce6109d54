/**
 * Per-evaluator metrics of spec §1.4 from query logits [B, L] (host array): loss (CE over all L logits),
 * acc (argmax over all L), inContextAcc / inContextProb (logits of labels absent from the context set to
 * −∞ first), prob (softmax probability of the target) and useContextProb (softmax mass on context labels).
 */
import { queryLoss } from '../model/queryLoss';

export interface EvalMetrics {
  loss: number;
  acc: number;
  inContextAcc: number;
  inContextProb: number;
  prob: number;
  useContextProb: number;
}

export function classificationMetrics(
  logits: Float32Array,
  B: number,
  L: number,
  labels: Int32Array,
  items: number,
): EvalMetrics {
  const m: EvalMetrics = { loss: 0, acc: 0, inContextAcc: 0, inContextProb: 0, prob: 0, useContextProb: 0 };
  // Loss and argmax accuracy over all L logits (model/queryLoss.ts); p_j = exp(z_j − lse), lse = loss + z_y.
  const loss = new Float64Array(B),
    correct = new Uint8Array(B);
  queryLoss(logits, B, L, labels, items, { loss, correct });
  for (let b = 0; b < B; b++) {
    const row = b * L,
      target = labels[b * items + items - 1],
      lse = loss[b] + logits[row + target];
    const inCtx = new Set<number>();
    for (let i = 0; i < items - 1; i++) inCtx.add(labels[b * items + i]);
    let argCtx = -1,
      ctxMass = 0;
    for (const j of [...inCtx].sort((x, y) => x - y)) {
      ctxMass += Math.exp(logits[row + j] - lse);
      if (argCtx < 0 || logits[row + j] > logits[row + argCtx]) argCtx = j;
    }
    const pTarget = Math.exp(-loss[b]);
    m.loss += loss[b];
    m.acc += correct[b];
    m.inContextAcc += argCtx === target ? 1 : 0;
    m.inContextProb += inCtx.has(target) ? pTarget / ctxMass : 0;
    m.prob += pTarget;
    m.useContextProb += ctxMass;
  }
  for (const k of Object.keys(m) as Array<keyof EvalMetrics>) m[k] /= B;
  return m;
}
