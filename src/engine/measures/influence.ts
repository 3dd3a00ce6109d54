/**
 * PTH → IH wiring (spec §5.6, App Fig 11, Table 1). Layer 1 = block 0 (previous-token heads), Layer 2
 * = the last block (induction heads). For every Layer-2 head i (rows) and Layer-1 head j (columns),
 * with the other Layer-2 heads ablated ("only L2H i"):
 *
 *   M_pv[i][j] = acc(only L2H i; ablate L1H j; preserve values)   − acc(only L2H i)   (K/Q composition)
 *   M_pp[i][j] = acc(only L2H i; ablate L1H j; preserve patterns) − acc(only L2H i)   (V composition)
 *   K1_pv[i][j] = acc(only L2H i; only L1H j; preserve values)
 *   K1_pp[i][j] = acc(only L2H i; only L1H j; preserve patterns)
 *   K/V/Q[i][j] = ‖W_O^{(j)} W_X^{(i)}‖_F / (‖W_O^{(j)}‖_F ‖W_X^{(i)}‖_F)   (static, compositionScores)
 *
 * "Preserve" copies that activation of every head of every layer from a clean pass of the unablated
 * model (§4.2); ablation zeros override it. 8 + 8·8·2 + 8·8·2 = 264 configurations on the paper's model.
 * Table 1: acc with a group of Layer-1 heads ablated, all Layer-2 heads active, patterns or values
 * preserved.
 */
import { ClampSpec } from '../clamps/spec';
import { formatHead } from '../clamps/heads';
import { initParams } from '../model/params';
import { compositionScores, CompositionScores } from './composition';
import { MeasureContext, denseEval, denseEvalMany, layerHeads } from './dense';
import { ablateClamp, lastLayer, onlyHeadsClamp } from './ablations';

const PV: ClampSpec = { kind: 'preserve', what: ['values'] };
const PP: ClampSpec = { kind: 'preserve', what: ['patterns'] };

export const INFLUENCE_FORMULA = {
  only: 'acc(only L2H i) = acc with the other last-layer heads ablated',
  removeValuesPreserved:
    "M_pv[i][j] = acc(only L2H i; ablate L1H j; preserve values) − acc(only L2H i)   (effect through L2H i's pattern: K/Q composition)",
  removePatternsPreserved:
    'M_pp[i][j] = acc(only L2H i; ablate L1H j; preserve patterns) − acc(only L2H i)   (effect through values: V composition)',
  keepValuesPreserved: 'K_pv[i][j] = acc(only L2H i; all L1 heads but j ablated; preserve values)',
  keepPatternsPreserved: 'K_pp[i][j] = acc(only L2H i; all L1 heads but j ablated; preserve patterns)',
};

export interface InfluenceMatrices {
  formula: typeof INFLUENCE_FORMULA;
  n: number;
  /** Row heads (last layer) and column heads (first layer). */
  rows: string[];
  cols: string[];
  onlyAcc: number[];
  removeValuesPreserved: number[][];
  removePatternsPreserved: number[][];
  keepValuesPreserved: number[][];
  keepPatternsPreserved: number[][];
  configurations: number;
}

function checkHeads(list: number[], H: number, what: string): void {
  if (list.length === 0 || list.some((h) => !Number.isInteger(h) || h < 0 || h >= H))
    throw new Error(`${what} must be head indices in [0, ${H - 1}], got [${list.join(', ')}]`);
}

export interface InfluenceOptions {
  /** Layer-2 heads (rows) and Layer-1 heads (columns); default all × all. */
  l2?: number[];
  l1?: number[];
  onProgress?: (done: number, total: number) => void;
}

/**
 * Accuracies of configurations, in order — denseEvalMany in this process, or split over worker processes
 * (overTraining.ts `PoolExecutor.configEvaluator`); `onProgress` counts configurations.
 */
export type ConfigEvaluator = (
  configs: ClampSpec[][],
  onProgress?: (done: number, total: number) => void,
) => Promise<number[]>;

