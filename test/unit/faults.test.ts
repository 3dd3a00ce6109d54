/**
 * Faults end to end, with real processes: two writers on one run, every stop signal on the CLI and on the
 * training child, a SIGKILL before the first checkpoint, a parent that dies under its training child. Each
 * interrupted run is then continued and must end with exactly the metrics.jsonl (but wall times) and the
 * final checkpoint bytes of an uninterrupted run. Short runs on the fast engine (the smoke preset).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { liveRunStatus } from '../../src/engine/io';
import { processAlive } from '../../src/engine/io/processAlive';
import { CliProcess, ChildRun, cliSync, tmpDir, rowsOf, runJson, waitUntil, entryArgs } from './procHelpers';

/**
 * 400 steps, an evaluation every 60 steps, a checkpoint every 120: the stops below come at the first checkpoint
 * (or evaluation 2), which leaves 280 steps (≈ 0.7 s of CPU) for the signal to land mid-run on a loaded machine;
 * the last evaluation (12,800) is not on the cadence.
 */
const TRAIN = { sequences: 12800, evalEvery: 1920, checkpointEvery: 3840 };
const CONFIG = { train: TRAIN, data: { evalSize: 50 } };
let dir: string, cfg: string, ref: string;

const finalCheckpoint = (run: string) =>
  fs.readFileSync(path.join(run, 'checkpoints', `seq-${TRAIN.sequences}.safetensors`));
/** The run in `run` ended exactly as the reference did. */
function sameAsReference(run: string): void {
  assert.deepEqual(rowsOf(run), rowsOf(ref));
  assert.ok(finalCheckpoint(run).equals(finalCheckpoint(ref)), 'final weights bit for bit');
  assert.equal(runJson(run).status, 'completed');
}
const train = (extra: string[]) => ['train', '--preset', 'smoke', '--config', cfg, '--out', dir, ...extra];

before(() => {
  dir = tmpDir('il-faults-');
  cfg = path.join(dir, 'cfg.json');
  fs.writeFileSync(cfg, JSON.stringify(CONFIG));
  const r = cliSync(train(['--run-id', 'ref']));
  assert.equal(r.code, 0, r.err);
  ref = path.join(dir, 'ref');
  assert.deepEqual(
    rowsOf(ref).map((x) => x.sequences),
    [0, 1920, 3840, 5760, 7680, 9600, 11520, 12800],
  );
});

test('a second writer on a run folder is refused naming the owner, and so is a --resume meanwhile', async () => {
  // A long run, paused (SIGSTOP) once it trains: it holds the lock, alive, while the refused commands run, and
  // spends no CPU meanwhile. SIGTERM is then delivered as it continues.
  const a = new CliProcess(train(['--run-id', 'busy', '--sequences', '640000']));
  await a.waitFor(/eval @ 0 seq/);
  a.proc.kill('SIGSTOP');
  for (const args of [
    train(['--run-id', 'busy', '--sequences', '640000']),
    ['train', '--resume', path.join(dir, 'busy')],
  ]) {
    const r = cliSync(args);
    assert.equal(r.code, 2, r.err);
    assert.match(
      r.err,
      /^induction-lab: run folder .*busy is in use by pid \d+ on .* since .* \(induction-lab train --run-id busy\); wait for it to finish or stop it first\n$/,
    );
  }
  a.proc.kill('SIGTERM');
  a.proc.kill('SIGCONT');
  assert.equal((await a.done).code, 143, a.err);
  const run = path.join(dir, 'busy');
  const seqs = rowsOf(run).map((r) => r.sequences);
  assert.deepEqual(
    seqs,
    [...new Set(seqs)].sort((x, y) => x - y),
    'one writer: no repeated or interleaved rows',
  );
  const early = rowsOf(run).filter((r) => r.sequences < TRAIN.sequences);
  assert.deepEqual(early, rowsOf(ref).slice(0, early.length), 'the rows of the same run');
  assert.equal(fs.existsSync(path.join(run, 'run.lock')), false, 'released at the end');
});

