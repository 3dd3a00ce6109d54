/**
 * A run's full configuration (what run.json stores and a --config file holds) and its validation; the named
 * presets are in science/presets.ts. Counts are in sequences, as in the paper ("iterations" = sequences;
 * a step = batch).
 */
import { DataConfig, TaskData, STAND_INS, isStandIn } from '../data';
import { DEFAULT_MODEL_CONFIG, ModelConfig, validateModelConfig } from '../model/config';
import { ClampSpec, normalizeClamps } from '../clamps/spec';
import type { BackendPreference } from '../model/tf';
import type { EnginePreference } from './engines';
import { CheckpointsSetting, validateCheckpoints } from './checkpointSchedule';

export interface TrainConfig {
  /** Adam learning rate (constant). */
  lr: number;
  batchSize: number;
  /** Total sequences to train on. */
  sequences: number;
  /** Evaluate when the sequence counter first reaches each multiple of this (and at 0 and the end). */
  evalEvery: number;
  /** Save a checkpoint at each multiple of this (0 = only the final one); the final one is always saved. */
  checkpointEvery: number;
  /**
   * Which checkpoints to save, replacing checkpointEvery when present: a list of sequence counts or a rule
   * `{ log, linear, every, at, lossChange, zero }` (train/checkpointSchedule.ts). Absent in old configs.
   */
  checkpoints?: CheckpointsSetting;
  initSeed: number;
  trainSeed: number;
  evalSeed: number;
  backend: BackendPreference;
  /** 'auto': the fast WebAssembly path when it supports the run, else TensorFlow.js; or force one. */
  engine: EnginePreference;
  /** Write TensorBoard events (tensorboard/events.out.tfevents.*) as each evaluation is logged. */
  tensorboard: boolean;
  /**
   * Where periodic evaluation runs (train/evalThread.ts): a worker thread on the spare core (`on`), the
   * training thread (`off`), or `auto` (absent): the thread when the process has a spare core. Same numbers.
   */
  evalThread?: EvalThreadPreference;
}

/** Where periodic evaluation runs (train/evalThread.ts). */
export type EvalThreadPreference = 'auto' | 'on' | 'off';

export function validateEvalThread(v: unknown, where = 'train.evalThread'): EvalThreadPreference {
  if (v !== 'auto' && v !== 'on' && v !== 'off')
    throw new Error(`${where} must be auto, on or off, got ${JSON.stringify(v)}`);
  return v;
}

export interface RunConfig {
  name: string;
  preset?: string;
  description?: string;
  model: ModelConfig;
  data: DataConfig;
  train: TrainConfig;
  clamps: ClampSpec[];
}

const DEFAULT_TRAIN: TrainConfig = {
  lr: 1e-5,
  batchSize: 32,
  sequences: 1_000_000,
  evalEvery: 5000,
  checkpointEvery: 10_000,
  initSeed: 5,
  trainSeed: 0,
  evalSeed: 1,
  backend: 'auto',
  engine: 'auto',
  tensorboard: true,
};

export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends Array<infer _> ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K];
};

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Deep merge of plain objects; arrays and scalars in `over` replace. Unknown keys are rejected by `resolveRunConfig`. */
export function merge<T>(base: T, over: unknown): T {
  if (!isObj(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? merge(out[k], v) : v;
  return out as T;
}

export function baseConfig(): RunConfig {
  return {
    name: 'run',
    model: { ...DEFAULT_MODEL_CONFIG },
    data: {
      ...TaskData.DEFAULT_DATA_CONFIG,
      classSplit: [50, 1473, 100],
      exemplarSplit: [1, 4, 0],
      labelSplit: [8, 2, 0],
    },
    train: { ...DEFAULT_TRAIN },
    clamps: [],
  };
}

/** Builds a validated RunConfig from user JSON on top of a preset (default: the base paper settings). */
export function resolveRunConfig(raw: unknown, base: RunConfig = baseConfig()): RunConfig {
  if (!isObj(raw)) throw new Error('a run config must be a JSON object');
  checkKeys(raw, base as unknown as Record<string, unknown>, '');
  const c = merge(base, raw);
  // The label count is one fact shared by the data and the model.
  if (isObj(raw.data) && raw.data.numLabels !== undefined && !(isObj(raw.model) && raw.model.numLabels !== undefined))
    c.model.numLabels = c.data.numLabels;
  if (isObj(raw.model) && raw.model.numLabels !== undefined && !(isObj(raw.data) && raw.data.numLabels !== undefined))
    c.data.numLabels = c.model.numLabels;
  applyCheckpointSetting(raw, c);
  validateRunConfig(c);
  c.clamps = normalizeClamps(c.clamps, c.model);
  return c;
}

/**
 * The config stored in an existing run.json. Runs written before `data.standIn` existed all used the
 * independent generator, so a stored config without the key means "independent", not today's default.
 */
export function resolveStoredRunConfig(raw: unknown): RunConfig {
  if (isObj(raw) && isObj(raw.data) && raw.data.standIn === undefined)
    raw = { ...raw, data: { ...raw.data, standIn: 'independent' } };
  return resolveRunConfig(raw);
}

const OPTIONAL_KEYS = new Set(['preset', 'description', 'data.featuresKey', 'train.checkpoints', 'train.evalThread']);
/** Values that replace the base's whole (never merged key by key) and validate themselves. */
const OPAQUE_KEYS = new Set(['train.checkpoints']);

/**
 * `train.checkpoints` replaces the base's schedule whole (a rule is not merged key by key with the preset's);
 * null removes it, and a `checkpointEvery` given without `checkpoints` means that cadence, not the preset's rule.
 */
function applyCheckpointSetting(raw: Record<string, unknown>, c: RunConfig): void {
  const t = isObj(raw.train) ? raw.train : {};
  if ('checkpoints' in t) {
    if (t.checkpoints === null || t.checkpoints === undefined) delete c.train.checkpoints;
    else c.train.checkpoints = t.checkpoints as CheckpointsSetting;
  } else if (t.checkpointEvery !== undefined) delete c.train.checkpoints;
}

function checkKeys(raw: Record<string, unknown>, base: Record<string, unknown>, prefix: string): void {
  for (const [k, v] of Object.entries(raw)) {
    const path = prefix + k;
    if (!(k in base) && !OPTIONAL_KEYS.has(path)) {
      throw new Error(`unknown config key "${path}" (known here: ${Object.keys(base).join(', ')})`);
    }
    if (isObj(v) && isObj(base[k]) && !OPAQUE_KEYS.has(path))
      checkKeys(v, base[k] as Record<string, unknown>, path + '.');
  }
}

function num(v: unknown, path: string, lo: number, hi: number, integer: boolean): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    throw new Error(
      `${path} must be ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${JSON.stringify(v)}`,
    );
  }
}

