/**
 * One measure at one checkpoint, cached in RUN_DIR/measures/ (cache.ts): the unit both modes of `measure`
 * are made of — one checkpoint, or every chosen checkpoint of a run (overTraining.ts). The cache key of a
 * unit (file name, parameters, the checkpoint files it depends on) is built here only, so the
 * single-checkpoint command, the worker processes and the aggregate files agree on which cached results
 * are valid, and a killed computation resumes from exactly the units it finished.
 *
 * Over training, `paths` and `posthoc` are one point per checkpoint (`paths-at`, `posthoc-at`); at one
 * checkpoint they keep their own cache of a curve across `--points` checkpoints.
 */
import { CheckpointRef } from '../io';
import { RunConfig } from '../train/runConfig';
import { CachedRecord, cachedMeasure, cachePath, readCache } from './cache';
import { MeasureContext, SUBSAMPLE_SEED, denseSummary, runAblations } from './dense';
import { additivity, complementarity, headAblations } from './ablations';
import {
  ConfigEvaluator,
  InfluenceMeasure,
  compositionMeasure,
  influenceMatrix,
  influenceMatrixWith,
  table1,
} from './influence';
import { layerPaths } from './paths';
import { posthocProgress } from './posthoc';
import { pathPatching } from './pathPatching';
import { MeasureName } from './names';

export type UnitName =
  | 'dense'
  | 'ablations'
  | 'additivity'
  | 'complementarity'
  | 'influence-matrix'
  | 'composition'
  | 'paths'
  | 'posthoc'
  | 'paths-at'
  | 'posthoc-at'
  | 'path-patching';

export interface UnitOptions {
  /** complementarity: the reference head index (default: the strongest by IS at that checkpoint). */
  reference?: number;
  /** posthoc: the clamped heads (defaults L1H2, L2H3). */
  ptHead?: string;
  ihHead?: string;
}

/** The unit that computes a measure (null: from metrics only). IS and PT come with the dense pass. */
export function unitOf(name: MeasureName, overTraining: boolean): UnitName | null {
  switch (name) {
    case 'learning-time':
      return null;
    case 'induction-strength':
    case 'prev-token-score':
      return 'dense';
    case 'paths':
      return overTraining ? 'paths-at' : 'paths';
    case 'posthoc':
      return overTraining ? 'posthoc-at' : 'posthoc';
    default:
      return name;
  }
}

/** What a unit's cache key depends on besides the checkpoint: the run, the sequences measured on. */
export interface KeyInfo {
  run: RunConfig;
  /** Size of the full dense set and the subsample (null: all of it). */
  denseSize: number;
  subsample: number | null;
  /** Whether configurations keep the run's own ablations (MeasureContext.includeRunAblations). */
  includeRunAblations: boolean;
}

export interface UnitKey {
  name: UnitName;
  sequences: number;
  subsample: number | null;
  parameters: Record<string, unknown>;
  /** Checkpoint files the result depends on. */
  checkpoints: string[];
}

/** The cache key of unit `name` at checkpoint `ref`; `paths` / `posthoc` at one checkpoint also read `across`. */
export function unitKey(
  name: UnitName,
  ref: CheckpointRef,
  info: KeyInfo,
  o: UnitOptions = {},
  across?: CheckpointRef[],
): UnitKey {
  const baseClamps = info.includeRunAblations ? runAblations(info.run, ref.sequences) : [];
  const base = { subsampleSeed: SUBSAMPLE_SEED, denseSize: info.denseSize, baseClamps };
  const heads = { ptHead: o.ptHead ?? 'L1H2', ihHead: o.ihHead ?? 'L2H3', strength: 1 };
  let parameters: Record<string, unknown> = base;
  let deps = [ref];
  if (name === 'paths' || name === 'posthoc') {
    deps = across ?? [ref];
    parameters = { ...base, checkpoints: deps.map((k) => k.sequences), ...(name === 'posthoc' ? heads : {}) };
  } else if (name === 'posthoc-at') parameters = { ...base, ...heads };
  else if (name === 'complementarity') parameters = { ...base, reference: o.reference ?? null };
  // The class corruption pairs sequences by class since 2026-12-02 (by exemplar row before): older records differ.
  else if (name === 'path-patching') parameters = { ...base, classCorruption: 'by class' };
  return {
    name,
    sequences: ref.sequences,
    subsample: name === 'composition' ? null : info.subsample,
    parameters,
    checkpoints: deps.map((k) => k.path),
  };
}

export type UnitProgress = (done: number, total: number) => void;

/**
 * The unit's cached record when valid, else computes it on `ctx` (the context of `key`'s checkpoint)
 * and caches it. `across`: the checkpoints of `paths` / `posthoc` at one checkpoint. `evaluator`: where the
 * influence matrix's configurations run (default: this process; PoolExecutor.configEvaluator: every core).
 */
export async function computeUnit(
  ctx: MeasureContext,
  runDir: string,
  key: UnitKey,
  o: UnitOptions & { force?: boolean; evaluator?: ConfigEvaluator } = {},
  across?: CheckpointRef[],
  onProgress?: UnitProgress,
): Promise<{ record: CachedRecord<{ formula?: unknown }>; cached: boolean; file: string }> {
  if (ctx.sequences !== key.sequences) {
    throw new Error(`unit ${key.name} of checkpoint ${key.sequences} asked on the context of ${ctx.sequences}`);
  }
  const own: CheckpointRef = { sequences: ctx.sequences, path: ctx.checkpointPath ?? key.checkpoints[0] };
  return cachedMeasure<{ formula?: unknown }>({ runDir, ...key, name: key.name, force: o.force }, async () => {
    switch (key.name) {
      case 'dense':
        return denseSummary(ctx);
      case 'ablations':
        return headAblations(ctx);
      case 'additivity':
        return additivity(ctx);
      case 'complementarity': {
        const t = complementarity(ctx, { reference: o.reference });
        return { formula: { table2: t.table2.formula, table3: t.table3.formula }, ...t };
      }
      case 'influence-matrix': {
        if (o.evaluator) {
          // The configurations go out to the workers first; Table 1 is computed here meanwhile.
          const pending = influenceMatrixWith(ctx, o.evaluator, { onProgress });
          const t1 = table1(ctx);
          const matrix = await pending;
          return { formula: matrix.formula, matrix, table1: t1 } satisfies InfluenceMeasure;
        }
        const matrix = influenceMatrix(ctx, { onProgress });
        return { formula: matrix.formula, matrix, table1: table1(ctx) } satisfies InfluenceMeasure;
      }
      case 'composition':
        return compositionMeasure(ctx);
      case 'paths':
        return layerPaths(ctx, across ?? [own], onProgress);
      case 'posthoc':
        return posthocProgress(ctx, across ?? [own], { ptHead: o.ptHead, ihHead: o.ihHead }, onProgress);
      case 'paths-at':
        return layerPaths(ctx, [own]);
      case 'posthoc-at':
        return posthocProgress(ctx, [own], { ptHead: o.ptHead, ihHead: o.ihHead });
      case 'path-patching':
        return pathPatching(ctx, { onProgress });
    }
  });
}

/** The cached record of a unit if it is valid (same parameters, no dependency newer than it), else null. */
export function cachedUnit<T = unknown>(runDir: string, key: UnitKey): CachedRecord<T> | null {
  const file = cachePath(runDir, key.name, key.sequences, key.subsample);
  return readCache<T>(file, key.parameters, key.checkpoints, runDir);
}
