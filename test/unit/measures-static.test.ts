/**
 * Measures that need no training run: the three-factor toy model (spec §6), static composition scores
 * (spec §5.6) and the thresholded learning time (spec §5.10).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/data/rng';
import { DEFAULT_MODEL_CONFIG } from '../../src/engine/model/config';
import { initParams, Params } from '../../src/engine/model/params';
import {
  runToyModel,
  toyLoss,
  toyGrad,
  toyInit,
  plateauIterations,
  DEFAULT_TOY_SEED,
  ToyVectors,
  ToyClamp,
} from '../../src/engine/measures/toyModel';
import { compositionScores } from '../../src/engine/measures/composition';
import { learningTime } from '../../src/engine/measures/learningTime';

// ---------------------------------------------------------------------------------------------- toy

const randVec = (rng: Rng, n: number): Float64Array => Float64Array.from({ length: n }, () => rng.normal());

/** ½ · mean_ijk (a*_i b*_j c*_k − a_i b_j c_k)², the literal n³ sum. */
function explicitLoss(v: ToyVectors, t: ToyVectors): number {
  const n = v.a.length;
  let s = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      for (let k = 0; k < n; k++) {
        const r = t.a[i] * t.b[j] * t.c[k] - v.a[i] * v.b[j] * v.c[k];
        s += r * r;
      }
  return (0.5 * s) / (n * n * n);
}

test('toy loss: closed form equals the explicit n³ sum; zero at the target and under paired sign flips', () => {
  for (const n of [1, 3, 7]) {
    const rng = new Rng(11, n);
    const t = { a: randVec(rng, n), b: randVec(rng, n), c: randVec(rng, n) };
    const v = { a: randVec(rng, n), b: randVec(rng, n), c: randVec(rng, n) };
    const ref = explicitLoss(v, t);
    assert.ok(Math.abs(toyLoss(v, t) - ref) <= 1e-12 * Math.max(1, ref), `n=${n}: ${toyLoss(v, t)} vs ${ref}`);
    assert.ok(toyLoss(t, t) < 1e-14);
    const neg = (x: Float64Array) => x.map((y) => -y);
    assert.ok(toyLoss({ a: neg(t.a), b: neg(t.b), c: t.c }, t) < 1e-14);
  }
});

test('toy gradient: closed form equals central finite differences of the explicit sum', () => {
  const n = 4,
    h = 1e-5;
  const rng = new Rng(12, 0);
  const t = { a: randVec(rng, n), b: randVec(rng, n), c: randVec(rng, n) };
  const v = { a: randVec(rng, n), b: randVec(rng, n), c: randVec(rng, n) };
  const g = toyGrad(v, t);
  for (const key of ['a', 'b', 'c'] as const) {
    for (let i = 0; i < n; i++) {
      const plus = { a: v.a.slice(), b: v.b.slice(), c: v.c.slice() };
      const minus = { a: v.a.slice(), b: v.b.slice(), c: v.c.slice() };
      plus[key][i] += h;
      minus[key][i] -= h;
      const fd = (explicitLoss(plus, t) - explicitLoss(minus, t)) / (2 * h);
      assert.ok(Math.abs(g[key][i] - fd) < 1e-8, `∂ℒ/∂${key}[${i}]: ${g[key][i]} vs ${fd}`);
    }
  }
});

test('toy run: traces have iterations + 1 entries, with b + c clamped PM2 never exceeds the loss', () => {
  const r = runToyModel({ iterations: 50, clamp: 'b+c' });
  assert.equal(r.loss.length, 51);
  assert.equal(r.pm1.length, 51);
  assert.equal(r.pm2.length, 51);
  // With b = b*, c = c* the loss is ℒ(a, b*, c*) and PM2 is its min over the sign of a: PM2 ≤ loss.
  for (let t = 0; t <= 50; t++) assert.ok(r.pm2[t] <= r.loss[t] + 1e-12);
  const end = runToyModel({ clamp: 'b+c' });
  assert.ok(end.loss[1000] < 1e-10 && end.pm1[1000] < 1e-10 && end.pm2[1000] < 1e-10);
  // Same seed ⇒ same targets and init: clamped runs differ from the unclamped one only by the clamp.
  const { target, init } = toyInit(20, DEFAULT_TOY_SEED);
  assert.equal(runToyModel({ iterations: 0 }).loss[0], toyLoss(init, target));
  assert.equal(
    runToyModel({ iterations: 0, clamp: 'b+c' }).loss[0],
    toyLoss({ a: init.a, b: target.b, c: target.c }, target),
  );
});

