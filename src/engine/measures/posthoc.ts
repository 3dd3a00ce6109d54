/**
 * Post-hoc subcircuit progress measures (spec §5.9 method 2, App Fig 10): on checkpoints of an
 * (unclamped) run, the loss over the dense sequences with a clamp applied only at evaluation time,
 * plus the run's own ablations (REST_HEADS for the paper's single-IH control run):
 *
 *   composite_k = loss(prev-token pattern clamp on PTH, s = 1, all rows)   "Composite sub-circuit (steps 2, 3qkv, 4, 5)"
 *   copy_k      = loss(induction pattern clamp on IH, s = 1)                "Copy sub-circuit (steps 3v, 5)"
 *
 * PTH defaults to L1H2 and IH to L2H3, the paper's seed-5 heads.
 */
import { CheckpointRef } from '../io';
import { ClampSpec, normalizeClamps } from '../clamps/spec';
import { MeasureContext, denseEvalMany, denseHeadScores } from './dense';
import { decreasingOrder } from './ablations';
import { acrossCheckpoints, evalLossCurve, interpolate } from './paths';

export interface PosthocOptions {
  /** Layer-1 head given the previous-token pattern (default L1H2). */
  ptHead?: string;
  /** Last-layer head given the perfect-match pattern (default L2H3). */
  ihHead?: string;
  /** Clamp strength s of both patterns (default 1). */
  strength?: number;
}

export const POSTHOC_LEGEND = {
  composite: 'Composite sub-circuit (steps 2, 3qkv, 4, 5)',
  copy: 'Copy sub-circuit (steps 3v, 5)',
};

export const POSTHOC_FORMULA = {
  composite:
    "composite = mean_s loss with P_PTH[0,0] = 1, P_PTH[i,i−1] = s, P_PTH[i,i] = 1 − s (i ≥ 1) + the run's ablations (spec §4.3, §5.9)",
  copy: "copy = mean_s loss with P_IH[4,:] = [0, a1, 0, a2, 0], a_j = s if ℓ_j = y_q else 1 − s + the run's ablations (spec §4.4, §5.9)",
  evalLoss: "the run's fsl_train eval loss interpolated at the checkpoint",
};

export interface PosthocPoint {
  sequences: number;
  loss: number;
  composite: number;
  copy: number;
  evalLoss: number | null;
}
export interface PosthocProgress {
  formula: typeof POSTHOC_FORMULA;
  legend: typeof POSTHOC_LEGEND;
  ptHead: string;
  ihHead: string;
  strength: number;
  n: number;
  points: PosthocPoint[];
  /** The strongest heads by dense IS / PT score at the context's checkpoint (spec §10.13: the paper's H3 / L1H2 are seed 5's). */
  strongest: { sequences: number; ih: string; pt: string };
}

export function posthocClamps(
  ctx: MeasureContext,
  o: PosthocOptions = {},
): { composite: ClampSpec[]; copy: ClampSpec[]; ptHead: string; ihHead: string; strength: number } {
  const s = o.strength ?? 1;
  const [pt] = normalizeClamps([{ kind: 'prev-token', heads: [o.ptHead ?? 'L1H2'], strength: s }], ctx.config);
  const [ih] = normalizeClamps([{ kind: 'induction', heads: [o.ihHead ?? 'L2H3'], strength: s }], ctx.config);
  const ptHead = (pt as { heads: string[] }).heads[0],
    ihHead = (ih as { heads: string[] }).heads[0];
  if (!ptHead.startsWith('L1H')) throw new Error(`the composite measure clamps a Layer-1 head, got ${ptHead}`);
  if (!ihHead.startsWith(`L${ctx.config.depth}H`))
    throw new Error(`the copy measure clamps a last-layer head (L${ctx.config.depth}H…), got ${ihHead}`);
  return { composite: [pt], copy: [ih], ptHead, ihHead, strength: s };
}

export function posthocProgress(
  ctx: MeasureContext,
  refs: CheckpointRef[],
  o: PosthocOptions = {},
  onProgress?: (done: number, total: number) => void,
): PosthocProgress {
  const cl = posthocClamps(ctx, o);
  const curve = evalLossCurve(ctx);
  const points = acrossCheckpoints(
    ctx,
    refs,
    (c) => {
      const [loss, composite, copy] = denseEvalMany(c, [[], cl.composite, cl.copy]).map((r) => r.meanLoss);
      return { sequences: c.sequences, loss, composite, copy, evalLoss: interpolate(curve.xs, curve.ys, c.sequences) };
    },
    onProgress,
  );
  const hs = denseHeadScores(ctx);
  const strongest = {
    sequences: ctx.sequences,
    ih: hs.isHeads[decreasingOrder(hs.inductionStrength)[0]],
    pt: hs.ptHeads[decreasingOrder(hs.prevTokenScore)[0]],
  };
  return {
    formula: POSTHOC_FORMULA,
    legend: POSTHOC_LEGEND,
    ptHead: cl.ptHead,
    ihHead: cl.ihHead,
    strength: cl.strength,
    n: ctx.batch.size,
    points,
    strongest,
  };
}
