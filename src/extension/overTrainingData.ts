/**
 * Measures over training for the views (issue 11 part 4; no vscode import): the aggregate files
 * `RUN/measures/<measure>-over-training[-sub<M>].json`, read only through the engine's
 * `listSeries` / `readSeries` (src/engine/measures/series.ts, docs/measures-over-training.md), shaped
 * into what the influence view draws:
 *   - heat-map frames, one `InfluenceHeatmap` per (kind, checkpoint): the influence matrices (spec §5.6),
 *     the composition scores and the remove-one / keep-one head ablations (§5.5, rows = Layer-2 heads);
 *   - curve sets over training: keep-one / remove-one accuracy of each Layer-2 head, the influence of each
 *     Layer-1 head on the strongest IH (value- and pattern-preserving), induction strength of each head,
 *     and the post-hoc subcircuit and layer-path losses (§5.7, §5.9).
 * When a measure has several aggregates (subsamples), the one covering most checkpoints wins, then the
 * one on most sequences (no subsample = the whole dense set).
 */
import * as path from 'node:path';
import { listSeries, readSeries, type SeriesFile } from '../engine/measures/series';
import type {
  CurveSetOverTraining,
  InfluenceKind,
  InfluenceHeatmap,
  OverTrainingData,
  SeriesSource,
} from '../shared/webviewProtocol';
import { INFLUENCE_INFO } from '../shared/webviewProtocol';

type Num = number | null;
type Series = SeriesFile & { file: string };

/** The aggregate of each measure to show: most checkpoints, then most sequences (null subsample = all). */
export function pickSeries(found: Series[]): Map<string, Series> {
  const size = (s: Series) => (s.subsample === null ? Infinity : s.subsample);
  const out = new Map<string, Series>();
  for (const s of found) {
    const b = out.get(s.measure);
    const better =
      !b || s.sequences.length > b.sequences.length || (s.sequences.length === b.sequences.length && size(s) > size(b));
    if (better) out.set(s.measure, s);
  }
  return out;
}

/** Every readable aggregate of a run folder (half-written or foreign files are skipped). */
export function readRunSeries(dir: string): Series[] {
  return listSeries(dir).flatMap((e) => {
    const s = readSeries(e.file);
    return s ? [{ ...s, file: e.file }] : [];
  });
}

const finiteMatrix = (m: unknown): m is number[][] =>
  Array.isArray(m) && m.every((r) => Array.isArray(r) && r.every((v) => typeof v === 'number' && Number.isFinite(v)));
const arr = <T>(x: unknown): T[] => (Array.isArray(x) ? (x as T[]) : []);
const sourceName = (s: Series) => path.basename(s.file);

/**
 * Heat-map frames of one aggregate: `pick(series)` gives values[k] (rows × cols) per checkpoint. A
 * frame with a missing (null / non-finite) value is left out rather than drawn half empty.
 */
function frames(
  runId: string,
  s: Series,
  kind: InfluenceKind,
  rows: string[],
  cols: string[],
  values: unknown[],
): InfluenceHeatmap[] {
  const info = INFLUENCE_INFO[kind];
  return s.sequences.flatMap((sequences, k) => {
    const v = values[k];
    if (!finiteMatrix(v)) return [];
    return [
      {
        runId,
        sequences,
        kind,
        rows,
        cols,
        values: v,
        signed: info.signed,
        formula: info.formula,
        title: info.title,
        source: sourceName(s),
      },
    ];
  });
}

