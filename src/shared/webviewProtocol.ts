/**
 * Messages between the extension host and the Induction Lab webviews. One module that both sides
 * import: every message is discriminated by `type` and the two directions are separate unions
 * ("to webview" = host → webview, "from webview" = webview → host). The runtime part is limited to
 * constants and type guards with no imports, so the webview bundle and the host can both use them.
 *
 * Handshake: a webview posts `ready` once its listener is attached; the host waits for it before
 * posting anything, then sends `runs`, `metrics` (full arrays), the current `step`, and whatever the
 * view needs (`patterns`, `influence` + `overTraining`, `subcircuits`, `llc`, `pathPatching`). Afterwards it streams
 * `metricsAppend` rows (and resends `influence` + `overTraining`, or `pathPatching`, when a run's aggregates
 * change).
 * The selected step is kept per run: when a view posts `selectStep` for its run, the host broadcasts
 * `step` with that run id to every open view, and the views showing that run follow it (including the
 * sender; an unchanged step is a no-op). A new run starts at "latest" (null). Views over several runs
 * (compare, subcircuits) draw any step as their cursor and post theirs without a run id, which only
 * they follow. A restored view reports its saved run and step in `ready`; the host adopts that step
 * for the run unless one was already selected in this session.
 */
import type { MetricsRecord, RunStatus } from './protocol';
import type { DynamicsFile, LlcMode, LlcRunFile } from './llc';

export type { MetricsRecord, RunStatus };

/** The webview apps; each is `src/webview/<name>.view.ts` → `out/webview/<name>.view.js`. */
export type ViewName = 'dashboard' | 'attention' | 'influence' | 'subcircuits' | 'compare' | 'llc' | 'paths';
export const VIEW_NAMES: readonly ViewName[] = [
  'dashboard',
  'attention',
  'influence',
  'subcircuits',
  'compare',
  'llc',
  'paths',
];

// ---- Data the host sends ----

/**
 * A clamp as listed in run.json (heads canonical, e.g. "L2H3"; `copy` names one `head`); active while
 * from ≤ sequences < until. The parameters are shown in labels when present.
 */
export interface ClampSummary {
  kind: string;
  heads?: string[];
  head?: string;
  from?: number;
  until?: number;
  strength?: number;
  temperature?: number;
  tillLayer?: number;
  fromLayer?: number;
  /** Path clamps (`path-patch`, `stop-gradient`, issue 18): the edge sender → receiver and the receiver input. */
  sender?: string;
  receiver?: string;
  input?: string;
  with?: string;
  corruption?: string;
}

export interface RunSummary {
  id: string;
  name: string;
  status: RunStatus | string;
  preset?: string;
  clamps: ClampSummary[];
  /** run.json's raw `backend` (kept for readers of older fields; the UI shows `engine`). */
  backend?: string;
  /** What trained it, as one label (src/shared/engineLabel.ts), e.g. "fast engine (WebAssembly SIMD, relaxed)". */
  engine?: string;
  totalSequences: number;
  /** Sequences of the saved checkpoints, ascending (lets step sliders snap to loadable checkpoints). */
  checkpoints?: number[];
}

/**
 * `single`: one sequence (of an eval set, or typed); `aligned`: mean over an eval set with the query
 * row aligned to correct / other label (src/shared/attentionViews.ts); `average`: the plain mean.
 */
export type PatternMode = 'single' | 'aligned' | 'average';
export const PATTERN_MODES: readonly PatternMode[] = ['single', 'aligned', 'average'];

export interface AttentionPatterns {
  runId: string;
  /** Checkpoint the patterns come from (sequences seen). */
  sequences: number;
  mode: PatternMode;
  /** Token labels of the positions, normally ['x1', 'ℓ1', 'x2', 'ℓ2', 'xq']. */
  tokens: string[];
  /** Post-softmax attention, [layer][head][query][key]; layer 0 = paper's Layer 1. */
  layers: number[][][][];
  /** Eval set the sequence(s) come from, e.g. "fsl_train". */
  evalSet?: string;
  /** For `single`: the index of the sequence in the eval set. */
  sequenceIndex?: number;
  /** Free text shown under the grid, e.g. the sequence's classes and labels. */
  note?: string;
  /** The step asked for, when the nearest saved checkpoint (`sequences`) differs from it. */
  requested?: number;
  /** Sequences in the eval set (for the sequence picker's range). */
  evalSetSize?: number;
  /** The sequence shown (single): as text "x1 ℓ1 x2 ℓ2 xq", which pair matches (null: neither), its answer. */
  sequence?: { text: string; classes: number[]; labels: number[]; correct: number | null; answer: number | null };
  /** Whether the model gets that sequence right, and its loss (when the answer is known). */
  correctPrediction?: boolean;
  loss?: number;
  /** The query row index re-indexed to correct / other label (aligned mode). */
  alignedRow?: number;
  /** The run's clamps active at this checkpoint, described. */
  clamps?: string[];
}

