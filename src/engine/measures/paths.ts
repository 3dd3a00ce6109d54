/**
 * Layer → output progress measures across checkpoints (spec §5.7, App Fig 12). At each checkpoint k,
 * on the context's sequences (the run's own ablations kept):
 *
 *   noL1Direct_k = loss(ablate all L1 heads; preserve patterns; preserve values)   (only the direct
 *                  Layer-1 → output path removed: Layer 2 still reads the clean Layer-1 output)
 *   noL2_k       = loss(ablate all L2 heads)                                        (Layer 2 → output removed)
 *   Δ_k          = measure_k − evalLoss(x_k),  evalLoss = the run's fsl_train eval loss (metrics.jsonl)
 *                  linearly interpolated at x_k = the checkpoint's sequence count
 *
 * Also Δ against the same sequences' unclamped dense loss (no interpolation, same sequences).
 */
import type { MetricsRecord } from '../../shared/protocol';
import { CheckpointRef } from '../io';
import { ClampSpec } from '../clamps/spec';
import { MeasureContext, contextAtCheckpoint, denseEvalMany, disposeContext } from './dense';
import { ablateClamp, lastLayer } from './ablations';

/**
 * The saved checkpoint closest to each of `points` evenly spaced x in [first, last] (spec §5.3: "closest
 * saved checkpoint to each of 100 linspace points"), without repeats, ascending.
 */
export function selectCheckpoints(refs: CheckpointRef[], points: number): CheckpointRef[] {
  if (refs.length === 0) return [];
  if (!Number.isInteger(points) || points < 1) throw new Error(`points must be a positive whole number, got ${points}`);
  if (points >= refs.length) return refs.slice();
  const lo = refs[0].sequences,
    hi = refs[refs.length - 1].sequences;
  const picked = new Set<number>();
  for (let p = 0; p < points; p++) {
    const x = points === 1 ? hi : lo + ((hi - lo) * p) / (points - 1);
    let best = 0;
    for (let i = 1; i < refs.length; i++)
      if (Math.abs(refs[i].sequences - x) < Math.abs(refs[best].sequences - x)) best = i;
    picked.add(best);
  }
  return [...picked].sort((a, b) => a - b).map((i) => refs[i]);
}

/** Linear interpolation of (xs, ys) at x (xs ascending); the end values outside the range; null if empty. */
export function interpolate(xs: number[], ys: number[], x: number): number | null {
  if (xs.length === 0) return null;
  if (x <= xs[0]) return ys[0];
  if (x >= xs[xs.length - 1]) return ys[ys.length - 1];
  let i = 1;
  while (xs[i] < x) i++;
  const t = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
  return ys[i - 1] + t * (ys[i] - ys[i - 1]);
}

/** The run's fsl_train eval-loss curve from metrics.jsonl (empty without metrics). */
export function evalLossCurve(ctx: MeasureContext, evalSet = 'fsl_train'): { xs: number[]; ys: number[] } {
  const rows = ctx.runDir ? ctx.runDir.readMetrics<MetricsRecord>() : [];
  const pts = rows
    .filter((r) => r.eval && r.eval[evalSet] && Number.isFinite(r.eval[evalSet].loss))
    .map((r) => [r.sequences, r.eval[evalSet].loss]);
  pts.sort((a, b) => a[0] - b[0]);
  return { xs: pts.map((p) => p[0]), ys: pts.map((p) => p[1]) };
}

/** Runs `fn` on a context for each checkpoint (the given context when it is that checkpoint). */
export function acrossCheckpoints<T>(
  ctx: MeasureContext,
  refs: CheckpointRef[],
  fn: (c: MeasureContext, ref: CheckpointRef) => T,
  onProgress?: (done: number, total: number) => void,
): T[] {
  const out: T[] = [];
  refs.forEach((ref, i) => {
    const own = ref.sequences === ctx.sequences && (ctx.checkpointPath === null || ctx.checkpointPath === ref.path);
    const c = own ? ctx : contextAtCheckpoint(ctx, ref);
    try {
      out.push(fn(c, ref));
    } finally {
      if (!own) disposeContext(c);
    }
    onProgress?.(i + 1, refs.length);
  });
  return out;
}

const num = (x: number | null) => (x === null ? null : x);
const minus = (a: number, b: number | null) => (b === null ? null : a - b);

export const NO_L1_DIRECT: ClampSpec[] = [{ kind: 'preserve', what: ['patterns', 'values'] }];

export const PATHS_FORMULA = {
  noL1Direct:
    'loss(ablate all L1 heads; preserve patterns; preserve values): the direct Layer-1 → output path removed (spec §5.7)',
  noL2: 'loss(ablate all L2 heads): the Layer-2 → output path removed (spec §5.7)',
  delta:
    "Δ = measure − fsl_train eval loss interpolated linearly at the checkpoint's sequence count (App Fig 12); ΔDense = measure − unclamped loss on the same sequences",
};

export interface PathsPoint {
  sequences: number;
  loss: number;
  acc: number;
  noL1Direct: number;
  noL1DirectAcc: number;
  noL2: number;
  noL2Acc: number;
  evalLoss: number | null;
  noL1DirectMinusEval: number | null;
  noL2MinusEval: number | null;
  noL1DirectMinusDense: number;
  noL2MinusDense: number;
}

export interface LayerPaths {
  formula: typeof PATHS_FORMULA;
  n: number;
  points: PathsPoint[];
}

/** One checkpoint's path measures (the eval curve is passed in so it is read once). */
export function pathsAt(ctx: MeasureContext, curve: { xs: number[]; ys: number[] }): PathsPoint {
  const c = ctx.config,
    H = c.numHeads;
  const all = Array.from({ length: H }, (_, h) => h);
  const [full, noL1, noL2] = denseEvalMany(ctx, [
    [],
    [...ablateClamp(0, all), ...NO_L1_DIRECT],
    ablateClamp(lastLayer(c), all),
  ]);
  const ev = interpolate(curve.xs, curve.ys, ctx.sequences);
  return {
    sequences: ctx.sequences,
    loss: full.meanLoss,
    acc: full.acc,
    noL1Direct: noL1.meanLoss,
    noL1DirectAcc: noL1.acc,
    noL2: noL2.meanLoss,
    noL2Acc: noL2.acc,
    evalLoss: num(ev),
    noL1DirectMinusEval: minus(noL1.meanLoss, ev),
    noL2MinusEval: minus(noL2.meanLoss, ev),
    noL1DirectMinusDense: noL1.meanLoss - full.meanLoss,
    noL2MinusDense: noL2.meanLoss - full.meanLoss,
  };
}

export function layerPaths(
  ctx: MeasureContext,
  refs: CheckpointRef[],
  onProgress?: (done: number, total: number) => void,
): LayerPaths {
  const curve = evalLossCurve(ctx);
  return {
    formula: PATHS_FORMULA,
    n: ctx.batch.size,
    points: acrossCheckpoints(ctx, refs, (c) => pathsAt(c, curve), onProgress),
  };
}
