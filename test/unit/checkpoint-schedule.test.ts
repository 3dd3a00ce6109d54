/**
 * The checkpoint schedule (train/checkpointSchedule.ts): 0 included, ascending, log-spaced then linear,
 * snapped to the first step that reaches each count, explicit lists, the loss-driven part and its rebuild
 * on resume, the old checkpointEvery cadence, config errors, the presets' defaults, and a real run whose
 * checkpoint files are exactly the schedule (also after a stop and resume).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CheckpointSchedule,
  ScheduleTrain,
  plannedCheckpoints,
  scheduledCounts,
  snap,
  logSpaced,
  linearSpaced,
  describeCheckpoints,
} from '../../src/engine/train/checkpointSchedule';
import { resolveRunConfig, RunConfig } from '../../src/engine/train/runConfig';
import { presetConfig } from '../../src/engine/science/presets';
import { resolvePreset } from '../../src/engine/science/presets';
import { runTraining } from '../../src/engine/train/trainer';
import { RunDir } from '../../src/engine/io';
import type { MetricsRecord } from '../../src/shared/protocol';

const train = (over: Partial<ScheduleTrain>): ScheduleTrain => ({
  batchSize: 32,
  sequences: 200_000,
  evalEvery: 2000,
  checkpointEvery: 0,
  ...over,
});

/** Every step's due() in order, as the trainer asks it (losses: eval x → fsl_train loss). */
function simulate(
  t: ScheduleTrain,
  losses: Map<number, number> = new Map(),
  from = 0,
  history: MetricsRecord[] = [],
): number[] {
  const s = new CheckpointSchedule(t, history);
  const out: number[] = [];
  if (from === 0 && s.start(losses.get(0))) out.push(0);
  const end = snap(t.sequences, t.batchSize);
  for (let seq = from + t.batchSize; seq < end; seq += t.batchSize)
    if (s.due(seq - t.batchSize, seq, losses.get(seq))) out.push(seq);
  return [...out, end];
}

test('log + linear: 0 first, ascending, log-spaced early (gaps grow), evenly spaced late, every count a whole step', () => {
  const t = train({ checkpoints: { log: 10, linear: 11 } });
  const p = plannedCheckpoints(t);
  assert.equal(p[0], 0);
  assert.equal(p[p.length - 1], 200_000);
  for (let i = 1; i < p.length; i++) assert.ok(p[i] > p[i - 1], `ascending at ${i}`);
  for (const c of p) assert.equal(c % 32, 0, `${c} is a step boundary`);
  // The log part, c_i = 32·6250^(i/9) (6250^(1/9) = 2.641): 32, 85, 223, 589, … 200000, snapped up.
  const log = logSpaced(10, 32, 200_000);
  assert.deepEqual(log.slice(0, 4), [32, 85, 223, 589]);
  assert.equal(log[9], 200_000);
  assert.deepEqual(log.map((c) => snap(c, 32)).slice(0, 4), [32, 96, 224, 608]);
  assert.deepEqual(
    linearSpaced(11, 200_000),
    [0, 20000, 40000, 60000, 80000, 100000, 120000, 140000, 160000, 180000, 200000],
  );
  assert.deepEqual(
    p,
    [...new Set([0, ...log.map((c) => snap(c, 32)), ...linearSpaced(11, 200_000)])].sort((a, b) => a - b),
  );
  // Dense early: below 5,000 sequences only the log part contributes, with growing gaps.
  const early = p.filter((c) => c > 0 && c < 5000);
  assert.ok(early.length >= 5);
  for (let i = 2; i < early.length; i++) assert.ok(early[i] - early[i - 1] > early[i - 1] - early[i - 2]);
  // The trainer's predicate fires exactly at the planned counts.
  assert.deepEqual(simulate(t), p);
});

