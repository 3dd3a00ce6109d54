/**
 * Measures over training: `induction-lab measure RUN --checkpoints all|N|LIST [--workers W] [--follow]`
 * computes the chosen measures at every chosen checkpoint.
 *
 * - Work is one unit per (measure, checkpoint) (units.ts), cached in RUN_DIR/measures/ in the same files as
 *   the single-checkpoint command, so a killed computation resumes with the units it had not finished.
 * - Checkpoints go to W worker processes (the CLI forked as `measure-worker`, one per core by default),
 *   each with its own copy of the task and the sequences; with W = 1 they run in this process.
 * - Over training the dense pass is always computed too (one configuration, shared with the other
 *   measures through the context's memo): the aggregates name the strongest heads at each checkpoint.
 * - After each checkpoint (at most every 2 s) and at the end, one aggregate file per measure stacks its
 *   cached results into series over checkpoints (series.ts).
 * - `--follow` measures a run while it trains: every checkpoint once the run has saved a newer one (so
 *   the evaluation after it, which paths/posthoc interpolate, exists), all of them once it stops.
 */
import { fork, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BACKENDS, initBackend, BackendPreference } from '../model/tf';
import { CheckpointRef, RunDir, liveRunStatus, removeStaleTemps } from '../io';
import { TaskData, loadTaskData } from '../data';
import { readCheckpoint } from '../model/checkpoint';
import { RunConfig } from '../train/runConfig';
import { ClampSpec, describeClamp } from '../clamps/spec';
import {
  MeasureContext,
  DenseSummary,
  contextAtCheckpoint,
  denseEvalMany,
  disposeContext,
  makeMeasureContext,
  readRunConfig,
} from './dense';
import type { ConfigEvaluator } from './influence';
import { parseMeasureNames } from './names';
import { KeyInfo, UnitName, UnitOptions, cachedUnit, computeUnit, unitKey, unitOf } from './units';
import { SeriesEntry, SeriesFile, writeSeries } from './series';
import { MeasureProgress, ProgressMode, formatDuration } from './progress';
import { cachePath } from './cache';
import { formatTable } from './table';

// ------------------------------------------------------------------------------------------ choosing

export type CheckpointChoice = { kind: 'all' } | { kind: 'count'; n: number } | { kind: 'list'; sequences: number[] };

/** `all`, a number N of checkpoints, or a comma list of sequence counts (`0,20000` or `40000,`). */
export function parseCheckpointChoice(text: string): CheckpointChoice {
  const t = text.trim();
  if (t === 'all') return { kind: 'all' };
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n < 1) throw new Error('--checkpoints N needs N ≥ 1');
    return { kind: 'count', n };
  }
  if (/^\d+(,\d+)*,?$/.test(t)) {
    return { kind: 'list', sequences: [...new Set(t.split(',').filter(Boolean).map(Number))].sort((a, b) => a - b) };
  }
  throw new Error(
    '--checkpoints takes all, a number N of checkpoints, or a comma list of sequence counts ' +
      `(e.g. 0,20000,40000), got "${text}"`,
  );
}

function listSequences(s: number[]): string {
  if (s.length <= 24) return s.join(', ');
  return `${s.slice(0, 10).join(', ')}, … (${s.length - 20} more), ${s.slice(-10).join(', ')}`;
}

/**
 * The checkpoints a choice names. N: spread evenly over the saved checkpoints by position, first and
 * last included — on an evenly spaced schedule that is the spec's "closest to N linspace points" (§5.3),
 * on a log + linear one it keeps the schedule's density where the run changes fastest.
 */
export function chooseCheckpoints(all: CheckpointRef[], choice: CheckpointChoice, runPath: string): CheckpointRef[] {
  if (all.length === 0) {
    throw new Error(`run ${runPath} has no checkpoints (its checkpoints folder holds no seq-N.safetensors)`);
  }
  if (choice.kind === 'all') return all.slice();
  if (choice.kind === 'count') {
    if (choice.n >= all.length) return all.slice();
    if (choice.n === 1) return [all[all.length - 1]];
    const at = (i: number) => Math.round((i * (all.length - 1)) / (choice.n - 1));
    const idx = new Set(Array.from({ length: choice.n }, (_, i) => at(i)));
    return [...idx].sort((a, b) => a - b).map((i) => all[i]);
  }
  const have = new Map(all.map((c) => [c.sequences, c]));
  const missing = choice.sequences.filter((s) => !have.has(s));
  if (missing.length) {
    const many = missing.length > 1;
    throw new Error(
      `checkpoint${many ? 's' : ''} ${missing.join(', ')} do${many ? '' : 'es'} not exist in ${runPath} ` +
        `(available: ${listSequences(all.map((c) => c.sequences))})`,
    );
  }
  return choice.sequences.map((s) => have.get(s)!);
}

