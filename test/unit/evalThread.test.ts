/**
 * Evaluation on a worker thread (train/evalThread.ts): the same short real runs with `train.evalThread`
 * "off" and "on" write identical metrics (but wall times) in the same order and identical checkpoint units
 * (weights, summary, optimiser and trainer state), for a planned and a loss-driven checkpoint schedule; a
 * stop with an evaluation in flight loses and duplicates nothing and resumes exactly; the choice and its
 * reason are in run.json; bad values are refused with one clear line.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/model/tf';
import { resolveRunConfig, RunConfig } from '../../src/engine/train/runConfig';
import { runTraining } from '../../src/engine/train/trainer';
import { chooseEvalThread } from '../../src/engine/train/evalThread';
import { RunDir } from '../../src/engine/io';
import type { FromChildMessage, MetricsRecord } from '../../src/shared/protocol';
import { CliProcess, cliSync, rowsOf, runJson, tmpDir } from './procHelpers';

before(async () => {
  await initBackend('cpu');
});

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'il-evalthread-'));

/** 40 steps of batch 32, an evaluation every 3 steps; fast engine, one Layer-2 head ablated. */
function run(train: Record<string, unknown>): RunConfig {
  return resolveRunConfig({
    name: 'et',
    train: { sequences: 1280, evalEvery: 96, lr: 1e-3, engine: 'fast', tensorboard: false, ...train },
    data: { evalSize: 64 },
    clamps: [{ kind: 'ablate', heads: ['L2H0'] }],
  });
}

async function train(cfg: RunConfig, root: string, id: string, o: { stopAfter?: number; resume?: boolean } = {}) {
  const dir = o.resume ? RunDir.open(path.join(root, id)) : RunDir.create(root, id);
  const msgs: FromChildMessage[] = [];
  let steps = 0;
  const stopAfter = o.stopAfter ?? Infinity;
  const fin = await runTraining(
    cfg,
    dir,
    { emit: (m) => msgs.push(m), shouldStop: () => steps++ >= stopAfter },
    o.resume,
  );
  return { dir, msgs, fin };
}

const strip = (rows: MetricsRecord[]) => rows.map(({ wallTime: _w, ...r }) => r);
/** Every file of the checkpoints folder, by name. */
const units = (d: RunDir) =>
  Object.fromEntries(
    fs
      .readdirSync(d.checkpointsDir)
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(d.checkpointsDir, f))]),
  );
/** The message kinds in order, progress lines left out (their timing differs). */
const order = (msgs: FromChildMessage[]) =>
  msgs.flatMap((m) =>
    m.type === 'metrics' ? [`m${m.record.sequences}`] : m.type === 'checkpoint' ? [`c${m.sequences}`] : [],
  );

for (const [what, sched] of [
  ['planned checkpoints (checkpointEvery)', { checkpointEvery: 192 }],
  ['loss-driven checkpoints (lossChange)', { checkpoints: { every: 320, lossChange: 0.004 } }],
] as const) {
  test(`evaluation on a worker thread writes what the training thread writes, bit for bit: ${what}`, async () => {
    const root = tmp();
    const off = await train(run({ ...sched, evalThread: 'off' }), root, 'off');
    const on = await train(run({ ...sched, evalThread: 'on' }), root, 'on');
    assert.equal(on.fin.status, 'completed');
    assert.deepEqual(strip(on.dir.readMetrics()), strip(off.dir.readMetrics()));
    assert.equal(on.dir.readMetrics().length, 15, 'at 0, every 96 and at the end');
    const a = units(off.dir),
      b = units(on.dir);
    assert.deepEqual(Object.keys(b), Object.keys(a));
    for (const f of Object.keys(a)) assert.ok(a[f].equals(b[f]), `${f} bit for bit`);
    assert.deepEqual(order(on.msgs), order(off.msgs), 'metrics and checkpoints reported in the same order');
    if ('checkpoints' in sched) {
      // The schedule's loss-driven part fired (else this case would test nothing beyond the planned one).
      const planned = new Set([0, 320, 640, 960, 1280]);
      assert.ok(
        off.dir.listCheckpoints().some((c) => !planned.has(c.sequences)),
        off.dir
          .listCheckpoints()
          .map((c) => c.sequences)
          .join(','),
      );
    }
    const rj = (d: RunDir) => d.readRunJson<{ evalThread: boolean; evalThreadNote: string }>();
    assert.equal(rj(on.dir).evalThread, true);
    assert.equal(rj(off.dir).evalThread, false);
    assert.match(rj(off.dir).evalThreadNote, /"off"/);
  });
}

