/**
 * Measures over training: the per-checkpoint cached results of one measure stacked into series over
 * checkpoints, one aggregate file per measure (what the views animate and plot):
 *
 *   RUN_DIR/measures/<measure>-over-training[-sub<M>].json
 *
 *   { format: "induction-lab/measure-series-v1", measure, unit, formula, subsample, denseSize, n,
 *     sequences: [s_0 < s_1 < …],            every checkpoint that has a valid cached result
 *     files: [...],                          its per-checkpoint cache file (relative to the run folder)
 *     missing: [...],                        checkpoints of the run without one (yet)
 *     series: {…} }                          the measure's arrays, first index = position in `sequences`
 *
 * Every array in `series` is indexed [k] (checkpoint) first, then as in the per-checkpoint result: a
 * matrix [i][j] (rows = Layer-2 heads, cols = Layer-1 heads) becomes [k][i][j]. The aggregate is a pure
 * function of the cache files, so a resumed or parallel computation writes the same file. Heads the run
 * itself ablates never count as "strongest".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../io';
import type { CachedRecord } from './cache';
import { MEASURES_DIR } from './cache';
import type { DenseSummary } from './dense';
import type { HeadAblations, Additivity, AccLoss } from './ablations';
import type { CompositionMeasure, InfluenceMeasure } from './influence';
import type { LayerPaths } from './paths';
import type { PosthocProgress } from './posthoc';
import type { PathPatchingResult } from './pathPatching';
import type { ClampSpec } from '../clamps/spec';
import type { UnitName } from './units';

export const SERIES_FORMAT = 'induction-lab/measure-series-v1';

/** The measure name a unit's series is filed under. */
export const seriesMeasure = (unit: UnitName): string => unit.replace(/-at$/, '');

export function seriesFileName(unit: UnitName, subsample: number | null): string {
  return `${seriesMeasure(unit)}-over-training${subsample && unit !== 'composition' ? `-sub${subsample}` : ''}.json`;
}

export function seriesPath(runDir: string, unit: UnitName, subsample: number | null): string {
  return path.join(runDir, MEASURES_DIR, seriesFileName(unit, subsample));
}

export interface SeriesEntry<T = unknown> {
  sequences: number;
  file: string;
  record: CachedRecord<T>;
}

export interface SeriesFile {
  format: typeof SERIES_FORMAT;
  measure: string;
  unit: UnitName;
  formula: unknown;
  subsample: number | null;
  denseSize: number | null;
  n: number | null;
  created: string;
  sequences: number[];
  files: string[];
  missing: number[];
  series: Record<string, unknown>;
}

// ------------------------------------------------------------------------------------------ helpers

/** Heads ablated by the run's own clamps recorded with a dense result (`clamps`). */
function ablatedHeads(clamps: ClampSpec[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const c of clamps ?? []) if (c.kind === 'ablate') for (const h of c.heads) out.add(h);
  return out;
}

/** The head with the largest value among those not ablated (ties: the first); null when none is left. */
export function strongest(heads: string[], values: Array<number | null>, ablated: Set<string>): string | null {
  let best: string | null = null,
    bestV = -Infinity;
  heads.forEach((h, i) => {
    const v = values[i];
    if (!ablated.has(h) && typeof v === 'number' && v > bestV) {
      best = h;
      bestV = v;
    }
  });
  return best;
}

/** Strongest IH / PTH at each checkpoint of `seqs`, from the dense results (null where there is none). */
export function strongestHeads(
  seqs: number[],
  dense: Map<number, DenseSummary>,
): { ih: Array<string | null>; pt: Array<string | null> } {
  const ih: Array<string | null> = [],
    pt: Array<string | null> = [];
  for (const s of seqs) {
    const d = dense.get(s);
    if (!d) {
      ih.push(null);
      pt.push(null);
      continue;
    }
    const abl = ablatedHeads(d.clamps);
    ih.push(strongest(d.inductionStrength.heads, d.inductionStrength.values, abl));
    pt.push(strongest(d.prevTokenScore.heads, d.prevTokenScore.values, abl));
  }
  return { ih, pt };
}

