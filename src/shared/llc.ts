/**
 * The LLC and essential-dynamics files a run folder holds (types only), written by `induction-lab llc` and
 * `induction-lab dynamics` (src/engine/llc, src/engine/dynamics) and read by the VS Code views, the
 * TensorBoard writer and the Python reader. Layout (README "Run folders"):
 *
 *   llc/<mode>/llc.json, llc.csv, heads.csv     one point per checkpoint (LlcRunFile); llc.svg draws them
 *   llc/<mode>/checkpoints/seq-N.json           everything about one checkpoint, with traces (LlcCheckpointFile)
 *   llc/<mode>/checkpoints/seq-N.traces.csv     the per-draw traces as a long table
 *   llc/<mode>/calibration/seq-N.json/.csv/.svg an ε × nβ sweep (LlcCalibrationFile)
 *   llc/<mode>/calibration/summary.json         one ε for the run (LlcCalibrationSummary)
 *   dynamics/<mode>/dynamics.json, .csv, .svg  essential dynamics (DynamicsFile)
 *
 * <mode> is "as-trained" (the run's clamps active at each checkpoint applied while sampling) or "clean"
 * (every clamp removed).
 */

export type LlcMode = 'as-trained' | 'clean';

export interface LlcWarningRecord {
  /** nbeta-one, diverged, negative, not-flattened, low-acceptance, not-significant, cancelled */
  code: string;
  message: string;
}

/** SGLD settings as resolved (defaults filled in). */
export interface LlcSettings {
  epsilon: number;
  gamma: number;
  nbeta: number;
  nbetaDefault: number;
  chains: number;
  draws: number;
  burnIn: number;
  stepsBetweenDraws: number;
  seed: number;
  initBatches: number;
  batchSize: number;
  /** Draws compared with w* on the same minibatch (λ̂ = nβ·mean(L_m(w) − L_m(w*))) rather than with L(w*). */
  pairedBaseline: boolean;
  /** Coordinates sampled (all 66,629, or one head's 2,048) and the model's total. */
  sampled: number;
  size: number;
}

/** One estimate without its traces. */
export interface LlcSummary {
  /**
   * Mean and std (N − 1) over the chains that did not diverge; chainStderr = std/√chains; stderr = that and
   * baselineStderr in quadrature (L(w*) comes from a fixed stream, so sampler seeds share its error).
   */
  mean: number | null;
  std: number | null;
  stderr: number | null;
  chainStderr: number | null;
  /** L(w*) and the std of the minibatch losses it averages; baselineStderr = nβ·std/√initBatches. */
  initLoss: number;
  initLossStd: number;
  baselineStderr: number;
  /** MALA acceptance: trapezoid-rule energy difference (ours) and devinterp's minibatch-loss difference. */
  meanAcceptance: number | null;
  meanAcceptanceDevinterp: number | null;
  /** (second-half − all-draw estimate) / |second-half|; flattened per src/engine/llc/diagnostics.ts. */
  relativeGap: number | null;
  flattened: boolean;
  divergedChains: number;
  chains: number;
  warnings: LlcWarningRecord[];
  seconds: number;
}

export interface LlcChainTrace {
  chain: number;
  llc: number | null;
  /** Per draw. acceptance[0] is null when the first draw is the first step. */
  loss: number[];
  /** Paired estimates (every head's; the model's with --paired): L_m(w*) on the same minibatch. */
  baselineLoss?: number[];
  distance: number[];
  gradNorm: number[];
  acceptance: Array<number | null>;
  diverged: boolean;
  divergence?: string;
}

export interface LlcDetail extends LlcSummary {
  /** Running estimate per draw: nβ·(mean of the first k draws − L(w*)), mean and std over chains. */
  running: { mean: number[]; std: number[] };
  traces: LlcChainTrace[];
}

export interface LlcEngineRecord {
  engine: 'fast' | 'tfjs';
  detail: string;
  /** Why the TensorFlow.js reference ran instead of the fast engine (null when fast). */
  reason: string | null;
}

/** llc/<mode>/checkpoints/seq-N.json */
export interface LlcCheckpointFile {
  format: 'induction-lab/llc-checkpoint-v1';
  sequences: number;
  /** The training step of the checkpoint (sequences / batch size). */
  step: number;
  mode: LlcMode;
  /** The clamps applied while sampling (canonical specs as in run.json), [] when clean or none. */
  clamps: unknown[];
  engine: LlcEngineRecord;
  settings: LlcSettings;
  /** Every weight. Absent when only heads were asked for. */
  model?: LlcDetail;
  /** Weight-refined LLC of each head asked for (its Q, K, V rows and its W_proj columns). */
  heads: Record<string, LlcDetail>;
  /** The heads' settings (their own defaults unless ε, γ, nβ were given; always paired; sampled 2,048). */
  headSettings?: LlcSettings;
  /** Cache key: the settings, mode and engine preference this file was computed with. */
  key: string;
  created: string;
}

