/**
 * The evaluation's JavaScript, rewritten for speed (issue 11), against the formulas it replaced, bit for bit:
 * each reference below is the previous code, kept here by hand (not imported), run on random inputs that
 * include the awkward cases (repeated context labels, a target outside the context, ties, −∞ logits).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/data/rng';
import { classificationMetrics, EvalMetrics } from '../../src/engine/measures/classification';

/** The previous classificationMetrics: a Set per sequence, its sorted labels, queryLoss's formula inline. */
function classificationMetricsReference(
  logits: Float32Array,
  B: number,
  L: number,
  labels: Int32Array,
  items: number,
): EvalMetrics {
  const m: EvalMetrics = { loss: 0, acc: 0, inContextAcc: 0, inContextProb: 0, prob: 0, useContextProb: 0 };
  for (let b = 0; b < B; b++) {
    const row = b * L,
      target = labels[b * items + items - 1];
    let max = -Infinity,
      arg = 0;
    for (let j = 0; j < L; j++)
      if (logits[row + j] > max) {
        max = logits[row + j];
        arg = j;
      }
    let s = 0;
    for (let j = 0; j < L; j++) s += Math.exp(logits[row + j] - max);
    const loss = max + Math.log(s) - logits[row + target],
      lse = loss + logits[row + target];
    const inCtx = new Set<number>();
    for (let i = 0; i < items - 1; i++) inCtx.add(labels[b * items + i]);
    let argCtx = -1,
      ctxMass = 0;
    for (const j of [...inCtx].sort((x, y) => x - y)) {
      ctxMass += Math.exp(logits[row + j] - lse);
      if (argCtx < 0 || logits[row + j] > logits[row + argCtx]) argCtx = j;
    }
    const pTarget = Math.exp(-loss);
    m.loss += loss;
    m.acc += arg === target ? 1 : 0;
    m.inContextAcc += argCtx === target ? 1 : 0;
    m.inContextProb += inCtx.has(target) ? pTarget / ctxMass : 0;
    m.prob += pTarget;
    m.useContextProb += ctxMass;
  }
  for (const k of Object.keys(m) as Array<keyof EvalMetrics>) m[k] /= B;
  return m;
}

/** Random query logits [B, L] (some rows all tied, some with a −∞ entry) and labels [B, items]. */
function randomCase(rng: Rng, B: number, L: number, items: number) {
  const logits = new Float32Array(B * L),
    labels = new Int32Array(B * items);
  for (let b = 0; b < B; b++) {
    // Context labels from a few values, so that repeats are common; the target in the context or not.
    for (let i = 0; i < items; i++) labels[b * items + i] = rng.int(i < items - 1 ? Math.min(L, 3) : L);
    const kind = rng.int(8),
      target = labels[b * items + items - 1];
    for (let j = 0; j < L; j++) logits[b * L + j] = kind === 0 ? 1.5 : (rng.uniform() - 0.5) * (kind === 1 ? 60 : 8);
    if (kind === 2) logits[b * L + ((target + 1 + rng.int(L - 1)) % L)] = -Infinity; // never the target's
  }
  return { logits, labels };
}

test('classificationMetrics gives the previous formula bit for bit (random logits and labels)', () => {
  const rng = new Rng(11, 6);
  // Sizes out of order: the scratch buffers grow and shrink between calls.
  for (const [B, L, items] of [
    [1000, 5, 3],
    [7, 5, 3],
    [3000, 5, 3],
    [200, 15, 3],
    [300, 10, 5],
    [64, 5, 2],
    [1, 5, 3],
  ]) {
    const { logits, labels } = randomCase(rng, B, L, items);
    const got = classificationMetrics(logits, B, L, labels, items),
      want = classificationMetricsReference(logits, B, L, labels, items);
    assert.deepEqual(Object.keys(got), Object.keys(want), 'the same keys in the same order');
    for (const k of Object.keys(want) as Array<keyof EvalMetrics>)
      assert.ok(Object.is(got[k], want[k]), `B=${B} L=${L} items=${items} ${k}: ${got[k]} vs ${want[k]}`);
    if (B >= 64) assert.ok(want.inContextProb > 0 && want.inContextProb < 1, 'targets in and out of the context');
  }
});
