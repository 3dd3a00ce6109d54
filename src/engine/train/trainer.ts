/**
 * The training loop (spec §2.3–2.4): Adam on fresh batches sampled per step, evaluation and
 * checkpoints on a schedule counted in sequences, every file written atomically and every metrics line
 * flushed as it is written, cancellable between steps, resumable from the last checkpoint unit
 * (checkpointUnit.ts) bit for bit, one writer per run folder (io/runLock.ts). Reports through `emit`
 * with the protocol's messages, so the child process and the CLI share it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TFJS_VERSION } from '../model/tf';
import { Rng } from '../data/rng';
import { loadTaskData, TaskData } from '../data';
import { initParams, Params, countParams } from '../model/params';
import { encodeCheckpoint, readCheckpoint } from '../model/checkpoint';
import { checkClampResources } from '../clamps/apply';
import { clampWarnings } from '../clamps/spec';
import { mixesSequences } from '../clamps/support';
import { adamInit, AdamState } from './adam';
import { evaluate, EvalResult } from './evaluate';
import { EvalThread, availableCores, chooseEvalThread, loopEvalSequences } from './evalThread';
import { createEngine, TrainEngine } from './engines';
import { EvalThreadPreference, RunConfig } from './runConfig';
import { CheckpointSchedule } from './checkpointSchedule';
import { openTrainingEvents } from '../export/tensorboardRun';
import { RunDir, writeFileAtomic, describeFsError, CHECKPOINTS_DIR } from '../io';
import { RunLock, LOCK_FILE } from '../io/runLock';
import { writeCheckpointUnit, newestUnit, cleanLeftovers } from './checkpointUnit';
import type {
  FromChildMessage,
  FinishedMessage,
  MetricsRecord,
  RunStatus,
  CheckpointSummary,
} from '../../shared/protocol';

export const ENGINE_VERSION = '0.1.0';
/**
 * The training loop hands the event loop a turn at least this often (ms): a cancel, a stop signal or a parent's
 * death is seen within it. A turn costs microseconds; progress is still reported every 250 ms.
 */
const YIELD_MS = 50;

export interface TrainIO {
  emit(msg: FromChildMessage): void;
  /** Polled between steps; true stops the run cleanly (checkpoint, status "cancelled"). */
  shouldStop(): boolean;
}

export interface RunJson {
  id: string;
  name: string;
  preset?: string;
  status: RunStatus;
  config: RunConfig;
  /** contracts.md §1; old runs have engine "fast (wasm relaxed)" / "tfjs (wasm)", backend "wasm" and backendNotes. */
  engine?: string;
  engineDetail?: string;
  backend?: string | null;
  engineNotes?: string[];
  backendNotes?: string[];
  /** Whether periodic evaluation ran on a worker thread (train/evalThread.ts), and why (new runs). */
  evalThread?: boolean;
  evalThreadNote?: string;
  versions: Record<string, string>;
  created: string;
  updated: string;
  sequences: number;
  parameters: number;
  error?: string;
  features?: string;
}

export interface TrainOptions {
  /** The run's lock, when the caller took it before deciding how to start (the CLI, the child); else taken here. */
  lock?: RunLock;
  /** What prepareRun loaded before the run folder was made; loaded here if absent. */
  prepared?: PreparedRun;
  /** Overrides train.evalThread (a sweep's children, `train --eval-thread`): how, not what, so not in the config. */
  evalThread?: EvalThreadPreference;
}

/** What a run needs from disk besides its folder: the task's data (feature file) and the graft donors. */
export interface PreparedRun {
  task: TaskData;
}

/**
 * Everything that can fail before training and writes nothing: the feature file (and its width against
 * model.inputDim) and the graft donors. Call it before creating a run folder, so such errors leave none.
 */
export async function prepareRun(config: RunConfig): Promise<PreparedRun> {
  const task = await loadTaskData(config.data, config.model);
  checkClampResources(config.model, config.clamps);
  return { task };
}