const col = <T, R>(rs: T[], f: (r: T) => R): R[] => rs.map(f);
const acc = (xs: AccLoss[]) => xs.map((x) => x.acc);
const loss = (xs: AccLoss[]) => xs.map((x) => x.loss);

// ------------------------------------------------------------------------------------------ per measure

function denseSeries(rs: DenseSummary[], seqs: number[], dense: Map<number, DenseSummary>) {
  const s = strongestHeads(seqs, dense);
  return {
    isHeads: rs[0].inductionStrength.heads,
    ptHeads: rs[0].prevTokenScore.heads,
    acc: col(rs, (r) => r.acc),
    loss: col(rs, (r) => r.loss),
    inductionStrength: col(rs, (r) => r.inductionStrength.values),
    prevTokenScore: col(rs, (r) => r.prevTokenScore.values),
    strongestIH: s.ih,
    strongestPTH: s.pt,
  };
}

function ablationSeries(rs: HeadAblations[]) {
  return {
    heads: rs[0].heads,
    baselineAcc: col(rs, (r) => r.baseline.acc),
    baselineLoss: col(rs, (r) => r.baseline.loss),
    removeOneAcc: col(rs, (r) => acc(r.removeOne)),
    removeOneLoss: col(rs, (r) => loss(r.removeOne)),
    keepOneAcc: col(rs, (r) => acc(r.keepOne)),
    keepOneLoss: col(rs, (r) => loss(r.keepOne)),
    inductionStrength: col(rs, (r) => r.inductionStrength),
  };
}

function additivitySeries(rs: Additivity[]) {
  const names = [...new Set(rs.flatMap((r) => r.curves.map((c) => c.name)))];
  return {
    allAcc: col(rs, (r) => r.all.acc),
    allLoss: col(rs, (r) => r.all.loss),
    // The "decreasing IS" ordering is this checkpoint's own, so orderings are per checkpoint too.
    curves: Object.fromEntries(
      names.map((n) => {
        const at = rs.map((r) => r.curves.find((c) => c.name === n));
        return [
          n,
          {
            ordering: at.map((c) => c?.ordering ?? null),
            loss: at.map((c) => c?.points.map((p) => p.loss) ?? null),
            acc: at.map((c) => c?.points.map((p) => p.acc) ?? null),
          },
        ];
      }),
    ),
  };
}

interface ComplementarityTable {
  reference: string;
  referenceChosenBy: string;
  referenceMistakes: number;
  heads: string[];
  rows: Array<{ fixedFraction: number | null; acc: number }>;
}
function complementaritySeries(rs: Array<{ table2: ComplementarityTable; table3: ComplementarityTable }>) {
  const table = (t: 'table2' | 'table3') => ({
    reference: col(rs, (r) => r[t].reference),
    referenceMistakes: col(rs, (r) => r[t].referenceMistakes),
    fixedFraction: col(rs, (r) => r[t].rows.map((x) => x.fixedFraction)),
    acc: col(rs, (r) => r[t].rows.map((x) => x.acc)),
  });
  return { heads: rs[0].table2.heads, table2: table('table2'), table3: table('table3') };
}