test('snapping: a count lands on the first step that reaches it; counts on one step give one checkpoint', () => {
  const t = train({ sequences: 1000, checkpoints: [0, 1, 31, 32, 33, 100, 1000] });
  assert.deepEqual(plannedCheckpoints(t), [0, 32, 64, 128, 1024]);
  assert.deepEqual(simulate(t), [0, 32, 64, 128, 1024]);
  assert.equal(snap(0, 32), 0);
  assert.equal(snap(64, 32), 64);
  assert.equal(snap(65, 32), 96);
});

test('explicit lists: exactly the counts (0 only when listed), any order, the final one added', () => {
  const t = train({ sequences: 3200, checkpoints: [1600, 800] });
  assert.deepEqual(plannedCheckpoints(t), [800, 1600, 3200]);
  assert.deepEqual(simulate(t), [800, 1600, 3200]);
  assert.deepEqual(plannedCheckpoints(train({ sequences: 3200, checkpoints: [] })), [3200]);
  assert.deepEqual(
    plannedCheckpoints(train({ sequences: 3200, checkpoints: { every: 1000, at: [50] } })),
    [0, 64, 1024, 2016, 3008, 3200],
  );
  assert.deepEqual(
    plannedCheckpoints(train({ sequences: 3200, checkpoints: { every: 1000, zero: false } })),
    [1024, 2016, 3008, 3200],
  );
});

test('the old cadence (checkpointEvery, no train.checkpoints) is unchanged: no checkpoint at 0', () => {
  const t = train({ sequences: 50_000, checkpointEvery: 10_000 });
  const every = (n: number, s: number) => Math.floor(s / n);
  const old: number[] = [];
  for (let seq = 32; seq < 50_016; seq += 32)
    if (every(10_000, seq) > every(10_000, seq - 32) && seq < 50_000) old.push(seq);
  assert.deepEqual(old, [10016, 20000, 30016, 40000]);
  assert.deepEqual(simulate(t), [...old, 50016]);
  assert.deepEqual(plannedCheckpoints(t), [...old, 50016]);
  assert.deepEqual(simulate(train({ sequences: 50_000 })), [50016]);
  assert.deepEqual(scheduledCounts(train({ sequences: 50_000 })), []);
});

/** A loss curve: ln 2 plateau with noise below δ, a drop from 0.7 to 0.1 between 60k and 90k, flat after. */
function curve(): Map<number, number> {
  const m = new Map<number, number>();
  for (let x = 0; x <= 200_000; x += 32) {
    if (Math.floor(x / 2000) === Math.floor((x - 32) / 2000) && x !== 0) continue;
    const wiggle = 0.01 * Math.sin(x / 3000);
    m.set(
      x,
      x === 0 ? 2.0 : x < 60_000 ? 0.7 + wiggle : x < 90_000 ? 0.7 - (0.6 * (x - 60_000)) / 30_000 : 0.1 + wiggle,
    );
  }
  return m;
}

test('lossChange: checkpoints where the eval loss moves by ≥ δ since the last one it made, none on a flat plateau', () => {
  const losses = curve();
  const got = simulate(train({ checkpoints: { lossChange: 0.05, zero: false } }), losses);
  const evals = [...losses.keys()].sort((a, b) => a - b);
  // Hand-computed: reference 2.0 at 0, first eval (2016, 0.7…) moves 1.3 → checkpoint; then the plateau
  // stays within 0.02 of it; in the drop (0.02 per 1,000 sequences) every ≥ 0.05 step fires.
  const want: number[] = [];
  let ref = 2.0;
  for (const x of evals) {
    if (x === 0) continue;
    if (Math.abs(losses.get(x)! - ref) >= 0.05) {
      want.push(x);
      ref = losses.get(x)!;
    }
  }
  assert.deepEqual(got, [...want, 200_000]);
  const inDrop = got.filter((x) => x >= 60_000 && x <= 92_000).length;
  // The drop moves 0.04 per evaluation: a checkpoint every second evaluation.
  assert.ok(inDrop >= 7, `${inDrop} checkpoints inside the drop`);
  assert.equal(got.filter((x) => x > 4000 && x < 60_000).length, 0, 'none on the plateau');
});