/** Whether the run in `runDir` has finished: run.json says completed and its final checkpoint is there. */
export function isComplete(runDir: RunDir): boolean {
  let rj: Partial<RunJson>;
  try {
    rj = runDir.readRunJson<Partial<RunJson>>();
  } catch {
    return false;
  }
  const last = runDir.latestCheckpoint();
  return (
    rj.status === 'completed' &&
    !!last &&
    last.sequences >= finalSequences(rj.config?.train ?? { sequences: Infinity, batchSize: 1 })
  );
}

/** The run's length in sequences: `train.sequences` rounded up to whole batches (every step is a full batch). */
export function finalSequences(t: { sequences: number; batchSize: number }): number {
  return Math.ceil(t.sequences / t.batchSize) * t.batchSize;
}

/**
 * Trains a new run in `runDir`, or (`resume`) continues it from its newest checkpoint unit, so that it ends
 * bit for bit where an uninterrupted run would — metrics.jsonl included. A new run in a folder that held
 * an earlier attempt starts from a clean folder; a resumed run without a checkpoint restarts from 0 (its
 * metrics are reset, not appended to). Holds the run's lock throughout; a run that is already complete is
 * left as it is.
 */
export async function runTraining(
  config: RunConfig,
  runDir: RunDir,
  io: TrainIO,
  resume = false,
  opts: TrainOptions = {},
): Promise<FinishedMessage> {
  const prepared = opts.prepared ?? (await prepareRun(config));
  const lock =
    opts.lock ??
    RunLock.acquire(runDir.path, `train ${runDir.id} (pid ${process.pid})`, (message) =>
      io.emit({ type: 'warning', message }),
    );
  try {
    return await trainLocked(config, runDir, io, resume, prepared, lock, opts.evalThread);
  } finally {
    if (!opts.lock) lock.release();
  }
}

