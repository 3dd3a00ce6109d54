/**
 * Runs many training runs, one child process each, at most `workers` at a time (TensorFlow.js uses one
 * core per process, so one worker per core). Runs live in `<root>/<key>/`: a finished run whose config
 * matches is reused, a stopped one is resumed from its checkpoint, anything else starts fresh (the child
 * empties the folder under the run's lock; a folder another process is training is refused, not shared).
 */
import { fork, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunConfig, resolveStoredRunConfig } from './runConfig';
import { RunDir, liveRunStatus } from '../io';
import type { FromChildMessage, ToChildMessage, RunStatus } from '../../shared/protocol';

export interface SweepJob {
  key: string;
  config: RunConfig;
}
export interface SweepResult {
  key: string;
  runDir: string;
  status: RunStatus;
  reused: boolean;
  error?: string;
}

export interface SweepOptions {
  root: string;
  workers?: number;
  /** The training child to fork (default: childEntry()). */
  entry?: { file: string; execArgv: string[] };
  /** Every message of every child, tagged with its job. */
  onMessage?: (job: SweepJob, m: FromChildMessage) => void;
  /** Polled; true cancels all running children (they checkpoint) and starts no more. */
  shouldStop?: () => boolean;
  /** The cores the children share (default: this machine's), for their evaluation thread. */
  cores?: number;
}

/**
 * What a sweep's children do with their evaluation thread (train/evalThread.ts): with a core left over for
 * each child's thread, their own choice (auto); else "off" — a thread on a core another child trains on
 * takes that child's time, not a spare core's.
 */
export function childEvalThread(workers: number, cores: number): 'auto' | 'off' {
  return 2 * workers <= cores ? 'auto' : 'off';
}

/**
 * Where the training child's entry is: bundled, out/child.js next to this code's bundle (out/cli.js); under
 * tsx, the source src/engine/child.ts one folder up from this file (src/engine/train/).
 */
export function childEntry(): { file: string; execArgv: string[] } {
  const js = path.join(__dirname, 'child.js');
  if (fs.existsSync(js)) return { file: js, execArgv: [] };
  const ts = path.join(__dirname, '..', 'child.ts');
  if (fs.existsSync(ts)) return { file: ts, execArgv: ['--import', 'tsx'] };
  throw new Error(`training child not found: neither ${js} nor ${ts} (run \`npm run build\`)`);
}

const stable = (x: unknown): string =>
  JSON.stringify(x, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v,
  );

/**
 * A stored config as the engine reads it today: keys added since the run was written take the values the
 * run actually used (their defaults; a run from before `data.standIn` used the independent stand-in), so
 * a finished run is not retrained only because run.json predates a key.
 */
function storedConfig(raw: unknown): unknown {
  try {
    return resolveStoredRunConfig(raw);
  } catch {
    return raw;
  }
}

interface Plan {
  action: 'reuse' | 'resume' | 'start';
  dir: string;
  why: string;
}

/**
 * What a job's folder needs. Starting over is left to the training child, which empties the folder under
 * its lock (so a folder another process is writing is never deleted from here).
 */
function plan(job: SweepJob, root: string): Plan {
  const dir = path.join(root, job.key);
  if (!fs.existsSync(path.join(dir, 'run.json'))) return { action: 'start', dir, why: 'missing' };
  try {
    const run = RunDir.open(dir);
    const rj = run.readRunJson<{ status: RunStatus; config: RunConfig }>();
    if (stable(storedConfig(rj.config)) !== stable(job.config)) return { action: 'start', dir, why: 'another config' };
    const live = liveRunStatus(dir, rj);
    if (rj.status === 'completed' && live.status === 'completed') return { action: 'reuse', dir, why: 'completed' };
    const why = live.status === 'running' ? `running: ${live.note}` : live.status;
    if (run.latestCheckpoint()) return { action: 'resume', dir, why };
    return { action: 'start', dir, why };
  } catch (e) {
    return { action: 'start', dir, why: `unreadable: ${(e as Error).message}` };
  }
}

/**
 * The jobs' runs as they are on disk, training nothing (the merge job of a Slurm array): completed runs
 * with the job's config are reused; every other job is listed with what is wrong (missing, interrupted,
 * cancelled, failed, running, another config).
 */
export function sweepStatus(
  jobs: SweepJob[],
  root: string,
): { results: SweepResult[]; missing: Array<{ index: number; key: string; why: string }> } {
  const results: SweepResult[] = [];
  const missing: Array<{ index: number; key: string; why: string }> = [];
  jobs.forEach((job, index) => {
    const p = plan(job, root);
    if (p.action === 'reuse') results.push({ key: job.key, runDir: p.dir, status: 'completed', reused: true });
    else missing.push({ index, key: job.key, why: p.why });
  });
  return { results, missing };
}

export async function runSweep(jobs: SweepJob[], opts: SweepOptions): Promise<SweepResult[]> {
  fs.mkdirSync(opts.root, { recursive: true });
  const workers = Math.max(1, opts.workers ?? os.availableParallelism());
  const evalThread = childEvalThread(Math.min(workers, jobs.length), opts.cores ?? os.availableParallelism());
  const entry = opts.entry ?? childEntry();
  const results: SweepResult[] = [];
  const queue = [...jobs];
  const live = new Set<ChildProcess>();
  let stopping = false;
  const poll = setInterval(() => {
    if (!stopping && opts.shouldStop?.()) {
      stopping = true;
      for (const c of live) c.send({ type: 'cancel' } satisfies ToChildMessage);
    }
  }, 200);

  const runOne = (job: SweepJob): Promise<SweepResult> => {
    const p = plan(job, opts.root);
    if (p.action === 'reuse')
      return Promise.resolve({ key: job.key, runDir: p.dir, status: 'completed', reused: true });
    return new Promise((resolve) => {
      const child = fork(entry.file, [], {
        execArgv: entry.execArgv,
        serialization: 'advanced',
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      live.add(child);
      let status: RunStatus = 'failed',
        error: string | undefined,
        stderr = '';
      child.stderr?.on('data', (d) => {
        stderr = (stderr + d).slice(-4000);
      });
      child.on('message', (m: FromChildMessage) => {
        if (m.type === 'finished') status = m.status;
        if (m.type === 'error') error = m.message;
        opts.onMessage?.(job, m);
      });
      child.on('exit', (code) => {
        live.delete(child);
        if (code !== 0 && !error)
          error = `training process exited with code ${code}${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`;
        resolve({ key: job.key, runDir: p.dir, status: error ? 'failed' : status, reused: false, error });
      });
      const msg: ToChildMessage =
        p.action === 'resume'
          ? { type: 'resume', runDir: p.dir, evalThread }
          : { type: 'start', config: job.config, runsRoot: opts.root, runId: job.key, evalThread };
      child.send(msg);
    });
  };

  const worker = async () => {
    while (queue.length && !stopping) results.push(await runOne(queue.shift()!));
  };
  try {
    await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, worker));
  } finally {
    clearInterval(poll);
    for (const c of live) c.kill('SIGTERM');
  }
  return jobs.map(
    (j) =>
      results.find((r) => r.key === j.key) ?? {
        key: j.key,
        runDir: path.join(opts.root, j.key),
        status: 'cancelled',
        reused: false,
      },
  );
}