/** The heat maps of the influence view; `headAblations` is 8 × 2 (rows Layer-2 heads, cols remove / keep one). */
export type InfluenceKind =
  | 'valuePreserving'
  | 'patternPreserving'
  | 'keepOneValue'
  | 'keepOnePattern'
  | 'compositionK'
  | 'compositionV'
  | 'compositionQ'
  | 'headAblations';
export const INFLUENCE_KINDS: readonly InfluenceKind[] = [
  'valuePreserving',
  'patternPreserving',
  'keepOneValue',
  'keepOnePattern',
  'compositionK',
  'compositionV',
  'compositionQ',
  'headAblations',
];

/** Default titles, formulas and colour ranges (science spec §5.6, App Fig 11); the host may override title/formula. */
export const INFLUENCE_INFO: Record<
  InfluenceKind,
  { title: string; formula: string; signed: boolean; range: [number, number] }
> = {
  valuePreserving: {
    title: 'Accuracy change from ablating Layer 1 head (value-preserving)',
    formula: 'M_pv[i,j] = acc(only L2H i; ablate L1H j; preserve values) − acc(only L2H i)',
    signed: true,
    range: [-0.16, 0.16],
  },
  patternPreserving: {
    title: 'Accuracy change from ablating Layer 1 head (pattern-preserving)',
    formula: 'M_pp[i,j] = acc(only L2H i; ablate L1H j; preserve patterns) − acc(only L2H i)',
    signed: true,
    range: [-0.16, 0.16],
  },
  keepOneValue: {
    title: 'Accuracy with one head per layer (value-preserving)',
    formula: 'acc(only L2H i; all Layer 1 heads except j ablated; preserve values)',
    signed: false,
    range: [0, 1],
  },
  keepOnePattern: {
    title: 'Accuracy with one head per layer (pattern-preserving)',
    formula: 'acc(only L2H i; all Layer 1 heads except j ablated; preserve patterns)',
    signed: false,
    range: [0, 1],
  },
  compositionK: {
    title: 'K-composition score',
    formula: 'K[i,j] = ‖W_O^(j) W_K^(i)‖_F / (‖W_O^(j)‖_F ‖W_K^(i)‖_F)',
    signed: false,
    range: [0.09, 0.16],
  },
  compositionV: {
    title: 'V-composition score',
    formula: 'V[i,j] = ‖W_O^(j) W_V^(i)‖_F / (‖W_O^(j)‖_F ‖W_V^(i)‖_F)',
    signed: false,
    range: [0.09, 0.16],
  },
  compositionQ: {
    title: 'Q-composition score',
    formula: 'Q[i,j] = ‖W_O^(j) W_Q^(i)‖_F / (‖W_O^(j)‖_F ‖W_Q^(i)‖_F)',
    signed: false,
    range: [0.09, 0.16],
  },
  headAblations: {
    title: 'Accuracy with one Layer 2 head removed / kept (spec §5.5)',
    formula: 'remove[i] = acc(ablate L2H i only); keep[i] = acc(ablate the 7 other Layer 2 heads)',
    signed: false,
    range: [0, 1],
  },
};

export interface InfluenceHeatmap {
  runId: string;
  sequences: number;
  kind: InfluenceKind;
  /** Row labels (Layer-2 heads, "L2H0".."L2H7") and column labels (Layer-1 heads, "L1H0".."L1H7"). */
  rows: string[];
  cols: string[];
  /** values[row][col], 8×8. */
  values: number[][];
  /** Signed values get a symmetric diverging scale (RdBu, blue negative); unsigned get viridis. */
  signed: boolean;
  /** Shown under the heatmap. */
  formula: string;
  title?: string;
  /** Its aggregate, e.g. "influence-matrix-over-training-sub2000.json" (absent: a one-checkpoint file). */
  source?: string;
}