async function trainLocked(
  config: RunConfig,
  runDir: RunDir,
  io: TrainIO,
  resume: boolean,
  prepared: PreparedRun,
  lock: RunLock,
  evalThreadOverride: EvalThreadPreference | undefined,
): Promise<FinishedMessage> {
  const t0 = Date.now();
  const now = () => new Date().toISOString();
  const warn = (message: string) => io.emit({ type: 'warning', message });
  const B = config.train.batchSize,
    total = finalSequences(config.train);
  if (resume && isComplete(runDir)) {
    const fin: FinishedMessage = {
      type: 'finished',
      status: 'completed',
      sequences: runDir.latestCheckpoint()!.sequences,
      runDir: runDir.path,
      seconds: 0,
    };
    io.emit(fin);
    return fin;
  }
  const left = cleanLeftovers(runDir);
  if (left.length) warn(`removed ${left.length} leftover file(s) of an interrupted write: ${left.join(', ')}`);
  if (total !== config.train.sequences)
    warn(
      `train.sequences = ${config.train.sequences} is not a multiple of the batch size ${B}: training ${total} sequences (${total / B} steps)`,
    );

  // Where to start: the newest complete checkpoint unit, or sequence 0 in a clean folder.
  const { task } = prepared;
  let params: Params = initParams(config.model, config.train.initSeed);
  let adam: AdamState | null = null;
  let step = 0,
    lossSum = 0,
    lossCount = 0,
    unitStep = -1;
  const previous = resume ? runDir.readRunJson<RunJson>() : null;
  const unit = resume ? newestUnit(runDir, params, B) : null;
  if (unit) {
    const seq = unit.checkpoint.sequences;
    params = readCheckpoint(unit.checkpoint.path, config.model).params;
    adam = unit.adam;
    if (!adam || adam.step * B !== seq) {
      warn(
        `no optimiser state saved with checkpoint ${seq}: restarting Adam moments (the run will not end bit for bit where an uninterrupted run would)`,
      );
      adam = adamInit(params);
      adam.step = seq / B;
    }
    step = unitStep = adam.step;
    if (unit.trainer?.step === step) ({ lossSum, lossCount } = unit.trainer);
    // Metrics logged after the checkpoint are recomputed identically: drop them.
    const kept = runDir.readMetrics<MetricsRecord>().filter((r) => r.sequences <= seq);
    writeFileAtomic(runDir.metricsPath, kept.map((r) => JSON.stringify(r) + '\n').join(''));
  } else {
    if (resume) warn('no checkpoint to resume from: restarting the run from sequence 0');
    resetRunFolder(runDir);
  }

  let runJson: RunJson = previous
    ? { ...previous, status: 'running', error: undefined, updated: now() }
    : {
        id: runDir.id,
        name: config.name,
        preset: config.preset,
        status: 'created',
        config,
        versions: { engine: ENGINE_VERSION, node: process.versions.node },
        created: now(),
        updated: now(),
        sequences: 0,
        parameters: countParams(config.model),
      };
  const setStatus = (patch: Partial<RunJson>) => {
    runJson = { ...runJson, ...patch, updated: now() };
    runDir.writeRunJson(runJson);
  };
  const reserve = new SpaceReserve(runDir.path);
  /** Records the failure (with the reserve freed, so even a full disk takes it) and rethrows the original error. */
  const fail = (e: unknown): never => {
    reserve.free();
    try {
      setStatus({ status: 'failed', error: (e as Error).message, sequences: step * B });
    } catch {
      /* the original error matters more */
    }
    throw e;
  };
  setStatus({});

  let engine: TrainEngine;
  try {
    engine = await createEngine(
      config.train.engine,
      config.train.backend,
      config.model,
      task.bank,
      config.clamps,
      params,
      adam,
    );
  } catch (e) {
    return fail(e);
  }
  const evalSets = task.evalSets(config.train.evalSeed);
  const setsApart = mixesSequences(config.clamps);
  let log: ReturnType<RunDir['metrics']>;
  let tb: ReturnType<typeof openTrainingEvents>;
  try {
    log = runDir.metrics();
    tb = openTrainingEvents(runDir, config, step * B, (message) => io.emit({ type: 'warning', message }));
    setStatus({
      status: 'running',
      engine: engine.engine,
      engineDetail: engine.engineDetail,
      backend: engine.backend,
      engineNotes: engine.notes,
      features: task.bank.source,
      versions: { ...runJson.versions, tfjs: TFJS_VERSION },
    });
  } catch (e) {
    engine.dispose();
    return fail(e);
  }
  // Where evaluation runs: this thread, or a worker on the spare core (evalThread.ts) — the same numbers.
  let thread: EvalThread | null = null;
  let threadNote: string;
  const pref = evalThreadOverride ?? config.train.evalThread ?? 'auto';
  try {
    const setSize = evalSets.reduce((n, e) => n + e.batch.size, 0);
    const choice = chooseEvalThread(
      pref,
      {
        engine: engine.engine,
        cores: availableCores(),
        evalSequences: loopEvalSequences(config.train, setSize),
      },
      evalThreadOverride
        ? 'the evalThread override (--eval-thread, or a parent that runs one run per core)'
        : undefined,
    );
    threadNote = choice.note;
    if (choice.on) {
      try {
        thread = new EvalThread(config.model, config.clamps, evalSets, task.bank, engine.wasmVariant ?? 'simd');
      } catch (e) {
        if (pref === 'on') throw e;
        threadNote = `evaluation on the training thread: no worker thread (${(e as Error).message})`;
      }
    }
    setStatus({ evalThread: thread !== null, evalThreadNote: threadNote });
  } catch (e) {
    engine.dispose();
    return fail(e);
  }

  io.emit({
    type: 'started',
    runId: runDir.id,
    runDir: runDir.path,
    engine: engine.engine,
    engineDetail: engine.engineDetail,
    backend: engine.backend,
    engineNotes: engine.notes,
    backendNotes: engine.notes,
    evalThreadNote: threadNote,
    totalSequences: total,
    startSequences: step * B,
    config,
  });
  for (const message of clampWarnings(config.clamps, config.model)) io.emit({ type: 'warning', message });

  let lastEval: { seq: number; r: EvalResult } | null = null;
  /** The mean train loss since the last evaluation, for its metrics row; the next interval starts. */
  const takeTrainLoss = () => {
    const l = lossCount ? lossSum / lossCount : NaN;
    lossSum = 0;
    lossCount = 0;
    return l;
  };
  const logEval = (seq: number, atStep: number, trainLoss: number, r: EvalResult) => {
    lastEval = { seq, r };
    const { patterns: _p, ...measures } = r;
    const record: MetricsRecord = {
      sequences: seq,
      step: atStep,
      wallTime: (Date.now() - t0) / 1000,
      trainLoss,
      ...measures,
    };
    log.append(record);
    tb?.record(record);
    io.emit({ type: 'metrics', record });
  };
  /** An evaluation on this thread. */
  const doEval = (seq: number) => {
    const r = evaluate(config.model, evalSets, engine.evalForward(seq), { setsApart });
    logEval(seq, step, takeTrainLoss(), r);
  };
  /** The checkpoint summary: every head's attention for the hover; the eval losses of this point if logged. */
  const summaryOf = (seq: number, atStep: number, ev: EvalResult): CheckpointSummary => {
    if (lastEval?.seq === seq) ev.eval = lastEval.r.eval;
    return {
      sequences: seq,
      step: atStep,
      tokens: ev.patterns.tokens,
      canonicalLabels: ev.patterns.canonicalLabels,
      patterns: ev.patterns.canonical,
      meanPatterns: ev.patterns.mean,
      inductionStrength: ev.inductionStrength,
      prevTokenScore: ev.prevTokenScore,
      eval: Object.fromEntries(Object.entries(ev.eval).map(([k, v]) => [k, { loss: v.loss, acc: v.acc }])),
    };
  };
  const writeUnit = (seq: number, u: Parameters<typeof writeCheckpointUnit>[2]) => {
    const p = writeCheckpointUnit(runDir, seq, u);
    unitStep = u.trainer.step;
    setStatus({ sequences: seq });
    io.emit({ type: 'checkpoint', sequences: seq, path: p });
  };
  const trainSet = evalSets.filter((e) => e.spec.name === 'fsl_train');
  /** A checkpoint of the current step. */
  const saveCheckpoint = (seq: number) => {
    const weights = encodeCheckpoint({ config: config.model, sequences: seq, params: engine.params() });
    // Computed now, so readers never need the model (evaluations skip every head's pattern): by the thread
    // when it holds this step's parameters (it evaluated this step; it is warm, this thread may not be).
    const onThread = thread !== null && held === seq;
    const ev = onThread ? null : evaluate(config.model, trainSet, engine.evalForward(seq), { patterns: true });
    // The thread's evaluation of this step (the summary's eval losses), and any earlier one, first.
    settle();
    // (A loss-driven checkpoint's summary among them may have given the thread other parameters: resent.)
    const summary = ev ?? summaryFromThread(seq, held === seq ? undefined : engine.params());
    writeUnit(seq, {
      weights,
      summary: summaryOf(seq, step, summary),
      adam: engine.adamState(),
      trainer: { step, lossSum, lossCount },
    });
  };

  /**
   * An evaluation in flight on the thread: the step it evaluates and that step's metrics fields; whether its
   * loss goes to the checkpoint schedule (`decide`: not at 0, which `schedule.start` takes, nor at the end);
   * with the parameters and Adam state of that step when a checkpoint there depends on its loss (`deferred`),
   * so the checkpoint can be written once the loss is known, training having gone on meanwhile.
   */
  interface InFlight {
    seq: number;
    step: number;
    before: number;
    trainLoss: number;
    decide: boolean;
    deferred: { params: Params; adam: AdamState } | null;
  }
  /**
   * In flight, oldest first. A few may queue (the worker takes them in order), so an evaluation that
   * takes longer than one interval's steps now and then does not stall training; the trainer waits only
   * when this many are queued.
   */
  const queue: InFlight[] = [];
  const MAX_IN_FLIGHT = 3;
  /** Evaluation answers that came while waiting for a summary (the worker answers in order). */
  const early: Array<{ sequences: number; result: EvalResult }> = [];
  /** The step (in sequences) whose parameters the thread holds: those of the last message it was sent. */
  let held: number | null = null;
  const launchEval = (seq: number, before: number, decide: boolean) => {
    while (queue.length >= MAX_IN_FLIGHT) settleOne(true);
    const params = engine.params();
    const deferred = decide && schedule.readsLoss && !schedule.dueWithoutLoss(before, seq);
    thread!.launch(seq, params);
    held = seq;
    queue.push({
      seq,
      step,
      before,
      trainLoss: takeTrainLoss(),
      decide,
      deferred: deferred ? { params, adam: engine.adamState() } : null,
    });
  };
  /** The checkpoint summary's patterns from the thread: on `params`, or those it holds. */
  const summaryFromThread = (seq: number, params?: Params): EvalResult => {
    thread!.requestSummary(seq, params);
    if (params) held = seq;
    for (;;) {
      const m = thread!.wait();
      if (m.type === 'eval') early.push(m);
      else if (m.sequences === seq) return m.result;
      else throw new Error('evaluation thread: answers out of order');
    }
  };
  /** Logs a result from the thread and, if it decides a checkpoint at its step, writes that checkpoint. */
  const landed = (f: InFlight, r: EvalResult) => {
    logEval(f.seq, f.step, f.trainLoss, r);
    if (!f.decide) return;
    // Asked in step order for every evaluated step, as on this thread (the loss-driven part keeps state).
    const due = schedule.due(f.before, f.seq, r.eval.fsl_train?.loss);
    if (!f.deferred || !due) return;
    writeUnit(f.seq, {
      weights: encodeCheckpoint({ config: config.model, sequences: f.seq, params: f.deferred.params }),
      summary: summaryOf(f.seq, f.step, summaryFromThread(f.seq, f.deferred.params)),
      adam: f.deferred.adam,
      // Right after an evaluation: a new loss interval.
      trainer: { step: f.step, lossSum: 0, lossCount: 0 },
    });
  };
  /** Takes the oldest evaluation in flight when it has finished (`wait`: waiting for it); false if none did. */
  const settleOne = (wait: boolean): boolean => {
    const f = queue[0];
    if (!f) return false;
    const m = early.shift() ?? (wait ? thread!.wait() : thread!.poll());
    if (!m) return false;
    if (('type' in m && m.type !== 'eval') || m.sequences !== f.seq)
      throw new Error('evaluation thread: answers out of order');
    queue.shift();
    landed(f, m.result);
    return true;
  };
  /** Waits for every evaluation in flight. */
  function settle(): void {
    while (queue.length) settleOne(true);
  }
  /** Takes the evaluations in flight that have finished. */
  const collect = () => {
    while (settleOne(false));
  };

  const every = (n: number, seq: number) => (n > 0 ? Math.floor(seq / n) : 0);
  // Which steps checkpoint (train.checkpoints); a resumed run rebuilds the loss-driven part from its metrics.
  const schedule = new CheckpointSchedule(config.train, unitStep >= 0 ? runDir.readMetrics<MetricsRecord>() : []);
  const evalLossAt = (seq: number) => (lastEval?.seq === seq ? lastEval.r.eval.fsl_train?.loss : undefined);
  let status: RunStatus = 'completed';
  let lastProgress = Date.now(),
    lastProgressStep = step,
    lastYield = lastProgress;
  try {
    if (step === 0 && unitStep < 0) {
      if (thread) {
        // The thread starts with it (it loads meanwhile); waited for only if the start needs its numbers.
        launchEval(0, 0, false);
        if (schedule.readsLoss || schedule.dueWithoutLoss(0, 0)) settle();
      } else doEval(0);
      if (schedule.start(evalLossAt(0))) saveCheckpoint(0);
    }
    while (step * B < total) {
      if (io.shouldStop()) {
        status = 'cancelled';
        break;
      }
      const seqBefore = step * B;
      const batch = task.sampleBatch(new Rng(config.train.trainSeed, step + 1), B);
      const loss = engine.step(batch, seqBefore, config.train.lr);
      if (!Number.isFinite(loss)) throw new Error(`training loss became ${loss} at step ${step}`);
      step += 1;
      lossSum += loss;
      lossCount += 1;
      const seq = step * B;
      if (every(config.train.evalEvery, seq) > every(config.train.evalEvery, seqBefore) && seq < total) {
        if (thread) launchEval(seq, seqBefore, true);
        else doEval(seq);
      } else collect();
      if (seq < total) {
        if (queue[queue.length - 1]?.seq === seq) {
          // The thread evaluates this step: a planned checkpoint waits for it; a loss-driven one is decided when it lands.
          if (schedule.dueWithoutLoss(seqBefore, seq)) saveCheckpoint(seq);
        } else if (schedule.due(seqBefore, seq, evalLossAt(seq))) saveCheckpoint(seq);
      }
      const now = Date.now();
      if (now - lastProgress > 250 || seq >= total) {
        const dt = (now - lastProgress) / 1000;
        io.emit({
          type: 'progress',
          sequences: seq,
          step,
          totalSequences: total,
          stepsPerSecond: (step - lastProgressStep) / Math.max(dt, 1e-3),
          trainLoss: loss,
        });
        lastProgress = now;
        lastProgressStep = step;
        lock.heartbeat();
      }
      if (now - lastYield >= YIELD_MS) {
        // Let IPC messages (cancel, a parent gone) and signals in: a stop is seen within YIELD_MS of training.
        await new Promise((r) => setImmediate(r));
        lastYield = Date.now();
      }
    }
    // The evaluation in flight is logged (and its checkpoint written) before anything after it.
    settle();
    // The end: the final evaluation and checkpoint (unless a kill came just after they were written). A stop:
    // a checkpoint unit at the current step and no extra metrics row, so the resumed run's rows are the same.
    if (unitStep !== step && (status === 'completed' || step > 0)) {
      if (status === 'completed') {
        if (thread) launchEval(step * B, step * B - B, false);
        else doEval(step * B);
      }
      saveCheckpoint(step * B);
    }
    log.close();
    tb?.close();
    reserve.free();
    setStatus({ status, sequences: step * B });
  } catch (e) {
    try {
      log.close();
      tb?.close();
    } catch {
      /* keep the original error */
    }
    thread?.close();
    engine.dispose();
    return fail(e);
  }
  thread?.close();
  engine.dispose();
  const fin: FinishedMessage = {
    type: 'finished',
    status,
    sequences: step * B,
    runDir: runDir.path,
    seconds: (Date.now() - t0) / 1000,
  };
  io.emit(fin);
  return fin;
}

