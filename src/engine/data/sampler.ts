import { Rng } from './rng';
import { rangeSize, splitRanges } from './splits';
import type { Batch, DataConfig, EvalSetSpec, FeatureBank, LabelScheme, Split, SplitName } from './types';

/** The four evaluators of spec §1.4, in a fixed order: the index is each one's RNG stream. */
export const EVAL_SET_SPECS: readonly EvalSetSpec[] = Object.freeze([
  { name: 'fsl_train', classes: 'train', exemplars: 'train', labelPairs: 'train', legend: 'train' },
  { name: 'fsl_val_rl', classes: 'train', exemplars: 'train', labelPairs: 'val', legend: 'test (relabel)' },
  { name: 'fsl_train_valex', classes: 'train', exemplars: 'val', labelPairs: 'train', legend: 'train (new exemplars)' },
  { name: 'fsl_test_class', classes: 'test', exemplars: 'train', labelPairs: 'train', legend: 'test (exemplars)' },
] as EvalSetSpec[]);

function emptyBatch(size: number): Batch {
  return {
    size,
    classes: new Int32Array(size * 3),
    exemplarIdx: new Int32Array(size * 3),
    labels: new Int32Array(size * 3),
    correct: new Uint8Array(size),
  };
}

/** The task (spec §1): a feature bank plus class / exemplar / label-pair splits, and the samplers over them. */
export class TaskData {
  /** The paper's defaults (spec §1, §2.5). Frozen: spread it to override fields. */
  static readonly DEFAULT_DATA_CONFIG: DataConfig = deepFreeze({
    features: 'synthetic',
    standIn: 'structured',
    featureSeed: 0,
    classScale: 0.5,
    exemplarNoise: 0.25,
    classSplit: [50, 1473, 100],
    exemplarSplit: [1, 4, 0],
    numLabels: 5,
    labelSplit: [8, 2, 0],
    labelSplitSeed: 20,
    contextLen: 2,
    evalSize: 1000,
  } as DataConfig);

  readonly classSplit: Split;
  readonly exemplarSplit: Split;
  private readonly evalCache = new Map<number, Array<{ spec: EvalSetSpec; batch: Batch }>>();

  constructor(
    readonly bank: FeatureBank,
    readonly cfg: DataConfig,
    readonly labels: LabelScheme,
  ) {
    if (cfg.contextLen !== 2) {
      throw new Error(
        `contextLen ${cfg.contextLen} is not supported: only 2 context pairs (the paper's task) are implemented`,
      );
    }
    const cs = cfg.classSplit,
      es = cfg.exemplarSplit;
    this.classSplit = splitRanges(cs);
    this.exemplarSplit = splitRanges(es);
    if (this.classSplit.test[1] > bank.classes) {
      throw new Error(
        `classSplit ${JSON.stringify(cs)} needs ${this.classSplit.test[1]} classes but the features have ${bank.classes}`,
      );
    }
    if (this.exemplarSplit.test[1] > bank.exemplars) {
      throw new Error(
        `exemplarSplit ${JSON.stringify(es)} needs ${this.exemplarSplit.test[1]} exemplars per class but the features have ${bank.exemplars}`,
      );
    }
    if (labels.numLabels !== cfg.numLabels) {
      throw new Error(`label scheme has ${labels.numLabels} labels but cfg.numLabels is ${cfg.numLabels}`);
    }
    if (!Number.isInteger(cfg.evalSize) || cfg.evalSize < 1) {
      throw new Error(`evalSize must be a positive integer, got ${cfg.evalSize}`);
    }
  }

  /** Label pairs of a split. */
  pairs(split: SplitName): Array<[number, number]> {
    return this.labels[split];
  }

  /** Whether a batch can be drawn from these splits (≥ 2 classes, ≥ 1 exemplar, ≥ 1 label pair). */
  canSample(classes: SplitName, exemplars: SplitName, labelPairs: SplitName): boolean {
    return (
      rangeSize(this.classSplit[classes]) >= 2 &&
      rangeSize(this.exemplarSplit[exemplars]) >= 1 &&
      this.labels[labelPairs].length >= 1
    );
  }

