/**
 * Essential dynamics (src/engine/dynamics): PCA through the Gram matrix against hand cases, cusps of a
 * trajectory, the outputs against the TF.js reference forward, and the command on a short `fast` run
 * (files, determinism, the patterns block, bad input).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tf, initBackend } from '../../src/engine/model/tf';
import { resolveRunConfig } from '../../src/engine/train/runConfig';
import { presetConfig } from '../../src/engine/science/presets';
import { runTraining } from '../../src/engine/train/trainer';
import { RunDir } from '../../src/engine/io';
import { readCheckpoint } from '../../src/engine/model/checkpoint';
import { loadTaskData } from '../../src/engine/data';
import { TfWeights, batchTensors } from '../../src/engine/model/tfModel';
import { clampedForward } from '../../src/engine/clamps/apply';
import { site } from '../../src/engine/model/sites';
import { jacobiEigen, pca } from '../../src/engine/dynamics/pca';
import { OutputModel, probeSet } from '../../src/engine/dynamics/outputs';
import { cusps, dynamicsCommand } from '../../src/engine/dynamics/command';
import { activeClamps } from '../../src/engine/llc/transformerTarget';
import type { DynamicsFile } from '../../src/shared/llc';

let runPath: string;
before(async () => {
  await initBackend('wasm');
  // A clamped `fast` run (one active Layer-2 head, as the demo preset), 300 steps, a checkpoint every 1,600 sequences.
  const cfg = resolveRunConfig(
    {
      train: { sequences: 9600, evalEvery: 3200, checkpointEvery: 1600 },
      data: { evalSize: 100 },
      clamps: [{ kind: 'ablate', heads: ['L2H0', 'L2H1', 'L2H2', 'L2H4', 'L2H5', 'L2H6', 'L2H7'] }],
    },
    presetConfig('fast'),
  );
  const rd = RunDir.create(fs.mkdtempSync(path.join(os.tmpdir(), 'il-ed-')), 'fast');
  await runTraining(cfg, rd, { emit: () => {}, shouldStop: () => false });
  runPath = rd.path;
});

test('Jacobi eigen-decomposition of a symmetric matrix: A·v = λ·v, orthonormal vectors', () => {
  const n = 5,
    A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) A[i * n + j] = A[j * n + i] = Math.sin(i + 2 * j) + (i === j ? 3 : 0);
  const { values, vectors } = jacobiEigen(A, n);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let j = 0; j < n; j++) av += A[i * n + j] * vectors[j * n + k];
      assert.ok(Math.abs(av - values[k] * vectors[i * n + k]) < 1e-10);
    }
    for (let m = 0; m < n; m++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += vectors[i * n + k] * vectors[i * n + m];
      assert.ok(Math.abs(dot - (k === m ? 1 : 0)) < 1e-10);
    }
  }
});

test('PCA over rows: a line is one component, scores keep pairwise distances, variance fractions add to 1', () => {
  // Points on a line in 1,000 dimensions: one component explains everything, scores are the positions.
  const dir = Float64Array.from({ length: 1000 }, (_, j) => Math.cos(j));
  const norm = Math.hypot(...dir);
  const ts = [0, 1, 3, 4, 9];
  const line = ts.map((t) => Float64Array.from(dir, (d) => 5 + (t * d) / norm));
  const r = pca(line, 3);
  assert.ok(Math.abs(r.explained[0] - 1) < 1e-12);
  const mean = ts.reduce((s, t) => s + t, 0) / ts.length;
  ts.forEach((t, i) => assert.ok(Math.abs(Math.abs(r.scores[i][0]) - Math.abs(t - mean)) < 1e-9));
  // Random rows: with all components, the scores reproduce the centred rows' distances.
  const rows = Array.from({ length: 6 }, (_, i) =>
    Float64Array.from({ length: 40 }, (_, j) => Math.sin(7 * i + j * j)),
  );
  const full = pca(rows, 6);
  assert.ok(Math.abs(full.explained.reduce((s, x) => s + x, 0) - 1) < 1e-12);
  for (let a = 0; a < 6; a++)
    for (let b = 0; b < a; b++) {
      const d = Math.hypot(...rows[a].map((x, j) => x - rows[b][j]));
      const e = Math.hypot(...full.scores[a].map((x, k) => x - full.scores[b][k]));
      assert.ok(Math.abs(d - e) < 1e-9, `distance ${a}–${b}: ${d} vs ${e}`);
    }
});

test('cusps: a sharp turn of the trajectory is found, jitter along a straight path is not', () => {
  const pts = Array.from({ length: 60 }, (_, i) => {
    const t = i / 59,
      jitter = 0.01 * Math.sin(37 * i);
    return {
      sequences: Math.round(1000 * 10 ** (2 * t)),
      pcs: t < 0.5 ? [t + jitter, jitter] : [0.5 + jitter, t - 0.5 + jitter],
    };
  });
  const c = cusps(pts);
  assert.equal(c.length, 1, JSON.stringify(c));
  assert.ok(c[0].angleDegrees > 60 && Math.abs(Math.log10(c[0].sequences) - 4) < 0.15, JSON.stringify(c));
  const straight = pts.map((p, i) => ({
    sequences: p.sequences,
    pcs: [i / 59 + 0.01 * Math.sin(37 * i), 0.01 * Math.cos(29 * i)],
  }));
  assert.deepEqual(cusps(straight), []);
});

test("the outputs are the reference forward's query logits and query-row patterns, with the run's clamps", async () => {
  const rd = RunDir.open(runPath);
  const run = resolveRunConfig(rd.readRunJson<{ config: unknown }>().config);
  const task = await loadTaskData(run.data);
  const { batch } = probeSet(task, 40);
  const ref = rd.latestCheckpoint()!;
  const params = readCheckpoint(ref.path, run.model).params;
  const clamps = activeClamps(run.clamps, ref.sequences);
  const m = new OutputModel(run.model, task, clamps, ref.sequences);
  assert.equal(m.engine.engine, 'fast');
  const out = m.outputs(params, batch, { patterns: true });
  const L = run.model.numLabels,
    H = run.model.numHeads,
    T = 5;
  const w = new TfWeights(run.model, params, false);
  const want = tf.tidy(() => {
    const { inputs, host } = batchTensors(task.bank, batch);
    const r = clampedForward(run.model, w.weights, inputs, host, clamps, ref.sequences, {
      record: new Set([site.pattern(0), site.pattern(1)]),
    });
    return {
      logits: r.logits.dataSync() as Float32Array,
      p: [0, 1].map((l) => r.acts.get(site.pattern(l))!.dataSync() as Float32Array),
    };
  });
  w.dispose();
  let dl = 0,
    dp = 0;
  for (let i = 0; i < batch.size * L; i++) dl = Math.max(dl, Math.abs(out[i] - want.logits[i]));
  for (let b = 0; b < batch.size; b++)
    for (let l = 0; l < 2; l++)
      for (let h = 0; h < H; h++)
        for (let k = 0; k < T; k++) {
          dp = Math.max(
            dp,
            Math.abs(
              out[batch.size * L + ((b * 2 + l) * H + h) * T + k] - want.p[l][((b * H + h) * T + T - 1) * T + k],
            ),
          );
        }
  assert.ok(dl < 1e-4 && dp < 1e-5, `logits ${dl}, patterns ${dp}`);
  // The ablated heads' values are zero: the clamp is applied (their patterns still exist, their output does not).
  assert.ok(clamps.length === 1 && clamps[0].kind === 'ablate');
});

test(
  'dynamics writes the trajectory of every checkpoint, deterministically; patterns add their block; bad input ' +
    'fails cleanly',
  async () => {
    const quiet = { out: () => {}, err: () => {} };
    const a = await dynamicsCommand({ runDir: runPath, probe: '256', progress: 'none' }, quiet);
    const dir = path.join(runPath, 'dynamics', 'as-trained');
    const onDisk = JSON.parse(fs.readFileSync(path.join(dir, 'dynamics.json'), 'utf8')) as DynamicsFile;
    assert.deepEqual(onDisk, JSON.parse(JSON.stringify(a)));
    const refs = RunDir.open(runPath).listCheckpoints();
    assert.deepEqual(
      a.points.map((p) => p.sequences),
      refs.map((r) => r.sequences),
    );
    assert.equal(a.dimension, 256 * 5);
    assert.ok(Math.abs(a.explainedVariance.reduce((s, x) => s + x, 0) - 1) < 1e-9);
    assert.ok(a.explainedVariance[0] > 0.3);
    assert.equal(fs.readFileSync(path.join(dir, 'dynamics.csv'), 'utf8').trim().split('\n').length, 1 + refs.length);
    assert.match(fs.readFileSync(path.join(dir, 'dynamics.svg'), 'utf8'), /^<svg /);
    const b = await dynamicsCommand({ runDir: runPath, probe: '256', progress: 'none' }, quiet);
    assert.deepEqual(b.points, a.points, 'same probe set, same trajectory');
    const p = await dynamicsCommand({ runDir: runPath, probe: '64', patterns: true, progress: 'none' }, quiet);
    assert.equal(p.dimension, 64 * 5 + 64 * 2 * 8 * 5);
    assert.deepEqual(p.features, ['logits', 'patterns']);
    assert.match(p.blockScaling, /logits ×.*patterns ×/);
    const msg = (re: RegExp) => (e: Error) => {
      assert.match(e.message, re);
      return true;
    };
    await assert.rejects(
      dynamicsCommand({ runDir: runPath, probe: '0' }, quiet),
      msg(/^--probe must be a whole number ≥ 1, got "0"$/),
    );
    const empty = RunDir.create(fs.mkdtempSync(path.join(os.tmpdir(), 'il-ed-empty-')), 'empty');
    empty.writeRunJson({ status: 'created', config: presetConfig('smoke') });
    await assert.rejects(dynamicsCommand({ runDir: empty.path }, quiet), msg(/has no checkpoints/));
    assert.ok(!fs.existsSync(path.join(empty.path, 'dynamics')));
  },
);
