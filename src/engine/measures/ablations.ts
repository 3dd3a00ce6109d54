/**
 * Per-head ablation effects of the last (induction) layer, spec §5.5 (Fig 4a, App Fig 13, 14, 16,
 * Tables 2 and 3). "Layer 2" below is the model's last layer; heads are zero-ablated (§4.1: their
 * values are 0, so their output is exactly 0). Every configuration also carries the context's base
 * clamps (the run's own ablations, none for the main run).
 *
 *   remove-one(h) = acc / loss with L2H h ablated
 *   keep-one(h)   = acc / loss with the other L2 heads ablated ("only L2H h")
 *   additivity(o, k) = loss with only the first k heads of ordering o active
 *   Table 2: fixed(l) = #{s : only-ref wrong, only-l right} / #{s : only-ref wrong},  acc(only l)
 *   Table 3: the same with every single head (and the reference) given the perfect-match clamp (§4.4)
 */
import { ModelConfig } from '../model/config';
import { ClampSpec } from '../clamps/spec';
import { formatHead } from '../clamps/heads';
import { DenseResult, MeasureContext, denseEval, denseEvalMany, layerHeads } from './dense';

export interface AccLoss {
  acc: number;
  loss: number;
}

/** The model's last layer, home of the induction heads. */
export const lastLayer = (c: ModelConfig): number => c.depth - 1;

/** An ablation clamp for some heads of one layer ([] when there are none). */
export function ablateClamp(layer: number, heads: number[]): ClampSpec[] {
  return heads.length ? [{ kind: 'ablate', heads: heads.map((head) => formatHead({ layer, head })) }] : [];
}

/** Ablate every head of `layer` not in `keep`. */
export function onlyHeadsClamp(c: ModelConfig, layer: number, keep: number[]): ClampSpec[] {
  const k = new Set(keep);
  return ablateClamp(
    layer,
    Array.from({ length: c.numHeads }, (_, h) => h).filter((h) => !k.has(h)),
  );
}

/** The perfect-match (induction pattern, strength 1) clamp of §4.4 on some heads of one layer. */
export function perfectMatchClamp(layer: number, heads: number[], strength = 1): ClampSpec[] {
  return heads.length ? [{ kind: 'induction', heads: heads.map((head) => formatHead({ layer, head })), strength }] : [];
}

const al = (r: DenseResult): AccLoss => ({ acc: r.acc, loss: r.meanLoss });

// ------------------------------------------------------------------------------------ remove / keep one

export const ABLATION_FORMULA = {
  removeOne: 'remove-one(h) = mean_s [correct | L2H h ablated], mean_s loss (spec §5.5, Fig 4a triangles / App 13)',
  keepOne:
    'keep-one(h) = mean_s [correct | all L2 heads but h ablated], mean_s loss (spec §5.5, Fig 4a circles / App 13)',
  baseline: 'baseline = no ablation (dashed line)',
};

export interface HeadAblations {
  formula: typeof ABLATION_FORMULA;
  n: number;
  baseline: AccLoss;
  heads: string[];
  /** Dense induction strength of each head at this checkpoint (the x-axis of Fig 4a). */
  inductionStrength: number[];
  removeOne: AccLoss[];
  keepOne: AccLoss[];
}

export function headAblations(ctx: MeasureContext): HeadAblations {
  const c = ctx.config,
    L = lastLayer(c);
  const base = denseEval(ctx, [], { headScores: true });
  const heads = Array.from({ length: c.numHeads }, (_, h) => h);
  const removeOne = denseEvalMany(
    ctx,
    heads.map((h) => ablateClamp(L, [h])),
  ).map(al);
  const keepOne = denseEvalMany(
    ctx,
    heads.map((h) => onlyHeadsClamp(c, L, [h])),
  ).map(al);
  return {
    formula: ABLATION_FORMULA,
    n: base.n,
    baseline: al(base),
    heads: layerHeads(c, L),
    inductionStrength: base.headScores!.inductionStrength,
    removeOne,
    keepOne,
  };
}

