/**
 * Periodic evaluation (spec §2.4) on a worker thread, so that a run's one training thread does not stop for
 * it: on a machine with a spare core a paper-scale Fig 5b run otherwise spends about half its wall time
 * evaluating (docs/performance.md). The trainer posts a copy of the parameters at the evaluation's step;
 * the worker (evalWorker.ts, its own fast model) runs the same `evaluate` on the same eval sets with the
 * same clamps, so its numbers are the synchronous path's bit for bit; the trainer collects the result
 * without blocking (`receiveMessageOnPort` between steps: the training loop is synchronous) and waits
 * only when it must (a checkpoint needs the numbers, the next evaluation is due, the run ends).
 *
 * `train.evalThread`: auto | on | off. `auto` runs the thread when the process has a spare core, the fast
 * engine trains and the run evaluates enough to repay starting a worker; sweeps that run one training
 * process per core pass `off` to their children (they have no spare core).
 */
import * as os from 'node:os';
import { MessageChannel, MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { FeatureBank } from '../data';
import { ModelConfig } from '../model/config';
import { Params } from '../model/params';
import { HostBatch, hostBatch } from '../model/hostBatch';
import { ClampSpec } from '../clamps/spec';
import { mixesSequences } from '../clamps/support';
import type { WasmVariant } from '../fast/kernels';
import { EvalResult, EvalSet, evaluationBatches } from './evaluate';
import type { EvalThreadPreference } from './runConfig';
import { startWorker } from '../io/workerThread';

/**
 * Below this many evaluated sequences between a run's first and last evaluation `auto` keeps evaluation on
 * the training thread: starting a worker (≈ 0.3 s, seconds under tsx) would cost more than it saves. Ten
 * paper-size evaluations (four sets of 1,000).
 */
const AUTO_MIN_EVAL_SEQUENCES = 40_000;

interface EvalThreadChoice {
  on: boolean;
  /** Why, for run.json's `evalThreadNote`. */
  note: string;
}

/** Whether evaluation runs on a worker thread, and why (`pref` from the run config or an override). */
export function chooseEvalThread(
  pref: EvalThreadPreference,
  x: { engine: 'fast' | 'tfjs'; cores: number; evalSequences: number },
  /** Who set `pref`, for the note. */
  where = 'train.evalThread',
): EvalThreadChoice {
  if (pref === 'off') return { on: false, note: `evaluation on the training thread: ${where} is "off"` };
  if (x.engine !== 'fast') {
    const why = 'the TensorFlow.js engine trains this run (the evaluation thread runs the fast engine only)';
    if (pref === 'on') throw new Error(`${where} is "on" but ${why}`);
    return { on: false, note: `evaluation on the training thread: ${why}` };
  }
  if (pref === 'on') return { on: true, note: `evaluation on a worker thread: ${where} is "on"` };
  if (x.cores < 2)
    return { on: false, note: `evaluation on the training thread: ${x.cores} core available, none spare` };
  if (x.evalSequences < AUTO_MIN_EVAL_SEQUENCES)
    return {
      on: false,
      note:
        `evaluation on the training thread: the run evaluates ${x.evalSequences} sequences during training, ` +
        `fewer than the ${AUTO_MIN_EVAL_SEQUENCES} that repay a worker thread`,
    };
  return { on: true, note: `evaluation on a worker thread: ${x.cores} cores, one spare for it` };
}

/** The cores this process may use (sweeps pass `off` to children that share them). */
export const availableCores = (): number => os.availableParallelism();

/** Sequences evaluated strictly between the first and the last evaluation of a run (what the thread takes). */
export function loopEvalSequences(t: { sequences: number; batchSize: number; evalEvery: number }, setSize: number) {
  const total = Math.ceil(t.sequences / t.batchSize) * t.batchSize;
  // About one evaluation per multiple of evalEvery below the end (at most one per step).
  return Math.floor((total - 1) / Math.max(t.evalEvery, t.batchSize)) * setSize;
}

export type ToEvalWorker =
  | {
      type: 'init';
      config: ModelConfig;
      variant: WasmVariant;
      clamps: ClampSpec[];
      sets: EvalSet[];
      hosts: HostBatch[];
    }
  | { type: 'eval'; sequences: number; params: Params }
  | { type: 'summary'; sequences: number; params?: Params };

export type FromEvalWorker =
  | { type: 'ready'; variant: string }
  | { type: 'eval'; sequences: number; result: EvalResult }
  | { type: 'summary'; sequences: number; result: EvalResult }
  | { type: 'error'; message: string };

/** workerData of the evaluation worker: its end of the channel and the flag it raises after each message. */
export interface EvalWorkerData {
  port: MessagePort;
  /** Int32 [0]: 1 after the worker posts a message, 2 once it has exited (the parent's wait wakes). */
  signal: SharedArrayBuffer;
}

/**
 * One run's evaluation worker. It answers in the order it is asked; `summary` asks for the checkpoint
 * summary's patterns on given parameters (a checkpoint decided by an evaluation's loss, written after
 * training went on) or on those of the last evaluation.
 */
export class EvalThread {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal: Int32Array;
  private variant: string | null = null;
  private closed = false;

  constructor(
    config: ModelConfig,
    clamps: ClampSpec[],
    sets: EvalSet[],
    bank: FeatureBank,
    /** The training engine's WebAssembly build: the worker must run the same one (same rounding). */
    private readonly expectVariant: WasmVariant,
  ) {
    const { port1, port2 } = new MessageChannel();
    const signal = new SharedArrayBuffer(4);
    const data: EvalWorkerData = { port: port2, signal };
    this.worker = startWorker(__dirname, 'eval-worker.js', 'evalWorker.ts', 'evaluation worker', {
      workerData: data,
      transferList: [port2],
    });
    this.worker.unref();
    // An 'error' event would otherwise be an uncaught exception; the parent learns of it from the flag.
    this.worker.on('error', () => {});
    this.port = port1;
    this.signal = new Int32Array(signal);
    const hosts = evaluationBatches(sets, mixesSequences(clamps)).map((b) => hostBatch(bank, b));
    this.post({ type: 'init', config, variant: expectVariant, clamps, sets, hosts });
  }

  private post(m: ToEvalWorker): void {
    this.port.postMessage(m);
  }

  /** Starts the evaluation at `sequences` on a copy of `params` (the caller's arrays are not kept). */
  launch(sequences: number, params: Params): void {
    this.post({ type: 'eval', sequences, params });
  }

  /** Requests the summary patterns on `params`, or on the parameters of the last evaluation. */
  requestSummary(sequences: number, params?: Params): void {
    this.post({ type: 'summary', sequences, params });
  }

  /** The next result if one has arrived, without waiting. */
  poll(): Extract<FromEvalWorker, { type: 'eval' | 'summary' }> | null {
    for (;;) {
      const m = receiveMessageOnPort(this.port)?.message as FromEvalWorker | undefined;
      if (!m) return null;
      const r = this.accept(m);
      if (r) return r;
    }
  }

  /** The next result, waiting for it. */
  wait(): Extract<FromEvalWorker, { type: 'eval' | 'summary' }> {
    for (;;) {
      // Lower the flag before looking, so a message posted after the look wakes the wait below.
      Atomics.compareExchange(this.signal, 0, 1, 0);
      const r = this.poll();
      if (r) return r;
      if (Atomics.load(this.signal, 0) === 2) {
        const last = this.poll();
        if (last) return last;
        throw new Error('the evaluation thread stopped without answering');
      }
      Atomics.wait(this.signal, 0, 0, 1000);
    }
  }

  private accept(m: FromEvalWorker): Extract<FromEvalWorker, { type: 'eval' | 'summary' }> | null {
    if (m.type === 'error') throw new Error(`evaluation thread: ${m.message}`);
    if (m.type === 'ready') {
      this.variant = m.variant;
      if (m.variant !== this.expectVariant)
        throw new Error(
          `the evaluation thread runs the ${m.variant} WebAssembly build but training runs ${this.expectVariant}`,
        );
      return null;
    }
    return m;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.close();
    void this.worker.terminate();
  }
}
