/**
 * Training end to end on small settings: determinism, cancel + resume equal to an uninterrupted run,
 * checkpoint round trip and corruption errors, config validation errors.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/model/tf';
import { resolveRunConfig, RunConfig } from '../../src/engine/train/runConfig';
import { presetConfig } from '../../src/engine/science/presets';
import { REST_HEADS } from '../../src/engine/science/conditions';
import { runTraining } from '../../src/engine/train/trainer';
import { RunDir } from '../../src/engine/io';
import { readCheckpoint, encodeCheckpoint, decodeCheckpoint } from '../../src/engine/model/checkpoint';
import { initParams } from '../../src/engine/model/params';
import { DEFAULT_MODEL_CONFIG } from '../../src/engine/model/config';
import type { FromChildMessage, MetricsRecord } from '../../src/shared/protocol';
import { loadTaskData } from '../../src/engine/data';
import { createEngine } from '../../src/engine/train/engines';
import { evaluate, EvalForward } from '../../src/engine/train/evaluate';
import { Forward } from '../../src/engine/forward';
import { hostBatch } from '../../src/engine/model/hostBatch';
import { classificationMetrics } from '../../src/engine/measures/classification';
import { mixesSequences } from '../../src/engine/clamps/support';

before(async () => {
  await initBackend('cpu');
});

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'il-train-'));

function tinyRun(over: Record<string, unknown> = {}): RunConfig {
  return resolveRunConfig({
    name: 'tiny',
    train: { sequences: 320, evalEvery: 96, checkpointEvery: 160, lr: 1e-3 },
    data: { evalSize: 40 },
    clamps: [{ kind: 'ablate', heads: ['L2H0', '1:1'] }],
    ...over,
  });
}

async function train(cfg: RunConfig, root: string, id: string, stopAfterSteps = Infinity, resume = false) {
  const dir = resume ? RunDir.open(path.join(root, id)) : RunDir.create(root, id);
  const msgs: FromChildMessage[] = [];
  let steps = 0;
  const fin = await runTraining(
    cfg,
    dir,
    { emit: (m) => msgs.push(m), shouldStop: () => steps++ >= stopAfterSteps },
    resume,
  );
  return { dir, msgs, fin };
}

/** tinyRun on the fast engine: the fault tests' runs take a fraction of a second. */
const fastRun = (train: Record<string, unknown> = {}) =>
  tinyRun({ train: { sequences: 320, evalEvery: 96, checkpointEvery: 160, lr: 1e-3, engine: 'fast', ...train } });

const strip = (rows: MetricsRecord[]) => rows.map(({ wallTime: _w, ...r }) => r);

