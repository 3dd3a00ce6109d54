/** Shapes shared by the data modules, the model and the measures. Spec §1. */

/** Exemplar features, row-major [classes, exemplars, dim]. */
export interface FeatureBank {
  classes: number;
  exemplars: number;
  dim: number;
  data: Float32Array;
  /** Where the features came from, for run.json ("synthetic stand-in (spec §1.5) seed 0", a file path). */
  source: string;
}

/** Half-open index ranges [start, end) of a split, e.g. classes [0, 50) train, [50, 1523) val, [1523, 1623) test. */
export interface Split {
  train: [number, number];
  val: [number, number];
  test: [number, number];
}

export type SplitName = 'train' | 'val' | 'test';

/**
 * A batch of `size` sequences x1 ℓ1 x2 ℓ2 xq, stored as indices into the feature bank so the model can
 * project each distinct exemplar once. Item order per sequence: [context 1, context 2, query].
 */
export interface Batch {
  size: number;
  /** [size, 3] class index of each item. */
  classes: Int32Array;
  /** [size, 3] exemplar index of each item. */
  exemplarIdx: Int32Array;
  /** [size, 3] label of each item; the query's label is the target. */
  labels: Int32Array;
  /** [size] which context pair (0 or 1) holds the query's class: `correct_ind` of the spec. */
  correct: Uint8Array;
}

/** The task's label machinery (spec §1.3). */
export interface LabelScheme {
  numLabels: number;
  /** Unordered pairs [a, b] with a < b. */
  train: Array<[number, number]>;
  val: Array<[number, number]>;
  test: Array<[number, number]>;
}

/** One evaluator of spec §1.4. */
export interface EvalSetSpec {
  name: 'fsl_train' | 'fsl_val_rl' | 'fsl_train_valex' | 'fsl_test_class';
  classes: SplitName;
  exemplars: SplitName;
  labelPairs: SplitName;
  /** The figure legend. */
  legend: string;
}

export interface DataConfig {
  /** 'synthetic' (spec §1.5) or a path to .npy / .safetensors / .h5 features of shape [classes, exemplars, dim]. */
  features: string;
  /** Dataset inside an HDF5 / safetensors file (default 'resnet18/224/feat' for h5, first tensor otherwise). */
  featuresKey?: string;
  /**
   * Which synthetic generator `features: "synthetic"` uses (spec §1.5; `data/standIn.ts`): "structured"
   * (classes share low-dimensional structure) or "independent" (the first generator). Ignored for files.
   */
  standIn: 'structured' | 'independent';
  /** Seed of the synthetic feature generator. */
  featureSeed: number;
  /** Per-dimension RMS of the class-specific component of the synthetic features (0.5 in spec §1.5). */
  classScale: number;
  /** Std of the held-out exemplars' noise in the synthetic features (0.25 in spec §1.5). */
  exemplarNoise: number;
  /** Class split counts [train, val, test], e.g. [50, 1473, 100]. */
  classSplit: [number, number, number];
  /** Exemplar split counts [train, val, test], e.g. [1, 4, 0]. */
  exemplarSplit: [number, number, number];
  /** L: number of labels / output logits. */
  numLabels: number;
  /** Relabel-pair split weights [train, val, test], e.g. [8, 2, 0]. */
  labelSplit: [number, number, number];
  labelSplitSeed: number;
  /** Context pairs per sequence (the paper: 2). */
  contextLen: number;
  /** Sequences per evaluator (1,000). */
  evalSize: number;
}