/** The matrices for Layer-2 heads `l2` (rows) × Layer-1 heads `l1` (columns); default all × all. */
export function influenceMatrix(ctx: MeasureContext, opts: InfluenceOptions = {}): InfluenceMatrices {
  const plan = influencePlan(ctx, opts);
  return plan.assemble(denseEvalMany(ctx, plan.configs, {}, opts.onProgress).map((r) => r.acc));
}

/** influenceMatrix with its configurations evaluated by `evaluate` (e.g. on several cores): the same numbers. */
export async function influenceMatrixWith(
  ctx: MeasureContext,
  evaluate: ConfigEvaluator,
  opts: InfluenceOptions = {},
): Promise<InfluenceMatrices> {
  const plan = influencePlan(ctx, opts);
  return plan.assemble(await evaluate(plan.configs, opts.onProgress));
}

/**
 * The configurations of the matrices, in an order that keeps those with the same ablated Layer-1 heads
 * together (the last layer's inputs depend on that set), and how their accuracies make the matrices.
 */
function influencePlan(
  ctx: MeasureContext,
  opts: InfluenceOptions,
): { configs: ClampSpec[][]; assemble: (accs: number[]) => InfluenceMatrices } {
  const c = ctx.config,
    L = lastLayer(c),
    H = c.numHeads;
  const all = Array.from({ length: H }, (_, h) => h);
  const rows = opts.l2 ?? all,
    cols = opts.l1 ?? all;
  checkHeads(rows, H, 'influence rows (Layer-2 heads)');
  checkHeads(cols, H, 'influence columns (Layer-1 heads)');
  const total = rows.length * (1 + 4 * cols.length);
  const configs: ClampSpec[][] = [],
    at = new Map<string, number>();
  const add = (key: string, clamps: ClampSpec[]) => {
    at.set(key, configs.length);
    configs.push(clamps);
  };
  for (const i of rows) add(`only ${i}`, onlyHeadsClamp(c, L, [i]));
  for (const j of cols)
    for (const [kind, l1] of [
      ['remove', ablateClamp(0, [j])],
      ['keep', onlyHeadsClamp(c, 0, [j])],
    ] as const) {
      for (const i of rows) {
        add(`${kind} ${i} ${j} pv`, [...onlyHeadsClamp(c, L, [i]), ...l1, PV]);
        add(`${kind} ${i} ${j} pp`, [...onlyHeadsClamp(c, L, [i]), ...l1, PP]);
      }
    }
  const assemble = (results: number[]): InfluenceMatrices => {
    if (results.length !== configs.length)
      throw new Error(`influence matrix: ${results.length} accuracies for ${configs.length} configurations`);
    const acc = (key: string) => results[at.get(key)!];
    const out: InfluenceMatrices = {
      formula: INFLUENCE_FORMULA,
      n: ctx.batch.size,
      rows: rows.map((head) => formatHead({ layer: L, head })),
      cols: cols.map((head) => formatHead({ layer: 0, head })),
      onlyAcc: [],
      removeValuesPreserved: [],
      removePatternsPreserved: [],
      keepValuesPreserved: [],
      keepPatternsPreserved: [],
      configurations: total,
    };
    for (const i of rows) {
      const base = acc(`only ${i}`);
      out.onlyAcc.push(base);
      out.removeValuesPreserved.push(cols.map((j) => acc(`remove ${i} ${j} pv`) - base));
      out.removePatternsPreserved.push(cols.map((j) => acc(`remove ${i} ${j} pp`) - base));
      out.keepValuesPreserved.push(cols.map((j) => acc(`keep ${i} ${j} pv`)));
      out.keepPatternsPreserved.push(cols.map((j) => acc(`keep ${i} ${j} pp`)));
    }
    return out;
  };
  return { configs, assemble };
}