export interface SubcircuitPlotCurve {
  /** Series name within a panel (Fig 6: "50 classes"); Fig 5b uses `stepsClamped` as legend text. */
  label: string;
  /** Legend text under '"Clamped" steps', e.g. "None", "1", "1, 2 (layer 1)", "3v, 5 (copy)". */
  stepsClamped: string;
  /** What is still learned, e.g. "B, C"; the default column of the small-multiples grid. */
  stepsLearned: string;
  /** Sequences seen, ascending. */
  xs: number[];
  /** fsl_train loss at each x. */
  ys: number[];
  /** Small-multiples column title (Fig 6: "Subcircuit B evolution"); defaults to stepsLearned. */
  panel?: string;
  /** Small-multiples row (Fig 6: "# classes" / "# labels"). */
  row?: string;
  /** Where the curve comes from, e.g. "Run Subcircuit Progress · fast · seed 5" (shown one source at a time). */
  source?: string;
  /** Learning time (spec §5.10): first x with loss < 0.4·ln 2; null when the run never got there. */
  learningTime?: number | null;
  /** The run folder's id, when it is a run of the Runs tree. */
  runId?: string;
}

/**
 * Curves over training (issue 11, from RUN/measures/<measure>-over-training*.json): one line per head
 * or quantity, `ys[k]` at `sequences[k]` (null: not measured there).
 */
export interface CurveSetOverTraining {
  id: string;
  title: string;
  yLabel: string;
  formula: string;
  /** The aggregate file the curves come from. */
  source: string;
  sequences: number[];
  /** `head`: the head a line belongs to (for clamp marks); `reference`: drawn dashed (e.g. all heads). */
  lines: Array<{ id: string; label: string; head?: string; ys: Array<number | null>; reference?: boolean }>;
  /** The paper's y range, when there is a natural one (accuracy [0, 1]). */
  yRange?: [number, number];
  /** Loss curves: draw ln 2. */
  ln2?: boolean;
  /** The head the curves are about (the strongest IH of "influence of each PTH on the strongest IH"). */
  about?: string;
}

/** One aggregate file read: which measure, on how many sequences, and the run's checkpoints it lacks. */
export interface SeriesSource {
  measure: string;
  subsample: number | null;
  file: string;
  checkpoints: number;
  missing: number[];
}

/** Measures over training of a run; the heat maps of each checkpoint come in `influence` matrices. */
export interface OverTrainingData {
  runId: string;
  curves: CurveSetOverTraining[];
  sources: SeriesSource[];
  /** The run's checkpoints (the ones a complete computation would cover). */
  checkpoints: number[];
  /** The command line that computes (or completes) them. */
  command: string;
}

export interface SubcircuitCurves {
  title?: string;
  curves: SubcircuitPlotCurve[];
  layout?: SubcircuitLayout;
}
export type SubcircuitLayout = 'overlay' | 'grid';

/**
 * One sampling mode's cached results of a run (src/extension/llcData.ts): `llc/<mode>/llc.json` and
 * `dynamics/<mode>/dynamics.json` as written by `induction-lab llc` / `dynamics` (types in src/shared/llc.ts),
 * null when absent; `problems` names files that exist but could not be read.
 */
export interface LlcModeData {
  mode: LlcMode;
  llc: LlcRunFile | null;
  dynamics: DynamicsFile | null;
  problems: string[];
}

/** A receiver input of path patching (issue 18): the Layer-2 head's query, key or value. */
export type PathInputName = 'q' | 'k' | 'v';
export const PATH_INPUT_NAMES: readonly PathInputName[] = ['q', 'k', 'v'];

/** Attribution patching against the exact values over one checkpoint's H × H × 3 entries. */
export interface PathErrorStats {
  maxAbs: number;
  meanAbs: number;
  relative: number | null;
  correlation: number | null;
}

/**
 * Path patching of one checkpoint under one corruption (docs/path-patching.md): `exact[X][i][j]` = the change
 * of the query's logit difference when receiver i's input X reads sender j's corrupted output along that
 * edge alone (rows i = receivers, Layer 2; columns j = senders, Layer 1); `attribution` its first-order
 * approximation (null when not computed).
 */
export interface PathPatchingFrame {
  sequences: number;
  corruption: string;
  exact: Record<PathInputName, number[][]>;
  attribution: Record<PathInputName, number[][]> | null;
  error: PathErrorStats | null;
  /** Mean clean logit difference, and that of the fully corrupted run (against the clean labels). */
  cleanLD: number | null;
  corruptLD: number | null;
}