/** Heat-map frames (every kind, every measured checkpoint) from the chosen aggregates. */
export function matricesFromSeries(runId: string, chosen: Map<string, Series>): InfluenceHeatmap[] {
  const out: InfluenceHeatmap[] = [];
  const inf = chosen.get('influence-matrix');
  if (inf) {
    const x = inf.series as Record<string, unknown>;
    const rows = arr<string>(x.rows),
      cols = arr<string>(x.cols);
    const kinds: Array<[InfluenceKind, string]> = [
      ['valuePreserving', 'removeValuesPreserved'],
      ['patternPreserving', 'removePatternsPreserved'],
      ['keepOneValue', 'keepValuesPreserved'],
      ['keepOnePattern', 'keepPatternsPreserved'],
    ];
    for (const [kind, key] of kinds) out.push(...frames(runId, inf, kind, rows, cols, arr(x[key])));
  }
  const comp = chosen.get('composition');
  if (comp) {
    const x = comp.series as Record<string, unknown>;
    const rows = arr<string>(x.rows),
      cols = arr<string>(x.cols);
    for (const [kind, key] of [
      ['compositionK', 'k'],
      ['compositionV', 'v'],
      ['compositionQ', 'q'],
    ] as const) {
      out.push(...frames(runId, comp, kind, rows, cols, arr(x[key])));
    }
  }
  const abl = chosen.get('ablations');
  if (abl) {
    const x = abl.series as Record<string, unknown>;
    const heads = arr<string>(x.heads),
      rm = arr<Num[]>(x.removeOneAcc),
      keep = arr<Num[]>(x.keepOneAcc);
    // Transposed to rows = Layer-2 heads, like every other heat map of the view (and its row marks).
    const values = abl.sequences.map((_s, k) => heads.map((_h, i) => [rm[k]?.[i] ?? null, keep[k]?.[i] ?? null]));
    out.push(...frames(runId, abl, 'headAblations', heads, ['remove', 'keep'], values));
  }
  return out;
}

/** One line per head of `heads` from a [k][h] array. */
const perHead = (heads: string[], xs: Num[][], n: number) =>
  heads.map((head, i) => ({
    id: head,
    label: head,
    head,
    ys: Array.from({ length: n }, (_v, k) => xs[k]?.[i] ?? null),
  }));
const scalar = (id: string, label: string, ys: unknown, n: number, reference = false) => ({
  id,
  label,
  ys: Array.from({ length: n }, (_v, k) => {
    const y = arr<Num>(ys)[k];
    return typeof y === 'number' && Number.isFinite(y) ? y : null;
  }),
  ...(reference ? { reference } : {}),
});

/** The curve sets over training from the chosen aggregates, in the order the view lists them. */
export function curvesFromSeries(chosen: Map<string, Series>): CurveSetOverTraining[] {
  const out: CurveSetOverTraining[] = [];
  const abl = chosen.get('ablations');
  if (abl) {
    const x = abl.series as Record<string, unknown>,
      n = abl.sequences.length,
      heads = arr<string>(x.heads);
    const base = scalar('all', 'all heads (baseline)', x.baselineAcc, n, true);
    const common = {
      source: sourceName(abl),
      sequences: abl.sequences,
      yLabel: 'accuracy',
      yRange: [0, 1] as [number, number],
    };
    out.push(
      {
        ...common,
        id: 'keepOneAcc',
        title: 'Keep-one accuracy of each Layer 2 head over training',
        formula: 'keep[i] = acc(only L2H i in Layer 2: the 7 others ablated), spec §5.5',
        lines: [...perHead(heads, arr(x.keepOneAcc), n), base],
      },
      {
        ...common,
        id: 'removeOneAcc',
        title: 'Remove-one accuracy of each Layer 2 head over training',
        formula: 'remove[i] = acc(L2H i ablated), spec §5.5',
        lines: [...perHead(heads, arr(x.removeOneAcc), n), base],
      },
    );
  }
  const inf = chosen.get('influence-matrix');
  const on = (inf?.series as { onStrongestIH?: Record<string, unknown> } | undefined)?.onStrongestIH;
  if (inf && on && typeof on.head === 'string') {
    const cols = arr<string>((inf.series as Record<string, unknown>).cols),
      n = inf.sequences.length;
    const ih = on.head;
    const common = { source: sourceName(inf), sequences: inf.sequences, yLabel: 'accuracy change', about: ih };
    out.push(
      {
        ...common,
        id: 'onStrongestIH.values',
        title: `Influence of each PTH on the strongest IH (${ih}) over training, value-preserving (K/Q composition)`,
        formula: `M_pv[${ih}, j] = acc(only ${ih}; ablate L1H j; preserve values) − acc(only ${ih})`,
        lines: perHead(cols, arr(on.removeValuesPreserved), n),
      },
      {
        ...common,
        id: 'onStrongestIH.patterns',
        title: `Influence of each PTH on the strongest IH (${ih}) over training, pattern-preserving (V composition)`,
        formula: `M_pp[${ih}, j] = acc(only ${ih}; ablate L1H j; preserve patterns) − acc(only ${ih})`,
        lines: perHead(cols, arr(on.removePatternsPreserved), n),
      },
    );
  }
  const dense = chosen.get('dense');
  if (dense) {
    const x = dense.series as Record<string, unknown>,
      n = dense.sequences.length;
    out.push({
      id: 'inductionStrength',
      title: 'Induction strength of each Layer 2 head over training',
      yLabel: 'induction strength',
      formula: 'IS_h = mean_seq (A_h[4, correct label] − A_h[4, other label]), spec §5.3',
      source: sourceName(dense),
      sequences: dense.sequences,
      lines: perHead(arr(x.isHeads), arr(x.inductionStrength), n),
    });
  }
  const post = chosen.get('posthoc');
  if (post) {
    const x = post.series as Record<string, unknown>,
      n = post.sequences.length;
    const legend = (x.legend ?? {}) as Record<string, string>;
    out.push({
      id: 'posthoc',
      title: 'Post-hoc subcircuit measures over training (App Fig 10)',
      yLabel: 'loss',
      ln2: true,
      formula:
        `loss with an evaluation-time clamp: composite = PT pattern clamp on ${String(x.ptHead)}, ` +
        `copy = IH pattern clamp on ${String(x.ihHead)} (REST heads ablated), spec §5.9`,
      source: sourceName(post),
      sequences: post.sequences,
      lines: [
        scalar('loss', 'no clamp (dense loss)', x.loss, n, true),
        scalar('composite', legend.composite ?? 'composite sub-circuit', x.composite, n),
        scalar('copy', legend.copy ?? 'copy sub-circuit', x.copy, n),
      ],
    });
  }
  const paths = chosen.get('paths');
  if (paths) {
    const x = paths.series as Record<string, unknown>,
      n = paths.sequences.length;
    out.push({
      id: 'paths',
      title: 'Layer → output paths over training (App Fig 12)',
      yLabel: 'loss',
      ln2: true,
      formula:
        'loss with the direct L1 → output path removed (all L1 heads ablated, patterns and values ' +
        'preserved) or the L2 → output path removed (all L2 heads ablated), spec §5.7',
      source: sourceName(paths),
      sequences: paths.sequences,
      lines: [
        scalar('loss', 'full model', x.loss, n, true),
        scalar('noL1Direct', 'L1 → output removed', x.noL1Direct, n),
        scalar('noL2', 'L2 → output removed', x.noL2, n),
      ],
    });
  }
  return out;
}