// ------------------------------------------------------------------------------------------ additivity

export const PAPER_ORDERING = [3, 1, 2, 7, 5, 0, 4, 6];
export const PAPER_ORDERING_FROM_H1 = [1, 2, 7, 5, 0, 4, 6];
export const ADDITIVITY_FORMULA =
  'additivity(o, k) = mean_s loss with only L2 heads o[0..k−1] active (the others ablated), k = 1..|o| (spec §5.5, App Fig 14)';

export interface AdditivityCurve {
  name: string;
  ordering: string[];
  /** points[k−1]: the first k heads active. */
  points: Array<AccLoss & { k: number }>;
}
export interface Additivity {
  formula: string;
  n: number;
  /** All heads active (the dashed line). */
  all: AccLoss;
  curves: AdditivityCurve[];
}

/** Head indices sorted by decreasing value (ties: lower index first). */
export function decreasingOrder(values: number[]): number[] {
  return values
    .map((v, h) => [v, h])
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .map((p) => p[1]);
}

function checkOrdering(c: ModelConfig, o: number[], name: string): void {
  if (o.length === 0) throw new Error(`additivity ordering "${name}" is empty`);
  if (new Set(o).size !== o.length || o.some((h) => !Number.isInteger(h) || h < 0 || h >= c.numHeads)) {
    throw new Error(
      `additivity ordering "${name}" must list distinct head indices in [0, ${c.numHeads - 1}], got [${o.join(', ')}]`,
    );
  }
}

/**
 * Loss with growing sets of active last-layer heads. Default orderings: the paper's [3,1,2,7,5,0,4,6]
 * and [1,2,7,5,0,4,6] (8-head models only) and this checkpoint's own decreasing dense IS.
 */
export function additivity(ctx: MeasureContext, orderings?: Record<string, number[]>): Additivity {
  const c = ctx.config,
    L = lastLayer(c);
  const base = denseEval(ctx, [], { headScores: true });
  const ords: Record<string, number[]> = orderings ?? {
    ...(c.numHeads === 8 ? { paper: PAPER_ORDERING, 'paper from H1': PAPER_ORDERING_FROM_H1 } : {}),
    'decreasing IS': decreasingOrder(base.headScores!.inductionStrength),
  };
  const curves: AdditivityCurve[] = [];
  for (const [name, o] of Object.entries(ords)) {
    checkOrdering(c, o, name);
    const results = denseEvalMany(
      ctx,
      o.map((_, i) => onlyHeadsClamp(c, L, o.slice(0, i + 1))),
    );
    curves.push({
      name,
      ordering: o.map((head) => formatHead({ layer: L, head })),
      points: results.map((r, i) => ({ k: i + 1, ...al(r) })),
    });
  }
  return { formula: ADDITIVITY_FORMULA, n: base.n, all: al(base), curves };
}

// ------------------------------------------------------------------------------------ complementarity

export interface ComplementarityRow {
  /** #{ref wrong ∧ this right} / #{ref wrong}; null when the reference makes no mistake. */
  fixedFraction: number | null;
  acc: number;
}

/**
 * The complementarity of correctness tables: for each table t,
 *   fixed(t) = #{s : ref[s] = 0 ∧ t[s] = 1} / #{s : ref[s] = 0},   acc(t) = mean_s t[s].
 */
export function complementarityTable(
  ref: Uint8Array,
  tables: Uint8Array[],
): { refMistakes: number; rows: ComplementarityRow[] } {
  let refMistakes = 0;
  for (let s = 0; s < ref.length; s++) if (!ref[s]) refMistakes++;
  const rows = tables.map((t) => {
    if (t.length !== ref.length)
      throw new Error(`complementarity: a table has ${t.length} entries, the reference ${ref.length}`);
    let fixed = 0,
      right = 0;
    for (let s = 0; s < t.length; s++) {
      if (t[s]) {
        right++;
        if (!ref[s]) fixed++;
      }
    }
    return { fixedFraction: refMistakes ? fixed / refMistakes : null, acc: t.length ? right / t.length : NaN };
  });
  return { refMistakes, rows };
}

