/**
 * Path patching over training for the edge view (issue 18; docs/path-patching.md; no vscode import): the
 * aggregate `RUN/measures/path-patching-over-training[-sub<M>].json`, read through the engine's
 * `listSeries` / `readSeries` (src/engine/measures/series.ts), shaped into one frame per (checkpoint,
 * corruption) with the exact edge effects E[X][i][j], the attribution approximation A and its error. With
 * them the run's learning time (spec §5.10) from its metrics, the point the view marks as the phase change.
 * Of several aggregates (subsamples) the one covering most checkpoints wins, then the one on most sequences.
 */
import * as path from 'node:path';
import type { MetricsRecord } from '../shared/protocol';
import type { PathErrorStats, PathInputName, PathPatchingData, PathPatchingFrame } from '../shared/webviewProtocol';
import { PATH_INPUT_NAMES } from '../shared/webviewProtocol';
import { CORRUPTION_DOC } from '../engine/clamps/corruptions';
import { pickSeries, readRunSeries } from './overTrainingData';
import { curveLearningTime } from './labData';

const PATH_PATCHING_MEASURE = 'path-patching';

/** The command line that computes path patching at every checkpoint of the run in `dir`. */
function pathPatchingCommand(dir: string, subsample = 2000): string {
  const sub = subsample > 0 ? ` --subsample ${subsample}` : '';
  return `induction-lab measure "${dir}" --what ${PATH_PATCHING_MEASURE} --checkpoints all${sub}`;
}

type Rec = Record<string, unknown>;
const isRec = (x: unknown): x is Rec => typeof x === 'object' && x !== null && !Array.isArray(x);
const strings = (x: unknown): string[] => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []);
const finite = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const matrix = (x: unknown, rows: number, cols: number): number[][] | null =>
  Array.isArray(x) &&
  x.length === rows &&
  x.every((r) => Array.isArray(r) && r.length === cols && r.every((v) => typeof v === 'number' && Number.isFinite(v)))
    ? (x as number[][])
    : null;

function errorStats(x: unknown): PathErrorStats | null {
  if (!isRec(x) || finite(x.maxAbs) === null || finite(x.meanAbs) === null) return null;
  return {
    maxAbs: x.maxAbs as number,
    meanAbs: x.meanAbs as number,
    relative: finite(x.relative),
    correlation: finite(x.correlation),
  };
}

/**
 * The frames of one aggregate's `series` (layout: series.ts `pathPatchingSeries`): for each corruption and
 * checkpoint k, `exact[X][k]` is the [receiver][sender] matrix. A checkpoint whose exact values are missing
 * or malformed for any input is left out (never drawn half empty); a malformed attribution becomes null.
 */
export function pathFrames(series: unknown, sequences: number[]): PathPatchingFrame[] {
  if (!isRec(series) || !isRec(series.byCorruption)) return [];
  const rows = strings(series.receivers).length,
    cols = strings(series.senders).length;
  const cleanLD = Array.isArray(series.cleanLD) ? series.cleanLD : [];
  const out: PathPatchingFrame[] = [];
  for (const corruption of strings(series.corruptions)) {
    const c = series.byCorruption[corruption];
    if (!isRec(c) || !isRec(c.exact)) continue;
    const attr = isRec(c.attribution) ? c.attribution : {};
    sequences.forEach((s, k) => {
      const pick = (src: Rec) => {
        const m: Partial<Record<PathInputName, number[][]>> = {};
        for (const x of PATH_INPUT_NAMES) {
          const v = matrix((src[x] as unknown[] | undefined)?.[k], rows, cols);
          if (!v) return null;
          m[x] = v;
        }
        return m as Record<PathInputName, number[][]>;
      };
      const exact = pick(c.exact as Rec);
      if (!exact) return;
      out.push({
        sequences: s,
        corruption,
        exact,
        attribution: pick(attr),
        error: errorStats((c.attributionError as unknown[] | undefined)?.[k]),
        cleanLD: finite(cleanLD[k]),
        corruptLD: finite((c.corruptLD as unknown[] | undefined)?.[k]),
      });
    });
  }
  return out.sort((a, b) => a.sequences - b.sequences);
}

/** Learning time (spec §5.10) from the run's fsl_train eval losses; null when it never got below 0.4·ln 2. */
export function runLearningTime(metrics: readonly MetricsRecord[]): number | null {
  const rows = metrics.filter((r) => typeof r.eval?.fsl_train?.loss === 'number');
  return curveLearningTime(
    rows.map((r) => r.sequences),
    rows.map((r) => r.eval.fsl_train.loss),
  );
}

/** Everything the edge view needs about a run's path patching over training. */
export function pathPatchingData(
  runId: string,
  dir: string,
  checkpoints: number[],
  metrics: readonly MetricsRecord[],
  subsample = 2000,
): PathPatchingData {
  const found = readRunSeries(dir).filter((s) => s.measure === PATH_PATCHING_MEASURE);
  const s = pickSeries(found).get(PATH_PATCHING_MEASURE);
  const series = (s?.series ?? {}) as Rec;
  const corruptions = strings(series.corruptions);
  return {
    runId,
    senders: strings(series.senders),
    receivers: strings(series.receivers),
    corruptions: corruptions.map((name) => ({
      name,
      description: (CORRUPTION_DOC as Record<string, string | undefined>)[name] ?? name,
    })),
    frames: s ? pathFrames(s.series, s.sequences) : [],
    source: s
      ? {
          file: path.basename(s.file),
          subsample: s.subsample,
          n: s.n,
          missing: checkpoints.filter((c) => !s.sequences.includes(c)),
        }
      : null,
    checkpoints,
    learningTime: runLearningTime(metrics),
    command: pathPatchingCommand(dir, s?.subsample ?? subsample),
  };
}
