/**
 * Per-checkpoint measures of spec §5 against hand-computed cases, on a tiny run folder written to disk
 * (a small model, checkpoints from initParams, a few metrics lines) and a small seeded subsample.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tf, initBackend } from '../../src/engine/model/tf';
import { RunDir } from '../../src/engine/io';
import { resolveRunConfig, RunConfig } from '../../src/engine/train/runConfig';
import { REST_HEADS } from '../../src/engine/science/conditions';
import { initParams, cloneParams, Params } from '../../src/engine/model/params';
import { encodeCheckpoint } from '../../src/engine/model/checkpoint';
import { forward, crossEntropy } from '../../src/engine/model/forward';
import { TfWeights, batchTensors } from '../../src/engine/model/tfModel';
import { site } from '../../src/engine/model/sites';
import { clampedForward } from '../../src/engine/clamps/apply';
import { ClampSpec, normalizeClamps } from '../../src/engine/clamps/spec';
import { inductionStrength, prevTokenScore } from '../../src/engine/measures/attention';
import {
  MeasureContext,
  openMeasureContext,
  makeMeasureContext,
  denseEval,
  disposeContext,
  subsampleIndices,
  takeRows,
  runAblations,
} from '../../src/engine/measures/dense';
import {
  ablateClamp,
  onlyHeadsClamp,
  headAblations,
  complementarityTable,
  byLabel,
  additivity,
  decreasingOrder,
} from '../../src/engine/measures/ablations';
import { interpolate, layerPaths, selectCheckpoints } from '../../src/engine/measures/paths';
import { posthocProgress } from '../../src/engine/measures/posthoc';
import { cachedMeasure } from '../../src/engine/measures/cache';
import { measureCommand, parseMeasureNames } from '../../src/engine/measures/command';
import { maxAbsDiff } from './helpers';

const SUB = 64;
let root: string, runPath: string, run: RunConfig, ctx: MeasureContext;
const ckParams: Record<number, Params> = {};

/** A tiny model: 8 heads of dimension 2, so the 8 × 8 head structure of the paper is kept. */
function writeRun(dir: string, config: RunConfig, checkpoints: number[]): void {
  const rd = RunDir.create(path.dirname(dir), path.basename(dir));
  rd.writeRunJson({
    id: rd.id,
    name: config.name,
    status: 'completed',
    config,
    sequences: checkpoints[checkpoints.length - 1],
  });
  checkpoints.forEach((s, i) => {
    ckParams[s] = initParams(config.model, 5 + i);
    rd.writeCheckpoint(s, encodeCheckpoint({ config: config.model, sequences: s, params: ckParams[s] }));
  });
  const log = rd.metrics();
  for (const [s, loss] of [
    [0, 2.0],
    [200, 1.5],
    [320, 1.0],
  ]) {
    const m = { loss, acc: 0.5, inContextAcc: 0.5, inContextProb: 0.5, prob: 0.3, useContextProb: 0.6 };
    log.append({
      sequences: s,
      step: s / 32,
      wallTime: 0,
      trainLoss: loss,
      eval: { fsl_train: m },
      inductionStrength: [],
      prevTokenScore: [],
    });
  }
  log.close();
}