/** Accuracy and share of mistakes by target label (App Fig 16b/c). */
export function byLabel(
  correct: Uint8Array,
  labels: Int32Array,
  items: number,
  numLabels: number,
): { acc: Array<number | null>; mistakeShare: Array<number | null> } {
  const n = new Float64Array(numLabels),
    ok = new Float64Array(numLabels);
  for (let s = 0; s < correct.length; s++) {
    const y = labels[s * items + items - 1];
    n[y]++;
    ok[y] += correct[s];
  }
  const wrong = correct.length - ok.reduce((a, b) => a + b, 0);
  return {
    acc: Array.from(n, (v, y) => (v ? ok[y] / v : null)),
    mistakeShare: Array.from(n, (v, y) => (wrong ? (v - ok[y]) / wrong : null)),
  };
}

export const COMPLEMENTARITY_FORMULA = {
  table2:
    'fixed(l) = #{s : only-L2H ref wrong ∧ only-L2H l right} / #{s : only-L2H ref wrong};  acc(l) = acc(only L2H l)  (spec §5.5 Table 2)',
  table3:
    'as Table 2, every single-head model (and the reference) with the perfect-match clamp on its head: query row = [0, a1, 0, a2, 0], a_j = [ℓ_j = y_q]  (spec §5.5 Table 3, §4.4)',
};

export interface ComplementarityTable {
  formula: string;
  reference: string;
  /** Why this reference: the given head, or the strongest head by dense IS at this checkpoint. */
  referenceChosenBy: 'given' | 'max IS';
  referenceMistakes: number;
  n: number;
  heads: string[];
  rows: Array<ComplementarityRow & { accByLabel: Array<number | null>; mistakeShareByLabel: Array<number | null> }>;
}

/**
 * Tables 2 and 3. `reference` = a last-layer head index; default: the head with the highest dense IS
 * at this checkpoint (H3 for the paper's seed 5).
 */
export function complementarity(
  ctx: MeasureContext,
  opts: { reference?: number } = {},
): { table2: ComplementarityTable; table3: ComplementarityTable } {
  const c = ctx.config,
    L = lastLayer(c),
    H = c.numHeads;
  let ref = opts.reference;
  const chosenBy = ref === undefined ? 'max IS' : 'given';
  if (ref === undefined)
    ref = decreasingOrder(denseEval(ctx, [], { headScores: true }).headScores!.inductionStrength)[0];
  if (!Number.isInteger(ref) || ref < 0 || ref >= H)
    throw new Error(`complementarity reference must be a head index in [0, ${H - 1}], got ${ref}`);
  const items = c.contextLen + 1;
  const table = (perfect: boolean, formula: string): ComplementarityTable => {
    const results = denseEvalMany(
      ctx,
      Array.from({ length: H }, (_, h) => [
        ...onlyHeadsClamp(c, L, [h]),
        ...(perfect ? perfectMatchClamp(L, [h]) : []),
      ]),
    );
    const t = complementarityTable(
      results[ref!].correct,
      results.map((r) => r.correct),
    );
    return {
      formula,
      reference: formatHead({ layer: L, head: ref! }),
      referenceChosenBy: chosenBy,
      referenceMistakes: t.refMistakes,
      n: ctx.batch.size,
      heads: layerHeads(c, L),
      rows: t.rows.map((row, h) => {
        const bl = byLabel(results[h].correct, ctx.batch.labels, items, c.numLabels);
        return { ...row, accByLabel: bl.acc, mistakeShareByLabel: bl.mistakeShare };
      }),
    };
  };
  return { table2: table(false, COMPLEMENTARITY_FORMULA.table2), table3: table(true, COMPLEMENTARITY_FORMULA.table3) };
}
