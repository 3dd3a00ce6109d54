/**
 * On-disk cache of measure results, in the run folder:
 *
 *   <run>/measures/<name>-seq-<N>[-sub<M>].json
 *
 * N = the (last) checkpoint's sequence count, M = the subsample size when not the whole dense set. Each
 * file holds the result with its formula and parameters, written atomically. A file is reused when its
 * parameters equal the requested ones and no checkpoint it depends on is newer than it; otherwise the
 * measure is recomputed and the file replaced.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../io';

export const MEASURES_DIR = 'measures';
export const CACHE_FORMAT = 'induction-lab/measure-v1';

export interface CachedRecord<T = unknown> {
  format: typeof CACHE_FORMAT;
  name: string;
  formula: unknown;
  parameters: Record<string, unknown>;
  /** Sequence count of the (last) checkpoint measured. */
  sequences: number;
  subsample: number | null;
  /** Checkpoint files the result depends on, relative to the run folder. */
  checkpoints: string[];
  created: string;
  /** Seconds the computation took. */
  seconds: number;
  result: T;
}

export function cacheFileName(name: string, sequences: number, subsample: number | null): string {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`invalid measure name "${name}"`);
  return `${name}-seq-${sequences}${subsample ? `-sub${subsample}` : ''}.json`;
}

export function cachePath(runDir: string, name: string, sequences: number, subsample: number | null): string {
  return path.join(runDir, MEASURES_DIR, cacheFileName(name, sequences, subsample));
}

/** Canonical JSON (sorted keys) for comparing parameters. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.keys(x)
            .sort()
            .map((k) => [k, (x as Record<string, unknown>)[k]]),
        )
      : x,
  );
}

/** Paths relative to the run folder, '/'-separated, so a moved run keeps its cache. */
function relativeTo(runDir: string, files: string[]): string[] {
  return files.map((f) => path.relative(path.resolve(runDir), path.resolve(f)).split(path.sep).join('/'));
}

/** The cached record if it is valid for these parameters and dependencies, else null. */
export function readCache<T>(
  file: string,
  parameters: Record<string, unknown>,
  checkpoints: string[],
  runDir: string,
): CachedRecord<T> | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return null;
  }
  for (const ck of checkpoints) {
    try {
      if (fs.statSync(ck).mtimeMs > st.mtimeMs) return null;
    } catch {
      return null;
    }
  }
  let rec: CachedRecord<T>;
  try {
    rec = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
  if (!rec || rec.format !== CACHE_FORMAT) return null;
  if (canonicalJson(rec.parameters) !== canonicalJson(JSON.parse(JSON.stringify(parameters)))) return null;
  if (
    !Array.isArray(rec.checkpoints) ||
    canonicalJson([...rec.checkpoints].sort()) !== canonicalJson(relativeTo(runDir, checkpoints).sort())
  )
    return null;
  return rec;
}

export interface CachedMeasureOptions {
  runDir: string;
  name: string;
  sequences: number;
  subsample: number | null;
  parameters: Record<string, unknown>;
  /** Checkpoint files the result depends on (invalidates the cache when one is newer). */
  checkpoints: string[];
  /** Recompute even when a valid cached file exists. */
  force?: boolean;
}

/**
 * The cached record when valid, else computes, writes and returns it. Both paths return the record as
 * parsed from JSON (NaN and ±Infinity become null), so a reused result equals the computed one exactly.
 */
export async function cachedMeasure<T extends { formula?: unknown }>(
  o: CachedMeasureOptions,
  compute: () => T | Promise<T>,
): Promise<{ record: CachedRecord<T>; cached: boolean; file: string }> {
  const file = cachePath(o.runDir, o.name, o.sequences, o.subsample);
  if (!o.force) {
    const hit = readCache<T>(file, o.parameters, o.checkpoints, o.runDir);
    if (hit) return { record: hit, cached: true, file };
  }
  const t0 = Date.now();
  const result = await compute();
  const rec: CachedRecord<T> = {
    format: CACHE_FORMAT,
    name: o.name,
    formula: result.formula ?? null,
    parameters: o.parameters,
    sequences: o.sequences,
    subsample: o.subsample,
    checkpoints: relativeTo(o.runDir, o.checkpoints),
    created: new Date().toISOString(),
    seconds: (Date.now() - t0) / 1000,
    result,
  };
  const text = JSON.stringify(rec);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const parsed = JSON.parse(text) as CachedRecord<T>;
  writeJsonAtomic(file, parsed);
  return { record: parsed, cached: false, file };
}