before(async () => {
  await initBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-measures-'));
  run = resolveRunConfig({ name: 't', model: { dModel: 16 }, data: { evalSize: 20 } });
  runPath = path.join(root, 'run-a');
  writeRun(runPath, run, [0, 160, 320]);
  ctx = await openMeasureContext(runPath, undefined, SUB);
});
after(() => {
  if (ctx) disposeContext(ctx);
  refWeights?.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

/** The checkpoint's weights as TF.js variables: the reference path the expectations are computed on. */
let refWeights: TfWeights | null = null;
const ctxWeights = (): TfWeights => (refWeights ??= new TfWeights(run.model, ctx.params, false));

/** Per-sequence loss / correctness of a clamped forward on the context's whole batch, computed directly. */
function direct(clamps: ClampSpec[], params?: Params) {
  const c = run.model,
    B = ctx.batch.size,
    L = c.numLabels;
  const own = params ? new TfWeights(c, params, false) : null,
    w = own ?? ctxWeights();
  const out = tf.tidy(() => {
    const { inputs, host } = batchTensors(ctx.task.bank, ctx.batch);
    const r = clampedForward(c, w.weights, inputs, host, normalizeClamps(clamps, c), ctx.sequences, {
      record: new Set([site.pattern(0), site.pattern(1)]),
    });
    const targets = tf.tensor1d(
      Int32Array.from({ length: B }, (_, b) => ctx.batch.labels[b * 3 + 2]),
      'int32',
    );
    const perSeq = tf.neg(tf.sum(tf.mul(tf.logSoftmax(r.logits), tf.oneHot(targets, L)), -1));
    return {
      loss: perSeq.dataSync() as Float32Array,
      mean: crossEntropy(r.logits, targets).dataSync()[0],
      pred: tf.argMax(r.logits, -1).dataSync() as Int32Array,
      p0: r.acts.get(site.pattern(0))!.dataSync() as Float32Array,
      p1: r.acts.get(site.pattern(1))!.dataSync() as Float32Array,
    };
  });
  if (params) w.dispose();
  const correct = Uint8Array.from(out.pred, (p, b) => (p === ctx.batch.labels[b * 3 + 2] ? 1 : 0));
  return { ...out, correct, acc: correct.reduce((a, b) => a + b, 0) / B };
}

test('context: the subsample is seeded, distinct, the same in every context, and taken from the dense set', async () => {
  assert.equal(ctx.batch.size, SUB);
  assert.equal(ctx.denseSize, 50 * 49 * 16 * 2);
  assert.equal(ctx.sequences, 320);
  const idx = subsampleIndices(ctx.denseSize, SUB);
  assert.equal(new Set(idx).size, SUB);
  assert.deepEqual(idx, subsampleIndices(ctx.denseSize, SUB));
  const dense = ctx.task.denseTrainSequences();
  assert.deepEqual(ctx.batch.labels, takeRows(dense, idx).labels);
  const other = await openMeasureContext(runPath, 0, SUB);
  assert.deepEqual(other.batch.classes, ctx.batch.classes);
  assert.equal(other.sequences, 0);
  disposeContext(other);
});

test('denseEval: acc and loss equal a direct forward on the same sequences, whatever the chunk size', () => {
  const want = direct([]);
  for (const chunk of [SUB, 20]) {
    const c2 = makeMeasureContext({
      run,
      params: ckParams[320],
      task: ctx.task,
      sequences: 320,
      chunk,
      batch: { batch: ctx.batch, denseSize: ctx.denseSize, subsample: SUB },
    });
    const r = denseEval(c2, [], { headScores: true });
    assert.equal(r.n, SUB);
    assert.deepEqual(r.correct, want.correct);
    assert.equal(r.acc, want.acc);
    assert.ok(maxAbsDiff(r.loss, want.loss) < 1e-5, `per-sequence loss, chunk ${chunk}`);
    assert.ok(Math.abs(r.meanLoss - want.mean) < 1e-5);
    const is = inductionStrength(want.p1, SUB, 8, 5, ctx.batch.correct),
      pt = prevTokenScore(want.p0, SUB, 8, 5);
    assert.ok(maxAbsDiff(r.headScores!.inductionStrength, is) < 1e-6);
    assert.ok(maxAbsDiff(r.headScores!.prevTokenScore, pt) < 1e-6);
    assert.deepEqual(r.headScores!.isHeads, ['L2H0', 'L2H1', 'L2H2', 'L2H3', 'L2H4', 'L2H5', 'L2H6', 'L2H7']);
    assert.equal(c2.stats.chunks, Math.ceil(SUB / chunk));
    disposeContext(c2);
  }
  // Clamped configurations too, and the memo returns the same result without another forward.
  const clamps = normalizeClamps([{ kind: 'induction', heads: ['L2H3'], strength: 1 }], run.model);
  const before = ctx.stats.configs;
  const r1 = denseEval(ctx, clamps),
    r2 = denseEval(ctx, clamps);
  assert.equal(r1, r2);
  assert.equal(ctx.stats.configs, before + 1);
  assert.ok(maxAbsDiff(r1.loss, direct(clamps).loss) < 1e-5);
});

test("the run's ablations are prepended to every configuration", () => {
  const single = { ...run, clamps: normalizeClamps([{ kind: 'ablate', heads: REST_HEADS, from: 100 }], run.model) };
  assert.deepEqual(runAblations(single, 0), []);
  assert.deepEqual(runAblations(single, 320), [{ kind: 'ablate', heads: REST_HEADS }]);
  const c2 = makeMeasureContext({
    run: single,
    params: ckParams[320],
    task: ctx.task,
    sequences: 320,
    batch: { batch: ctx.batch, denseSize: ctx.denseSize, subsample: SUB },
  });
  assert.ok(maxAbsDiff(denseEval(c2, []).loss, direct([{ kind: 'ablate', heads: REST_HEADS }]).loss) < 1e-6);
  disposeContext(c2);
});

test('remove-one of a head whose W_proj columns are zeroed by hand gives exactly the baseline; keep-one of all heads is the baseline', () => {
  const h = 5,
    d = 16,
    D = 2;
  const p = cloneParams(ckParams[320]);
  const proj = p['blocks.1.attn.proj.weight'];
  for (let m = 0; m < d; m++) for (let r = 0; r < D; r++) proj[m * d + h * D + r] = 0;
  const c2 = makeMeasureContext({
    run,
    params: p,
    task: ctx.task,
    sequences: 320,
    batch: { batch: ctx.batch, denseSize: ctx.denseSize, subsample: SUB },
  });
  const base = denseEval(c2, []);
  const removed = denseEval(c2, ablateClamp(1, [h]));
  assert.deepEqual(removed.correct, base.correct);
  assert.ok(
    maxAbsDiff(removed.loss, base.loss) <= 1e-7,
    'zero values and zero output columns are the same head removal',
  );
  const abl = headAblations(c2);
  assert.equal(abl.removeOne[h].acc, abl.baseline.acc);
  assert.ok(Math.abs(abl.removeOne[h].loss - abl.baseline.loss) <= 1e-7);
  assert.deepEqual(abl.heads.length, 8);
  // Ablating some other head does change the loss (the test is not vacuous).
  assert.ok(Math.abs(abl.removeOne[(h + 1) % 8].loss - abl.baseline.loss) > 1e-6);
  assert.deepEqual(onlyHeadsClamp(run.model, 1, [0, 1, 2, 3, 4, 5, 6, 7]), []);
  const keepAll = denseEval(c2, onlyHeadsClamp(run.model, 1, [0, 1, 2, 3, 4, 5, 6, 7]));
  assert.deepEqual(keepAll.loss, base.loss);
  // keep-one(h) is "ablate the other seven" — by hand.
  const others = [0, 1, 2, 3, 4, 6, 7].map((x) => `L2H${x}`);
  assert.ok(Math.abs(abl.keepOne[h].loss - direct([{ kind: 'ablate', heads: others }], p).mean) < 1e-5);
  disposeContext(c2);
});

// The influence matrix's entries are checked against an independent re-implementation in measures-handbuilt.test.ts.

test("all L1 heads ablated with patterns and values preserved = block 0's output removed from the direct path only", () => {
  const all8 = [0, 1, 2, 3, 4, 5, 6, 7];
  const r = denseEval(ctx, [...ablateClamp(0, all8), { kind: 'preserve', what: ['patterns', 'values'] }]);
  // By hand: the final residual is embedding + the clean Layer-2 output (Layer 2 still reads clean Layer 1).
  const c = run.model,
    B = ctx.batch.size;
  const loss = tf.tidy(() => {
    const { inputs } = batchTensors(ctx.task.bank, ctx.batch);
    const clean = forward(c, ctxWeights().weights, inputs, { record: new Set([site.embed, site.attnOut(1)]) });
    const resid = tf.add(clean.acts.get(site.embed)!, clean.acts.get(site.attnOut(1))!);
    const o = forward(c, ctxWeights().weights, inputs, {
      overrides: new Map([[site.residPost(1), { value: resid, mask: tf.ones(resid.shape, 'bool') }]]),
    });
    const targets = tf.tensor1d(
      Int32Array.from({ length: B }, (_, b) => ctx.batch.labels[b * 3 + 2]),
      'int32',
    );
    return tf
      .neg(tf.sum(tf.mul(tf.logSoftmax(o.logits), tf.oneHot(targets, c.numLabels)), -1))
      .dataSync() as Float32Array;
  });
  assert.ok(maxAbsDiff(r.loss, loss) < 1e-5, `max diff ${maxAbsDiff(r.loss, loss)}`);
  assert.ok(maxAbsDiff(r.loss, denseEval(ctx, []).loss) > 1e-4, 'removing the direct path changes the loss');
});

test('complementarity on a hand-made correctness table', () => {
  const ref = Uint8Array.from([1, 0, 0, 1, 0]);
  const t = complementarityTable(ref, [Uint8Array.from([1, 1, 0, 0, 1]), ref, Uint8Array.from([0, 0, 0, 0, 0])]);
  assert.equal(t.refMistakes, 3);
  assert.deepEqual(t.rows, [
    { fixedFraction: 2 / 3, acc: 3 / 5 },
    { fixedFraction: 0, acc: 2 / 5 },
    { fixedFraction: 0, acc: 0 },
  ]);
  assert.equal(complementarityTable(Uint8Array.from([1, 1]), [Uint8Array.from([0, 1])]).rows[0].fixedFraction, null);
  // Labels of the queries: 0, 1, 1, 2 (items = 3, the query is the third).
  const labels = Int32Array.from([9, 9, 0, 9, 9, 1, 9, 9, 1, 9, 9, 2]);
  assert.deepEqual(byLabel(Uint8Array.from([1, 0, 1, 0]), labels, 3, 3), {
    acc: [1, 0.5, 0],
    mistakeShare: [0, 0.5, 0.5],
  });
  assert.deepEqual(decreasingOrder([0.1, 0.9, 0.5, 0.9]), [1, 3, 2, 0]);
});

test('additivity: k heads active = the others ablated; the full ordering equals the baseline', () => {
  const a = additivity(ctx, { mine: [3, 1, 2, 7, 5, 0, 4, 6] });
  const curve = a.curves[0];
  assert.deepEqual(curve.ordering.slice(0, 2), ['L2H3', 'L2H1']);
  assert.ok(
    Math.abs(
      curve.points[1].loss - direct([{ kind: 'ablate', heads: ['L2H0', 'L2H2', 'L2H4', 'L2H5', 'L2H6', 'L2H7'] }]).mean,
    ) < 1e-5,
  );
  assert.equal(curve.points[7].loss, a.all.loss);
  assert.throws(() => additivity(ctx, { bad: [1, 1] }), /distinct head indices/);
});

test('paths and posthoc across checkpoints: clamped losses and the interpolated eval loss', () => {
  assert.equal(interpolate([0, 200, 320], [2, 1.5, 1], 160), 1.6);
  assert.equal(interpolate([0, 200], [2, 1.5], 500), 1.5);
  const refs = ctx.runDir!.listCheckpoints();
  assert.deepEqual(
    selectCheckpoints(
      Array.from({ length: 11 }, (_, k) => ({ sequences: 10 * k, path: '' })),
      3,
    ).map((r) => r.sequences),
    [0, 50, 100],
  );
  const p = layerPaths(ctx, refs);
  assert.deepEqual(
    p.points.map((x) => x.sequences),
    [0, 160, 320],
  );
  const mid = p.points[1];
  assert.ok(Math.abs(mid.evalLoss! - 1.6) < 1e-12);
  assert.ok(Math.abs(mid.noL2MinusEval! - (mid.noL2 - 1.6)) < 1e-12);
  // At the context's own checkpoint, the same numbers as explicit clamps.
  const last = p.points[2];
  const all = (l: number) => Array.from({ length: 8 }, (_, h) => `L${l}H${h}`);
  assert.ok(Math.abs(last.noL2 - direct([{ kind: 'ablate', heads: all(2) }]).mean) < 1e-5);
  assert.ok(
    Math.abs(
      last.noL1Direct -
        direct([
          { kind: 'ablate', heads: all(1) },
          { kind: 'preserve', what: ['patterns', 'values'] },
        ]).mean,
    ) < 1e-5,
  );
  // Another checkpoint really is another model.
  assert.notEqual(p.points[0].loss, last.loss);
  const ph = posthocProgress(ctx, refs.slice(2));
  assert.equal(ph.ptHead, 'L1H2');
  assert.equal(ph.ihHead, 'L2H3');
  assert.ok(
    Math.abs(
      ph.points[0].composite -
        direct([{ kind: 'prev-token', heads: ['L1H2'], strength: 1, labelRowsOnly: false }]).mean,
    ) < 1e-5,
  );
  assert.ok(Math.abs(ph.points[0].copy - direct([{ kind: 'induction', heads: ['L2H3'], strength: 1 }]).mean) < 1e-5);
});

test('cache: a valid file is reused without recomputing; parameters or a newer checkpoint invalidate it', async () => {
  const ck = path.join(runPath, 'checkpoints', 'seq-320.safetensors');
  let calls = 0;
  const compute = () => {
    calls++;
    return { formula: 'x = 1', value: 0.5, bad: NaN };
  };
  const o = { runDir: runPath, name: 'unit', sequences: 320, subsample: 7, parameters: { a: 1 }, checkpoints: [ck] };
  const first = await cachedMeasure(o, compute);
  assert.equal(first.cached, false);
  assert.equal(path.basename(first.file), 'unit-seq-320-sub7.json');
  const second = await cachedMeasure(o, compute);
  assert.equal(second.cached, true);
  assert.equal(calls, 1);
  assert.deepEqual(second.record, first.record);
  assert.equal(second.record.result.bad, null);
  await cachedMeasure({ ...o, parameters: { a: 2 } }, compute);
  assert.equal(calls, 2);
  const future = new Date(Date.now() + 60_000);
  fs.utimesSync(ck, future, future);
  assert.equal((await cachedMeasure({ ...o, parameters: { a: 2 } }, compute)).cached, false);
  assert.equal(calls, 3);
  const past = new Date(Date.now() - 60_000);
  fs.utimesSync(ck, past, past);
});

test('measure command: results cached in the run folder and identical on reuse; clear errors', async () => {
  const lines: string[] = [];
  const out = (l: string) => lines.push(l);
  const args = { runDir: runPath, what: ['dense,induction-strength', 'learning-time'], subsample: 32, backend: 'cpu' };
  const a = await measureCommand(args, out);
  const file = path.join(runPath, 'measures', 'dense-seq-320-sub32.json');
  assert.ok(fs.existsSync(file));
  const mtime = fs.statSync(file).mtimeMs;
  assert.deepEqual(a.cached, { dense: false, 'induction-strength': true, 'learning-time': false });
  const text = lines.join('\n');
  assert.match(text, /== dense ==/);
  assert.match(text, /formula: acc = mean_s/);
  assert.match(text, /L2H3/);
  assert.match(text, /learning time: 320 sequences \(threshold never reached/);
  const b = await measureCommand(args, () => {});
  assert.equal((b.cached as Record<string, boolean>).dense, true);
  assert.equal(JSON.stringify(b.results), JSON.stringify(a.results));
  assert.equal(fs.statSync(file).mtimeMs, mtime);
  const stored = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(stored.parameters.denseSize, 78400);
  assert.match(stored.formula, /logsumexp/);

  assert.throws(
    () => parseMeasureNames(['dense,nope']),
    /unknown measure "nope" \(known: dense, induction-strength, .*learning-time/,
  );
  await assert.rejects(
    measureCommand({ runDir: runPath, checkpoint: 999 }, () => {}),
    /checkpoint 999 does not exist .*available: 0, 160, 320/,
  );
  await assert.rejects(
    measureCommand({ runDir: root }, () => {}),
    /not a run folder/,
  );
  const empty = path.join(root, 'no-ckpt');
  fs.mkdirSync(empty);
  fs.writeFileSync(path.join(empty, 'run.json'), JSON.stringify({ config: run }));
  await assert.rejects(
    measureCommand({ runDir: empty }, () => {}),
    /has no checkpoints/,
  );
});