/** Path patching over training of a run (RUN/measures/path-patching-over-training*.json) for the edge view. */
export interface PathPatchingData {
  runId: string;
  senders: string[];
  receivers: string[];
  corruptions: Array<{ name: string; description: string }>;
  /** One per (checkpoint, corruption) measured, checkpoints ascending. */
  frames: PathPatchingFrame[];
  /** The aggregate read (null: none yet): its file, sequences per checkpoint and the run's checkpoints it lacks. */
  source: { file: string; subsample: number | null; n: number | null; missing: number[] } | null;
  /** The run's checkpoints. */
  checkpoints: number[];
  /** Learning time of the run (spec §5.10: first eval with fsl_train loss < 0.4·ln 2); null: not reached. */
  learningTime: number | null;
  /** The command line that computes (or completes) path patching over training. */
  command: string;
}

// ---- Host → webview ----

/** The runs this view should show (dashboard: a picker, with `activeRunId` preselected; compare: all of them). */
export interface RunsMessage {
  type: 'runs';
  runs: RunSummary[];
  activeRunId?: string;
}
/** The full metrics of one run (replaces what the view had). */
export interface RunMetricsMessage {
  type: 'metrics';
  runId: string;
  records: MetricsRecord[];
}
/** New rows of one run (appended, keyed by `sequences`; a repeated `sequences` replaces the old row). */
export interface MetricsAppendMessage {
  type: 'metricsAppend';
  runId: string;
  records: MetricsRecord[];
}
/** The selected step (sequences seen) of run `runId` (absent: the multi-run views' cursor); null = the latest. */
export interface StepMessage {
  type: 'step';
  sequences: number | null;
  runId?: string;
}
export interface PatternsMessage {
  type: 'patterns';
  patterns: AttentionPatterns;
  inReplyTo?: number;
}
/** Influence matrices of a run: any mix of kinds and checkpoints (several checkpoints animate with the step). */
export interface InfluenceMessage {
  type: 'influence';
  runId: string;
  matrices: InfluenceHeatmap[];
  inReplyTo?: number;
}
/** Measures over training of a run (curves and what was read); sent with `influence` and when aggregates change. */
export interface OverTrainingMessage {
  type: 'overTraining';
  data: OverTrainingData;
}
export interface SubcircuitsMessage {
  type: 'subcircuits';
  data: SubcircuitCurves;
}
/** The LLC and essential-dynamics caches of run `runId`, one entry per mode that has any (replaces what the view had). */
export interface LlcDataMessage {
  type: 'llc';
  runId: string;
  modes: LlcModeData[];
}
/** Path patching over training of run `data.runId` (replaces what the view had). */
export interface PathPatchingMessage {
  type: 'pathPatching';
  data: PathPatchingData;
}
/** The outcome of an `export` (after the host's save dialog). */
export interface ExportResultMessage {
  type: 'exportResult';
  inReplyTo?: number;
  ok: boolean;
  path?: string;
  error?: string;
}
/** Preferences every view of the session shares (figure background, attention mode); a fresh view adopts them. */
export interface PrefsMessage {
  type: 'prefs';
  prefs: Record<string, string | number | boolean>;
}
/** A line of status for the view to show (e.g. "computing patterns…", or an error). */
export interface StatusMessage {
  type: 'status';
  level: 'info' | 'warning' | 'error';
  message: string;
}

export type ToWebviewMessage =
  | RunsMessage
  | RunMetricsMessage
  | MetricsAppendMessage
  | StepMessage
  | PatternsMessage
  | InfluenceMessage
  | SubcircuitsMessage
  | ExportResultMessage
  | StatusMessage
  | PrefsMessage
  | LlcDataMessage
  | OverTrainingMessage
  | PathPatchingMessage;

// ---- Webview → host ----

/** `runId`/`step`: what a restored view saved (its run and selected step). */
export interface ReadyMessage {
  type: 'ready';
  view: ViewName;
  runId?: string;
  step?: number | null;
}
/** `runId`: the run whose step this is (absent: the cursor of a multi-run view). */
export interface SelectStepMessage {
  type: 'selectStep';
  sequences: number | null;
  runId?: string;
}
/**
 * `sequences`: the selected step (the host snaps it to a checkpoint; null = the latest checkpoint).
 * `evalSet` (default fsl_train) and `sequenceIndex` (default 0) pick the sequence or the averaged set;
 * `custom` is a typed sequence "x1 ℓ1 x2 ℓ2 xq" (single mode). Computed in a child process.
 */
