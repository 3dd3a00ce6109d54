/**
 * Per-evaluator metrics of spec §1.4 from query logits [B, L] (host array): loss (CE over all L logits),
 * acc (argmax over all L), inContextAcc / inContextProb (logits of labels absent from the context set to
 * −∞ first), prob (softmax probability of the target) and useContextProb (softmax mass on context labels).
 */
export interface EvalMetrics {
  loss: number; acc: number; inContextAcc: number; inContextProb: number; prob: number; useContextProb: number;
}

export function classificationMetrics(logits: Float32Array, B: number, L: number, labels: Int32Array, items: number): EvalMetrics {
  const m: EvalMetrics = { loss: 0, acc: 0, inContextAcc: 0, inContextProb: 0, prob: 0, useContextProb: 0 };
  const p = new Float64Array(L);
  for (let b = 0; b < B; b++) {
    const row = b * L, target = labels[b * items + items - 1];
    let max = -Infinity;
    for (let j = 0; j < L; j++) max = Math.max(max, logits[row + j]);
    let sum = 0;
    for (let j = 0; j < L; j++) { p[j] = Math.exp(logits[row + j] - max); sum += p[j]; }
    const inCtx = new Set<number>();
    for (let i = 0; i < items - 1; i++) inCtx.add(labels[b * items + i]);
    let arg = 0, argCtx = -1, ctxMass = 0;
    for (let j = 0; j < L; j++) {
      p[j] /= sum;
      if (logits[row + j] > logits[row + arg]) arg = j;
      if (inCtx.has(j)) { ctxMass += p[j]; if (argCtx < 0 || logits[row + j] > logits[row + argCtx]) argCtx = j; }
    }
    m.loss += -(logits[row + target] - max - Math.log(sum));
    m.acc += arg === target ? 1 : 0;
    m.inContextAcc += argCtx === target ? 1 : 0;
    m.inContextProb += inCtx.has(target) ? p[target] / ctxMass : 0;
    m.prob += p[target];
    m.useContextProb += ctxMass;
  }
  for (const k of Object.keys(m) as Array<keyof EvalMetrics>) m[k] /= B;
  return m;
}
