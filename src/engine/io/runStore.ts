// On-disk layout of training runs:
//   <workspace>/.induction-lab/runs/<run-id>/run.json                      config + status (atomic rewrites)
//                                           /run.lock                      the writer (pid, host, start) while it trains
//                                           /metrics.jsonl                 one JSON object per logged step
//                                           /checkpoints/seq-<n>.safetensors  weights after n training sequences
//                                           /checkpoints/seq-<n>.summary.json what a hover shows
//                                           /checkpoints/adam-<n>.safetensors optimiser state (newest checkpoint only)
// Run ids start with a UTC timestamp so a plain name sort is chronological.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { JsonlAppender, describeFsError, readJsonl, writeFileAtomic, writeJsonAtomic } from './atomic';
import { lockState, LockOwner, LockState } from './runLock';

export const RUN_JSON = 'run.json';
export const METRICS_JSONL = 'metrics.jsonl';
export const CHECKPOINTS_DIR = 'checkpoints';

/** checkpoints/seq-N.safetensors → checkpoints/seq-N.summary.json (what a hover on the checkpoint shows). */
export const summaryPath = (checkpoint: string): string => checkpoint.replace(/\.safetensors$/, '.summary.json');

/** `<workspaceFolder>/.induction-lab/runs` */
export function defaultRunsRoot(workspaceFolder: string): string {
  return path.join(workspaceFolder, '.induction-lab', 'runs');
}

/** e.g. "2026-11-26T12-30-05-fast-ab12": UTC time (no ':' for Windows), a slug of `name`, 4 random hex. */
export function makeRunId(name: string, now: Date = new Date()): string {
  const stamp = now.toISOString().slice(0, 19).replace(/:/g, '-');
  const slug =
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40)
      .replace(/-+$/, '') || 'run';
  return `${stamp}-${slug}-${randomBytes(2).toString('hex')}`;
}

function checkRunId(id: string): void {
  // Ids become folder names: no separators, no '.'/'..', nothing a shell or Windows would choke on.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id) || id.length > 200) throw new Error(`invalid run id "${id}"`);
}

const CHECKPOINT_RE = /^seq-(\d+)\.safetensors$/;

/**
 * mkdir -p that reports the real reason: Node's recursive mkdir answers ENOENT where the first missing
 * folder cannot be made (a read-only file system gives EROFS, a full one ENOSPC), so on ENOENT the folders
 * are made one at a time to surface the error of the one that fails.
 */
export function mkdirp(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const missing: string[] = [];
    let d = path.resolve(dir);
    while (!fs.existsSync(d) && path.dirname(d) !== d) {
      missing.unshift(d);
      d = path.dirname(d);
    }
    for (const m of missing) fs.mkdirSync(m); // throws the real code (EROFS, EACCES, ENOSPC, ENOTDIR …)
  }
}

export interface CheckpointRef {
  sequences: number;
  path: string;
}

export class RunDir {
  private constructor(readonly path: string) {}

  get id(): string {
    return path.basename(this.path);
  }
  get runJsonPath(): string {
    return path.join(this.path, RUN_JSON);
  }
  get metricsPath(): string {
    return path.join(this.path, METRICS_JSONL);
  }
  get checkpointsDir(): string {
    return path.join(this.path, CHECKPOINTS_DIR);
  }

  /**
   * Creates `<root>/<id>/checkpoints` (mkdir -p) and proves the folder is writable by writing and
   * removing a probe file: mkdir succeeding on an existing read-only folder proves nothing.
   */
  static create(root: string, id: string): RunDir {
    checkRunId(id);
    const dir = path.resolve(root, id);
    try {
      mkdirp(path.join(dir, CHECKPOINTS_DIR));
      const probe = path.join(dir, `.probe-${process.pid}-${randomBytes(4).toString('hex')}`);
      fs.writeFileSync(probe, 'ok');
      fs.unlinkSync(probe);
    } catch (err) {
      throw new Error(`cannot create run folder ${dir}: ${describeFsError(err)}`, { cause: err });
    }
    return new RunDir(dir);
  }