export interface RequestPatternsMessage {
  type: 'requestPatterns';
  runId: string;
  sequences: number | null;
  mode: PatternMode;
  requestId?: number;
  evalSet?: string;
  sequenceIndex?: number;
  custom?: string;
}
/** Optional: asks for matrices of a kind the host has not sent yet (the host may ignore it). */
export interface RequestInfluenceMessage {
  type: 'requestInfluence';
  runId: string;
  kind: InfluenceKind;
  requestId?: number;
}
export type ExportFormat = 'png' | 'svg' | 'csv' | 'json';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['png', 'svg', 'csv', 'json'];
/** `data` is base64 for png, text otherwise; the host shows the save dialog and replies with `exportResult`. */
export interface ExportMessage {
  type: 'export';
  format: ExportFormat;
  fileName: string;
  data: string;
  requestId?: number;
}
export interface OpenRunMessage {
  type: 'openRun';
  runId: string;
}
/**
 * Asks the host to compute the measures over training of a run (command `inductionLab.computeOverTraining`);
 * `measures` (e.g. ["path-patching"]) skips the command's measure picker.
 */
export interface ComputeOverTrainingMessage {
  type: 'computeOverTraining';
  runId: string;
  measures?: string[];
}
/** Compare: the host asks which runs to add (a quick pick of the runs not shown yet). */
export interface AddRunsMessage {
  type: 'addRuns';
}
/** Compare: stop showing a run. */
export interface RemoveRunMessage {
  type: 'removeRun';
  runId: string;
}

export type FromWebviewMessage =
  | ReadyMessage
  | SelectStepMessage
  | RequestPatternsMessage
  | RequestInfluenceMessage
  | ExportMessage
  | OpenRunMessage
  | PrefsMessage
  | AddRunsMessage
  | RemoveRunMessage
  | ComputeOverTrainingMessage;

// ---- What a panel saves for its restore ----

/**
 * The part of a panel's saved state (`setState`) the host reads when VS Code restores the panel after
 * a reload: the run it shows (attention, influence) or the runs (compare). Every panel view saves these
 * keys; anything else in the state is the view's own.
 */
export interface PanelIdentity {
  runId?: string;
  runIds?: string[];
}

/** Reads a restored panel's identity from its saved state, dropping anything malformed. */
export function panelIdentity(state: unknown): PanelIdentity {
  if (typeof state !== 'object' || state === null || Array.isArray(state)) return {};
  const s = state as Record<string, unknown>;
  const out: PanelIdentity = {};
  if (typeof s.runId === 'string' && s.runId) out.runId = s.runId;
  if (Array.isArray(s.runIds)) out.runIds = s.runIds.filter((x): x is string => typeof x === 'string' && x.length > 0);
  return out;
}

// ---- Evaluation sets (science spec §1.4) ----

export const EVAL_SETS = ['fsl_train', 'fsl_val_rl', 'fsl_test_class', 'fsl_train_valex'] as const;
export type EvalSetName = (typeof EVAL_SETS)[number];
/** Figure legends; note "test (exemplars)" is fsl_test_class (new classes), not fsl_train_valex. */
export const EVAL_SET_LEGENDS: Record<EvalSetName, string> = {
  fsl_train: 'train',
  fsl_val_rl: 'test (relabel)',
  fsl_test_class: 'test (exemplars)',
  fsl_train_valex: 'train (new exemplars)',
};
/** ln 2: loss of picking a random one of the two in-context labels (dashed "random label from context"). */
export const LN2 = Math.LN2;
export const LN2_LABEL = 'random label from context';

// ---- Type guards (validate what crosses the boundary) ----

type Rec = Record<string, unknown>;
const isObj = (x: unknown): x is Rec => typeof x === 'object' && x !== null && !Array.isArray(x);
const isStr = (x: unknown): x is string => typeof x === 'string';
const isNum = (x: unknown): x is number => typeof x === 'number' && !Number.isNaN(x);
const isOpt = (x: unknown, g: (y: unknown) => boolean): boolean => x === undefined || g(x);
const isArr = (x: unknown, g: (y: unknown) => boolean): boolean => Array.isArray(x) && x.every(g);
const isStepValue = (x: unknown): boolean => x === null || (isNum(x) && x >= 0);
const isPrefs = (x: unknown): boolean =>
  isObj(x) &&
  Object.keys(x).length <= 32 &&
  Object.values(x).every((v) => (typeof v === 'string' && v.length <= 64) || typeof v === 'boolean' || isNum(v));