test('a stop with an evaluation in flight: its row is logged once, the checkpoint is of the stop step, resume is exact', async () => {
  const root = tmp();
  const sched = { checkpoints: { every: 640, lossChange: 0.004 }, evalThread: 'on' };
  const full = await train(run({ ...sched, evalThread: 'off' }), root, 'full');
  // The 6th step evaluates at 192 (on the thread) and the stop is asked right after it; the 7th, between two.
  for (const stopAfter of [6, 7]) {
    const id = `part${stopAfter}`;
    const part = await train(run(sched), root, id, { stopAfter });
    assert.equal(part.fin.status, 'cancelled');
    const at = stopAfter * 32;
    assert.equal(part.dir.latestCheckpoint()!.sequences, at);
    assert.deepEqual(
      strip(part.dir.readMetrics()),
      strip(full.dir.readMetrics()).filter((r) => r.sequences <= at),
      'the rows so far, none lost or repeated',
    );
    const resumed = await train(run(sched), root, id, { resume: true });
    assert.equal(resumed.fin.status, 'completed');
    assert.deepEqual(strip(resumed.dir.readMetrics()), strip(full.dir.readMetrics()));
    const a = units(full.dir),
      b = units(resumed.dir);
    // The stop's own checkpoint is extra; every checkpoint the uninterrupted run wrote is there, identical.
    for (const f of Object.keys(a).filter((f) => f.startsWith('seq-')))
      assert.ok(a[f].equals(b[f]), `${f} bit for bit`);
    assert.ok(a['adam-1280.safetensors'].equals(b['adam-1280.safetensors']));
  }
});

test('SIGTERM on the CLI with the evaluation thread on: checkpoint, exit 143, --resume ends as the thread-less run', async () => {
  const dir = tmpDir('il-evalthread-cli-');
  const cfg = path.join(dir, 'cfg.json');
  // 400 steps, the stop at the first checkpoint (step 120): 280 steps left for the signal to land mid-run, as in
  // faults.test.ts.
  fs.writeFileSync(
    cfg,
    JSON.stringify({ train: { sequences: 12800, evalEvery: 320, checkpointEvery: 3840 }, data: { evalSize: 50 } }),
  );
  const args = (id: string, m: string) => [
    'train',
    '--preset',
    'smoke',
    '--config',
    cfg,
    '--out',
    dir,
    '--run-id',
    id,
    '--eval-thread',
    m,
  ];
  const ref = cliSync(args('ref', 'off'));
  assert.equal(ref.code, 0, ref.err);
  const p = new CliProcess(args('sig', 'on'));
  await p.waitFor(/checkpoint @ 3840 seq/);
  p.proc.kill('SIGTERM');
  const r = await p.done;
  assert.equal(r.code, 143, r.err);
  const run = path.join(dir, 'sig');
  const stopped = runJson(run);
  assert.equal(stopped.status, 'cancelled');
  assert.equal((stopped as { evalThread?: boolean }).evalThread, true);
  const refRows = rowsOf(path.join(dir, 'ref'));
  assert.deepEqual(
    rowsOf(run),
    refRows.filter((x) => x.sequences <= stopped.sequences),
  );
  const again = cliSync(['train', '--resume', run, '--eval-thread', 'on']);
  assert.equal(again.code, 0, again.err);
  assert.deepEqual(rowsOf(run), refRows);
  const w = (d: string) => fs.readFileSync(path.join(d, 'checkpoints', 'seq-12800.safetensors'));
  assert.ok(w(run).equals(w(path.join(dir, 'ref'))), 'final weights bit for bit');
  const bad = cliSync(['train', '--preset', 'smoke', '--out', dir, '--eval-thread', 'maybe']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^induction-lab: --eval-thread must be auto, on or off, got "maybe"$/m);
});

test('auto: the thread when a spare core and enough evaluation; off on one core, on TF.js, on short runs', () => {
  const big = { engine: 'fast' as const, cores: 2, evalSequences: 1e6 };
  assert.equal(chooseEvalThread('auto', big).on, true);
  assert.match(chooseEvalThread('auto', { ...big, cores: 1 }).note, /1 core available, none spare/);
  assert.equal(chooseEvalThread('auto', { ...big, evalSequences: 1000 }).on, false);
  assert.equal(chooseEvalThread('auto', { ...big, engine: 'tfjs' }).on, false);
  assert.equal(chooseEvalThread('on', { ...big, cores: 1 }).on, true);
  assert.equal(chooseEvalThread('off', big).on, false);
  assert.throws(
    () => chooseEvalThread('on', { ...big, engine: 'tfjs' }),
    /train\.evalThread is "on" but the TensorFlow/,
  );
  assert.throws(() => run({ evalThread: 'yes' }), /^Error: train\.evalThread must be auto, on or off, got "yes"$/);
});