test("lossChange after a resume: rebuilt from the logged evaluations (a stop's extra evaluation ignored)", () => {
  const losses = curve();
  const t = train({ checkpoints: { log: 6, lossChange: 0.05 } });
  const whole = simulate(t, losses);
  for (const stop of [70_016, 75_000 - (75_000 % 32), 120_000]) {
    // The logged rows up to the stop: the regular evaluations, then the stop's own evaluation (a repeat of the
    // regular one when the stop falls on an evaluation step; else an evaluation the uninterrupted run never made).
    const rows = [...losses.entries()]
      .filter(([x]) => x <= stop)
      .map(([x, loss]) => ({ sequences: x, eval: { fsl_train: { loss } } }));
    rows.push({ sequences: stop, eval: { fsl_train: { loss: losses.get(stop) ?? 5 } } });
    const after = simulate(t, losses, stop, rows as unknown as MetricsRecord[]);
    assert.deepEqual(
      after,
      whole.filter((x) => x > stop),
      `resumed at ${stop}: the same later checkpoints`,
    );
    // Without the history the loss-driven part would start from a wrong reference and differ.
    if (stop === 70_016)
      assert.notDeepEqual(
        simulate(t, losses, stop),
        whole.filter((x) => x > stop),
      );
  }
});

test('config: train.checkpoints validated with one clear line each', () => {
  const bad: Array<[unknown, RegExp]> = [
    ['dense', /train\.checkpoints must be a list of sequence counts or a rule such as \{"log": 10/],
    [[0, -5], /train\.checkpoints\[1\] must be a whole number of sequences in \[0, 10000000000\], got -5/],
    [[0, 1.5], /train\.checkpoints\[1\] must be a whole number/],
    [[300_000], /train\.checkpoints\[0\] = 300000 is beyond the end of the run \(train\.sequences = 200000\)/],
    [{ logs: 10 }, /unknown key "logs" in train\.checkpoints \(known: log = K counts log-spaced/],
    [{ log: 1 }, /train\.checkpoints\.log must be a whole number of checkpoints in \[2, 10000\], got 1/],
    [{ linear: 'ten' }, /train\.checkpoints\.linear must be a whole number of checkpoints/],
    [{ every: 0 }, /train\.checkpoints\.every must be a whole number of sequences ≥ 1, got 0/],
    [{ every: 1 }, /train\.checkpoints\.every = 1 makes 200000 checkpoints \(at most 10000\)/],
    [{ at: [1, 'x'] }, /train\.checkpoints\.at\[1\] must be a whole number/],
    [{ lossChange: 0 }, /train\.checkpoints\.lossChange must be a loss difference in \(0, 100\], got 0/],
    [{ zero: 'yes' }, /train\.checkpoints\.zero must be true or false/],
  ];
  for (const [v, re] of bad) assert.throws(() => presetFast({ train: { checkpoints: v } }), re, JSON.stringify(v));
});

function presetFast(raw: unknown): RunConfig {
  return resolveRunConfig(raw, presetConfig('fast'));
}

test("config: a rule replaces the preset's whole; checkpointEvery alone means that cadence; old configs keep theirs", () => {
  assert.deepEqual(presetFast({ train: { checkpoints: { log: 5 } } }).train.checkpoints, { log: 5 });
  assert.deepEqual(presetFast({ train: { checkpoints: [0, 100] } }).train.checkpoints, [0, 100]);
  const cadence = presetFast({ train: { checkpointEvery: 5000 } });
  assert.equal(cadence.train.checkpoints, undefined);
  assert.deepEqual(plannedCheckpoints(cadence.train).slice(0, 2), [5024, 10016]);
  assert.equal(presetFast({ train: { checkpoints: null } }).train.checkpoints, undefined);
  // A run.json written before train.checkpoints existed: same config, same cadence, no new key.
  const old = {
    name: 'old',
    train: {
      lr: 1e-4,
      batchSize: 32,
      sequences: 200_000,
      evalEvery: 2000,
      checkpointEvery: 10_000,
      initSeed: 5,
      trainSeed: 0,
      evalSeed: 1,
      backend: 'auto',
      engine: 'auto',
    },
  };
  const r = resolveRunConfig(old);
  assert.equal('checkpoints' in r.train, false);
  assert.equal(plannedCheckpoints(r.train)[0], 10016);
  // A config resolved twice (the CLI re-resolves after flags) keeps its rule.
  const f = presetConfig('fast');
  assert.deepEqual(resolveRunConfig(f, f).train.checkpoints, f.train.checkpoints);
  // Figure presets keep their final-only schedule.
  assert.deepEqual(plannedCheckpoints(resolvePreset('fig5b.perfect_l1').train), [200_000]);
});

test('presets: demo and fast checkpoint at 0, ≥ 20 times, densely early; the paper preset keeps ≈ 100 evenly spaced', () => {
  for (const name of ['fast', 'demo']) {
    const t = presetConfig(name).train;
    const p = plannedCheckpoints(t);
    assert.equal(p[0], 0, name);
    assert.ok(p.length >= 18, `${name}: ${p.length} planned`);
    assert.ok(p.filter((c) => c < t.sequences / 20).length >= 6, `${name}: dense early`);
    assert.match(
      describeCheckpoints(t),
      /at 0, 10 log-spaced, \d+ evenly spaced, and at each evaluation where the fsl_train loss moved by ≥ 0\.05/,
    );
  }
  const paper = plannedCheckpoints(presetConfig('paper').train);
  assert.ok(paper.length >= 101 && paper.length <= 130, `${paper.length}`);
  assert.deepEqual(plannedCheckpoints(presetConfig('smoke').train), [0, 32, 160, 704, 1600, 3200]);
});

test('a real run saves exactly its schedule (0 included); stopped and resumed, the same checkpoints', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-sched-'));
  try {
    const cfg = resolveRunConfig({
      name: 'sched',
      data: { evalSize: 20 },
      train: { sequences: 640, evalEvery: 64, lr: 1e-3, checkpoints: { log: 4, at: [100], lossChange: 0.02 } },
    });
    const files = (rd: RunDir) => rd.listCheckpoints().map((c) => c.sequences);
    const quiet = { emit: () => {}, shouldStop: () => false };
    const whole = RunDir.create(root, 'whole');
    await runTraining(cfg, whole, quiet);
    const got = files(whole);
    const planned = plannedCheckpoints(cfg.train);
    assert.equal(got[0], 0);
    for (const c of planned) assert.ok(got.includes(c), `planned ${c} saved`);
    // The rest are loss-driven: each at an evaluation whose loss moved by ≥ 0.02 from the previous one's.
    const rows = whole.readMetrics<MetricsRecord>();
    const extra = got.filter((c) => !planned.includes(c));
    let ref = rows[0].eval.fsl_train.loss;
    const want: number[] = [];
    for (const r of rows.slice(1, -1))
      if (Math.abs(r.eval.fsl_train.loss - ref) >= 0.02) {
        want.push(r.sequences);
        ref = r.eval.fsl_train.loss;
      }
    assert.deepEqual(
      extra,
      want.filter((c) => !planned.includes(c)),
    );
    assert.ok(extra.length >= 3, `loss-driven checkpoints: ${extra}`);

    // Stop after 9 steps (288 sequences, between checkpoints), then resume.
    const part = RunDir.create(root, 'part');
    let polls = 0;
    await runTraining(cfg, part, { emit: () => {}, shouldStop: () => ++polls > 9 });
    const stoppedAt = part.latestCheckpoint()!.sequences;
    assert.ok(stoppedAt > 0 && stoppedAt < 640);
    await runTraining(cfg, part, quiet, true);
    assert.deepEqual(
      files(part).filter((c) => c !== stoppedAt || got.includes(c)),
      got,
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