test('the same seeds give bit-identical metrics and checkpoints; another init seed does not', async () => {
  const root = tmp();
  // A TF.js backend preference does not switch the fast engine off (contracts.md §1).
  const cpuPref = tinyRun({ train: { sequences: 320, evalEvery: 96, checkpointEvery: 160, lr: 1e-3, backend: 'cpu' } });
  const a = await train(cpuPref, root, 'a');
  const b = await train(tinyRun(), root, 'b');
  assert.equal(a.fin.status, 'completed');
  assert.deepEqual(strip(a.dir.readMetrics()), strip(b.dir.readMetrics()));
  const ca = readCheckpoint(a.dir.latestCheckpoint()!.path),
    cb = readCheckpoint(b.dir.latestCheckpoint()!.path);
  assert.deepEqual(ca.params, cb.params);
  const c = await train(
    tinyRun({ train: { sequences: 320, evalEvery: 96, checkpointEvery: 160, lr: 1e-3, initSeed: 7 } }),
    root,
    'c',
  );
  assert.notDeepEqual(readCheckpoint(c.dir.latestCheckpoint()!.path).params, ca.params);
  // Schedule: eval at 0, at the first step reaching each multiple of 96 (multiples of 32 in x), and at the end.
  assert.deepEqual(
    a.dir.readMetrics<MetricsRecord>().map((r) => r.sequences),
    [0, 96, 192, 288, 320],
  );
  assert.deepEqual(
    a.dir.listCheckpoints().map((k) => k.sequences),
    [160, 320],
  );
  const run = a.dir.readRunJson<{
    status: string;
    engine: string;
    engineDetail: string;
    backend: string | null;
    engineNotes: string[];
    config: RunConfig;
  }>();
  assert.equal(run.status, 'completed');
  assert.equal(run.engine, 'fast');
  assert.match(run.engineDetail, /^WebAssembly SIMD/);
  assert.equal(run.backend, null, 'no TF.js backend ran');
  assert.ok(
    run.engineNotes.some((n) => /train\.backend "cpu" applies to the TensorFlow\.js engine only/.test(n)),
    run.engineNotes.join('; '),
  );
  assert.deepEqual(run.config.clamps, [{ kind: 'ablate', heads: ['L2H0', 'L2H1'] }], 'heads stored canonically');
  // Each checkpoint carries the summary a hover shows: patterns of every head, rows summing to 1.
  const summary = JSON.parse(
    fs.readFileSync(a.dir.latestCheckpoint()!.path.replace('.safetensors', '.summary.json'), 'utf8'),
  );
  assert.equal(summary.sequences, 320);
  assert.deepEqual(summary.tokens, ['x1', 'ℓ1', 'x2', 'ℓ2', 'xq']);
  assert.equal(summary.patterns.length, 2);
  assert.equal(summary.patterns[1].length, 8);
  for (const row of summary.meanPatterns[0][3])
    assert.ok(Math.abs(row.reduce((x: number, y: number) => x + y, 0) - 1) < 1e-5);
  assert.equal(summary.inductionStrength.length, 8);
  const kinds = new Set(a.msgs.map((m) => m.type));
  for (const k of ['started', 'progress', 'metrics', 'checkpoint', 'finished'])
    assert.ok(kinds.has(k as FromChildMessage['type']), k);
});

test('a cancelled run resumes from its checkpoint and ends exactly where an uninterrupted run ends', async () => {
  const root = tmp();
  const full = await train(tinyRun(), root, 'full');
  const part = await train(tinyRun(), root, 'part', 4);
  assert.equal(part.fin.status, 'cancelled');
  assert.equal(part.fin.sequences, 128);
  assert.equal(part.dir.readRunJson<{ status: string }>().status, 'cancelled');
  assert.equal(part.dir.latestCheckpoint()!.sequences, 128);
  // The stop adds a checkpoint, not a metrics row: the rows so far are the uninterrupted run's.
  assert.deepEqual(
    strip(part.dir.readMetrics()),
    strip(full.dir.readMetrics()).filter((r) => r.sequences <= 128),
  );
  const resumed = await train(tinyRun(), root, 'part', Infinity, true);
  assert.equal(resumed.fin.status, 'completed');
  assert.deepEqual(
    fs.readFileSync(resumed.dir.latestCheckpoint()!.path),
    fs.readFileSync(full.dir.latestCheckpoint()!.path),
  );
  // Every row, the mean train loss of the interval the stop split included.
  assert.deepEqual(strip(resumed.dir.readMetrics()), strip(full.dir.readMetrics()));
  // Only the newest checkpoint keeps its optimiser state.
  assert.deepEqual(
    fs.readdirSync(resumed.dir.checkpointsDir).filter((f) => f.startsWith('adam-')),
    ['adam-320.safetensors'],
  );
});

test('a stop just after an evaluation writes no second row for it (no trainLoss: null duplicate)', async () => {
  const root = tmp();
  const full = await train(fastRun(), root, 'full');
  // evalEvery 96 with batch 32: the 3rd step evaluates at 96, and the stop is asked right after it.
  const part = await train(fastRun(), root, 'part', 3);
  assert.equal(part.fin.sequences, 96);
  assert.deepEqual(
    part.dir.readMetrics<MetricsRecord>().map((r) => r.sequences),
    [0, 96],
  );
  assert.deepEqual(strip(part.dir.readMetrics()), strip(full.dir.readMetrics()).slice(0, 2));
  await train(fastRun(), root, 'part', Infinity, true);
  assert.deepEqual(strip(part.dir.readMetrics()), strip(full.dir.readMetrics()));
  // Resuming a completed run changes nothing (as `--run-id` on it does).
  const before = fs.readFileSync(part.dir.metricsPath);
  const again = await train(fastRun(), root, 'part', Infinity, true);
  assert.equal(again.fin.status, 'completed');
  assert.deepEqual(fs.readFileSync(part.dir.metricsPath), before);
});

