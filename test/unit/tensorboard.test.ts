/**
 * TensorBoard events: CRC-32C against the published check value and an independent bitwise CRC, TFRecord
 * framing, the Event / Summary protobufs decoded by a reader written here (not the writer's code), the
 * events a training run writes as it logs each evaluation (every CRC checked, every scalar equal to
 * metrics.jsonl), the opt-out, and a failing writer that leaves training alone.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/model/tf';
import {
  crc32c,
  maskedCrc32c,
  tfRecord,
  scalarsEvent,
  sessionStartEvent,
  textEvent,
  EventWriter,
} from '../../src/engine/io/tensorboard';
import { resolveRunConfig, RunConfig } from '../../src/engine/train/runConfig';
import { runTraining } from '../../src/engine/train/trainer';
import { RunDir } from '../../src/engine/io';
import type { FromChildMessage, MetricsRecord } from '../../src/shared/protocol';
import { bitwiseCrc32c, mask, records, decodeEvent, readEvents } from './tbReader';

before(async () => {
  await initBackend('cpu');
});
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'il-tb-'));

// ---- tests ----

test('CRC-32C: the published check value, an independent bitwise CRC, and the TFRecord mask', () => {
  const check = new TextEncoder().encode('123456789');
  assert.equal(crc32c(check), 0xe3069283);
  assert.equal(bitwiseCrc32c(check), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  const rnd = Uint8Array.from({ length: 1000 }, (_, i) => (i * 2654435761) >>> 24);
  for (const n of [1, 7, 64, 1000]) assert.equal(crc32c(rnd.subarray(0, n)), bitwiseCrc32c(rnd.subarray(0, n)));
  assert.equal(maskedCrc32c(check), mask(0xe3069283));
});

test('a TFRecord frames its data with two masked CRCs; corrupting one byte is caught', () => {
  const data = new TextEncoder().encode('hello tensorboard');
  const rec = tfRecord(data);
  assert.equal(rec.length, 8 + 4 + data.length + 4);
  assert.deepEqual(records(rec), [data]);
  const bad = rec.slice();
  bad[14] ^= 1;
  assert.throws(() => records(bad), /data CRC/);
});

test('events decode to what was written: scalars (float32), text, SessionLog START, large steps', () => {
  const e = decodeEvent(
    scalarsEvent(1.5e9 + 0.25, 6_000_000_000, [
      { tag: 'fsl_train/loss', value: Math.LN2 },
      { tag: 'heads/L2H3/induction_strength', value: -0.125 },
    ]),
  );
  assert.equal(e.wallTime, 1.5e9 + 0.25);
  assert.equal(e.step, 6_000_000_000, 'int64 steps beyond 2^32');
  assert.equal(e.scalars.get('fsl_train/loss'), Math.fround(Math.LN2));
  assert.equal(e.scalars.get('heads/L2H3/induction_strength'), -0.125);
  assert.equal(decodeEvent(textEvent(1, 0, 'config', '**run** ✓')).texts.get('config'), '**run** ✓');
  const s = decodeEvent(sessionStartEvent(2, 640));
  assert.equal(s.start, true);
  assert.equal(s.step, 640);
});

test('EventWriter: brain.Event:2 first; non-finite scalars dropped; names sort after existing files', () => {
  const dir = tmp();
  const w1 = new EventWriter(dir, 1_700_000_000_000);
  w1.scalars(1, 0, [
    { tag: 'a', value: 1 },
    { tag: 'nan', value: NaN },
    { tag: 'inf', value: Infinity },
  ]);
  w1.close();
  const w2 = new EventWriter(dir, 1_700_000_000_000); // same second: must still sort after the first file
  w2.close();
  const files = fs.readdirSync(dir).sort();
  assert.equal(files.length, 2);
  assert.equal(path.join(dir, files[0]), w1.path);
  assert.match(files[0], /^events\.out\.tfevents\.1700000000\./);
  const evs = readEvents(w1.path);
  assert.equal(evs[0].version, 'brain.Event:2');
  assert.deepEqual([...evs[1].scalars.keys()], ['a']);
  assert.throws(() => w1.scalars(1, 0, [{ tag: 'a', value: 1 }]), /closed/);
});

function tinyRun(train: Record<string, unknown> = {}): RunConfig {
  return resolveRunConfig({
    name: 'tiny',
    train: { sequences: 256, evalEvery: 96, checkpointEvery: 0, lr: 1e-3, engine: 'fast', ...train },
    data: { evalSize: 30 },
    clamps: [{ kind: 'ablate', heads: ['L2H0'] }],
  });
}

async function train(cfg: RunConfig, root: string, id: string, stopAfterSteps = Infinity, resume = false) {
  const dir = resume ? RunDir.open(path.join(root, id)) : RunDir.create(root, id);
  const msgs: FromChildMessage[] = [];
  let steps = 0;
  const io = { emit: (m: FromChildMessage) => msgs.push(m), shouldStop: () => steps++ >= stopAfterSteps };
  const fin = await runTraining(cfg, dir, io, resume);
  return { dir, msgs, fin };
}

test('training writes tensorboard/events.out.tfevents.* as it logs: every scalar of every evaluation', async () => {
  const root = tmp();
  const { dir, fin } = await train(tinyRun(), root, 'run');
  assert.equal(fin.status, 'completed');
  const tbDir = path.join(dir.path, 'tensorboard');
  const [file] = fs.readdirSync(tbDir);
  assert.match(file, /^events\.out\.tfevents\.\d{10}\./);
  const evs = readEvents(path.join(tbDir, file));
  assert.equal(evs[0].version, 'brain.Event:2');
  assert.equal(evs[1].start, true);
  assert.equal(evs[1].step, 0);
  assert.match(evs.find((e) => e.texts.has('config'))!.texts.get('config')!, /"lr": 0\.001/);
  const metrics = dir.readMetrics<MetricsRecord>();
  const scalarEvents = evs.filter((e) => e.scalars.size > 0);
  assert.deepEqual(
    scalarEvents.map((e) => e.step),
    metrics.map((r) => r.sequences),
    'one event per evaluation',
  );
  metrics.forEach((r, i) => {
    const s = scalarEvents[i].scalars;
    for (const [set, ms] of Object.entries(r.eval)) {
      assert.equal(s.get(`${set}/loss`), Math.fround(ms.loss));
      assert.equal(s.get(`${set}/acc`), Math.fround(ms.acc));
      assert.equal(s.get(`${set}/in_context_acc`), Math.fround(ms.inContextAcc));
      assert.equal(s.get(`${set}/in_context_prob`), Math.fround(ms.inContextProb));
      assert.equal(s.get(`${set}/prob`), Math.fround(ms.prob));
      assert.equal(s.get(`${set}/use_context_prob`), Math.fround(ms.useContextProb));
    }
    r.inductionStrength.forEach((v, h) => assert.equal(s.get(`heads/L2H${h}/induction_strength`), Math.fround(v)));
    r.prevTokenScore.forEach((v, h) => assert.equal(s.get(`heads/L1H${h}/prev_token_score`), Math.fround(v)));
    assert.equal(s.get('train/learning_rate'), Math.fround(1e-3));
    if (i === 0) assert.equal(s.has('train/loss'), false, 'no train loss before the first step (NaN is not written)');
    else assert.equal(s.get('train/loss'), Math.fround(r.trainLoss));
    assert.equal(s.size, 4 * 6 + 8 + 8 + 1 + (i === 0 ? 0 : 1));
  });
});

test('train.tensorboard false: no events; a resumed run adds a file starting with SessionLog START', async () => {
  const root = tmp();
  const off = await train(tinyRun({ tensorboard: false }), root, 'off');
  assert.equal(fs.existsSync(path.join(off.dir.path, 'tensorboard')), false);
  assert.throws(() => resolveRunConfig({ train: { tensorboard: 'yes' } }), /train\.tensorboard must be true or false/);

  const cfg = tinyRun({ checkpointEvery: 64 });
  const a = await train(cfg, root, 'r', 2); // stopped after 2 steps: evaluation and checkpoint at 64
  assert.equal(a.fin.status, 'cancelled');
  const b = await train(cfg, root, 'r', Infinity, true);
  assert.equal(b.fin.status, 'completed');
  const files = fs.readdirSync(path.join(b.dir.path, 'tensorboard')).sort();
  assert.equal(files.length, 2);
  const second = readEvents(path.join(b.dir.path, 'tensorboard', files[1]));
  assert.equal(second[1].start, true);
  assert.equal(second[1].step, 65, "START just after the checkpoint: TensorBoard drops the first file's later points");
  // TensorBoard's view (purge at START) equals metrics.jsonl.
  const seen = new Map<number, number>();
  for (const f of files)
    for (const e of readEvents(path.join(b.dir.path, 'tensorboard', f))) {
      if (e.start) for (const s of [...seen.keys()]) if (s >= e.step) seen.delete(s);
      const v = e.scalars.get('fsl_train/loss');
      if (v !== undefined) seen.set(e.step, v);
    }
  const m = b.dir.readMetrics<MetricsRecord>();
  const want = m.map((r) => [r.sequences, Math.fround(r.eval.fsl_train.loss)]);
  assert.deepEqual(
    [...seen.entries()].sort((x, y) => x[0] - y[0]),
    want,
  );
});

test('an unwritable tensorboard folder is one warning; training and metrics.jsonl go on', async () => {
  // A new run starts in a clean folder, so the obstacle is put into a stopped run that is then resumed.
  const root = tmp();
  await train(tinyRun(), root, 'w', 4);
  const dir = RunDir.open(path.join(root, 'w'));
  fs.rmSync(path.join(dir.path, 'tensorboard'), { recursive: true, force: true });
  fs.writeFileSync(path.join(dir.path, 'tensorboard'), 'a file where the folder should be');
  const msgs: FromChildMessage[] = [];
  const fin = await runTraining(tinyRun(), dir, { emit: (m) => msgs.push(m), shouldStop: () => false }, true);
  assert.equal(fin.status, 'completed');
  const warnings = msgs.filter((m) => m.type === 'warning').map((m) => (m as { message: string }).message);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0],
    /^TensorBoard events are off for this run: cannot write TensorBoard events in .*tensorboard: (EEXIST|ENOTDIR)/,
  );
  assert.equal(dir.readMetrics().length, 4);
});