  /**
   * `size` bursty sequences x1 ℓ1 x2 ℓ2 xq (spec §1.1): one context item of the query's class, one
   * distractor of another class, shuffled; per-sequence relabelling from the split's pair list.
   */
  sampleBatch(
    rng: Rng,
    size: number,
    classes: SplitName = 'train',
    exemplars: SplitName = 'train',
    labelPairs: SplitName = 'train',
  ): Batch {
    if (!Number.isInteger(size) || size < 0)
      throw new Error(`sampleBatch: size must be a non-negative integer, got ${size}`);
    const [c0, c1] = this.classSplit[classes];
    const [e0, e1] = this.exemplarSplit[exemplars];
    const pairs = this.labels[labelPairs];
    const nc = c1 - c0,
      ne = e1 - e0;
    if (nc < 2)
      throw new Error(`sampleBatch: the ${classes} class split has ${nc} classes; a query and a distractor need ≥ 2`);
    if (ne < 1) throw new Error(`sampleBatch: the ${exemplars} exemplar split is empty`);
    if (pairs.length < 1) throw new Error(`sampleBatch: the ${labelPairs} label-pair split is empty`);

    const b = emptyBatch(size);
    for (let i = 0; i < size; i++) {
      const q = c0 + rng.int(nc);
      let d = c0 + rng.int(nc - 1);
      if (d >= q) d++; // uniform over the split's classes other than q
      const correct = rng.int(2);
      const [p0, p1] = pairs[rng.int(pairs.length)];
      const [la, lb] = rng.int(2) === 0 ? [p0, p1] : [p1, p0];
      const o = i * 3;
      b.classes[o + correct] = q;
      b.labels[o + correct] = la;
      b.classes[o + 1 - correct] = d;
      b.labels[o + 1 - correct] = lb;
      b.classes[o + 2] = q;
      b.labels[o + 2] = la;
      for (let k = 0; k < 3; k++) b.exemplarIdx[o + k] = e0 + rng.int(ne);
      b.correct[i] = correct;
    }
    return b;
  }

  /**
   * The fixed evaluators of spec §1.4, cfg.evalSize sequences each, generated once per evalSeed (each
   * from its own stream) and re-used. Evaluators whose splits are empty under this config (e.g. no
   * val exemplars) are left out rather than failing the run.
   */
  evalSets(evalSeed: number): Array<{ spec: EvalSetSpec; batch: Batch }> {
    let sets = this.evalCache.get(evalSeed);
    if (!sets) {
      sets = [];
      EVAL_SET_SPECS.forEach((spec, stream) => {
        if (!this.canSample(spec.classes, spec.exemplars, spec.labelPairs)) return;
        const rng = new Rng(evalSeed, stream + 1);
        sets!.push({
          spec,
          batch: this.sampleBatch(rng, this.cfg.evalSize, spec.classes, spec.exemplars, spec.labelPairs),
        });
      });
      this.evalCache.set(evalSeed, sets);
    }
    return sets;
  }

  /**
   * Every training sequence once (spec §5.2): ordered train-class pairs (a ≠ b) × ordered train label
   * pairs (each pair and its reverse), context [a ℓa, b ℓb]; first half queries a (correct 0), second
   * half queries b (correct 1); all items use the first train exemplar. 50·49·16·2 = 78,400 by default.
   */
  denseTrainSequences(): Batch {
    const [c0, c1] = this.classSplit.train;
    const ex = this.exemplarSplit.train[0];
    if (rangeSize(this.exemplarSplit.train) < 1)
      throw new Error('denseTrainSequences: the train exemplar split is empty');
    const ordered: Array<[number, number]> = [];
    for (const [p, q] of this.labels.train) ordered.push([p, q], [q, p]);
    const nc = c1 - c0;
    const size = 2 * nc * (nc - 1) * ordered.length;
    const b = emptyBatch(size);
    b.exemplarIdx.fill(ex);
    let i = 0;
    for (let correct = 0; correct < 2; correct++) {
      for (let a = c0; a < c1; a++) {
        for (let c = c0; c < c1; c++) {
          if (a === c) continue;
          for (const [la, lb] of ordered) {
            const o = i * 3;
            b.classes[o] = a;
            b.labels[o] = la;
            b.classes[o + 1] = c;
            b.labels[o + 1] = lb;
            b.classes[o + 2] = correct === 0 ? a : c;
            b.labels[o + 2] = correct === 0 ? la : lb;
            b.correct[i++] = correct;
          }
        }
      }
    }
    return b;
  }
}

/** The batch's exemplar vectors, row-major [size, 3, dim] (item order: context 1, context 2, query). */
export function gatherExemplars(bank: FeatureBank, batch: Batch): Float32Array {
  const { dim, exemplars } = bank;
  const out = new Float32Array(batch.size * 3 * dim);
  for (let k = 0; k < batch.size * 3; k++) {
    const src = (batch.classes[k] * exemplars + batch.exemplarIdx[k]) * dim;
    out.set(bank.data.subarray(src, src + dim), k * dim);
  }
  return out;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