test('restarting a run that has no checkpoint starts over instead of appending a second history', async () => {
  const root = tmp();
  const noCkpt = () => fastRun({ checkpointEvery: 0 });
  const full = await train(noCkpt(), root, 'full');
  // A process that dies after two evaluations (here: its reporting throws), before any checkpoint.
  const dir = RunDir.create(root, 'dead');
  let evals = 0;
  await assert.rejects(
    runTraining(noCkpt(), dir, {
      emit: (m) => {
        if (m.type === 'metrics' && ++evals === 2) throw new Error('killed');
      },
      shouldStop: () => false,
    }),
    /killed/,
  );
  assert.equal(dir.listCheckpoints().length, 0);
  assert.deepEqual(
    dir.readMetrics<MetricsRecord>().map((r) => r.sequences),
    [0, 96],
  );
  assert.equal(dir.readRunJson<{ status: string; error: string }>().error, 'killed');
  const resumed = await train(noCkpt(), root, 'dead', Infinity, true);
  assert.equal(resumed.fin.status, 'completed');
  assert.ok(
    resumed.msgs.some(
      (m) => m.type === 'warning' && /no checkpoint to resume from: restarting the run from sequence 0/.test(m.message),
    ),
  );
  assert.deepEqual(strip(dir.readMetrics()), strip(full.dir.readMetrics()));
  const rj = dir.readRunJson<{ status: string; error?: string }>();
  assert.equal(rj.status, 'completed');
  assert.equal(rj.error, undefined, 'no stale error after a successful restart');
});

test('a kill between the parts of a checkpoint unit resumes from the last complete unit, bit for bit', async () => {
  const root = tmp();
  const cfg = () => fastRun({ checkpointEvery: 64 });
  const full = await train(cfg(), root, 'full');
  const later = await train(cfg(), root, 'later', 6); // units at 64, 128, 192; rows 0, 96, 192
  const copyFrom = (f: string, to: RunDir) => fs.copyFileSync(path.join(later.dir.path, f), path.join(to.path, f));
  for (const committed of [false, true]) {
    // A run stopped at 128 (unit 128 complete), then killed while writing unit 192: its summary and optimiser
    // state are on disk, its weights (the commit point) only as a temp file, or (committed) written but the
    // older optimiser state not yet removed. The rows up to 192 were appended before the unit.
    const id = `killed-${committed}`;
    const run = (await train(cfg(), root, id, 4)).dir;
    assert.equal(run.latestCheckpoint()!.sequences, 128);
    for (const f of ['metrics.jsonl', 'checkpoints/seq-192.summary.json', 'checkpoints/adam-192.safetensors'])
      copyFrom(f, run);
    if (committed) copyFrom('checkpoints/seq-192.safetensors', run);
    else fs.writeFileSync(path.join(run.checkpointsDir, 'seq-192.safetensors.tmp-4242-0badc0de'), 'torn');
    const resumed = await train(cfg(), root, id, Infinity, true);
    assert.equal(resumed.fin.status, 'completed');
    const started = resumed.msgs.find((m) => m.type === 'started');
    assert.equal(started?.type === 'started' && started.startSequences, committed ? 192 : 128);
    assert.ok(
      !resumed.msgs.some((m) => m.type === 'warning' && /Adam/.test(m.message)),
      'the optimiser state of the unit is used',
    );
    if (!committed)
      assert.ok(
        resumed.msgs.some(
          (m) =>
            m.type === 'warning' &&
            /removed 3 leftover file\(s\).*seq-192\.safetensors\.tmp-4242-0badc0de/.test(m.message),
        ),
      );
    assert.deepEqual(fs.readFileSync(run.latestCheckpoint()!.path), fs.readFileSync(full.dir.latestCheckpoint()!.path));
    assert.deepEqual(strip(run.readMetrics()), strip(full.dir.readMetrics()));
    assert.deepEqual(fs.readdirSync(run.checkpointsDir).sort(), fs.readdirSync(full.dir.checkpointsDir).sort());
  }
});