export const COMPOSITION_FORMULA =
  'X[i][j] = ‖W_O^{(j)} W_X^{(i)}‖_F / (‖W_O^{(j)}‖_F ‖W_X^{(i)}‖_F), X ∈ {Q, K, V}, i = Layer-2 head, j = Layer-1 head, LayerNorm ignored (spec §5.6)';

export interface CompositionMeasure {
  formula: string;
  rows: string[];
  cols: string[];
  /** At this checkpoint. */
  scores: CompositionScores;
  /** At initialisation (initParams with the run's init seed): the unpublished panel of §5.6. */
  init: CompositionScores;
}

export function compositionMeasure(ctx: MeasureContext): CompositionMeasure {
  const c = ctx.config,
    L = lastLayer(c);
  const layers = { from: 0, to: L };
  return {
    formula: COMPOSITION_FORMULA,
    rows: layerHeads(c, L),
    cols: layerHeads(c, 0),
    scores: compositionScores(ctx.params, c, layers),
    init: compositionScores(initParams(c, ctx.run.train.initSeed), c, layers),
  };
}

export const TABLE1_FORMULA =
  'acc(ablate L1 heads G; preserve patterns) and acc(ablate L1 heads G; preserve values), all Layer-2 heads active (spec §5.6 Table 1)';
/** The paper's seed-5 groups: the previous-token heads {1, 2, 5} and the rest. */
export const PAPER_TABLE1_GROUPS = [
  [1, 2, 5],
  [0, 3, 4, 6, 7],
];

export interface Table1 {
  formula: string;
  n: number;
  rows: Array<{ group: string[]; source: string; patternsPreserved: number; valuesPreserved: number }>;
}

/** What the `influence-matrix` measure records: the App Fig 11 matrices and Table 1 at one checkpoint. */
export interface InfluenceMeasure {
  formula: InfluenceMatrices['formula'];
  matrix: InfluenceMatrices;
  table1: Table1;
}

/**
 * Table 1 for the paper's groups (8-head models) and, when it differs, for this model's own split:
 * Layer-1 heads whose dense PT score ≥ `ptThreshold` versus the rest.
 */
export function table1(ctx: MeasureContext, opts: { groups?: number[][]; ptThreshold?: number } = {}): Table1 {
  const c = ctx.config,
    H = c.numHeads;
  const groups: Array<{ g: number[]; source: string }> = [];
  if (opts.groups) for (const g of opts.groups) groups.push({ g, source: 'given' });
  else {
    if (H === 8) for (const g of PAPER_TABLE1_GROUPS) groups.push({ g, source: 'paper (seed 5)' });
    const pt = denseEval(ctx, [], { headScores: true }).headScores!.prevTokenScore;
    const thr = opts.ptThreshold ?? 0.5;
    const pth = pt
      .map((v, h) => [v, h])
      .filter(([v]) => v >= thr)
      .map(([, h]) => h);
    const rest = Array.from({ length: H }, (_, h) => h).filter((h) => !pth.includes(h));
    const key = (g: number[]) => g.join(',');
    for (const [g, source] of [
      [pth, `PT score ≥ ${thr}`],
      [rest, `PT score < ${thr}`],
    ] as Array<[number[], string]>) {
      if (g.length && !groups.some((x) => key(x.g) === key(g))) groups.push({ g, source });
    }
  }
  for (const { g } of groups) checkHeads(g, H, 'Table 1 group');
  const acc = denseEvalMany(
    ctx,
    groups.flatMap(({ g }) => [
      [...ablateClamp(0, g), PP],
      [...ablateClamp(0, g), PV],
    ]),
  ).map((r) => r.acc);
  return {
    formula: TABLE1_FORMULA,
    n: ctx.batch.size,
    rows: groups.map(({ g, source }, i) => ({
      group: g.map((head) => formatHead({ layer: 0, head })),
      source,
      patternsPreserved: acc[2 * i],
      valuesPreserved: acc[2 * i + 1],
    })),
  };
}