  /** Opens an existing run; a folder without run.json is not a run. */
  static open(dir: string): RunDir {
    const rd = new RunDir(path.resolve(dir));
    let st: fs.Stats;
    try {
      st = fs.statSync(rd.runJsonPath);
    } catch (err) {
      throw new Error(`not a run folder: ${dir} (cannot read ${RUN_JSON}: ${describeFsError(err)})`, { cause: err });
    }
    if (!st.isFile()) throw new Error(`not a run folder: ${dir} (${RUN_JSON} is not a file)`);
    return rd;
  }

  readRunJson<T = Record<string, unknown>>(): T {
    let text: string;
    try {
      text = fs.readFileSync(this.runJsonPath, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${this.runJsonPath}: ${describeFsError(err)}`, { cause: err });
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new Error(`${this.runJsonPath}: invalid JSON: ${(err as Error).message}`, { cause: err });
    }
  }

  writeRunJson(value: unknown): void {
    writeJsonAtomic(this.runJsonPath, value);
  }

  /**
   * Shallow-merges `patch` into run.json (created if missing) and writes it atomically; returns the
   * result. Single-writer by design: only the training process updates its run.
   */
  updateRunJson<T extends object = Record<string, unknown>>(patch: Partial<T>): T {
    const current = fs.existsSync(this.runJsonPath) ? this.readRunJson<T>() : ({} as T);
    if (typeof current !== 'object' || current === null || Array.isArray(current)) {
      throw new Error(`${this.runJsonPath}: expected a JSON object to update`);
    }
    const merged = { ...current, ...patch } as T;
    this.writeRunJson(merged);
    return merged;
  }

  /** A new appender on metrics.jsonl; the caller closes it. */
  metrics(): JsonlAppender {
    return new JsonlAppender(this.metricsPath);
  }

  /** All logged metric rows; [] before the first one is written. */
  readMetrics<T = unknown>(): T[] {
    if (!fs.existsSync(this.metricsPath)) return [];
    return readJsonl(this.metricsPath) as T[];
  }

  checkpointPath(sequences: number): string {
    if (!Number.isSafeInteger(sequences) || sequences < 0)
      throw new Error(`invalid checkpoint sequence count ${sequences}`);
    return path.join(this.checkpointsDir, `seq-${sequences}.safetensors`);
  }

  /** Atomically writes checkpoint bytes (e.g. from encodeSafetensors); returns its path. */
  writeCheckpoint(sequences: number, bytes: Uint8Array): string {
    const p = this.checkpointPath(sequences);
    fs.mkdirSync(this.checkpointsDir, { recursive: true });
    writeFileAtomic(p, bytes);
    return p;
  }

  /** Checkpoints by ascending sequence count; temp files and strays are ignored. */
  listCheckpoints(): CheckpointRef[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.checkpointsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new Error(`cannot list ${this.checkpointsDir}: ${describeFsError(err)}`, { cause: err });
    }
    const out: CheckpointRef[] = [];
    for (const n of names) {
      const m = CHECKPOINT_RE.exec(n);
      if (m) out.push({ sequences: Number(m[1]), path: path.join(this.checkpointsDir, n) });
    }
    return out.sort((a, b) => a.sequences - b.sequences);
  }

  /** Newest modification time (ms) of run.json and metrics.jsonl; 0 when neither exists. */
  lastWriteMs(): number {
    const t = (f: string) => {
      try {
        return fs.statSync(f).mtimeMs;
      } catch {
        return 0;
      }
    };
    return Math.max(t(this.runJsonPath), t(this.metricsPath));
  }

  latestCheckpoint(): CheckpointRef | undefined {
    const all = this.listCheckpoints();
    return all[all.length - 1];
  }
}

export interface RunEntry {
  id: string;
  path: string;
  runJson: unknown;
  /** The folder of runs it sits in (e.g. "subcircuits", "reproduce"), with `listRuns(root, { groups: true })`. */
  group?: string;
}
export interface RunProblem {
  id: string;
  path: string;
  error: string;
}
/** An array of readable runs (ascending id = oldest first) that also carries the folders it skipped. */
export type RunListing = RunEntry[] & { problems: RunProblem[] };

/**
 * Lists runs under `root` (missing root = no runs). Hidden entries and plain files are ignored. With
 * `groups`, a folder that is not a run but holds runs (subcircuits/, reproduce/, a sweep's folder) lists
 * them too, each with its `group`, after the runs of `root`; an empty or foreign folder is not a problem.
 */
export function listRuns(root: string, o: { groups?: boolean } = {}): RunListing {
  const runs = [] as unknown as RunListing;
  runs.problems = [];
  const groups: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return runs;
    throw new Error(`cannot list runs in ${root}: ${describeFsError(err)}`, { cause: err });
  }
  for (const e of entries
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const dir = path.join(root, e.name);
    try {
      runs.push({ id: e.name, path: dir, runJson: RunDir.open(dir).readRunJson() });
    } catch (err) {
      if (o.groups && !fs.existsSync(path.join(dir, RUN_JSON))) groups.push(e.name);
      else runs.problems.push({ id: e.name, path: dir, error: (err as Error).message });
    }
  }
  for (const g of groups) {
    const inside = listRuns(path.join(root, g));
    for (const r of inside) runs.push({ ...r, group: g });
    // A folder without runs (a run being created, a foreign folder) is nobody's problem.
    if (inside.length) runs.problems.push(...inside.problems);
  }
  return runs;
}

export interface RunOrderKey {
  id: string;
  created?: unknown;
}

/**
 * The one order of every run list (the runs tree, run pickers, the views): newest first by run.json
 * `created` (ISO time), then by id (ids start with their UTC start time); runs without `created` last.
 */
export function compareNewestFirst(a: RunOrderKey, b: RunOrderKey): number {
  const ca = typeof a.created === 'string' ? a.created : '',
    cb = typeof b.created === 'string' ? b.created : '';
  return cb < ca ? -1 : cb > ca ? 1 : b.id < a.id ? -1 : b.id > a.id ? 1 : 0;
}

/** A listed run's order key (run.json `created`). */
export const orderKey = (e: RunEntry): RunOrderKey => ({
  id: e.id,
  created: (e.runJson as { created?: unknown } | null)?.created,
});

/** A run's status as a reader should show it: run.json's, or "interrupted" for a run whose writer is gone. */
export type LiveStatus = 'created' | 'running' | 'completed' | 'cancelled' | 'failed' | 'interrupted' | 'unknown';

export interface LiveRunStatus {
  status: LiveStatus;
  /** What run.json says (differs from `status` for an interrupted run). */
  recorded?: string;
  /** The writer holding the run's lock, if any. */
  owner?: LockOwner;
  /** One line for a tooltip: who trains it, or why it counts as interrupted. */
  note: string;
}

/**
 * The live status of the run in `dir`, from run.json (pass it if already read) and the run's lock: a run
 * recorded as "running" or "created" whose lock is gone or stale was killed (SIGKILL, power loss, a dead
 * node) and is "interrupted" — resumable from its newest checkpoint, or deletable. A live lock means
 * "running" whatever run.json says (a restart that has not yet rewritten it). Never throws.
 */
export function liveRunStatus(dir: string, runJson?: unknown): LiveRunStatus {
  let rj = runJson as { status?: unknown } | undefined;
  if (rj === undefined) {
    try {
      rj = JSON.parse(fs.readFileSync(path.join(dir, RUN_JSON), 'utf8'));
    } catch {
      rj = undefined;
    }
  }
  const recorded = typeof rj?.status === 'string' ? rj.status : undefined;
  let lock: LockState;
  try {
    lock = lockState(dir);
  } catch (e) {
    return { status: 'unknown', recorded, note: (e as Error).message };
  }
  if (lock.state === 'held') {
    const o = lock.owner;
    return { status: 'running', recorded, owner: o, note: `pid ${o.pid} on ${o.host} since ${o.started}` };
  }
  if (recorded === 'running' || recorded === 'created') {
    const why = lock.state === 'stale' ? lock.why : 'its training process is gone';
    return {
      status: 'interrupted',
      recorded,
      note: `interrupted (${why}): resume it from its newest checkpoint, or delete it`,
    };
  }
  if (recorded === 'completed' || recorded === 'cancelled' || recorded === 'failed')
    return { status: recorded, recorded, note: recorded };
  return {
    status: 'unknown',
    recorded,
    note: recorded === undefined ? 'no readable run.json' : `unknown status "${recorded}"`,
  };
}