test('checkpoints round-trip and corrupt or mismatched ones are refused with a clear error', () => {
  const c = DEFAULT_MODEL_CONFIG;
  const params = initParams(c, 5);
  const bytes = encodeCheckpoint({ config: c, sequences: 4096, params });
  const back = decodeCheckpoint(bytes, 'x.safetensors');
  assert.equal(back.sequences, 4096);
  assert.deepEqual(back.params, params);
  assert.throws(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 100), 'cut.safetensors'), /cut\.safetensors/);
  assert.throws(() => decodeCheckpoint(bytes.subarray(0, 5), 'tiny.safetensors'), /tiny\.safetensors/);
  assert.throws(() => decodeCheckpoint(bytes, 'x', { ...c, numLabels: 10 }), /numLabels = 5, the run expects 10/);
  const small = encodeCheckpoint({
    config: { ...c, dModel: 32 },
    sequences: 0,
    params: initParams({ ...c, dModel: 32 }, 1),
  });
  assert.throws(() => decodeCheckpoint(small, 'small', c), /dModel = 32/);
  assert.throws(() => readCheckpoint('/nonexistent/seq-1.safetensors'), /cannot read checkpoint .*ENOENT/);
});

test('bad configs are rejected with errors that name the problem', () => {
  assert.throws(() => presetConfig('nope'), /unknown preset "nope" \(known: .*demo/);
  assert.throws(() => resolveRunConfig({ train: { lrr: 1 } }), /unknown config key "train\.lrr"/);
  assert.throws(() => resolveRunConfig({ train: { lr: -1 } }), /train\.lr must be a number in/);
  assert.throws(() => resolveRunConfig({ train: { batchSize: 2.5 } }), /train\.batchSize must be an integer/);
  assert.throws(() => resolveRunConfig({ train: { trainSeed: 5 } }), /must differ/);
  assert.throws(
    () => resolveRunConfig({ clamps: [{ kind: 'ablate', heads: ['2:9'] }] }),
    /unknown head "2:9": the model has 2 layers/,
  );
  assert.throws(
    () => resolveRunConfig({ clamps: [{ kind: 'ablate', heads: ['L2H9'] }] }),
    /unknown head "L2H9": each layer has 8 heads/,
  );
  assert.throws(() => resolveRunConfig({ clamps: [{ kind: 'frobnicate' }] }), /unknown clamp kind "frobnicate"/);
  assert.throws(
    () => resolveRunConfig({ clamps: [{ kind: 'ablate', heads: ['L2H1'], from: 100, until: 50 }] }),
    /until \(50\) must be after from \(100\)/,
  );
  assert.throws(() => resolveRunConfig({ model: { dModel: 60 } }), /divisible by model\.numHeads/);
  assert.throws(
    () => resolveRunConfig({ data: { classSplit: [50, 10] } }),
    /data\.classSplit must be three whole numbers/,
  );
  assert.equal(
    resolveRunConfig({ data: { numLabels: 10, labelSplit: [36, 9, 0] } }).model.numLabels,
    10,
    'the label count is shared',
  );
});

test('an unwritable output folder fails before training with the path in the message', () => {
  const root = tmp();
  const file = path.join(root, 'a-file');
  fs.writeFileSync(file, 'x');
  assert.throws(() => RunDir.create(file, 'run'), /cannot create run folder .*a-file.*ENOTDIR/);
});

/**
 * Two engines' metrics.jsonl agree within float32 rounding: eval losses within 2e-4 (relative above 1),
 * induction strengths within 1e-3, and (if `acc`) accuracies within one of 40 eval sequences.
 */
function sameMetrics(a: MetricsRecord[], b: MetricsRecord[], acc: boolean): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    for (const k of Object.keys(b[i].eval)) {
      assert.ok(
        Math.abs(a[i].eval[k].loss - b[i].eval[k].loss) < 2e-4 * Math.max(1, b[i].eval[k].loss),
        `${k} at ${a[i].sequences}: ${a[i].eval[k].loss} vs ${b[i].eval[k].loss}`,
      );
      if (acc)
        assert.ok(
          Math.abs(a[i].eval[k].acc - b[i].eval[k].acc) <= 0.026,
          `${k} accuracy at ${a[i].sequences}: ${a[i].eval[k].acc} vs ${b[i].eval[k].acc}`,
        );
    }
    for (let h = 0; h < 8; h++)
      assert.ok(
        Math.abs(a[i].inductionStrength[h] - b[i].inductionStrength[h]) < 1e-3,
        `IS L2H${h} at ${a[i].sequences}`,
      );
  }
}