test('plateauIterations edge cases', () => {
  assert.equal(plateauIterations([]), null);
  assert.equal(plateauIterations([1, 0.5, 0.2]), null);
  assert.equal(plateauIterations([1, 0.5, 0.1, 0.05]), 3); // strictly below 10 %
  assert.equal(plateauIterations([1, 0.4], 0.5), 1);
});

const CLAMPS: ToyClamp[] = ['none', 'c', 'b+c'];
const itersTo10 = (seed: number, clamp: ToyClamp): number =>
  plateauIterations(runToyModel({ seed, clamp }).loss) ?? Infinity;

test(`toy default seed ${DEFAULT_TOY_SEED}: clamping b and c removes the plateau (numbers documented in toyModel.ts)`, () => {
  const [none, c, bc] = CLAMPS.map((k) => itersTo10(DEFAULT_TOY_SEED, k));
  // If this fails after an RNG change, re-scan seeds and update the comment in toyModel.ts.
  assert.deepEqual([none, c, bc], [586, 68, 12]);
  assert.ok(bc * 10 < none, 'b + c clamped must be far faster than unclamped');
  assert.ok(c * 4 < none && bc < c);
});

test('toy model across seeds 0–9: median iterations-to-10 % ordered none ≥ c ≥ b + c', () => {
  const median = (xs: number[]) => {
    const s = [...xs].sort((x, y) => x - y);
    return s[Math.floor(s.length / 2)];
  };
  const per = CLAMPS.map((k) => Array.from({ length: 10 }, (_, seed) => itersTo10(seed, k)));
  const [mNone, mC, mBC] = per.map(median);
  assert.ok(mNone >= mC && mC >= mBC, `medians ${mNone}, ${mC}, ${mBC}`);
  assert.ok(mBC * 5 < mNone);
  // Clamping a second factor never hurts on these seeds.
  for (let s = 0; s < 10; s++) assert.ok(per[2][s] <= per[1][s], `seed ${s}: b+c ${per[2][s]} vs c ${per[1][s]}`);
});

test('toy model hidden progress: PM1 and PM2 fall during the unclamped plateau while the loss stays put', () => {
  const r = runToyModel({ seed: DEFAULT_TOY_SEED });
  const L0 = r.loss[0];
  // The plateau: from iteration 50 (after the initial shrink of ‖a‖‖b‖‖c‖) the loss stays within 5 % of
  // its value there; its end is the last iteration before it leaves that band.
  let tEnd = 50;
  while (tEnd + 1 < r.loss.length && Math.abs(r.loss[tEnd + 1] / r.loss[50] - 1) < 0.05) tEnd++;
  assert.ok(tEnd > 300 && tEnd < 1000, `plateau 50..${tEnd}`);
  assert.ok(r.loss[tEnd] > 0.5 * L0, 'the loss is still above half its initial value at the plateau end');
  assert.ok(plateauIterations(r.loss)! < 1000, 'and it does drop afterwards');
  // … yet a keeps aligning with a*: PM1 ≈ 0.99 at init, far lower at the plateau's end.
  assert.ok(r.pm1[tEnd] < 0.5 * r.pm1[0], `PM1 ${r.pm1[0]} → ${r.pm1[tEnd]}`);
  assert.ok(r.pm1[tEnd] < r.pm1[50] - 0.5);
  assert.ok(r.pm2[tEnd] < 0.6 * r.pm2[50], `PM2 ${r.pm2[50]} → ${r.pm2[tEnd]}`);
});

// -------------------------------------------------------------------------------------- composition

const C = DEFAULT_MODEL_CONFIG; // d = 64, H = 8, D = 8
const d = C.dModel,
  D = d / C.numHeads;

function zeroParams(): Params {
  return {
    'blocks.0.attn.proj.weight': new Float32Array(d * d),
    'blocks.1.attn.qkv.weight': new Float32Array(3 * d * d),
  };
}
/** W_O^{(j)}[r, m] = proj[m, jD + r]. */
const setO = (p: Params, j: number, r: number, m: number, v: number) => {
  p['blocks.0.attn.proj.weight'][m * d + j * D + r] = v;
};
/** W_X^{(i)}[m, s] = qkv[which·d + iD + s, m], which = 0 (Q), 1 (K), 2 (V). */
const setX = (p: Params, which: number, i: number, m: number, s: number, v: number) => {
  p['blocks.1.attn.qkv.weight'][(which * d + i * D + s) * d + m] = v;
};