export function validateRunConfig(c: RunConfig): void {
  if (typeof c.name !== 'string' || !/^[\w.-]{1,80}$/.test(c.name))
    throw new Error(`name must be 1–80 letters, digits, ".", "_" or "-", got ${JSON.stringify(c.name)}`);
  validateModelConfig(c.model);
  const t = c.train;
  num(t.lr, 'train.lr', 1e-9, 1, false);
  num(t.batchSize, 'train.batchSize', 1, 65536, true);
  num(t.sequences, 'train.sequences', 1, 1e10, true); // 0 would be a run of two identical evaluations
  num(t.evalEvery, 'train.evalEvery', 1, 1e10, true);
  num(t.checkpointEvery, 'train.checkpointEvery', 0, 1e10, true);
  validateCheckpoints(t.checkpoints, t);
  for (const k of ['initSeed', 'trainSeed', 'evalSeed'] as const) num(t[k], `train.${k}`, 0, 2 ** 31 - 1, true);
  if (new Set([t.initSeed, t.trainSeed, t.evalSeed]).size !== 3)
    throw new Error(
      `train.initSeed, trainSeed and evalSeed must differ (got ${t.initSeed}, ${t.trainSeed}, ${t.evalSeed})`,
    );
  if (!['auto', 'fast', 'tfjs'].includes(t.engine))
    throw new Error(`train.engine must be auto, fast or tfjs, got ${JSON.stringify(t.engine)}`);
  if (typeof t.tensorboard !== 'boolean')
    throw new Error(`train.tensorboard must be true or false, got ${JSON.stringify(t.tensorboard)}`);
  if (t.evalThread !== undefined) validateEvalThread(t.evalThread);
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(t.backend))
    throw new Error(`train.backend must be auto, tensorflow, wasm or cpu, got ${JSON.stringify(t.backend)}`);
  const d = c.data;
  if (typeof d.features !== 'string' || d.features === '')
    throw new Error('data.features must be "synthetic" or a file path');
  if (!isStandIn(d.standIn))
    throw new Error(`data.standIn must be ${STAND_INS.join(' or ')}, got ${JSON.stringify(d.standIn)}`);
  num(d.numLabels, 'data.numLabels', 2, 1000, true);
  num(d.contextLen, 'data.contextLen', 1, 64, true);
  num(d.evalSize, 'data.evalSize', 1, 1e6, true);
  num(d.classScale, 'data.classScale', 0, 100, false);
  num(d.exemplarNoise, 'data.exemplarNoise', 0, 100, false);
  for (const k of ['classSplit', 'exemplarSplit', 'labelSplit'] as const) {
    if (!Array.isArray(d[k]) || d[k].length !== 3 || d[k].some((x) => !Number.isInteger(x) || x < 0))
      throw new Error(`data.${k} must be three whole numbers [train, val, test], got ${JSON.stringify(d[k])}`);
  }
  if (d.numLabels !== c.model.numLabels)
    throw new Error(`data.numLabels (${d.numLabels}) and model.numLabels (${c.model.numLabels}) must agree`);
  if (d.contextLen !== c.model.contextLen)
    throw new Error(`data.contextLen (${d.contextLen}) and model.contextLen (${c.model.contextLen}) must agree`);
}