test('the fast engine trains like the TensorFlow.js engine (same run, metrics within float32 rounding) and resumes exactly', async () => {
  const root = tmp();
  const cfg = (engine: string, backend: string) =>
    tinyRun({ train: { sequences: 320, evalEvery: 96, checkpointEvery: 160, lr: 1e-3, backend, engine } });
  const fast = await train(cfg('fast', 'auto'), root, 'fast');
  const ref = await train(cfg('tfjs', 'wasm'), root, 'ref');
  assert.equal(fast.dir.readRunJson<{ engine: string }>().engine, 'fast');
  const refJson = ref.dir.readRunJson<{ engine: string; backend: string; engineDetail: string }>();
  assert.deepEqual(
    [refJson.engine, refJson.backend, refJson.engineDetail],
    ['tfjs', 'wasm', 'TensorFlow.js, wasm backend'],
  );
  sameMetrics(fast.dir.readMetrics<MetricsRecord>(), ref.dir.readMetrics<MetricsRecord>(), false);
  const part = await train(cfg('fast', 'auto'), root, 'part', 4);
  assert.equal(part.fin.status, 'cancelled');
  await train(cfg('fast', 'auto'), root, 'part', Infinity, true);
  assert.deepEqual(
    readCheckpoint(part.dir.latestCheckpoint()!.path).params,
    readCheckpoint(fast.dir.latestCheckpoint()!.path).params,
  );
});

test('a run that needs the TensorFlow.js engine says why, and forcing the fast path there is an error', async () => {
  const root = tmp();
  const temp = { kind: 'temperature', heads: ['L2H3'], temperature: 2 };
  const r = await train(
    tinyRun({ clamps: [temp], train: { sequences: 64, evalEvery: 64, checkpointEvery: 0, lr: 1e-3, backend: 'auto' } }),
    root,
    'temp',
  );
  const run = r.dir.readRunJson<{ engine: string; engineNotes: string[] }>();
  assert.equal(run.engine, 'tfjs');
  assert.ok(
    run.engineNotes.some((n) => /the temperature clamp reads passes of the model/.test(n)),
    run.engineNotes.join('; '),
  );
  await assert.rejects(
    train(
      tinyRun({ clamps: [{ kind: 'copy', head: 'L1H3' }], train: { sequences: 64, engine: 'fast' } }),
      root,
      'forced',
    ),
    /train\.engine is "fast" but the copy \(from L1H3, not a last-layer head\) clamp/,
  );
  await assert.rejects(
    train(
      tinyRun({ clamps: [{ kind: 'layer1' }, { kind: 'ablate-embedding' }], train: { sequences: 64, engine: 'fast' } }),
      root,
      'forced2',
    ),
    /ablate-embedding clamp with the layer1 clamp runs on the TensorFlow\.js engine only/,
  );
});