/**
 * Empties a run folder for a fresh start (an earlier attempt's metrics, checkpoints, report, measures),
 * keeping the lock. Refuses a folder that does not look like a run folder, so a mistyped --out cannot
 * wipe unrelated files.
 */
function resetRunFolder(runDir: RunDir): void {
  const entries = fs.readdirSync(runDir.path);
  const isRun =
    entries.includes('run.json') ||
    entries.every((f) => f === LOCK_FILE || f === CHECKPOINTS_DIR || /\.tmp-/.test(f) || f === SpaceReserve.FILE);
  if (!isRun)
    throw new Error(
      `${runDir.path} is not empty and holds no run.json: not a run folder, refusing to start a run in it`,
    );
  for (const f of entries) if (f !== LOCK_FILE) fs.rmSync(path.join(runDir.path, f), { recursive: true, force: true });
  fs.mkdirSync(runDir.checkpointsDir, { recursive: true });
}

/**
 * A few kilobytes held in the run folder while it trains and freed before the last run.json write, so a
 * disk that fills up mid-run still has room to record "failed" (or "completed") with the real error.
 */
class SpaceReserve {
  static readonly FILE = '.space-reserve';
  private file: string | null;
  constructor(dir: string) {
    this.file = path.join(dir, SpaceReserve.FILE);
    try {
      writeFileAtomic(this.file, new Uint8Array(64 * 1024));
    } catch (e) {
      throw new Error(`cannot start a run in ${dir}: ${describeFsError((e as Error).cause ?? e)}`, { cause: e });
    }
  }
  free(): void {
    if (this.file)
      try {
        fs.rmSync(this.file, { force: true });
      } catch {
        /* best effort */
      }
    this.file = null;
  }
}