// ------------------------------------------------------------------------------------------ workers

export interface WorkerInit {
  type: 'init';
  runDir: string;
  subsample: number | null;
  backend: string;
  options: UnitOptions;
  force: boolean;
}
export interface WorkerJob {
  type: 'job';
  sequences: number;
  units: UnitName[];
}
/** Part of one measure's configurations at one checkpoint (PoolExecutor.configEvaluator): their accuracies. */
export interface WorkerConfigsJob {
  type: 'configs';
  sequences: number;
  configs: ClampSpec[][];
}
export type ToWorker = WorkerInit | WorkerJob | WorkerConfigsJob;
export type FromWorker =
  | { type: 'ready'; backend: string }
  | { type: 'progress'; sequences: number; unit: UnitName; done: number; total: number }
  | { type: 'unit'; sequences: number; unit: UnitName; cached: boolean; seconds: number }
  | { type: 'done'; sequences: number }
  | { type: 'configs-progress'; sequences: number; done: number; total: number }
  | { type: 'configs-done'; sequences: number; acc: number[]; cpuSeconds: number }
  | { type: 'failed'; sequences: number; message: string };

/** Where the worker entry is: the CLI bundle this code runs in, or the CLI source under tsx. */
export function measureWorkerEntry(): { file: string; execArgv: string[] } {
  if (path.basename(__filename) === 'cli.js') return { file: __filename, execArgv: [] };
  return { file: path.join(__dirname, '..', 'cli.ts'), execArgv: ['--import', 'tsx'] };
}

interface CheckpointHooks {
  progress(unit: UnitName, done: number, total: number): void;
  unit(unit: UnitName, cached: boolean, seconds: number): void;
}

/**
 * Computes `units` at checkpoint `ref` on a context of that checkpoint made from `base` (same task and
 * sequences), dense first so the others reuse its configuration.
 */
export async function measureCheckpoint(
  base: MeasureContext,
  runDir: string,
  ref: CheckpointRef,
  units: UnitName[],
  o: UnitOptions & { force?: boolean },
  hooks: CheckpointHooks,
): Promise<void> {
  const own = base.sequences === ref.sequences && base.checkpointPath === ref.path;
  const ctx = own ? base : contextAtCheckpoint(base, ref);
  try {
    const info: KeyInfo = {
      run: ctx.run,
      denseSize: ctx.denseSize,
      subsample: ctx.subsample,
      includeRunAblations: ctx.includeRunAblations,
    };
    for (const u of units) {
      const t0 = Date.now();
      const key = unitKey(u, ref, info, o);
      const r = await computeUnit(ctx, runDir, key, o, undefined, (d, t) => hooks.progress(u, d, t));
      hooks.unit(u, r.cached, (Date.now() - t0) / 1000);
    }
  } finally {
    if (!own) disposeContext(ctx);
  }
}

/** A context for the first checkpoint measured in a process (later ones are made from it). */
function firstContext(
  run: RunConfig,
  rd: RunDir,
  task: TaskData,
  ref: CheckpointRef,
  subsample: number | null,
): MeasureContext {
  const ck = readCheckpoint(ref.path, run.model);
  return makeMeasureContext({
    run,
    params: ck.params,
    task,
    sequences: ref.sequences,
    subsample,
    checkpointPath: ref.path,
    runDir: rd,
  });
}