function influenceSeries(rs: InfluenceMeasure[], seqs: number[], dense: Map<number, DenseSummary>) {
  const m = rs.map((r) => r.matrix);
  const { rows, cols } = m[0];
  const s = strongestHeads(seqs, dense);
  // "Influence of each PTH on the strongest IH over training": the IH strongest at the last checkpoint.
  const ih = [...s.ih].reverse().find((h) => h !== null) ?? null;
  const row = ih === null ? -1 : rows.indexOf(ih);
  const pick = (x: number[][][]) => (row < 0 ? null : x.map((mk) => mk[row]));
  const rv = m.map((x) => x.removeValuesPreserved),
    rp = m.map((x) => x.removePatternsPreserved);
  const kv = m.map((x) => x.keepValuesPreserved),
    kp = m.map((x) => x.keepPatternsPreserved);
  type Column = Array<number | null>;
  type Group = { group: string[]; source: string; patternsPreserved: Column; valuesPreserved: Column };
  const groups = new Map<string, Group>();
  rs.forEach((r, k) => {
    for (const g of r.table1.rows) {
      const id = g.group.join(',');
      if (!groups.has(id)) {
        const empty = (): Column => rs.map(() => null);
        groups.set(id, { group: g.group, source: g.source, patternsPreserved: empty(), valuesPreserved: empty() });
      }
      groups.get(id)!.patternsPreserved[k] = g.patternsPreserved;
      groups.get(id)!.valuesPreserved[k] = g.valuesPreserved;
    }
  });
  return {
    rows,
    cols,
    onlyAcc: m.map((x) => x.onlyAcc),
    removeValuesPreserved: rv,
    removePatternsPreserved: rp,
    keepValuesPreserved: kv,
    keepPatternsPreserved: kp,
    strongestIH: s.ih,
    onStrongestIH: {
      head: ih,
      removeValuesPreserved: pick(rv),
      removePatternsPreserved: pick(rp),
      keepValuesPreserved: pick(kv),
      keepPatternsPreserved: pick(kp),
    },
    table1: [...groups.values()],
  };
}

function compositionSeries(rs: CompositionMeasure[]) {
  return {
    rows: rs[0].rows,
    cols: rs[0].cols,
    init: rs[0].init,
    k: col(rs, (r) => r.scores.k),
    v: col(rs, (r) => r.scores.v),
    q: col(rs, (r) => r.scores.q),
  };
}

function pathsSeries(rs: LayerPaths[]) {
  const p = rs.map((r) => r.points[0]);
  const keys = [
    'loss',
    'acc',
    'noL1Direct',
    'noL1DirectAcc',
    'noL2',
    'noL2Acc',
    'evalLoss',
    'noL1DirectMinusEval',
    'noL2MinusEval',
    'noL1DirectMinusDense',
    'noL2MinusDense',
  ] as const;
  return Object.fromEntries(keys.map((k) => [k, p.map((x) => x[k])]));
}

function posthocSeries(rs: PosthocProgress[]) {
  const p = rs.map((r) => r.points[0]);
  return {
    ptHead: rs[0].ptHead,
    ihHead: rs[0].ihHead,
    strength: rs[0].strength,
    legend: rs[0].legend,
    loss: p.map((x) => x.loss),
    composite: p.map((x) => x.composite),
    copy: p.map((x) => x.copy),
    evalLoss: p.map((x) => x.evalLoss),
    strongestIH: col(rs, (r) => r.strongest.ih),
    strongestPTH: col(rs, (r) => r.strongest.pt),
  };
}

function pathPatchingSeries(rs: PathPatchingResult[], seqs: number[], dense: Map<number, DenseSummary>) {
  const s = strongestHeads(seqs, dense);
  const kinds = rs[0].corruptions.map((c) => c.corruption);
  const inputs = rs[0].inputs;
  const per = (kind: string) => rs.map((r) => r.corruptions.find((c) => c.corruption === kind)!);
  return {
    senders: rs[0].senders,
    receivers: rs[0].receivers,
    inputs,
    corruptions: kinds,
    cleanLD: col(rs, (r) => r.cleanLD),
    strongestIH: s.ih,
    strongestPTH: s.pt,
    byCorruption: Object.fromEntries(
      kinds.map((kind) => {
        const cs = per(kind);
        return [
          kind,
          {
            corruptLD: cs.map((c) => c.corruptLD),
            exact: Object.fromEntries(inputs.map((x) => [x, cs.map((c) => c.exact[x])])),
            attribution: Object.fromEntries(inputs.map((x) => [x, cs.map((c) => c.attribution?.[x] ?? null)])),
            attributionError: cs.map((c) => c.attributionError),
          },
        ];
      }),
    ),
  };
}