for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const) {
  test(`${sig} stops the CLI with a checkpoint (exit ${code}); --resume ends bit for bit where an uninterrupted run does`, async () => {
    const id = `sig-${sig}`;
    const p = new CliProcess(train(['--run-id', id]));
    await p.waitFor(/checkpoint @ 3840 seq/);
    p.proc.kill(sig);
    const r = await p.done;
    assert.equal(r.code, code, r.err);
    assert.match(r.err, new RegExp(`${sig}: stopping after this step with a checkpoint`));
    const run = path.join(dir, id);
    const rj = runJson(run);
    assert.equal(rj.status, 'cancelled');
    assert.ok(
      fs.existsSync(path.join(run, 'checkpoints', `seq-${rj.sequences}.safetensors`)),
      `a checkpoint at the stop (${rj.sequences})`,
    );
    assert.deepEqual(
      rowsOf(run),
      rowsOf(ref).filter((x) => x.sequences <= rj.sequences),
      'no extra row at the stop',
    );
    const again = cliSync(['train', '--resume', run]);
    assert.equal(again.code, 0, again.err);
    sameAsReference(run);
  });
}

test('a SIGKILL before the first checkpoint: the run reads "interrupted", and --run-id restarts it cleanly', async () => {
  const noCkpt = path.join(dir, 'no-ckpt.json');
  fs.writeFileSync(noCkpt, JSON.stringify({ ...CONFIG, train: { ...TRAIN, checkpointEvery: 0 } }));
  const args = ['train', '--preset', 'smoke', '--config', noCkpt, '--out', dir, '--run-id', 'killed'];
  const p = new CliProcess(args);
  await p.waitFor(/eval @ 3840 seq/);
  p.proc.kill('SIGKILL');
  await p.done;
  const run = path.join(dir, 'killed');
  assert.equal(runJson(run).status, 'running');
  assert.equal(liveRunStatus(run).status, 'interrupted');
  assert.ok(rowsOf(run).length >= 3);
  const r = cliSync(args);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /warning: no checkpoint to resume from: restarting the run from sequence 0/);
  // checkpointEvery does not change the numbers: the same rows and final weights as the reference.
  sameAsReference(run);
});

for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
  test(`${sig} stops the training child with a checkpoint ("cancelled"); a resume message finishes it exactly`, async () => {
    const child = new ChildRun();
    child.send({ type: 'start', preset: 'smoke', config: CONFIG, runsRoot: dir, runId: `child-${sig}` });
    await child.waitFor((m) => m.type === 'checkpoint');
    child.proc.kill(sig);
    assert.equal((await child.done).code, 0, child.err);
    const fin = child.msgs.find((m) => m.type === 'finished');
    assert.equal(fin?.type === 'finished' && fin.status, 'cancelled');
    const run = path.join(dir, `child-${sig}`);
    assert.equal(runJson(run).status, 'cancelled');
    const again = new ChildRun();
    again.send({ type: 'resume', runDir: run });
    assert.equal((await again.done).code, 0, again.err);
    sameAsReference(run);
  });
}

test('a training child whose parent dies checkpoints and records "cancelled" (no EPIPE crash)', async () => {
  const run = path.join(dir, 'orphan');
  const errFile = path.join(dir, 'orphan-child.stderr');
  // A parent like the sweep CLI or the extension host: forks the child, relays nothing, then is SIGKILLed.
  const child = entryArgs('child');
  const parentJs = `const { fork } = require('node:child_process'); const fs = require('node:fs');
    const c = fork(${JSON.stringify(child.file)}, [], { execArgv: ${JSON.stringify(child.execArgv)}, serialization: 'advanced',
      stdio: ['ignore', 'ignore', fs.openSync(${JSON.stringify(errFile)}, 'w'), 'ipc'] });
    c.on('message', (m) => { if (m.type === 'checkpoint') console.log('child ' + c.pid); });
    c.send({ type: 'start', preset: 'smoke', config: ${JSON.stringify(CONFIG)}, runsRoot: ${JSON.stringify(dir)}, runId: 'orphan' });`;
  const parent = spawn(process.execPath, ['-e', parentJs], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  parent.stdout!.on('data', (d) => {
    out += d;
  });
  await waitUntil(
    () => /child \d+/.test(out),
    120_000,
    () => `no checkpoint from the child: ${out}`,
  );
  const childPid = Number(/child (\d+)/.exec(out)![1]);
  parent.kill('SIGKILL');
  // Exited: gone, or a zombie that init has not reaped yet (which can take a second).
  await waitUntil(
    () => !processAlive(childPid),
    60_000,
    () => 'the orphaned child kept running',
  );
  const rj = runJson(run);
  assert.equal(rj.status, 'cancelled');
  assert.ok(fs.existsSync(path.join(run, 'checkpoints', `seq-${rj.sequences}.safetensors`)));
  assert.equal(liveRunStatus(run).status, 'cancelled');
  assert.doesNotMatch(fs.readFileSync(errFile, 'utf8'), /EPIPE|Unhandled|Error/);
  assert.equal(cliSync(['train', '--resume', run]).code, 0);
  sameAsReference(run);
});