/** The worker process: `induction-lab measure-worker`, forked by measureOverTraining. */
export async function measureWorkerMain(): Promise<void> {
  const send = (m: FromWorker) => {
    if (process.connected) process.send!(m);
  };
  process.on('disconnect', () => process.exit(0));
  let init: WorkerInit | null = null;
  let run: RunConfig,
    rd: RunDir,
    task: TaskData,
    base: MeasureContext | null = null;
  let chain = Promise.resolve();
  process.on('message', (m: ToWorker) => {
    chain = chain.then(async () => {
      if (m.type === 'init') {
        init = m;
        const be = await initBackend(m.backend as BackendPreference);
        rd = RunDir.open(m.runDir);
        run = readRunConfig(rd);
        task = await loadTaskData(run.data);
        send({ type: 'ready', backend: be.name });
        return;
      }
      const ref = rd.listCheckpoints().find((c) => c.sequences === m.sequences);
      const cpu0 = process.cpuUsage();
      try {
        if (!ref) throw new Error(`checkpoint ${m.sequences} disappeared from ${rd.path}`);
        if (!base) base = firstContext(run, rd, task, ref, init!.subsample);
        if (m.type === 'configs') {
          const own = base.sequences === ref.sequences && base.checkpointPath === ref.path;
          const ctx = own ? base : contextAtCheckpoint(base, ref);
          try {
            const acc = denseEvalMany(ctx, m.configs, {}, (done, total) =>
              send({ type: 'configs-progress', sequences: m.sequences, done, total }),
            ).map((r) => r.acc);
            const cpu = process.cpuUsage(cpu0);
            send({ type: 'configs-done', sequences: m.sequences, acc, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
          } finally {
            if (!own) disposeContext(ctx);
          }
          return;
        }
        await measureCheckpoint(
          base,
          rd.path,
          ref,
          m.units,
          { ...init!.options, force: init!.force },
          {
            progress: (unit, done, total) => send({ type: 'progress', sequences: m.sequences, unit, done, total }),
            unit: (unit, cached, seconds) => send({ type: 'unit', sequences: m.sequences, unit, cached, seconds }),
          },
        );
        send({ type: 'done', sequences: m.sequences });
      } catch (e) {
        send({ type: 'failed', sequences: m.sequences, message: (e as Error).message.split('\n')[0] });
      }
    });
  });
  await new Promise(() => {});
}

interface Executor {
  /** Computes the units of one checkpoint; rejects when it failed. */
  run(ref: CheckpointRef, units: UnitName[]): Promise<void>;
  readonly concurrency: number;
  readonly label: string;
  close(): void;
}

class InProcessExecutor implements Executor {
  readonly concurrency = 1;
  label = 'this process';
  private base: MeasureContext | null = null;
  constructor(
    private readonly run_: RunConfig,
    private readonly rd: RunDir,
    private readonly task: TaskData,
    private readonly subsample: number | null,
    private readonly o: UnitOptions & { force?: boolean },
    private readonly progress: MeasureProgress,
  ) {}
  async run(ref: CheckpointRef, units: UnitName[]): Promise<void> {
    if (!this.base) this.base = firstContext(this.run_, this.rd, this.task, ref, this.subsample);
    await measureCheckpoint(this.base, this.rd.path, ref, units, this.o, {
      progress: (u, d, t) => this.progress.inner(ref.sequences, u, d, t),
      unit: (u) => this.progress.unitDone(ref.sequences, u),
    });
  }
  close(): void {
    if (this.base) disposeContext(this.base);
    this.base = null;
  }
}

interface PoolJob {
  resolve: (acc?: number[]) => void;
  reject: (e: Error) => void;
  progress?: (done: number, total: number) => void;
}

type PoolWorker = { child: ChildProcess; stderr: string[] };

/**
 * The measure worker processes: whole checkpoints (run), or one checkpoint's configurations split over
 * every worker (configEvaluator: the influence matrix on the dense set).
 */
export class PoolExecutor implements Executor {
  readonly label: string;
  private readonly idle: PoolWorker[] = [];
  private readonly waiters: Array<() => void> = [];
  private readonly jobs = new Map<ChildProcess, PoolJob>();
  private readonly all: ChildProcess[] = [];
  private alive = 0;
  backend = '';
  /** CPU seconds of each configs job so far (the worker's own count: its context, if made then, and the part). */
  readonly configCpuSeconds: number[] = [];

  private constructor(readonly concurrency: number) {
    this.label = `${concurrency} worker processes`;
  }

  static async start(
    n: number,
    init: WorkerInit,
    entry: { file: string; execArgv: string[] },
    progress?: MeasureProgress,
  ): Promise<PoolExecutor> {
    const pool = new PoolExecutor(n);
    await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<void>((resolve, reject) => {
            const child = fork(entry.file, ['measure-worker'], {
              execArgv: entry.execArgv,
              serialization: 'advanced',
              stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
            });
            const w = { child, stderr: [] as string[] };
            pool.all.push(child);
            pool.alive++;
            child.stderr?.on('data', (d) => {
              w.stderr.push(String(d));
              if (w.stderr.length > 50) w.stderr.shift();
            });
            let ready = false;
            child.on('message', (m: FromWorker) => {
              if (m.type === 'ready') {
                ready = true;
                pool.backend = m.backend;
                pool.release(w);
                resolve();
                return;
              }
              const job = pool.jobs.get(child);
              if (m.type === 'progress') progress?.inner(m.sequences, m.unit, m.done, m.total);
              else if (m.type === 'unit') progress?.unitDone(m.sequences, m.unit);
              else if (m.type === 'configs-progress') job?.progress?.(m.done, m.total);
              else if (job && (m.type === 'done' || m.type === 'configs-done' || m.type === 'failed')) {
                pool.jobs.delete(child);
                if (m.type === 'failed') job.reject(new Error(m.message));
                else if (m.type === 'configs-done') {
                  pool.configCpuSeconds.push(m.cpuSeconds);
                  job.resolve(m.acc);
                } else job.resolve();
                pool.release(w);
              }
            });
            child.on('exit', (code, signal) => {
              const last = w.stderr.join('').trim().split('\n').pop();
              const why = `measure worker exited (${signal ?? `code ${code}`})${last ? `: ${last}` : ''}`;
              pool.alive--;
              const i = pool.idle.indexOf(w);
              if (i >= 0) pool.idle.splice(i, 1);
              if (!ready) reject(new Error(why));
              const job = pool.jobs.get(child);
              if (job) {
                pool.jobs.delete(child);
                job.reject(new Error(why));
              }
              for (const wake of pool.waiters.splice(0)) wake();
            });
            child.send({ ...init } satisfies ToWorker);
          }),
      ),
    ).catch((e) => {
      pool.close();
      throw e;
    });
    return pool;
  }

  private release(w: PoolWorker): void {
    this.idle.push(w);
    this.waiters.shift()?.();
  }

  /** Sends `job` to the next idle worker; resolves with what its answer carries. */
  private async send(job: ToWorker, progress?: (done: number, total: number) => void): Promise<number[] | undefined> {
    for (;;) {
      if (this.alive === 0) throw new Error('every measure worker has exited');
      const w = this.idle.shift();
      if (!w) {
        await new Promise<void>((r) => this.waiters.push(r));
        continue;
      }
      return new Promise<number[] | undefined>((resolve, reject) => {
        this.jobs.set(w.child, { resolve, reject, progress });
        w.child.send(job);
      });
    }
  }

  async run(ref: CheckpointRef, units: UnitName[]): Promise<void> {
    await this.send({ type: 'job', sequences: ref.sequences, units });
  }

  /**
   * Evaluates configurations at checkpoint `ref` split into one contiguous part per worker (contiguous
   * keeps configurations that share the ablated first-layer heads together), progress summed over the
   * parts. Each worker computes its part exactly as this process would (same context, same code).
   */
  configEvaluator(ref: CheckpointRef): ConfigEvaluator {
    return async (configs, onProgress) => {
      const n = Math.max(1, Math.min(this.concurrency, configs.length));
      const parts = Array.from({ length: n }, (_, i) =>
        configs.slice(Math.floor((i * configs.length) / n), Math.floor(((i + 1) * configs.length) / n)),
      );
      const done = parts.map(() => 0),
        totals = parts.map((p) => p.length);
      const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
      const accs = await Promise.all(
        parts.map((part, i) =>
          this.send({ type: 'configs', sequences: ref.sequences, configs: part }, (d, t) => {
            done[i] = d;
            totals[i] = t;
            onProgress?.(sum(done), sum(totals));
          }),
        ),
      );
      return accs.flatMap((a) => a!);
    };
  }

  close(): void {
    for (const c of this.all) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }
}