function isRunSummary(x: unknown): boolean {
  return (
    isObj(x) &&
    isStr(x.id) &&
    isStr(x.name) &&
    isStr(x.status) &&
    isNum(x.totalSequences) &&
    isArr(x.clamps, (c) => isObj(c) && isStr(c.kind)) &&
    isOpt(x.checkpoints, (c) => isArr(c, isNum))
  );
}
function isPatterns(x: unknown): boolean {
  return (
    isObj(x) &&
    isStr(x.runId) &&
    isNum(x.sequences) &&
    PATTERN_MODES.includes(x.mode as PatternMode) &&
    isArr(x.tokens, isStr) &&
    isArr(x.layers, (l) => isArr(l, (h) => isArr(h, (q) => isArr(q, isNum))))
  );
}
function isInfluenceHeatmap(x: unknown): boolean {
  return (
    isObj(x) &&
    isStr(x.runId) &&
    isNum(x.sequences) &&
    INFLUENCE_KINDS.includes(x.kind as InfluenceKind) &&
    isArr(x.rows, isStr) &&
    isArr(x.cols, isStr) &&
    isArr(x.values, (r) => isArr(r, isNum)) &&
    typeof x.signed === 'boolean' &&
    isStr(x.formula)
  );
}
function isCurve(x: unknown): boolean {
  return (
    isObj(x) &&
    isStr(x.label) &&
    isStr(x.stepsClamped) &&
    isStr(x.stepsLearned) &&
    isArr(x.xs, isNum) &&
    isArr(x.ys, (y) => typeof y === 'number') &&
    (x.xs as number[]).length === (x.ys as number[]).length
  );
}
const isNumOrNull = (y: unknown): boolean => y === null || isNum(y);
function isCurveSet(x: unknown): boolean {
  if (!isObj(x) || !isStr(x.id) || !isStr(x.title) || !isStr(x.yLabel) || !isArr(x.sequences, isNum)) return false;
  const n = (x.sequences as number[]).length;
  return isArr(
    x.lines,
    (l) => isObj(l) && isStr(l.id) && isStr(l.label) && isArr(l.ys, isNumOrNull) && (l.ys as unknown[]).length === n,
  );
}
const isOverTraining = (x: unknown): boolean =>
  isObj(x) &&
  isStr(x.runId) &&
  isArr(x.curves, isCurveSet) &&
  isArr(x.sources, (s) => isObj(s) && isStr(s.measure) && isArr(s.missing, isNum)) &&
  isArr(x.checkpoints, isNum) &&
  isStr(x.command);
const isMatrix = (x: unknown): boolean => isArr(x, (r) => isArr(r, isNum));
const isInputMatrices = (x: unknown): boolean => isObj(x) && PATH_INPUT_NAMES.every((k) => isMatrix(x[k]));
const isPathFrame = (x: unknown): boolean =>
  isObj(x) &&
  isNum(x.sequences) &&
  isStr(x.corruption) &&
  isInputMatrices(x.exact) &&
  (x.attribution === null || isInputMatrices(x.attribution)) &&
  (x.error === null || (isObj(x.error) && isNum(x.error.maxAbs) && isNum(x.error.meanAbs))) &&
  isNumOrNull(x.cleanLD) &&
  isNumOrNull(x.corruptLD);
const isPathPatching = (x: unknown): boolean =>
  isObj(x) &&
  isStr(x.runId) &&
  isArr(x.senders, isStr) &&
  isArr(x.receivers, isStr) &&
  isArr(x.corruptions, (c) => isObj(c) && isStr(c.name) && isStr(c.description)) &&
  isArr(x.frames, isPathFrame) &&
  (x.source === null || (isObj(x.source) && isStr(x.source.file) && isArr(x.source.missing, isNum))) &&
  isArr(x.checkpoints, isNum) &&
  isNumOrNull(x.learningTime) &&
  isStr(x.command);
