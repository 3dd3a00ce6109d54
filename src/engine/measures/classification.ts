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

/** Scratch reused across calls (evaluation runs on one thread at a time): per-row loss, correctness, context set. */
let lossOf = new Float64Array(0),
  correctOf = new Uint8Array(0),
  ctx = new Int32Array(0);

export function classificationMetrics(
  logits: Float32Array,
  B: number,
  L: number,
  labels: Int32Array,
  items: number,
): EvalMetrics {
  if (lossOf.length < B) {
    lossOf = new Float64Array(B);
    correctOf = new Uint8Array(B);
  }
  if (ctx.length < items) ctx = new Int32Array(items);
  // Loss and argmax accuracy over all L logits (model/queryLoss.ts); p_j = exp(z_j − lse), lse = loss + z_y.
  const loss = lossOf,
    correct = correctOf;
  queryLoss(logits, B, L, labels, items, { loss, correct });
  let mLoss = 0,
    mAcc = 0,
    mInCtxAcc = 0,
    mInCtxProb = 0,
    mProb = 0,
    mUseCtx = 0;
  for (let b = 0; b < B; b++) {
    const row = b * L,
      at = b * items,
      target = labels[at + items - 1],
      lse = loss[b] + logits[row + target];
    // The context's distinct labels in ascending order (insertion into ctx[0, n)): the mass sums in this order.
    let n = 0;
    for (let i = 0; i < items - 1; i++) {
      const x = labels[at + i];
      let k = n;
      while (k > 0 && ctx[k - 1] > x) k--;
      if (k > 0 && ctx[k - 1] === x) continue;
      for (let m = n; m > k; m--) ctx[m] = ctx[m - 1];
      ctx[k] = x;
      n++;
    }
    let argCtx = -1,
      ctxMass = 0,
      hasTarget = false;
    for (let k = 0; k < n; k++) {
      const j = ctx[k];
      ctxMass += Math.exp(logits[row + j] - lse);
      if (argCtx < 0 || logits[row + j] > logits[row + argCtx]) argCtx = j;
      if (j === target) hasTarget = true;
    }
    const pTarget = Math.exp(-loss[b]);
    mLoss += loss[b];
    mAcc += correct[b];
    mInCtxAcc += argCtx === target ? 1 : 0;
    mInCtxProb += hasTarget ? pTarget / ctxMass : 0;
    mProb += pTarget;
    mUseCtx += ctxMass;
  }
  return {
    loss: mLoss / B,
    acc: mAcc / B,
    inContextAcc: mInCtxAcc / B,
    inContextProb: mInCtxProb / B,
    prob: mProb / B,
    useContextProb: mUseCtx / B,
  };
}