// Fig 5b's multi-pass conditions: the fast engine folds their passes; a whole run matches the TF.js engine.
for (const [name, clamps] of [
  ['layer1 (REST_HEADS ablated)', [{ kind: 'ablate', heads: REST_HEADS }, { kind: 'layer1' }]],
  [
    "perfect copy, with L1H1 ablated (which the copy's clean pass ignores)",
    [
      { kind: 'ablate', heads: ['L1H1'] },
      { kind: 'copy', head: 'L2H3' },
    ],
  ],
  [
    'layer1 + perfect copy, copy switched on at 96 sequences',
    [{ kind: 'layer1' }, { kind: 'copy', head: 'L2H3', from: 96 }],
  ],
] as const) {
  test(`${name}: the fast engine runs it and trains like the TensorFlow.js engine`, async () => {
    const root = tmp();
    const cfg = (engine: string, backend: string) =>
      tinyRun({ clamps, train: { sequences: 256, evalEvery: 64, checkpointEvery: 0, lr: 1e-3, backend, engine } });
    const fast = await train(cfg('auto', 'auto'), root, 'fast');
    // The reference on tfjs-wasm (the multi-pass clamps take seconds per step on tfjs-cpu).
    const ref = await train(cfg('tfjs', 'wasm'), root, 'ref');
    assert.equal(fast.dir.readRunJson<{ engine: string }>().engine, 'fast');
    const refJson = ref.dir.readRunJson<{ engine: string; backend: string }>();
    assert.deepEqual([refJson.engine, refJson.backend], ['tfjs', 'wasm']);
    const a = fast.dir.readMetrics<MetricsRecord>(),
      b = ref.dir.readMetrics<MetricsRecord>();
    sameMetrics(a, b, true);
    assert.ok(
      Math.abs(a[a.length - 1].trainLoss - b[b.length - 1].trainLoss) < 2e-4 * Math.max(1, b[b.length - 1].trainLoss),
    );
  });
}

test('evaluation: the logits-only sets in one batched pass equal each set alone on TF.js (every Fig 5b kind)', async () => {
  const cfg = tinyRun();
  const task = await loadTaskData(cfg.data);
  const sets = task.evalSets(cfg.train.evalSeed);
  assert.ok(sets.length >= 3, 'several logits-only sets are joined');
  const params = initParams(cfg.model, 3);
  for (const clamps of [
    [{ kind: 'ablate', heads: REST_HEADS }],
    [
      { kind: 'ablate', heads: REST_HEADS },
      { kind: 'induction', heads: ['L2H3'], strength: 1 },
    ],
    [{ kind: 'layer1' }, { kind: 'copy', head: 'L2H3' }],
    [{ kind: 'copy', head: 'L2H3' }],
  ] as RunConfig['clamps'][]) {
    const e = await createEngine('fast', 'auto', cfg.model, task.bank, clamps, params, null);
    const got = evaluate(cfg.model, sets, e.evalForward(0));
    const ref = new Forward(cfg.model, { params }, { engine: 'tfjs' });
    // The head measures and the checkpoint summary's patterns (one folded pass under perfect copy) too.
    const tfRun: EvalForward = (batch, want) => ref.run(hostBatch(task.bank, batch), clamps, { sequences: 0, ...want });
    const train = sets.filter((x) => x.spec.name === 'fsl_train');
    const near = (what: string, a: number[], b: number[]) =>
      a.forEach((x, i) =>
        assert.ok(Math.abs(x - b[i]) <= 1e-5, `${JSON.stringify(clamps)} ${what}[${i}]: ${x} vs ${b[i]}`),
      );
    const tfEval = evaluate(cfg.model, sets, tfRun);
    near('inductionStrength', got.inductionStrength, tfEval.inductionStrength);
    near('prevTokenScore', got.prevTokenScore, tfEval.prevTokenScore);
    const sum = evaluate(cfg.model, train, e.evalForward(0), { patterns: true }),
      tfSum = evaluate(cfg.model, train, tfRun, { patterns: true });
    near('summary patterns', sum.patterns.mean.flat(3), tfSum.patterns.mean.flat(3));
    near('summary inductionStrength', sum.inductionStrength, tfSum.inductionStrength);
    assert.ok(Math.abs(sum.eval.fsl_train.loss - tfSum.eval.fsl_train.loss) <= 1e-5);
    for (const { spec, batch } of sets) {
      const r = ref.run(hostBatch(task.bank, batch), clamps, { sequences: 0 });
      const want = classificationMetrics(r.logits, batch.size, cfg.model.numLabels, batch.labels, 3);
      for (const [k, v] of Object.entries(want)) {
        const g = (got.eval[spec.name] as unknown as Record<string, number>)[k];
        assert.ok(
          Math.abs(g - v) <= 1e-5 * Math.max(1, Math.abs(v)),
          `${JSON.stringify(clamps)} ${spec.name} ${k}: ${g} vs ${v}`,
        );
      }
    }
    ref.dispose();
    e.dispose();
  }
});

