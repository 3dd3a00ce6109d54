/**
 * The training loop (spec §2.3–2.4): Adam on fresh batches sampled per step, evaluation and
 * checkpoints on a schedule counted in sequences, every file written atomically and every metrics line
 * flushed as it is written, cancellable between steps, resumable from the last checkpoint. Reports
 * through `emit` with the protocol's messages, so the child process and the CLI share it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf } from '../tf';
import { Rng } from '../rng';
import { loadTaskData } from '../data';
import { initParams, Params, countParams } from '../model/params';
import { encodeCheckpoint, readCheckpoint } from '../model/checkpoint';
import { checkClampResources } from '../clamps/apply';
import { clampWarnings } from '../clamps/spec';
import { adamInit, AdamState } from './adam';
import { evaluate, EvalResult } from './evaluate';
import { createEngine, TrainEngine } from './engines';
import { RunConfig } from './runConfig';
import { openTrainingEvents } from '../export/tensorboardRun';
import { RunDir, summaryPath, writeFileAtomic, writeJsonAtomic, decodeSafetensors, encodeSafetensors, NamedTensor } from '../io';
import type { FromChildMessage, FinishedMessage, MetricsRecord, RunStatus, CheckpointSummary } from '../../shared/protocol';

export const ENGINE_VERSION = '0.1.0';

export interface TrainIO {
  emit(msg: FromChildMessage): void;
  /** Polled between steps; true stops the run cleanly (checkpoint, status "cancelled"). */
  shouldStop(): boolean;
}

export interface RunJson {
  id: string; name: string; preset?: string; status: RunStatus; config: RunConfig;
  engine?: string; backend?: string; backendNotes?: string[]; versions: Record<string, string>;
  created: string; updated: string; sequences: number; parameters: number; error?: string; features?: string;
}

const ADAM_FILE = 'adam-state.safetensors';

function adamToTensors(s: AdamState): Record<string, NamedTensor> {
  const out: Record<string, NamedTensor> = { step: { dtype: 'I32', shape: [1], data: Int32Array.of(s.step) } };
  for (const k of Object.keys(s.m)) {
    out[`m.${k}`] = { dtype: 'F32', shape: [s.m[k].length], data: s.m[k] };
    out[`v.${k}`] = { dtype: 'F32', shape: [s.v[k].length], data: s.v[k] };
  }
  return out;
}

function adamFromTensors(bytes: Uint8Array, source: string, params: Params): AdamState {
  const { tensors } = decodeSafetensors(bytes, source);
  const st = adamInit(params);
  st.step = Number((tensors.get('step')?.data as Int32Array)[0]);
  for (const k of Object.keys(params)) {
    const m = tensors.get(`m.${k}`), v = tensors.get(`v.${k}`);
    if (!m || !v || m.data.length !== params[k].length || v.data.length !== params[k].length) throw new Error(`${source}: optimiser state for ${k} is missing or has the wrong size`);
    st.m[k].set(m.data as Float32Array); st.v[k].set(v.data as Float32Array);
  }
  return st;
}