// ------------------------------------------------------------------------------------------ command

export interface OverTrainingArgs {
  runDir: string;
  /** all | N | comma list (default all). */
  checkpoints?: string;
  what?: string[];
  subsample?: number;
  backend?: string;
  force?: boolean;
  reference?: number;
  ptHead?: string;
  ihHead?: string;
  /** Worker processes (default: one per core, at most one per pending checkpoint; 1 = this process). */
  workers?: number;
  /** Follow a training run: measure checkpoints as they are written, until the run stops. */
  follow?: boolean;
  /** How often --follow looks for new checkpoints (default 2,000 ms). */
  pollMs?: number;
  progress?: ProgressMode;
  /** The worker entry (default: measureWorkerEntry()). */
  workerEntry?: { file: string; execArgv: string[] };
}

export interface OverTrainingIO {
  /** Human text (stdout). */
  out(line: string): void;
  /** Progress (stderr). */
  err(text: string): void;
  errIsTTY?: boolean;
  /** Polled between checkpoints; true stops (finished checkpoints are kept). */
  shouldStop?(): boolean;
}

export interface OverTrainingSummary {
  run: string;
  measures: string[];
  subsample: number | null;
  denseSize: number;
  checkpoints: number[];
  computed: number[];
  cached: number[];
  failed: Array<{ sequences: number; error: string }>;
  stopped: boolean;
  workers: string;
  seconds: number;
  /** Aggregate file of each measure (relative to the run folder). */
  files: Record<string, string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measureOverTraining(argv: OverTrainingArgs, io: OverTrainingIO): Promise<OverTrainingSummary> {
  const t0 = Date.now();
  // Everything is checked before anything is computed or written.
  const names = parseMeasureNames(argv.what);
  const whole = (v: number | undefined) => v === undefined || (Number.isInteger(v) && v >= 1);
  if (!whole(argv.subsample)) throw new Error(`--subsample must be a positive whole number, got ${argv.subsample}`);
  const backend = argv.backend ?? 'auto';
  if (!BACKENDS.includes(backend)) throw new Error(`--backend must be one of ${BACKENDS.join(', ')}, got "${backend}"`);
  if (!whole(argv.workers)) throw new Error(`--workers must be a positive whole number, got ${argv.workers}`);
  const choice = parseCheckpointChoice(argv.checkpoints ?? 'all');
  if (argv.follow && choice.kind !== 'all') {
    throw new Error(
      '--follow measures every checkpoint as the run writes it: ' + 'use it without --checkpoints N or a list',
    );
  }
  const rd = RunDir.open(argv.runDir);
  const run = readRunConfig(rd);
  // A computation killed mid-write leaves a temp file beside its cache files: clear those of dead writers.
  removeStaleTemps(path.join(rd.path, 'measures'));
  const chosen = argv.follow ? [] : chooseCheckpoints(rd.listCheckpoints(), choice, rd.path);
  // A stopped run without checkpoints: the same error with --follow.
  if (argv.follow && !isLive(rd)) chooseCheckpoints(rd.listCheckpoints(), choice, rd.path);
  const asked = names.map((n) => unitOf(n, true)).filter((u): u is UnitName => u !== null);
  const units = [...new Set<UnitName>(['dense', ...asked])];
  const options: UnitOptions = { reference: argv.reference, ptHead: argv.ptHead, ihHead: argv.ihHead };
  const opts: UnitOptions & { force?: boolean } = { ...options, force: argv.force };

  const task = await loadTaskData(run.data);
  const denseSize = task.denseTrainSequences().size;
  const subsample = argv.subsample && argv.subsample < denseSize ? argv.subsample : null;
  const info: KeyInfo = { run, denseSize, subsample, includeRunAblations: true };
  const todo = (ref: CheckpointRef) =>
    argv.force ? units : units.filter((u) => !cachedUnit(rd.path, unitKey(u, ref, info, opts)));

  const summary: OverTrainingSummary = {
    run: rd.path,
    measures: names,
    subsample,
    denseSize,
    checkpoints: [],
    computed: [],
    cached: [],
    failed: [],
    stopped: false,
    workers: '',
    seconds: 0,
    files: {},
  };
  const plan = (refs: CheckpointRef[]) => {
    const jobs: Array<{ ref: CheckpointRef; units: UnitName[] }> = [];
    for (const ref of refs) {
      summary.checkpoints.push(ref.sequences);
      const u = todo(ref);
      if (u.length) jobs.push({ ref, units: u });
      else summary.cached.push(ref.sequences);
    }
    return jobs;
  };
  let jobs = plan(chosen);

  io.out(`run ${rd.path}`);
  const how = choice.kind === 'count' ? `${choice.n} spread over the run` : choice.kind === 'all' ? 'all' : 'listed';
  const which = argv.follow
    ? 'following the run'
    : `${chosen.length} checkpoint${chosen.length === 1 ? '' : 's'} (${how})`;
  io.out(
    `${which}` +
      ` · ${
        subsample
          ? `${subsample} of the ${denseSize} dense training sequences (seeded subsample)`
          : `all ${denseSize} dense training sequences`
      }` +
      ` · measures: ${names.join(', ')}${names.includes('dense') ? '' : ' (+ dense, for the strongest heads)'}`,
  );
  const last = chosen[chosen.length - 1];
  const baseClamps = last ? (unitKey('dense', last, info).parameters.baseClamps as ClampSpec[]) : [];
  if (baseClamps.length) {
    io.out(`the run's own ablations are kept in every configuration: ${baseClamps.map(describeClamp).join('; ')}`);
  }
  if (!argv.follow) io.out(`${jobs.length} to compute, ${summary.cached.length} already cached`);

  const progress = new MeasureProgress(
    argv.progress ?? 'bar',
    io.err,
    !!io.errIsTTY,
    chosen.length,
    summary.cached.length,
    jobs.length,
  );
  const wanted = argv.workers ?? (argv.follow ? 1 : os.availableParallelism());
  const workers = Math.max(1, Math.min(wanted, Math.max(1, jobs.length)));
  let exec: Executor | null = null;
  const executor = async (): Promise<Executor> => {
    if (exec) return exec;
    if (workers > 1) {
      const init: WorkerInit = { type: 'init', runDir: rd.path, subsample, backend, options, force: !!argv.force };
      const pool = await PoolExecutor.start(workers, init, argv.workerEntry ?? measureWorkerEntry(), progress);
      summary.workers = `${pool.label} (backend ${pool.backend})`;
      exec = pool;
    } else {
      const be = await initBackend(backend as BackendPreference);
      exec = new InProcessExecutor(run, rd, task, subsample, opts, progress);
      summary.workers = `this process (backend ${be.name})`;
    }
    return exec;
  };

  // Rewritten as checkpoints finish so an open view follows, but never taking more than ≈ 10 % of the time.
  let lastAggregate = 0,
    aggregateMs = 0;
  const aggregates = (force: boolean) => {
    if (!force && Date.now() - lastAggregate < Math.max(2000, 10 * aggregateMs)) return;
    const t = Date.now();
    Object.assign(summary.files, writeAggregates(rd, units, info, opts));
    lastAggregate = Date.now();
    aggregateMs = lastAggregate - t;
  };

  // Stops (Ctrl-C, SIGTERM from the extension's Cancel) end the workers; finished checkpoints stay cached.
  // In this process alone a signal keeps its default (an immediate exit): a unit cannot be interrupted.
  let stopping = false;
  const onSignal = () => {
    stopping = true;
    exec?.close();
  };
  const stopRequested = () => stopping || !!io.shouldStop?.();
  const handleSignals = workers > 1 || !!argv.follow;
  if (handleSignals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  const runJobs = async (list: Array<{ ref: CheckpointRef; units: UnitName[] }>) => {
    if (!list.length) return;
    const e = await executor();
    const queue = [...list];
    const lane = async () => {
      while (queue.length && !stopRequested()) {
        const { ref, units: u } = queue.shift()!;
        progress.start(ref.sequences, u.length);
        try {
          await e.run(ref, u);
          summary.computed.push(ref.sequences);
          progress.checkpointDone(ref.sequences);
        } catch (err) {
          if (stopRequested()) break;
          summary.failed.push({ sequences: ref.sequences, error: (err as Error).message });
          progress.checkpointDone(ref.sequences);
        }
        aggregates(false);
      }
    };
    await Promise.all(Array.from({ length: e.concurrency }, lane));
  };

  try {
    if (!argv.follow) await runJobs(jobs);
    else {
      const seen = new Set<number>();
      io.out(
        'waiting for checkpoints (each is measured once the run has saved a newer one; ' +
          'Ctrl-C stops, finished ones are kept)',
      );
      for (;;) {
        const live = isLive(rd);
        const all = rd.listCheckpoints();
        const newest = all[all.length - 1]?.sequences ?? -1;
        const ready = all.filter((c) => !seen.has(c.sequences) && (!live || c.sequences < newest));
        if (ready.length) {
          for (const c of ready) seen.add(c.sequences);
          jobs = plan(ready);
          progress.grow(ready.length, jobs.length);
          await runJobs(jobs);
        } else if (!live) {
          const st = liveRunStatus(rd.path);
          const why = st.status === 'interrupted' ? st.note : st.status;
          io.out(`the run has stopped (${why}); every checkpoint it saved is measured`);
          break;
        }
        if (stopRequested()) break;
        if (!ready.length) await sleep(argv.pollMs ?? 2000);
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    (exec as Executor | null)?.close();
    progress.end();
  }
  summary.stopped = stopRequested();
  aggregates(true);
  summary.seconds = (Date.now() - t0) / 1000;
  report(summary, rd, io);
  return summary;
}

/** Whether the run is still training (its checkpoints may grow): a live writer holds its lock. */
function isLive(rd: RunDir): boolean {
  return liveRunStatus(rd.path).status === 'running';
}

/** Rewrites every unit's aggregate from the cache (all of the run's checkpoints); returns measure → file. */
export function writeAggregates(rd: RunDir, units: UnitName[], info: KeyInfo, o: UnitOptions): Record<string, string> {
  const all = rd.listCheckpoints();
  const found = new Map<UnitName, SeriesEntry[]>();
  const missing = new Map<UnitName, number[]>();
  for (const u of units) {
    found.set(u, []);
    missing.set(u, []);
    for (const ref of all) {
      const key = unitKey(u, ref, info, o);
      const rec = cachedUnit(rd.path, key);
      const file = cachePath(rd.path, key.name, key.sequences, key.subsample);
      if (rec) found.get(u)!.push({ sequences: ref.sequences, file, record: rec });
      else missing.get(u)!.push(ref.sequences);
    }
  }
  const dense = new Map<number, DenseSummary>(
    (found.get('dense') ?? []).map((e) => [e.sequences, e.record.result as DenseSummary]),
  );
  const files: Record<string, string> = {};
  for (const u of units) {
    if (found.get(u)!.length === 0) continue;
    const { file, content } = writeSeries(rd.path, u, info.subsample, found.get(u)!, missing.get(u)!, dense);
    files[content.measure] = path.relative(rd.path, file);
  }
  return files;
}

function report(s: OverTrainingSummary, rd: RunDir, io: OverTrainingIO): void {
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  io.out(
    `${s.stopped ? 'stopped: ' : ''}computed ${plural(s.computed.length, 'checkpoint')}, ` +
      `${s.cached.length} already cached` +
      `${s.failed.length ? `, ${s.failed.length} failed` : ''} in ${formatDuration(s.seconds)}` +
      (s.workers ? ` on ${s.workers}` : ''),
  );
  if (s.stopped) io.out('run the same command again to compute the rest (finished checkpoints are kept)');
  const denseFile = s.files.dense;
  if (denseFile) {
    try {
      const d = JSON.parse(fs.readFileSync(path.join(rd.path, denseFile), 'utf8')) as SeriesFile;
      const x = d.series as {
        acc: number[];
        loss: number[];
        isHeads: string[];
        ptHeads: string[];
        inductionStrength: number[][];
        prevTokenScore: number[][];
        strongestIH: Array<string | null>;
        strongestPTH: Array<string | null>;
      };
      const f4 = (v: number | null | undefined) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(4) : '—');
      const rows = d.sequences.map((seq, k) => {
        const ih = x.strongestIH[k],
          pt = x.strongestPTH[k];
        const is = ih ? x.inductionStrength[k][x.isHeads.indexOf(ih)] : null;
        const ps = pt ? x.prevTokenScore[k][x.ptHeads.indexOf(pt)] : null;
        return [seq, f4(x.acc[k]), f4(x.loss[k]), ih ?? '—', f4(is), pt ?? '—', f4(ps)];
      });
      const table = formatTable(['sequences', 'acc', 'loss', 'strongest IH', 'IS', 'strongest PTH', 'PT'], rows);
      if (rows.length) io.out(`\ndense over training (${d.n ?? '?'} sequences)\n${table}`);
    } catch {
      /* the table is a courtesy; the files are the result */
    }
  }
  io.out('\naggregate files (one per measure, series over checkpoints):');
  for (const [m, f] of Object.entries(s.files)) io.out(`  ${m.padEnd(18)} ${f}`);
  for (const f of s.failed) io.out(`failed at checkpoint ${f.sequences}: ${f.error}`);
}
