/**
 * The evaluation's JavaScript, rewritten for speed (issue 11), against the formulas it replaced, bit for bit:
 * each reference below is the previous code, kept here by hand (not imported), run on random inputs that
 * include the awkward cases (repeated context labels, a target outside the context, ties, −∞ logits).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/data/rng';
import { classificationMetrics, EvalMetrics } from '../../src/engine/measures/classification';
import { inductionStrength, inductionStrengthAtQuery, prevTokenScore } from '../../src/engine/measures/attention';
import { querySlice } from '../../src/engine/forward/forward';
import { site, siteShapes } from '../../src/engine/model/sites';
import { DEFAULT_MODEL_CONFIG } from '../../src/engine/model/config';

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

/** The previous prevTokenScore (spec §5.4): label rows i = 1, 3, … from a list, the index in full. */
function prevTokenScoreReference(p: Float32Array, B: number, H: number, T: number, corrected: boolean): Float64Array {
  const out = new Float64Array(H);
  const rows: number[] = [];
  for (let i = 1; i < T; i += 2) rows.push(i);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (const i of rows) {
        const a = p[((b * H + h) * T + i) * T + i - 1];
        out[h] += corrected ? a - (1 - a) / i : a;
      }
  for (let h = 0; h < H; h++) out[h] /= B * rows.length;
  return out;
}

/** The previous induction strength (spec §5.3) of query rows found by rowAt(b, h). */
function isReference(
  a: Float32Array,
  B: number,
  H: number,
  correct: Uint8Array,
  rowAt: (b: number, h: number) => number,
) {
  const out = new Float64Array(H);
  for (let b = 0; b < B; b++) {
    const c = correct[b];
    for (let h = 0; h < H; h++) {
      const row = rowAt(b, h);
      out[h] += a[row + 2 * c + 1] - a[row + 2 * (1 - c) + 1];
    }
  }
  for (let h = 0; h < H; h++) out[h] /= B;
  return out;
}

const randomFloats = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => rng.uniform());
const sameBits = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) => {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) assert.ok(Object.is(got[i], want[i]), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
};

test('prevTokenScore and induction strength give the previous formulas bit for bit', () => {
  const rng = new Rng(11, 7);
  for (const [B, H, T] of [
    [1000, 8, 5],
    [3, 2, 5],
    [50, 4, 7],
    [20, 3, 4],
  ]) {
    const p = randomFloats(rng, B * H * T * T);
    for (const corrected of [false, true])
      sameBits(prevTokenScore(p, B, H, T, corrected), prevTokenScoreReference(p, B, H, T, corrected), 'PTS');
    if (T !== 5) continue;
    const correct = Uint8Array.from({ length: B }, () => rng.int(2)),
      q = randomFloats(rng, B * H * T);
    sameBits(
      inductionStrength(p, B, H, T, correct),
      isReference(p, B, H, correct, (b, h) => ((b * H + h) * T + (T - 1)) * T),
      'IS',
    );
    sameBits(
      inductionStrengthAtQuery(q, B, H, T, correct),
      isReference(q, B, H, correct, (b, h) => (b * H + h) * T),
      'IS at query',
    );
  }
});

/** The previous querySlice: one subarray view per row, copied with set. */
function querySliceReference(name: string, full: Float32Array, shape: number[]): Float32Array {
  const B = shape[0];
  if (name.endsWith('.hook_attn_scores') || name.endsWith('.hook_pattern')) {
    const [, H, T] = shape,
      out = new Float32Array(B * H * T);
    for (let bh = 0; bh < B * H; bh++) out.set(full.subarray((bh * T + T - 1) * T, (bh * T + T) * T), bh * T);
    return out;
  }
  const T = shape[1],
    X = full.length / (B * T),
    out = new Float32Array(B * X);
  for (let b = 0; b < B; b++) out.set(full.subarray((b * T + T - 1) * X, (b * T + T) * X), b * X);
  return out;
}

test('querySlice gives the query rows the previous code gave, for every kind of site', () => {
  const c = { ...DEFAULT_MODEL_CONFIG },
    B = 6,
    shapes = siteShapes(c, B);
  const rng = new Rng(11, 8);
  for (const name of [site.pattern(1), site.attnScores(0), site.residPost(1), site.logits, site.v(0), site.z(1)]) {
    const full = randomFloats(
      rng,
      shapes[name].reduce((n, x) => n * x, 1),
    );
    sameBits(querySlice(name, full, shapes[name]), querySliceReference(name, full, shapes[name]), name);
  }
});