test('composition scores on hand-built weights', () => {
  const p = zeroParams();
  // W_O^{(0)} = [I₈ | 0] (reads nothing, writes head-0 output dim r to residual dim r).
  for (let r = 0; r < D; r++) setO(p, 0, r, r, 1);
  // W_O^{(2)} = [I₈ | 0] as well (same residual dims), to check the head-j column offset.
  for (let r = 0; r < D; r++) setO(p, 2, r, r, 1);
  // W_O^{(5)}: a single 1 at (0, 0).
  setO(p, 5, 0, 0, 1);
  // K head 0: W_K = [I₈; 0] reads residual dims 0..7 — aligned with W_O^{(0)}.
  for (let s = 0; s < D; s++) setX(p, 1, 0, s, s, 1);
  // K head 1: reads residual dims 8..15 — orthogonal to everything W_O writes.
  for (let s = 0; s < D; s++) setX(p, 1, 1, 8 + s, s, 1);
  // K head 2: reads residual dims 4..11 — half overlap with W_O^{(0)}.
  for (let s = 0; s < D; s++) setX(p, 1, 2, 4 + s, s, 1);
  // Q head 3 and V head 6: identity on dims 0..7, to check the q / v row offsets.
  for (let s = 0; s < D; s++) {
    setX(p, 0, 3, s, s, 1);
    setX(p, 2, 6, s, s, 1);
  }
  const sc = compositionScores(p, C, { from: 0, to: 1 });
  const close = (x: number, y: number, what: string) => assert.ok(Math.abs(x - y) < 1e-12, `${what}: ${x} vs ${y}`);

  // Aligned identity blocks: W_O W_K = I₈, so ‖I₈‖_F / (‖W_O‖_F ‖W_K‖_F) = √8 / (√8 · √8) = 1/√8 ≈ 0.354.
  close(sc.k[0][0], 1 / Math.sqrt(8), 'K[0][0]');
  close(sc.k[0][2], 1 / Math.sqrt(8), 'K[0][2] (head-j offset)');
  // Orthogonal subspaces: W_O^{(j)} writes dims 0..7, W_K^{(1)} reads dims 8..15 ⇒ product 0 ⇒ score 0.
  close(sc.k[1][0], 0, 'K[1][0]');
  close(sc.k[1][5], 0, 'K[1][5]');
  // Half overlap: W_O^{(0)} W_K^{(2)} has ones at (r, s) = (4+s, s) for s = 0..3: ‖·‖_F = √4 = 2 ⇒ 2 / 8 = 0.25.
  close(sc.k[2][0], 0.25, 'K[2][0]');
  // W_O^{(5)} = e₀ e₀ᵀ (one entry): W_O^{(5)} W_K^{(0)} = e₀ e₀ᵀ, ‖·‖_F = 1, norms 1 · √8 ⇒ 1/√8.
  close(sc.k[0][5], 1 / Math.sqrt(8), 'K[0][5]');
  // K head 2 reads dims 4..11; W_O^{(5)} writes only dim 0 ⇒ 0.
  close(sc.k[2][5], 0, 'K[2][5]');
  // Q and V land at their own heads and nowhere else.
  close(sc.q[3][0], 1 / Math.sqrt(8), 'Q[3][0]');
  close(sc.v[6][0], 1 / Math.sqrt(8), 'V[6][0]');
  close(sc.k[3][0], 0, 'K[3][0]');
  close(sc.k[6][0], 0, 'K[6][0]');
  close(sc.q[0][0], 0, 'Q[0][0]');
  close(sc.v[0][0], 0, 'V[0][0]');
  // Zero blocks (all-zero W_O^{(7)} or W_V^{(0)}) compose with nothing: 0, not NaN.
  close(sc.k[0][7], 0, 'K[0][7]');
  close(sc.v[0][2], 0, 'V[0][2]');

  // Rank-1 perfectly aligned: a single entry in each block ⇒ the bound ‖AB‖_F ≤ ‖A‖_F‖B‖_F is tight ⇒ 1.
  const p1 = zeroParams();
  setO(p1, 4, 3, 17, -2.5);
  setX(p1, 1, 7, 17, 6, 0.3);
  close(compositionScores(p1, C).k[7][4], 1, 'rank-1 aligned');
});