/** Records are produced by our own engine; check the shape cheaply (key fields only). */
const isRecord = (x: unknown): boolean => isObj(x) && isNum(x.sequences) && isObj(x.eval);
/** Cache files (our own writer): key fields only; the view tolerates missing optional ones. */
const isLlcFile = (x: unknown): boolean =>
  isObj(x) && isArr(x.points, (p) => isObj(p) && isNum(p.sequences)) && isObj(x.stages) && isObj(x.settings);
const isDynamicsFile = (x: unknown): boolean =>
  isObj(x) &&
  isArr(x.explainedVariance, isNum) &&
  isArr(x.points, (p) => isObj(p) && isNum(p.sequences) && isArr(p.pcs, isNum));
const isLlcModeData = (x: unknown): boolean =>
  isObj(x) &&
  (x.mode === 'as-trained' || x.mode === 'clean') &&
  (x.llc === null || isLlcFile(x.llc)) &&
  (x.dynamics === null || isDynamicsFile(x.dynamics)) &&
  isArr(x.problems, isStr);

const TO_WEBVIEW: Record<ToWebviewMessage['type'], (m: Rec) => boolean> = {
  runs: (m) => isArr(m.runs, isRunSummary) && isOpt(m.activeRunId, isStr),
  metrics: (m) => isStr(m.runId) && isArr(m.records, isRecord),
  metricsAppend: (m) => isStr(m.runId) && isArr(m.records, isRecord),
  step: (m) => isStepValue(m.sequences) && isOpt(m.runId, isStr),
  patterns: (m) => isPatterns(m.patterns),
  influence: (m) => isStr(m.runId) && isArr(m.matrices, isInfluenceHeatmap),
  subcircuits: (m) => isObj(m.data) && isArr(m.data.curves, isCurve),
  exportResult: (m) => typeof m.ok === 'boolean',
  status: (m) => isStr(m.message) && ['info', 'warning', 'error'].includes(m.level as string),
  prefs: (m) => isPrefs(m.prefs),
  llc: (m) => isStr(m.runId) && isArr(m.modes, isLlcModeData),
  overTraining: (m) => isOverTraining(m.data),
  pathPatching: (m) => isPathPatching(m.data),
};

const FROM_WEBVIEW: Record<FromWebviewMessage['type'], (m: Rec) => boolean> = {
  ready: (m) => VIEW_NAMES.includes(m.view as ViewName) && isOpt(m.runId, isStr) && isOpt(m.step, isStepValue),
  selectStep: (m) => isStepValue(m.sequences) && isOpt(m.runId, isStr),
  requestPatterns: (m) =>
    isStr(m.runId) &&
    isStepValue(m.sequences) &&
    PATTERN_MODES.includes(m.mode as PatternMode) &&
    isOpt(m.requestId, isNum) &&
    isOpt(m.evalSet, (e) => EVAL_SETS.includes(e as EvalSetName)) &&
    isOpt(m.sequenceIndex, (i) => isNum(i) && Number.isInteger(i) && (i as number) >= 0) &&
    isOpt(m.custom, (t) => isStr(t) && t.length <= 200),
  requestInfluence: (m) => isStr(m.runId) && INFLUENCE_KINDS.includes(m.kind as InfluenceKind),
  export: (m) =>
    EXPORT_FORMATS.includes(m.format as ExportFormat) && isStr(m.fileName) && m.fileName.length > 0 && isStr(m.data),
  openRun: (m) => isStr(m.runId),
  prefs: (m) => isPrefs(m.prefs),
  addRuns: () => true,
  removeRun: (m) => isStr(m.runId),
  computeOverTraining: (m) =>
    isStr(m.runId) && isOpt(m.measures, (x) => isArr(x, (n) => isStr(n) && n.length <= 40) && (x as []).length <= 20),
};

export function isToWebviewMessage(x: unknown): x is ToWebviewMessage {
  if (!isObj(x) || !isStr(x.type) || !Object.prototype.hasOwnProperty.call(TO_WEBVIEW, x.type)) return false;
  return TO_WEBVIEW[x.type as ToWebviewMessage['type']](x);
}

/** The host calls this on everything a webview posts: anything else is dropped. */
export function isFromWebviewMessage(x: unknown): x is FromWebviewMessage {
  if (!isObj(x) || !isStr(x.type) || !Object.prototype.hasOwnProperty.call(FROM_WEBVIEW, x.type)) return false;
  return FROM_WEBVIEW[x.type as FromWebviewMessage['type']](x);
}