/**
 * The heat maps a view gets: every aggregate frame, plus one-checkpoint results (`single`, e.g. "Compute
 * Influence Matrix" at one checkpoint) only where no aggregate frame of that kind and checkpoint exists;
 * of several one-checkpoint results of one (kind, checkpoint) the first is kept.
 */
export function mergeFrames(aggregate: InfluenceHeatmap[], single: InfluenceHeatmap[]): InfluenceHeatmap[] {
  const have = new Set(aggregate.map((m) => `${m.kind}|${m.sequences}`));
  const rest = single.filter((m) => {
    const k = `${m.kind}|${m.sequences}`;
    if (have.has(k)) return false;
    have.add(k);
    return true;
  });
  return [...aggregate, ...rest];
}

/**
 * Whether the influence view should say "nothing computed yet": only when it has no heat map of any kind and no
 * aggregate (a composition or head-ablation frame alone is a result to look at, with its own coverage note).
 */
export function nothingMeasured(matrices: readonly InfluenceHeatmap[], data: OverTrainingData): boolean {
  return matrices.length === 0 && data.sources.length === 0;
}

/** The command line that computes every measure over training of the run in `dir`. */
export function overTrainingCommand(dir: string): string {
  return `induction-lab measure "${dir}" --checkpoints all --what all --subsample 2000`;
}

/** Everything the influence view needs about a run's measures over training. */
export function overTrainingData(
  runId: string,
  dir: string,
  checkpoints: number[],
): { data: OverTrainingData; matrices: InfluenceHeatmap[] } {
  const chosen = pickSeries(readRunSeries(dir));
  const sources: SeriesSource[] = [...chosen.values()].map((s) => ({
    measure: s.measure,
    subsample: s.subsample,
    file: sourceName(s),
    checkpoints: s.sequences.length,
    missing: checkpoints.filter((c) => !s.sequences.includes(c)),
  }));
  return {
    data: { runId, curves: curvesFromSeries(chosen), sources, checkpoints, command: overTrainingCommand(dir) },
    matrices: matricesFromSeries(runId, chosen),
  };
}