/** The spec's recipe with explicit matrices: W_O^{(j)} (8×64) · W_X^{(i)} (64×8), Frobenius norms. */
function directScores(p: Params, from: number, to: number, which: number): number[][] {
  const proj = p[`blocks.${from}.attn.proj.weight`],
    qkv = p[`blocks.${to}.attn.qkv.weight`];
  const H = C.numHeads;
  const fro = (m: number[][]) => Math.sqrt(m.flat().reduce((s, x) => s + x * x, 0));
  const WO = (j: number) =>
    Array.from({ length: D }, (_, r) => Array.from({ length: d }, (_, m) => proj[m * d + j * D + r]));
  const WX = (i: number) =>
    Array.from({ length: d }, (_, m) => Array.from({ length: D }, (_, s) => qkv[(which * d + i * D + s) * d + m]));
  const matmul = (A: number[][], B: number[][]) =>
    A.map((row) => B[0].map((_, s) => row.reduce((acc, x, m) => acc + x * B[m][s], 0)));
  return Array.from({ length: H }, (_, i) =>
    Array.from({ length: H }, (_, j) => {
      const o = WO(j),
        x = WX(i);
      return fro(matmul(o, x)) / (fro(o) * fro(x));
    }),
  );
}

test('composition scores agree with a direct matrix computation on random weights, in range, scale invariant', () => {
  const cfg = { ...C, depth: 3 };
  const p = initParams(cfg, 5);
  const sc = compositionScores(p, cfg);
  const keys = ['q', 'k', 'v'] as const;
  keys.forEach((key, which) => {
    const ref = directScores(p, 0, 1, which);
    for (let i = 0; i < 8; i++)
      for (let j = 0; j < 8; j++) assert.ok(Math.abs(sc[key][i][j] - ref[i][j]) < 1e-9, `${key}[${i}][${j}]`);
  });
  // Non-adjacent layers use the same recipe.
  const sc02 = compositionScores(p, cfg, { from: 0, to: 2 });
  const ref02 = directScores(p, 0, 2, 1);
  for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) assert.ok(Math.abs(sc02.k[i][j] - ref02[i][j]) < 1e-9);
  // Random init: E score² ≈ 1/d ⇒ scores near 1/√64 = 0.125 (paper's colour range 0.09–0.16).
  const all = keys.flatMap((k) => sc[k].flat());
  const mean = all.reduce((s, x) => s + x, 0) / all.length;
  assert.ok(mean > 0.1 && mean < 0.15, `mean score ${mean}`);
  assert.ok(all.every((x) => x > 0 && x < 1));
  // Scaling W_proj or W_qkv by 3 changes nothing.
  for (const name of ['blocks.0.attn.proj.weight', 'blocks.1.attn.qkv.weight']) {
    const q = { ...p, [name]: p[name].map((x) => 3 * x) };
    const s3 = compositionScores(q, cfg);
    for (const key of keys)
      for (let i = 0; i < 8; i++)
        for (let j = 0; j < 8; j++) {
          // Tolerance: 3·x is rounded to float32 (relative 6e-8) before the float64 computation.
          assert.ok(Math.abs(s3[key][i][j] - sc[key][i][j]) < 1e-6, `${name} ×3 changed ${key}[${i}][${j}]`);
        }
  }
});

test('composition scores reject bad layer pairs', () => {
  const p = initParams(C, 1);
  assert.throws(() => compositionScores(p, C, { from: 1, to: 1 }));
  assert.throws(() => compositionScores(p, C, { from: 1, to: 0 }));
  assert.throws(() => compositionScores(p, C, { from: 0, to: 2 }));
  assert.throws(() => compositionScores({}, C));
});

// ------------------------------------------------------------------------------------ learning time

test('learningTime: first x strictly below 0.4·ln 2, else the last x', () => {
  const xs = [0, 1000, 2000, 3000];
  assert.equal(learningTime(xs, [1.6, 0.7, 0.2, 0.01]), 2000);
  assert.equal(learningTime(xs, [0.1, 0.7, 0.2, 0.01]), 0); // already below at the first log
  assert.equal(learningTime(xs, [1.6, 0.7, 0.5, 0.3]), 3000); // never: censored at the last x
  assert.equal(learningTime(xs, [1.6, 0.4 * Math.LN2, 0.2, 0]), 2000); // equal is not below
  assert.equal(learningTime(xs, [1.6, NaN, 0.2, 0]), 2000); // NaN never counts
  assert.equal(learningTime(xs, [1.6, 0.7, 0.5, 0.3], 0.6), 2000); // custom threshold
  assert.equal(learningTime([5e5], [1]), 5e5);
  assert.throws(() => learningTime([], []));
  assert.throws(() => learningTime([0, 1], [1]));
});
