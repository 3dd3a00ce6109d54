/**
 * The one message protocol of Induction Lab. Types only (no runtime imports), shared by the extension
 * host, the training child process, the CLI and the webviews, so each boundary is typed on both sides.
 */

// ---- Metrics records (one line of metrics.jsonl) ----

export interface EvalSetMetrics {
  loss: number;
  acc: number;
  inContextAcc: number;
  inContextProb: number;
  prob: number;
  useContextProb: number;
}

export interface MetricsRecord {
  sequences: number;
  step: number;
  /** Seconds since the run (or the resumed segment's origin) started. */
  wallTime: number;
  /** Mean training loss over the steps since the previous record (NaN at step 0). */
  trainLoss: number;
  /** Per evaluator (fsl_train, fsl_val_rl, fsl_train_valex, fsl_test_class). */
  eval: Record<string, EvalSetMetrics>;
  /** Induction strength of each last-layer head on the fsl_train eval set (spec §5.3). */
  inductionStrength: number[];
  /** Previous-token score of each first-layer head on the fsl_train eval set (spec §5.4, raw). */
  prevTokenScore: number[];
}

/**
 * What is shown when hovering a checkpoint (checkpoints/seq-N.summary.json, written with the checkpoint):
 * attention of every head on a canonical sequence (the first fsl_train eval sequence) and averaged over
 * the fsl_train eval set, the head scores and the eval losses at that point.
 */
export interface CheckpointSummary {
  sequences: number;
  step: number;
  tokens: string[];
  /** Labels of the canonical sequence [ℓ1, ℓ2, answer]. */
  canonicalLabels: number[];
  /** [layer][head][query][key], post-softmax. */
  patterns: number[][][][];
  meanPatterns: number[][][][];
  inductionStrength: number[];
  prevTokenScore: number[];
  eval: Record<string, { loss: number; acc: number }>;
}

export type RunStatus = 'created' | 'running' | 'completed' | 'cancelled' | 'failed';

// ---- Extension → training child ----

export interface StartMessage {
  type: 'start';
  /** A full or partial run config (JSON), resolved on top of `preset` (default preset if absent). */
  config: unknown;
  preset?: string;
  /** Scale of a figure preset: 'fast' (lr 1e-4, default) or 'paper'. */
  scale?: 'fast' | 'paper';
  /** Folder that holds run folders. */
  runsRoot: string;
  /** Fixed run id (sweeps name their runs by condition); default: timestamp + name. */
  runId?: string;
  /** Overrides train.evalThread: parents that run one training child per core send "off" (no spare core). */
  evalThread?: 'auto' | 'on' | 'off';
}
export interface ResumeMessage {
  type: 'resume';
  runDir: string;
  evalThread?: 'auto' | 'on' | 'off';
}
export interface CancelMessage {
  type: 'cancel';
}
export type ToChildMessage = StartMessage | ResumeMessage | CancelMessage;

// ---- Training child → extension ----

export interface StartedMessage {
  type: 'started';
  runId: string;
  runDir: string;
  /** The engine that trains (contracts.md §1): the fast WebAssembly engine or the TensorFlow.js reference. */
  engine: 'fast' | 'tfjs';
  /** e.g. "WebAssembly SIMD (relaxed)" or "TensorFlow.js, wasm backend". */
  engineDetail: string;
  /** The TensorFlow.js backend when the TF.js engine trains; null on the fast engine. */
  backend: 'tensorflow' | 'wasm' | 'cpu' | null;
  /** Why this engine and backend. */
  engineNotes: string[];
  /** @deprecated the same as engineNotes (kept until the UI reads engineNotes). */
  backendNotes: string[];
  /** Where periodic evaluation runs and why (run.json `evalThreadNote`; train/evalThread.ts). */
  evalThreadNote?: string;
  totalSequences: number;
  startSequences: number;
  config: unknown;
}
export interface ProgressMessage {
  type: 'progress';
  sequences: number;
  step: number;
  totalSequences: number;
  stepsPerSecond: number;
  trainLoss: number;
}
export interface ChildMetricsMessage {
  type: 'metrics';
  record: MetricsRecord;
}
export interface CheckpointMessage {
  type: 'checkpoint';
  sequences: number;
  path: string;
}
export interface WarningMessage {
  type: 'warning';
  message: string;
}
export interface ErrorMessage {
  type: 'error';
  message: string;
}
export interface FinishedMessage {
  type: 'finished';
  status: RunStatus;
  sequences: number;
  runDir: string;
  seconds: number;
}
export type FromChildMessage =
  | StartedMessage
  | ProgressMessage
  | ChildMetricsMessage
  | CheckpointMessage
  | WarningMessage
  | ErrorMessage
  | FinishedMessage;

// ---- CLI children → extension (contracts.md §2) ----

/**
 * With `--progress json`, a CLI command run in a child (measure, reproduce, subcircuits, llc, dynamics,
 * findings, sweep) writes one of these per line to stderr; human text stays on stdout. Lines with
 * different `task`s are independent counters (e.g. `measure` counts checkpoints, a measure's own task
 * counts its configurations); show the latest of each.
 */
export interface CliProgress {
  type: 'progress';
  task: string;
  done: number;
  total: number;
  unit: string;
  etaSeconds?: number;
  message?: string;
}