/* eslint-disable @typescript-eslint/no-explicit-any */
/** The `series` of a unit from its per-checkpoint results (ascending), with the dense results for head choices. */
export function buildSeries(
  unit: UnitName,
  results: unknown[],
  seqs: number[],
  dense: Map<number, DenseSummary>,
): Record<string, unknown> {
  if (results.length === 0) return {};
  const rs = results as any[];
  switch (unit) {
    case 'dense':
      return denseSeries(rs, seqs, dense);
    case 'ablations':
      return ablationSeries(rs);
    case 'additivity':
      return additivitySeries(rs);
    case 'complementarity':
      return complementaritySeries(rs);
    case 'influence-matrix':
      return influenceSeries(rs, seqs, dense);
    case 'composition':
      return compositionSeries(rs);
    case 'paths-at':
      return pathsSeries(rs);
    case 'posthoc-at':
      return posthocSeries(rs);
    case 'path-patching':
      return pathPatchingSeries(rs, seqs, dense);
    default:
      throw new Error(`${unit} is computed across checkpoints at one checkpoint; over training use ${unit}-at`);
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Builds and atomically writes a unit's aggregate file; returns its path and content. */
export function writeSeries(
  runDir: string,
  unit: UnitName,
  subsample: number | null,
  entries: SeriesEntry[],
  missing: number[],
  dense: Map<number, DenseSummary>,
): { file: string; content: SeriesFile } {
  const sorted = [...entries].sort((a, b) => a.sequences - b.sequences);
  const seqs = sorted.map((e) => e.sequences);
  const first = sorted[0]?.record;
  const r0 = first?.result as { n?: number; denseSize?: number } | undefined;
  const content: SeriesFile = {
    format: SERIES_FORMAT,
    measure: seriesMeasure(unit),
    unit,
    formula: first?.formula ?? null,
    subsample: unit === 'composition' ? null : subsample,
    denseSize: (first?.parameters?.denseSize as number | undefined) ?? r0?.denseSize ?? null,
    n: r0?.n ?? null,
    created: new Date().toISOString(),
    sequences: seqs,
    files: sorted.map((e) => path.relative(runDir, e.file).split(path.sep).join('/')),
    missing: [...missing].sort((a, b) => a - b),
    series: buildSeries(
      unit,
      sorted.map((e) => e.record.result),
      seqs,
      dense,
    ),
  };
  const file = seriesPath(runDir, unit, subsample);
  writeJsonAtomic(file, content);
  return { file, content };
}

/** Reads an aggregate file; null when it is missing, half-written or not one. */
export function readSeries(file: string): SeriesFile | null {
  try {
    const j = JSON.parse(fs.readFileSync(file, 'utf8')) as SeriesFile;
    const ok = j && j.format === SERIES_FORMAT && Array.isArray(j.sequences);
    return ok && j.series && typeof j.series === 'object' ? j : null;
  } catch {
    return null;
  }
}

/** The aggregate files of a run (for views): measure, subsample and path of each, by measure then subsample. */
export function listSeries(runDir: string): Array<{ measure: string; subsample: number | null; file: string }> {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(runDir, MEASURES_DIR));
  } catch {
    return [];
  }
  const out: Array<{ measure: string; subsample: number | null; file: string }> = [];
  for (const n of names) {
    const m = /^([a-z-]+)-over-training(?:-sub(\d+))?\.json$/.exec(n);
    if (m) out.push({ measure: m[1], subsample: m[2] ? Number(m[2]) : null, file: path.join(runDir, MEASURES_DIR, n) });
  }
  return out.sort((a, b) => a.measure.localeCompare(b.measure) || (a.subsample ?? 0) - (b.subsample ?? 0));
}
