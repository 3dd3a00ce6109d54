/**
 * One writer per run folder. A training process holds `<run>/run.lock` (its pid, host, start time and
 * command) from before its first write until it exits; a second writer (`train --run-id X` twice, a
 * `--resume` while X trains, a Slurm index submitted twice, a sweep re-running a folder) is refused with
 * a line naming the owner. The lock is created with O_EXCL, which is atomic on local file systems and
 * on NFS v3+ (the shared folders of a cluster).
 *
 * A lock whose owner is gone is stale: on the owner's host its pid no longer runs (or runs another
 * program: the process start time is compared on Linux); from another host, its heartbeat (the file's
 * mtime, touched while training) is older than STALE_AFTER_MS. A stale lock is taken over and reported.
 * The same test tells readers whether a run that says "running" is really running (liveRunStatus).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeFsError } from './atomic';
import { processAlive } from './processAlive';

export const LOCK_FILE = 'run.lock';
/** How often a holder touches the lock, and how old another host's heartbeat may be before the lock is stale. */
export const HEARTBEAT_MS = 30_000;
export const STALE_AFTER_MS = 10 * 60_000;

export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  started: string;
  /** What holds it, e.g. "induction-lab train --run-id X". */
  command: string;
  /** Linux: the process's start time in clock ticks after boot (/proc/PID/stat field 22), to detect pid reuse. */
  procStart?: string;
}

export type LockState =
  | { state: 'free' }
  | { state: 'held'; owner: LockOwner; heartbeatAgeMs: number }
  | { state: 'stale'; owner: LockOwner | null; why: string };

/** The error a second writer gets: names the owner. */
export class RunLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly owner: LockOwner,
  ) {
    super(
      `run folder ${dir} is in use by pid ${owner.pid} on ${owner.host} since ${owner.started} (${owner.command}); ` +
        'wait for it to finish or stop it first',
    );
  }
}

function procStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function lockPath(dir: string): string {
  return path.join(dir, LOCK_FILE);
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as LockOwner;
    return Number.isInteger(o.pid) && typeof o.host === 'string' ? o : null;
  } catch {
    return null;
  }
}

/** Whether `dir` is locked, by whom, and whether that owner still runs. Never throws for a missing folder. */
export function lockState(dir: string, now = Date.now()): LockState {
  const p = lockPath(dir);
  let text: string, mtime: number;
  try {
    text = fs.readFileSync(p, 'utf8');
    mtime = fs.statSync(p).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'free' };
    throw new Error(`cannot read ${p}: ${describeFsError(e)}`, { cause: e });
  }
  const owner = parseOwner(text);
  const age = Math.max(0, now - mtime);
  // A torn or empty lock: its writer died while creating it (or is writing it right now: give it a moment).
  if (!owner)
    return age > 5_000
      ? { state: 'stale', owner: null, why: 'the lock file is unreadable (its writer died while creating it)' }
      : { state: 'held', owner: { pid: -1, host: '?', started: '?', command: 'starting' }, heartbeatAgeMs: age };
  if (owner.host === os.hostname()) {
    if (!processAlive(owner.pid)) return { state: 'stale', owner, why: `pid ${owner.pid} is no longer running` };
    const start = procStart(owner.pid);
    if (owner.procStart && start && start !== owner.procStart)
      return { state: 'stale', owner, why: `pid ${owner.pid} is now another process` };
    return { state: 'held', owner, heartbeatAgeMs: age };
  }
  if (age > STALE_AFTER_MS)
    return { state: 'stale', owner, why: `no heartbeat from ${owner.host} for ${Math.round(age / 60_000)} min` };
  return { state: 'held', owner, heartbeatAgeMs: age };
}

const held = new Set<RunLock>();
let exitHook = false;

/** A held lock. Release it when done; a process that exits (even by process.exit) releases its locks. */
export class RunLock {
  private lastBeat = Date.now();
  private released = false;
  private constructor(
    readonly dir: string,
    readonly owner: LockOwner,
  ) {}

