/**
 * Measures of spec §5 against independent expectations: on a hand-built model whose attention patterns
 * are known in closed form, the dense previous-token score and induction strength equal the formulas;
 * on a random model, every ablation / preservation configuration the measures run (remove-one, keep-one,
 * the influence matrix's four kinds, Table 1, the layer → output paths) equals a plain double-precision
 * re-implementation (test/unit/oracle.ts) that applies spec §4.1/§4.2 literally — not the clamp lists
 * the measures build.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initParams, Params } from '../../src/engine/model/params';
import { encodeCheckpoint } from '../../src/engine/model/checkpoint';
import { itemExemplars, hostBatch } from '../../src/engine/model/hostBatch';
import { RunDir } from '../../src/engine/io';
import { resolveRunConfig, RunConfig } from '../../src/engine/train/runConfig';
import {
  MeasureContext,
  denseEval,
  disposeContext,
  makeMeasureContext,
  openMeasureContext,
} from '../../src/engine/measures/dense';
import { ablateClamp, onlyHeadsClamp } from '../../src/engine/measures/ablations';
import { influenceMatrix, table1 } from '../../src/engine/measures/influence';
import { ClampSpec } from '../../src/engine/clamps/spec';
import { oracle, OracleEdits } from './oracle';

const SUB = 64;
let root: string, run: RunConfig, ctx: MeasureContext, params: Params;
let X: Float32Array, Y: Int32Array;

/** A model of 8 heads of dimension 2 (d = 16), so the paper's 8 × 8 head structure is kept. */
before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-handbuilt-'));
  run = resolveRunConfig({ name: 'h', model: { dModel: 16 }, data: { evalSize: 20 } });
  params = initParams(run.model, 13);
  for (const k of Object.keys(params))
    if (k.endsWith('weight') && !k.includes('ln')) for (let i = 0; i < params[k].length; i++) params[k][i] *= 3;
  const rd = RunDir.create(root, 'run');
  rd.writeRunJson({ id: rd.id, name: run.name, status: 'completed', config: run, sequences: 100 });
  rd.writeCheckpoint(100, encodeCheckpoint({ config: run.model, sequences: 100, params }));
  ctx = await openMeasureContext(rd, undefined, SUB);
  const hb = hostBatch(ctx.task.bank, ctx.batch);
  X = itemExemplars(hb, run.model.inputDim);
  Y = hb.labels;
});
after(() => {
  disposeContext(ctx);
  fs.rmSync(root, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------ known patterns

/**
 * With LayerNorm gain 0 a block's normalised input is its bias β at every position, so q = W_Q β and
 * k = W_K β are the same at every position and the scores depend only on the offset (RoPE). With head
 * dimension 2 (one pair, θ_p = p): q = [a, 0], k = [cos φ, sin φ] gives S[i, j] = a·cos(φ + j − i)/√2.
 */
function knownPatternModel(a: number[][], phi: number[]): Params {
  const c = run.model,
    d = c.dModel,
    p = initParams(c, 21);
  for (let l = 0; l < 2; l++) {
    const beta = p[`blocks.${l}.ln.bias`],
      W = p[`blocks.${l}.attn.qkv.weight`];
    p[`blocks.${l}.ln.weight`].fill(0);
    for (let j = 0; j < d; j++) beta[j] = Math.sin(3 * j + l + 1);
    const bb = beta.reduce((s, v) => s + v * v, 0);
    // Row r of W·β = target_r when row r = target_r · β / |β|².
    const setRow = (r: number, target: number) => {
      for (let j = 0; j < d; j++) W[r * d + j] = (target * beta[j]) / bb;
    };
    for (let h = 0; h < 8; h++) {
      setRow(2 * h, a[l][h]);
      setRow(2 * h + 1, 0);
      setRow(d + 2 * h, Math.cos(phi[l]));
      setRow(d + 2 * h + 1, Math.sin(phi[l]));
    }
  }
  return p;
}

/** Row i of softmax_j≤i (a·cos(φ + j − i)/√2). */
function row(a: number, phi: number, i: number): number[] {
  const s = Array.from({ length: i + 1 }, (_, j) => (a * Math.cos(phi + j - i)) / Math.SQRT2),
    m = Math.max(...s);
  const e = s.map((v) => Math.exp(v - m)),
    z = e.reduce((x, y) => x + y, 0);
  return e.map((v) => v / z);
}

test('known patterns: dense previous-token score and induction strength equal their closed forms', () => {
  const a = [
      [0, 1, 2, 4, 6, 8, -3, 12],
      [0, 1, 2, 4, 6, 8, -3, 12],
    ],
    phi = [1, 3];
  const c2 = makeMeasureContext({
    run,
    params: knownPatternModel(a, phi),
    task: ctx.task,
    sequences: 0,
    batch: { batch: ctx.batch, denseSize: ctx.denseSize, subsample: SUB },
  });
  const hs = denseEval(c2, [], { headScores: true }).headScores!;
  const n1 = ctx.batch.correct.reduce((s, v) => s + v, 0),
    n0 = SUB - n1;
  for (let h = 0; h < 8; h++) {
    // PT_h = mean over the label rows i ∈ {1, 3} of A[i, i−1] (spec §5.4).
    const pt = (row(a[0][h], phi[0], 1)[0] + row(a[0][h], phi[0], 3)[2]) / 2;
    assert.ok(Math.abs(hs.prevTokenScore[h] - pt) < 1e-5, `PT L1H${h}: ${hs.prevTokenScore[h]} vs ${pt}`);
    // IS_h = mean_s (A[4, 2c+1] − A[4, 2(1−c)+1]) = (A[4,1] − A[4,3])·(n0 − n1)/n for a position-only pattern (spec §5.3).
    const q = row(a[1][h], phi[1], 4),
      is = ((q[1] - q[3]) * (n0 - n1)) / SUB;
    assert.ok(Math.abs(hs.inductionStrength[h] - is) < 1e-5, `IS L2H${h}: ${hs.inductionStrength[h]} vs ${is}`);
  }
  assert.ok(Math.abs(hs.prevTokenScore[0] - (1 / 2 + 1 / 4) / 2) < 1e-6, 'a = 0: uniform causal attention');
  assert.ok(hs.prevTokenScore[7] > 0.9, 'a large a with φ = 1 makes a previous-token head');
  assert.notEqual(n0, n1, 'the subsample is unbalanced, so the IS check is not 0 = 0');
  disposeContext(c2);
});

// ------------------------------------------------------------------------ the oracle, configuration by configuration

const L1 = (hs: number[]) => hs,
  all = [0, 1, 2, 3, 4, 5, 6, 7];
const others = (keep: number[]) => all.filter((h) => !keep.includes(h));

/** denseEval of a clamp list against the oracle with the corresponding edits: per-sequence loss and correctness. */
function check(name: string, clamps: ClampSpec[], edits: OracleEdits): number {
  const r = denseEval(ctx, clamps),
    o = oracle(run.model, params, X, Y, SUB, edits);
  for (let s = 0; s < SUB; s++) {
    assert.ok(
      Math.abs(r.loss[s] - o.loss[s]) <= 1e-4 * Math.max(1, o.loss[s]),
      `${name}, sequence ${s}: loss ${r.loss[s]} vs oracle ${o.loss[s]}`,
    );
  }
  assert.deepEqual(Array.from(r.correct), o.correct, `${name}: correctness`);
  return o.acc;
}

test('remove-one, keep-one, paths and preservation configurations equal the oracle', () => {
  const pv = { kind: 'preserve', what: ['values'] } as ClampSpec,
    pp = { kind: 'preserve', what: ['patterns'] } as ClampSpec;
  check('no clamp', [], {});
  check('remove L2H5', ablateClamp(1, [5]), { zero: [[], [5]] });
  check('only L2H3', onlyHeadsClamp(run.model, 1, [3]), { zero: [[], others([3])] });
  check(
    'only L2H3, L1H2 ablated, values preserved',
    [...onlyHeadsClamp(run.model, 1, [3]), ...ablateClamp(0, [2]), pv],
    { zero: [[2], others([3])], preserve: ['values'] },
  );
  check(
    'only L2H3, L1H2 ablated, patterns preserved',
    [...onlyHeadsClamp(run.model, 1, [3]), ...ablateClamp(0, [2]), pp],
    { zero: [[2], others([3])], preserve: ['patterns'] },
  );
  check(
    'only L2H6, only L1H1, values preserved',
    [...onlyHeadsClamp(run.model, 1, [6]), ...onlyHeadsClamp(run.model, 0, [1]), pv],
    { zero: [others([1]), others([6])], preserve: ['values'] },
  );
  check(
    'only L2H6, only L1H1, patterns preserved',
    [...onlyHeadsClamp(run.model, 1, [6]), ...onlyHeadsClamp(run.model, 0, [1]), pp],
    { zero: [others([1]), others([6])], preserve: ['patterns'] },
  );
  check('no direct L1 path', [...ablateClamp(0, all), { kind: 'preserve', what: ['patterns', 'values'] }], {
    zero: [all, []],
    preserve: ['patterns', 'values'],
  });
  check('no L2', ablateClamp(1, all), { zero: [[], all] });
  check('Table 1, L1 {1, 2, 5} ablated, patterns preserved', [...ablateClamp(0, L1([1, 2, 5])), pp], {
    zero: [[1, 2, 5], []],
    preserve: ['patterns'],
  });
});

test("influence matrix and Table 1 entries equal the oracle's accuracies", () => {
  const rows = [3, 6],
    cols = [1, 2];
  const m = influenceMatrix(ctx, { l2: rows, l1: cols });
  rows.forEach((i, a) => {
    const only = oracle(run.model, params, X, Y, SUB, { zero: [[], others([i])] }).acc;
    assert.equal(m.onlyAcc[a], only);
    cols.forEach((j, b) => {
      const acc = (zero0: number[], what: 'values' | 'patterns') =>
        oracle(run.model, params, X, Y, SUB, { zero: [zero0, others([i])], preserve: [what] }).acc;
      assert.equal(m.removeValuesPreserved[a][b], acc([j], 'values') - only, `M_pv[L2H${i}][L1H${j}]`);
      assert.equal(m.removePatternsPreserved[a][b], acc([j], 'patterns') - only, `M_pp[L2H${i}][L1H${j}]`);
      assert.equal(m.keepValuesPreserved[a][b], acc(others([j]), 'values'), `K_pv[L2H${i}][L1H${j}]`);
      assert.equal(m.keepPatternsPreserved[a][b], acc(others([j]), 'patterns'), `K_pp[L2H${i}][L1H${j}]`);
    });
  });
  const t = table1(ctx, { groups: [[1, 2, 5]] });
  assert.equal(
    t.rows[0].patternsPreserved,
    oracle(run.model, params, X, Y, SUB, { zero: [[1, 2, 5], []], preserve: ['patterns'] }).acc,
  );
  assert.equal(
    t.rows[0].valuesPreserved,
    oracle(run.model, params, X, Y, SUB, { zero: [[1, 2, 5], []], preserve: ['values'] }).acc,
  );
});