/** Starts a new run in `runDir` (run.json must not say it ran) or resumes it from its last checkpoint. */
export async function runTraining(config: RunConfig, runDir: RunDir, io: TrainIO, resume = false): Promise<FinishedMessage> {
  const t0 = Date.now();
  const now = () => new Date().toISOString();
  let runJson: RunJson;
  const setStatus = (patch: Partial<RunJson>) => { runJson = { ...runJson, ...patch, updated: now() }; runDir.writeRunJson(runJson); };
  runJson = resume
    ? { ...runDir.readRunJson<RunJson>(), status: 'running', updated: now() }
    : {
      id: runDir.id, name: config.name, preset: config.preset, status: 'created', config,
      versions: { engine: ENGINE_VERSION, node: process.versions.node }, created: now(), updated: now(), sequences: 0,
      parameters: countParams(config.model),
    };
  runDir.writeRunJson(runJson);

  let task;
  try {
    task = await loadTaskData(config.data);
    checkClampResources(config.model, config.clamps);
  } catch (e) {
    setStatus({ status: 'failed', error: (e as Error).message });
    throw e;
  }
  const B = config.train.batchSize, total = config.train.sequences;

  // Parameters, optimiser and position: fresh, or from the last checkpoint.
  let params: Params = initParams(config.model, config.train.initSeed);
  let adam: AdamState | null = null;
  let step = 0;
  if (resume) {
    const last = runDir.latestCheckpoint();
    if (last) {
      params = readCheckpoint(last.path, config.model).params;
      const adamPath = path.join(runDir.checkpointsDir, ADAM_FILE);
      adam = fs.existsSync(adamPath) ? adamFromTensors(fs.readFileSync(adamPath), adamPath, params) : adamInit(params);
      if (adam.step * B !== last.sequences) {
        io.emit({ type: 'warning', message: `optimiser state (${adam.step * B} sequences) does not match checkpoint ${last.sequences}: restarting Adam moments` });
        adam = adamInit(params); adam.step = last.sequences / B;
      }
      step = adam.step;
      // Drop metrics logged after the checkpoint: they will be recomputed identically.
      const kept = runDir.readMetrics<MetricsRecord>().filter((r) => r.sequences <= last.sequences);
      writeFileAtomic(runDir.metricsPath, kept.map((r) => JSON.stringify(r) + '\n').join(''));
    }
  }
  let engine: TrainEngine;
  try {
    engine = await createEngine(config.train.engine, config.train.backend, config.model, task.bank, config.clamps, params, adam);
  } catch (e) {
    setStatus({ status: 'failed', error: (e as Error).message });
    throw e;
  }
  const evalSets = task.evalSets(config.train.evalSeed);
  const log = runDir.metrics();
  const tb = openTrainingEvents(runDir, config, step * B, (message) => io.emit({ type: 'warning', message }));
  setStatus({
    status: 'running', engine: engine.name, backend: engine.backend, backendNotes: engine.notes, features: task.bank.source,
    versions: { ...runJson.versions, tfjs: tf.version_core },
  });
  io.emit({
    type: 'started', runId: runDir.id, runDir: runDir.path, backend: engine.name, backendNotes: engine.notes,
    totalSequences: total, startSequences: step * B, config,
  });
  for (const message of clampWarnings(config.clamps, config.model)) io.emit({ type: 'warning', message });

  let lossSum = 0, lossCount = 0;
  let lastEval: { seq: number; r: EvalResult } | null = null;
  const doEval = (seq: number) => {
    const r = evaluate(config.model, evalSets, engine.evalForward(seq));
    lastEval = { seq, r };
    const { patterns: _p, ...measures } = r;
    const record: MetricsRecord = {
      sequences: seq, step, wallTime: (Date.now() - t0) / 1000, trainLoss: lossCount ? lossSum / lossCount : NaN, ...measures,
    };
    lossSum = 0; lossCount = 0;
    log.append(record);
    tb?.record(record);
    io.emit({ type: 'metrics', record });
  };
  const saveCheckpoint = (seq: number) => {
    const p = runDir.writeCheckpoint(seq, encodeCheckpoint({ config: config.model, sequences: seq, params: engine.params() }));
    // What a hover on this checkpoint shows, computed now so readers never need the model.
    const ev = lastEval?.seq === seq ? lastEval.r : evaluate(config.model, evalSets.filter((e) => e.spec.name === 'fsl_train'), engine.evalForward(seq));
    const summary: CheckpointSummary = {
      sequences: seq, step, tokens: ev.patterns.tokens, canonicalLabels: ev.patterns.canonicalLabels,
      patterns: ev.patterns.canonical, meanPatterns: ev.patterns.mean, inductionStrength: ev.inductionStrength, prevTokenScore: ev.prevTokenScore,
      eval: Object.fromEntries(Object.entries(ev.eval).map(([k, v]) => [k, { loss: v.loss, acc: v.acc }])),
    };
    writeJsonAtomic(summaryPath(p), summary);
    writeFileAtomic(path.join(runDir.checkpointsDir, ADAM_FILE), encodeSafetensors(adamToTensors(engine.adamState())));
    setStatus({ sequences: seq });
    io.emit({ type: 'checkpoint', sequences: seq, path: p });
  };

  const every = (n: number, seq: number) => (n > 0 ? Math.floor(seq / n) : 0);
  let status: RunStatus = 'completed';
  let lastProgress = Date.now(), lastProgressStep = step;
  try {
    if (step === 0) doEval(0);
    while (step * B < total) {
      if (io.shouldStop()) { status = 'cancelled'; break; }
      const seqBefore = step * B;
      const batch = task.sampleBatch(new Rng(config.train.trainSeed, step + 1), B);
      const loss = engine.step(batch, seqBefore, config.train.lr);
      if (!Number.isFinite(loss)) throw new Error(`training loss became ${loss} at step ${step}`);
      step += 1; lossSum += loss; lossCount += 1;
      const seq = step * B;
      if (every(config.train.evalEvery, seq) > every(config.train.evalEvery, seqBefore) && seq < total) doEval(seq);
      if (every(config.train.checkpointEvery, seq) > every(config.train.checkpointEvery, seqBefore) && seq < total) saveCheckpoint(seq);
      if (Date.now() - lastProgress > 250 || seq >= total) {
        const dt = (Date.now() - lastProgress) / 1000;
        io.emit({ type: 'progress', sequences: seq, step, totalSequences: total, stepsPerSecond: (step - lastProgressStep) / Math.max(dt, 1e-3), trainLoss: loss });
        lastProgress = Date.now(); lastProgressStep = step;
        // Let IPC messages (cancel) and signals in.
        await new Promise((r) => setImmediate(r));
      }
    }
    const seq = step * B;
    doEval(seq);
    saveCheckpoint(seq);
  } catch (e) {
    log.close(); tb?.close();
    setStatus({ status: 'failed', error: (e as Error).message, sequences: step * B });
    engine.dispose();
    throw e;
  }
  log.close(); tb?.close();
  engine.dispose();
  setStatus({ status, sequences: step * B });
  const fin: FinishedMessage = { type: 'finished', status, sequences: step * B, runDir: runDir.path, seconds: (Date.now() - t0) / 1000 };
  io.emit(fin);
  return fin;
}

