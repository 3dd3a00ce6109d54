/** The sweep scheduler: child processes, reuse of finished runs, resume of stopped ones. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { childEvalThread, runSweep } from '../../src/engine/train/sweep';
import { resolveRunConfig } from '../../src/engine/train/runConfig';
import { RunDir } from '../../src/engine/io';
import { entryArgs } from './procHelpers';

/** The training child (the built bundle when it is up to date: tsx compiles the engine in every child). */
const entry = entryArgs('child');

const tiny = (seed: number) =>
  resolveRunConfig({
    name: `s${seed}`,
    train: { sequences: 256, evalEvery: 128, checkpointEvery: 64, lr: 1e-3, initSeed: seed },
    data: { evalSize: 20 },
  });

test('runs jobs in child processes, reuses finished runs and resumes stopped ones', { timeout: 600_000 }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-sweep-'));
  const jobs = [
    { key: 'a', config: tiny(5) },
    { key: 'b', config: tiny(6) },
  ];
  const seen = new Set<string>();
  const first = await runSweep(jobs, { root, entry, workers: 2, onMessage: (j, m) => seen.add(`${j.key}:${m.type}`) });
  assert.deepEqual(
    first.map((r) => [r.key, r.status, r.reused]),
    [
      ['a', 'completed', false],
      ['b', 'completed', false],
    ],
  );
  for (const k of ['a:started', 'a:metrics', 'a:checkpoint', 'a:finished', 'b:finished']) assert.ok(seen.has(k), k);
  const a = RunDir.open(path.join(root, 'a')).readRunJson<{ status: string; evalThreadNote: string }>();
  assert.equal(a.status, 'completed');
  // Two children on this machine's cores: none has a spare one for its evaluation thread (os.availableParallelism()
  // ≥ 4 would leave one each: their own choice, auto).
  if (os.availableParallelism() < 4) assert.match(a.evalThreadNote, /evalThread override .* is "off"/);

  const again = await runSweep(jobs, { root, entry, workers: 2 });
  assert.deepEqual(
    again.map((r) => r.reused),
    [true, true],
  );

  // Stop a run early, then let the next sweep resume it (long enough that the fast engine is still
  // training when the stop reaches the child).
  const long = tiny(7);
  long.train.sequences = 12_800; // 400 steps: 350 left after the first checkpoint (the sweep polls every 200 ms)
  long.train.checkpointEvery = 1600;
  long.train.evalEvery = 16_000;
  const c = { key: 'c', config: long };
  let checkpoints = 0;
  const stopped = await runSweep([c], {
    root,
    entry,
    workers: 1,
    onMessage: (_j, m) => {
      if (m.type === 'checkpoint') checkpoints++;
    },
    shouldStop: () => checkpoints >= 1,
  });
  assert.equal(stopped[0].status, 'cancelled');
  const seqAtStop = RunDir.open(path.join(root, 'c')).latestCheckpoint()!.sequences;
  assert.ok(seqAtStop < 12_800);
  let resumedFrom = -1;
  const resumed = await runSweep([c], {
    root,
    entry,
    workers: 1,
    onMessage: (_j, m) => {
      if (m.type === 'started') resumedFrom = m.startSequences;
    },
  });
  assert.equal(resumed[0].status, 'completed');
  assert.equal(resumedFrom, seqAtStop);
});

test("a sweep's children keep their evaluation thread only when a core is left over for each", () => {
  assert.equal(childEvalThread(2, 2), 'off');
  assert.equal(childEvalThread(1, 2), 'auto');
  assert.equal(childEvalThread(2, 4), 'auto');
  assert.equal(childEvalThread(3, 4), 'off');
});
