/**
 * The run lock (one writer per run folder) and the live status readers derive from it: refusal naming
 * the owner, release on exit, stale locks (dead pid, reused pid, silent other host, torn file) taken
 * over and reported, and one winner when several processes race for the same stale lock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  RunLock,
  RunLockedError,
  lockState,
  lockPath,
  liveRunStatus,
  LockOwner,
  STALE_AFTER_MS,
} from '../../src/engine/io';
import { processAlive } from '../../src/engine/io/processAlive';
import { ROOT, tmpDir } from './procHelpers';

const owner = (o: Partial<LockOwner>): LockOwner => ({
  pid: process.pid,
  host: os.hostname(),
  started: '2026-01-01T00:00:00.000Z',
  command: 'test',
  ...o,
});
const writeLock = (dir: string, o: LockOwner | string) =>
  fs.writeFileSync(lockPath(dir), typeof o === 'string' ? o : JSON.stringify(o));
/** A pid that no process has: one that just exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

test('a second writer is refused with the owner named; release frees the folder', () => {
  const dir = tmpDir('il-lock-');
  const a = RunLock.acquire(dir, 'induction-lab train --run-id x');
  const held = JSON.parse(fs.readFileSync(lockPath(dir), 'utf8'));
  assert.equal(held.pid, process.pid);
  assert.equal(held.host, os.hostname());
  assert.match(held.started, /^\d{4}-\d\d-\d\dT/);
  assert.throws(
    () => RunLock.acquire(dir, 'another'),
    (e: Error) => {
      assert.ok(e instanceof RunLockedError);
      assert.equal(
        e.message,
        `run folder ${dir} is in use by pid ${process.pid} on ${os.hostname()} since ${held.started} (induction-lab train --run-id x); wait for it to finish or stop it first`,
      );
      return true;
    },
  );
  assert.equal(liveRunStatus(dir, { status: 'running' }).status, 'running');
  a.release();
  a.release();
  assert.equal(fs.existsSync(lockPath(dir)), false);
  assert.equal(liveRunStatus(dir, { status: 'running' }).status, 'interrupted');
  RunLock.acquire(dir, 'again').release();
});

test('stale locks are taken over and reported: dead pid, reused pid, silent other host, torn file', () => {
  const dir = tmpDir('il-lock-');
  const cases: Array<[string, () => void, RegExp]> = [
    [
      'dead pid',
      () => {
        const pid = deadPid();
        writeLock(dir, owner({ pid }));
      },
      /pid \d+ is no longer running/,
    ],
    ['reused pid', () => writeLock(dir, owner({ procStart: '1' })), /pid \d+ is now another process/],
    [
      'other host, old heartbeat',
      () => {
        writeLock(dir, owner({ host: 'node17' }));
        const old = new Date(Date.now() - STALE_AFTER_MS - 60_000);
        fs.utimesSync(lockPath(dir), old, old);
      },
      /no heartbeat from node17 for 11 min/,
    ],
    [
      'torn file',
      () => {
        writeLock(dir, '{"pid": 12');
        const old = new Date(Date.now() - 10_000);
        fs.utimesSync(lockPath(dir), old, old);
      },
      /unreadable \(its writer died while creating it\)/,
    ],
  ];
  for (const [name, make, why] of cases) {
    if (name === 'reused pid' && !fs.existsSync('/proc/self/stat')) continue;
    make();
    assert.equal(lockState(dir).state, 'stale', name);
    assert.equal(liveRunStatus(dir, { status: 'running' }).status, 'interrupted', name);
    assert.match(liveRunStatus(dir, { status: 'running' }).note, why, name);
    const told: string[] = [];
    const l = RunLock.acquire(dir, 'taker', (m) => told.push(m));
    assert.equal(told.length, 1, name);
    assert.match(told[0], /^took over the stale lock of /);
    assert.match(told[0], why);
    assert.equal(JSON.parse(fs.readFileSync(lockPath(dir), 'utf8')).command, 'taker');
    l.release();
  }
  // A live owner on another host (fresh heartbeat) is not stale: refused.
  writeLock(dir, owner({ host: 'node17', pid: 4242 }));
  assert.throws(() => RunLock.acquire(dir, 'x'), /in use by pid 4242 on node17/);
  assert.deepEqual(
    liveRunStatus(dir, { status: 'completed' }).status,
    'running',
    'a live lock means running, whatever run.json says',
  );
});

test('a process releases its lock when it exits, even by process.exit; a SIGKILLed one leaves it stale', async () => {
  const dir = tmpDir('il-lock-');
  const script = (
    tail: string,
  ) => `const { RunLock } = require(${JSON.stringify(path.join(ROOT, 'src/engine/io/runLock.ts'))});
    RunLock.acquire(${JSON.stringify(dir)}, 'child'); ${tail}`;
  const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script('process.exit(3);')], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 3, r.stderr);
  assert.equal(fs.existsSync(lockPath(dir)), false);
  const p = spawn(
    process.execPath,
    ['--require', 'tsx/cjs', '-e', script('console.log("locked"); setInterval(() => {}, 1000);')],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve) => p.stdout!.on('data', () => resolve()));
  assert.equal(liveRunStatus(dir, { status: 'running' }).status, 'running');
  assert.equal(liveRunStatus(dir, { status: 'running' }).owner?.pid, p.pid);
  p.kill('SIGKILL');
  await new Promise((resolve) => p.on('close', resolve));
  assert.equal(liveRunStatus(dir, { status: 'running' }).status, 'interrupted');
  assert.equal(liveRunStatus(dir, { status: 'cancelled' }).status, 'cancelled');
  assert.equal(liveRunStatus(path.join(dir, 'nope')).status, 'unknown');
});

test('a lock whose owner has exited is stale even before its zombie is reaped', async (t) => {
  if (!fs.existsSync('/proc/self/stat')) {
    t.skip('no /proc here: signal 0 is the only answer');
    return;
  }
  // A node process starts `true` and then blocks its event loop: libuv reaps children from the loop, so the exited
  // `true` stays a zombie until the blocker ends (a shell's background job would be reaped by some shells).
  const blocker = `const c = require('node:child_process').spawn('true'); process.stdout.write(c.pid + '\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);`;
  const parent = spawn(process.execPath, ['-e', blocker], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const zombie = Number(
      await new Promise<string>((resolve) => parent.stdout!.once('data', (d) => resolve(String(d)))),
    );
    const state = () => {
      const st = fs.readFileSync(`/proc/${zombie}/stat`, 'utf8');
      return st.charAt(st.lastIndexOf(')') + 2);
    };
    for (let i = 0; i < 500 && state() !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(state(), 'Z', '`true` has exited and is not reaped');
    assert.doesNotThrow(() => process.kill(zombie, 0), 'signal 0 still finds a zombie');
    assert.equal(processAlive(zombie), false);
    assert.equal(processAlive(parent.pid!), true, 'its parent runs');
    assert.equal(processAlive(deadPid()), false);
    const dir = tmpDir('il-lock-');
    writeLock(dir, owner({ pid: zombie }));
    const s = lockState(dir);
    assert.equal(s.state, 'stale');
    assert.equal(s.state === 'stale' && s.why, `pid ${zombie} is no longer running`);
  } finally {
    parent.kill();
  }
});

test('processes racing for one stale lock: exactly one gets it', async () => {
  const dir = tmpDir('il-lock-');
  writeLock(dir, owner({ pid: deadPid() }));
  // Each racer loads the lock module, says "ready" and waits for the start time on stdin; once all four are
  // ready it is 30 ms ahead, and each spins to it: the same moment, without a start-up allowance of idle seconds.
  const script = `const { RunLock } = require(${JSON.stringify(path.join(ROOT, 'src/engine/io/runLock.ts'))});
    process.stdin.once('data', (d) => { process.stdin.destroy(); const go = Number(d); while (Date.now() < go) {}
      try { RunLock.acquire(${JSON.stringify(dir)}, 'racer'); console.log('won'); setTimeout(() => {}, 6000); }
      catch (e) { console.log(e.constructor.name); } });
    console.log('ready');`;
  const procs: ReturnType<typeof spawn>[] = [];
  let closed = 0,
    ready = 0;
  const outs = await Promise.all(
    Array.from(
      { length: 4 },
      () =>
        new Promise<string>((resolve) => {
          const p = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
            stdio: ['pipe', 'pipe', 'inherit'],
          });
          procs.push(p);
          let out = '';
          p.stdout!.on('data', (d) => {
            const was = out;
            out += d;
            if (!was.includes('ready') && out.includes('ready') && ++ready === 4) {
              const go = String(Date.now() + 30);
              for (const q of procs) q.stdin!.end(go);
            }
          });
          p.on('close', () => {
            // The winner holds the lock until the other three have tried (and given up): then it may go.
            if (++closed === 3) for (const q of procs) if (q.exitCode === null && q.signalCode === null) q.kill();
            resolve(out.replace('ready', '').trim());
          });
        }),
    ),
  );
  assert.deepEqual(outs.sort(), ['RunLockedError', 'RunLockedError', 'RunLockedError', 'won'], outs.join(', '));
});