test('evaluation: a clamp that mixes the sequences of a batch keeps each eval set in a batch of its own', async () => {
  const edge = { kind: 'path-patch', sender: 'L1H2', receiver: 'L2H3', input: 'k' };
  const mixing = [
    [{ ...edge, with: 'mean' }],
    [{ ...edge, with: 'corrupt', corruption: 'class' }],
  ] as RunConfig['clamps'][];
  // The other path patches read only their own sequence.
  assert.ok(mixing.every((c) => mixesSequences(resolveRunConfig({ clamps: c }).clamps)));
  for (const c of [[{ ...edge, with: 'zero' }], [{ ...edge, with: 'corrupt', corruption: 'labels' }]])
    assert.equal(mixesSequences(resolveRunConfig({ clamps: c }).clamps), false, JSON.stringify(c));
  const root = tmp();
  for (const clamps of mixing) {
    const cfg = fastRun({ checkpoints: [0, 320] });
    cfg.clamps = resolveRunConfig({ clamps }).clamps;
    const task = await loadTaskData(cfg.data);
    const sets = task.evalSets(cfg.train.evalSeed);
    const rest = sets.filter((x) => x.spec.name !== 'fsl_train');
    assert.ok(rest.length >= 2, 'several logits-only sets');
    // The first evaluation of a real run, on the weights of its checkpoint at 0 sequences.
    const run = await train(cfg, root, `mix-${clamps[0].kind}-${rest.length}-${JSON.stringify(clamps).length}`);
    const row = run.dir.readMetrics<MetricsRecord>().find((r) => r.sequences === 0)!;
    const init = readCheckpoint(path.join(run.dir.path, 'checkpoints', 'seq-0.safetensors')).params;
    const e = await createEngine('fast', 'auto', cfg.model, task.bank, cfg.clamps, init, null);
    const joint = evaluate(cfg.model, sets, e.evalForward(0));
    const apart = evaluate(cfg.model, sets, e.evalForward(0), { setsApart: true });
    let differs = false;
    for (const s of rest) {
      // Each set alone: a list of one logits-only set is never joined.
      const alone = evaluate(cfg.model, [s], e.evalForward(0)).eval[s.spec.name];
      assert.deepEqual(apart.eval[s.spec.name], alone);
      for (const [k, v] of Object.entries(alone)) {
        const logged = (row.eval![s.spec.name] as unknown as Record<string, number>)[k];
        assert.ok(Math.abs(logged - v) <= 1e-6 * Math.max(1, Math.abs(v)), `${s.spec.name} ${k}: ${logged} vs ${v}`);
      }
      differs ||= JSON.stringify(joint.eval[s.spec.name]) !== JSON.stringify(alone);
    }
    assert.ok(differs, `${JSON.stringify(clamps)}: the joint batch would mix the sets`);
    e.dispose();
    // The evaluation thread batches the sets as the training thread does.
    const cfgOn = { ...cfg, train: { ...cfg.train, evalThread: 'on' as const } };
    const on = await train(cfgOn, root, `${path.basename(run.dir.path)}-thread`);
    assert.equal(on.dir.readRunJson<{ evalThread: boolean }>().evalThread, true);
    assert.deepEqual(strip(on.dir.readMetrics()), strip(run.dir.readMetrics()));
  }
});