/** One checkpoint in llc/<mode>/llc.json. */
export interface LlcPoint {
  sequences: number;
  step: number;
  model?: LlcSummary & { running: { mean: number[]; std: number[] } };
  heads: Record<string, LlcSummary>;
  /** Heads zero-ablated by the clamps applied at this checkpoint: their LLC is ≈ 0 by construction. */
  ablatedHeads: string[];
  /**
   * fsl_train eval loss and head scores at this checkpoint: from its checkpoints/seq-N.summary.json, else
   * from metrics.jsonl (the last evaluation at or before it).
   */
  trainLoss: number | null;
  inductionStrength: number[] | null;
  prevTokenScore: number[] | null;
}

export interface LlcStageBoundary {
  sequences: number;
  kind: 'peak' | 'trough';
  llc: number;
}
export interface LlcStage {
  index: number;
  from: number;
  until: number;
  trend: 'rising' | 'falling';
  llcFrom: number;
  llcUntil: number;
}

/** llc/<mode>/llc.json */
export interface LlcRunFile {
  format: 'induction-lab/llc-v1';
  run: string;
  mode: LlcMode;
  /** Human-readable: "the run's clamps (ablate L2H0,…) applied while sampling" / "clean: no clamp". */
  clampsNote: string;
  engine: LlcEngineRecord;
  settings: LlcSettings;
  /** The heads' settings, when heads were estimated. */
  headSettings?: LlcSettings;
  formula: string;
  points: LlcPoint[];
  stages: {
    method: string;
    bandwidthDecades: number;
    noise: number;
    boundaries: LlcStageBoundary[];
    stages: LlcStage[];
    smoothed: Array<{ sequences: number; llc: number }>;
  };
  /** Spec §5.10 learning time of the loss (first eval x with fsl_train loss < 0.4·ln 2), beside the stages. */
  learningTime: { sequences: number | null; reached: boolean; formula: string };
  created: string;
}

export interface LlcCalibrationCell {
  epsilon: number;
  nbeta: number;
  nbetaMultiplier: number;
  mean: number | null;
  std: number | null;
  stderr: number | null;
  chainStderr: number | null;
  meanAcceptance: number | null;
  relativeGap: number | null;
  gapStderr: number | null;
  flattened: boolean;
  divergedChains: number;
  warnings: string[];
  healthy: boolean;
  /** Healthy, std/√chains ≤ 10 % and flat within 5 % + 1 SE: what the recommendation requires. */
  equilibrated: boolean;
  refined: boolean;
}

/** llc/<mode>/calibration/seq-N.json */
export interface LlcCalibrationFile {
  format: 'induction-lab/llc-calibration-v1';
  sequences: number;
  mode: LlcMode;
  engine: LlcEngineRecord;
  /** γ, chains, draws, … shared by every cell (ε and nβ vary). */
  settings: LlcSettings;
  epsilons: number[];
  nbetaMultipliers: number[];
  nbetaDefault: number;
  cells: LlcCalibrationCell[];
  recommendation: { epsilon: number; nbeta: number; mean: number | null; std: number | null; reason: string } | null;
  note: string;
  created: string;
}

/** llc/<mode>/calibration/summary.json: one ε for the whole run from the checkpoints calibrated. */
export interface LlcCalibrationSummary {
  format: 'induction-lab/llc-calibration-summary-v1';
  mode: LlcMode;
  gamma: number;
  nbeta: number;
  checkpoints: Array<{ sequences: number; epsilon: number | null }>;
  /** The largest per-checkpoint recommendation (every checkpoint then equilibrates), or null. */
  epsilon: number | null;
  note: string;
  created: string;
}

/** dynamics/<mode>/dynamics.json: PCA over checkpoints of the model's outputs on one fixed probe set. */
export interface DynamicsFile {
  format: 'induction-lab/dynamics-v1';
  run: string;
  mode: LlcMode;
  /** What each checkpoint's vector holds, e.g. ["logits"] or ["logits", "patterns"]. */
  features: string[];
  probe: { sequences: number; seed: number; source: string };
  /** Length of one checkpoint's output vector, and how each block was scaled before the PCA. */
  dimension: number;
  blockScaling: string;
  /** Fraction of the variance over checkpoints each component explains (all components computed). */
  explainedVariance: number[];
  /** One per checkpoint, in training order: its coordinates on the first components. */
  points: Array<{ sequences: number; step: number; pcs: number[] }>;
  /** Sharp turns (> 60°) of the PC1–PC2 trajectory, smoothed over log-time, between chords of 1/25 of its length. */
  cusps: Array<{ sequences: number; angleDegrees: number }>;
  formula: string;
  created: string;
}