  /**
   * Takes the lock of `dir` (which must exist), or throws RunLockedError naming the live owner. A stale
   * lock is taken over and `onStale` told why.
   */
  static acquire(dir: string, command: string, onStale?: (message: string) => void): RunLock {
    const owner: LockOwner = {
      pid: process.pid,
      host: os.hostname(),
      started: new Date().toISOString(),
      command,
      procStart: procStart(process.pid),
    };
    const p = lockPath(dir);
    for (let attempt = 0; attempt < 20; attempt++) {
      if (tryCreate(p, owner)) return RunLock.hold(dir, owner);
      const st = lockState(dir);
      if (st.state === 'free') continue; // released between our create and our read
      if (st.state === 'held') {
        if (st.owner.pid !== -1) throw new RunLockedError(dir, st.owner);
        sleepMs(50); // its owner is writing it right now
      } else if (breakStale(p, st.owner)) {
        const who = st.owner ? `pid ${st.owner.pid} on ${st.owner.host} since ${st.owner.started}` : 'an unknown owner';
        onStale?.(`took over the stale lock of ${dir} (${who}: ${st.why})`);
      } else sleepMs(50); // another process is breaking it
    }
    const st = lockState(dir);
    if (st.state === 'held') throw new RunLockedError(dir, st.owner);
    throw new Error(`cannot lock ${dir}: another process keeps taking ${LOCK_FILE}`);
  }

  private static hold(dir: string, owner: LockOwner): RunLock {
    const l = new RunLock(dir, owner);
    held.add(l);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const h of [...held]) h.release();
      });
    }
    return l;
  }

  /** Touches the lock so other hosts see the owner alive; cheap to call often (at most one write per HEARTBEAT_MS). */
  heartbeat(now = Date.now()): void {
    if (this.released || now - this.lastBeat < HEARTBEAT_MS) return;
    this.lastBeat = now;
    try {
      const t = new Date(now);
      fs.utimesSync(lockPath(this.dir), t, t);
    } catch {
      /* best effort: a missed beat is not an error */
    }
  }

  /** Removes the lock if it is still ours. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this);
    const p = lockPath(this.dir);
    try {
      const o = parseOwner(fs.readFileSync(p, 'utf8'));
      if (o && o.pid === this.owner.pid && o.host === this.owner.host && o.started === this.owner.started)
        fs.unlinkSync(p);
    } catch {
      /* gone already */
    }
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function tryCreate(p: string, owner: LockOwner): boolean {
  let fd: number;
  try {
    fd = fs.openSync(p, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`cannot create ${p}: ${describeFsError(e)}`, { cause: e });
  }
  try {
    fs.writeSync(fd, JSON.stringify(owner) + '\n');
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    try {
      fs.unlinkSync(p);
    } catch {
      /* ignore */
    }
    throw new Error(`cannot write ${p}: ${describeFsError(e)}`, { cause: e });
  }
  fs.closeSync(fd);
  return true;
}

/**
 * Removes a stale lock. Two processes may find the same stale lock; a breaker file taken with O_EXCL
 * lets only one of them remove it, after checking it is still the stale one (not a fresh lock that a
 * third process made meanwhile). A breaker left by a process killed mid-break is ignored after 10 s.
 */
function breakStale(p: string, stale: LockOwner | null): boolean {
  const breaker = `${p}.break`;
  try {
    const fd = fs.openSync(breaker, 'wx');
    fs.closeSync(fd);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
      throw new Error(`cannot create ${breaker}: ${describeFsError(e)}`, { cause: e });
    try {
      if (Date.now() - fs.statSync(breaker).mtimeMs > 10_000) fs.unlinkSync(breaker);
    } catch {
      /* someone else did */
    }
    return false;
  }
  try {
    let now: LockOwner | null = null;
    try {
      now = parseOwner(fs.readFileSync(p, 'utf8'));
    } catch {
      return false;
    }
    const same =
      stale === null
        ? now === null
        : now !== null && now.pid === stale.pid && now.host === stale.host && now.started === stale.started;
    if (!same) return false;
    fs.unlinkSync(p);
    return true;
  } finally {
    try {
      fs.unlinkSync(breaker);
    } catch {
      /* ignore */
    }
  }
}
