/**
 * `induction-lab measure RUN_DIR [--checkpoint SEQUENCES] [--what NAMES] [--subsample N]`: the
 * per-checkpoint science measures of spec §5 on a saved run, cached in RUN_DIR/measures/, printed as
 * readable tables (each with its formula line) and returned as JSON.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { BACKENDS, initBackend, BackendPreference } from '../model/tf';
import { RunDir } from '../io';
import type { CliProgress, MetricsRecord } from '../../shared/protocol';
import { describeClamp } from '../clamps/spec';
import { MeasureContext, disposeContext, findCheckpoint, openMeasureContext, readRunConfig } from './dense';
import { selectCheckpoints } from './paths';
import { learningTime } from './learningTime';
import { MeasureName, parseMeasureNames } from './names';
import { cachedUnit, computeUnit, unitKey, unitOf } from './units';
import type { ConfigEvaluator } from './influence';
import { PoolExecutor, measureWorkerEntry } from './overTraining';
import { formatTable } from './table';

export { MEASURE_NAMES, DEFAULT_MEASURES, MEASURE_HELP, parseMeasureNames } from './names';
export type { MeasureName } from './names';

export interface MeasureArgs {
  runDir: string;
  /** Checkpoint sequence count (default: the latest). */
  checkpoint?: number;
  /** Measure names (comma lists allowed); default DEFAULT_MEASURES. */
  what?: string[];
  /** Evaluate on a seeded subsample of this many dense sequences. */
  subsample?: number;
  backend?: string;
  /** Checkpoints for `paths` / `posthoc` (closest to evenly spaced points up to --checkpoint; default 12). */
  points?: number;
  /** Recompute even when cached. */
  force?: boolean;
  /** complementarity: the reference head index (default: the strongest by IS). */
  reference?: number;
  /** posthoc: the clamped heads (defaults L1H2, L2H3). */
  ptHead?: string;
  ihHead?: string;
  /** `--progress json`: one CliProgress per measure done and per step inside a measure (contracts.md §2). */
  onProgress?: (p: CliProgress) => void;
  /**
   * Worker processes the influence matrix's configurations are split over (1: this process). Default: one
   * per core when the set has ≥ SPLIT_FROM_SEQUENCES sequences, else this process.
   */
  workers?: number;
  /** The worker entry (default: overTraining.ts measureWorkerEntry()). */
  workerEntry?: { file: string; execArgv: string[] };
}

/**
 * From this many sequences the influence matrix is split over worker processes by default: a worker's
 * start-up (task data, context: ≈ 1–2 s of CPU) costs more than it saves on a 2,000-sequence subsample.
 */
export const SPLIT_FROM_SEQUENCES = 10_000;

// ------------------------------------------------------------------------------------------ printing

const f4 = (x: number | null | undefined) =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(4);
const signed = (x: number | null | undefined) =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : (x >= 0 ? '+' : '') + x.toFixed(3);

function matrix(title: string, rows: string[], cols: string[], m: number[][], fmt: (x: number) => string): string {
  return `${title}\n${formatTable(
    ['', ...cols],
    rows.map((r, i) => [r, ...m[i].map(fmt)]),
  )}`;
}

function formulaLines(f: unknown): string {
  if (typeof f === 'string') return `  formula: ${f}`;
  if (f && typeof f === 'object')
    return Object.entries(f)
      .map(([k, v]) => `  ${k}: ${v}`)
      .join('\n');
  return '';
}

/* eslint-disable @typescript-eslint/no-explicit-any */
function render(name: MeasureName, r: any): string {
  switch (name) {
    case 'dense':
      return `accuracy ${f4(r.acc)}   loss ${f4(r.loss)}   (${r.n} sequences${r.subsample ? ` of ${r.denseSize}` : ''}${r.clamps.length ? `; run clamps: ${r.clamps.map(describeClamp).join('; ')}` : ''})\n${formulaLines(r.formula)}`;
    case 'induction-strength':
    case 'prev-token-score':
      return `${formatTable(['head', ...r.heads], [[name === 'induction-strength' ? 'IS' : 'PT', ...r.values.map(f4)]])}\n${formulaLines(r.formula)}`;
    case 'ablations':
      return `${formatTable(
        ['head', 'IS', 'remove-one acc', 'remove-one loss', 'keep-one acc', 'keep-one loss'],
        [
          ['none', '', f4(r.baseline.acc), f4(r.baseline.loss), '', ''],
          ...r.heads.map((h: string, i: number) => [
            h,
            f4(r.inductionStrength[i]),
            f4(r.removeOne[i].acc),
            f4(r.removeOne[i].loss),
            f4(r.keepOne[i].acc),
            f4(r.keepOne[i].loss),
          ]),
        ],
      )}\n${formulaLines(r.formula)}`;
    case 'additivity':
      return `${r.curves
        .map(
          (c: any) =>
            `${c.name}: all heads loss ${f4(r.all.loss)}\n${formatTable(
              ['k', 'heads active', 'loss', 'acc'],
              c.points.map((p: any) => [
                p.k,
                c.ordering
                  .slice(0, p.k)
                  .map((h: string) => h.replace(/^L\d+/, ''))
                  .join('+'),
                f4(p.loss),
                f4(p.acc),
              ]),
            )}`,
        )
        .join('\n\n')}\n${formulaLines(r.formula)}`;
    case 'complementarity':
      return ['table2', 'table3']
        .map((t) => {
          const x = r[t];
          return `${t === 'table2' ? 'Table 2 (computed match)' : 'Table 3 (perfect match)'}; reference ${x.reference} (${x.referenceChosenBy}) misses ${x.referenceMistakes} of ${x.n}\n${formatTable(
            ['head', 'fixed fraction', 'acc'],
            x.heads.map((h: string, i: number) => [h, f4(x.rows[i].fixedFraction), f4(x.rows[i].acc)]),
          )}\n  formula: ${x.formula}`;
        })
        .join('\n\n');
    case 'influence-matrix': {
      const m = r.matrix;
      return [
        `only-one accuracy: ${m.rows.map((h: string, i: number) => `${h} ${f4(m.onlyAcc[i])}`).join('  ')}`,
        matrix(
          'accuracy change from ablating a Layer-1 head, values preserved (rows: L2 heads, cols: L1 heads)',
          m.rows,
          m.cols,
          m.removeValuesPreserved,
          signed,
        ),
        matrix(
          'accuracy change from ablating a Layer-1 head, patterns preserved',
          m.rows,
          m.cols,
          m.removePatternsPreserved,
          signed,
        ),
        matrix('accuracy with one head per layer, values preserved', m.rows, m.cols, m.keepValuesPreserved, (x) =>
          x.toFixed(3),
        ),
        matrix('accuracy with one head per layer, patterns preserved', m.rows, m.cols, m.keepPatternsPreserved, (x) =>
          x.toFixed(3),
        ),
        formulaLines(m.formula),
        `Table 1\n${formatTable(
          ['ablated L1 heads', 'groups by', 'patterns preserved', 'values preserved'],
          r.table1.rows.map((x: any) => [x.group.join(','), x.source, f4(x.patternsPreserved), f4(x.valuesPreserved)]),
        )}\n  formula: ${r.table1.formula}`,
      ].join('\n\n');
    }
    case 'composition':
      return [
        matrix('K composition (rows: L2 heads, cols: L1 heads)', r.rows, r.cols, r.scores.k, (x) => x.toFixed(3)),
        matrix('V composition', r.rows, r.cols, r.scores.v, (x) => x.toFixed(3)),
        matrix('Q composition', r.rows, r.cols, r.scores.q, (x) => x.toFixed(3)),
        `  formula: ${r.formula}; "init" holds the same at initialisation`,
      ].join('\n\n');
    case 'paths':
      return `${formatTable(
        ['sequences', 'loss', 'eval loss', 'no L1 direct', 'Δ eval', 'no L2', 'Δ eval'],
        r.points.map((p: any) => [
          p.sequences,
          f4(p.loss),
          f4(p.evalLoss),
          f4(p.noL1Direct),
          signed(p.noL1DirectMinusEval),
          f4(p.noL2),
          signed(p.noL2MinusEval),
        ]),
      )}\n${formulaLines(r.formula)}`;
    case 'posthoc':
      return `${formatTable(
        ['sequences', 'loss', 'eval loss', `composite (PT ${r.ptHead})`, `copy (match ${r.ihHead})`],
        r.points.map((p: any) => [p.sequences, f4(p.loss), f4(p.evalLoss), f4(p.composite), f4(p.copy)]),
      )}\n${formulaLines(r.formula)}${
        r.strongest && (r.strongest.ih !== r.ihHead || r.strongest.pt !== r.ptHead)
          ? `\n  note: at checkpoint ${r.strongest.sequences} the strongest induction head is ${r.strongest.ih} and the strongest previous-token head ${r.strongest.pt} (choose with ihHead / ptHead)`
          : ''
      }`;
    case 'path-patching':
      return renderPathPatching(r);
    case 'learning-time':
      return `learning time: ${r.value === null ? '— (no fsl_train metrics)' : `${r.value} sequences${r.reached ? '' : ' (threshold never reached: the last logged x)'}`}\n  formula: ${r.formula}`;
  }
}

function renderPathPatching(r: any): string {
  const edge = (e: any) =>
    `${e.edge} ${signed(e.exact)}${e.attribution === null ? '' : ` (attr ${signed(e.attribution)})`}`;
  return [
    `clean logit difference ${f4(r.cleanLD)} (${r.n} sequences; engine ${r.engine})`,
    ...r.corruptions.flatMap((c: any) => {
      const err = c.attributionError;
      return [
        `corruption ${c.corruption}: ${c.description}; fully corrupted LD ${f4(c.corruptLD)}` +
          `${c.unmatched ? ` (${c.unmatched} sequences without a class-disjoint partner)` : ''}`,
        ...r.inputs.map((x: string) =>
          matrix(
            `  exact effect on LD through the receiver's ${x.toUpperCase()} (rows: L2 receivers, cols: L1 senders)`,
            r.receivers,
            r.senders,
            c.exact[x],
            signed,
          ),
        ),
        err
          ? `  attribution vs exact: max |A − E| ${f4(err.maxAbs)}, mean ${f4(err.meanAbs)}, ` +
            `relative ${f4(err.relative)}, r ${f4(err.correlation)}`
          : '',
        `  strongest edges: ${c.top.slice(0, 5).map(edge).join(', ')}`,
      ];
    }),
    formulaLines(r.formula),
  ].join('\n');
}
/* eslint-enable @typescript-eslint/no-explicit-any */

// ------------------------------------------------------------------------------------------ command

export const LEARNING_TIME_FORMULA =
  't = min { x_k : fsl_train loss_k < 0.4·ln 2 }, or the last logged x if never (spec §5.10)';

function learningTimeResult(rd: RunDir): {
  formula: string;
  value: number | null;
  reached: boolean;
  threshold: number;
} {
  const rows = rd
    .readMetrics<MetricsRecord>()
    .filter((r) => r.eval?.fsl_train && Number.isFinite(r.eval.fsl_train.loss));
  const threshold = 0.4 * Math.LN2;
  if (rows.length === 0) return { formula: LEARNING_TIME_FORMULA, value: null, reached: false, threshold };
  const xs = rows.map((r) => r.sequences),
    ys = rows.map((r) => r.eval.fsl_train.loss);
  return {
    formula: LEARNING_TIME_FORMULA,
    value: learningTime(xs, ys, threshold),
    reached: ys.some((y) => y < threshold),
    threshold,
  };
}

/**
 * Runs the requested measures on one checkpoint of a run (cached in RUN_DIR/measures/), prints a
 * readable summary through `out`, and returns
 * `{ run, checkpoint, subsample, n, results: {name: result}, files: {name: cache file}, cached: {name: bool} }`.
 */
export async function measureCommand(argv: MeasureArgs, out: (line: string) => void): Promise<Record<string, unknown>> {
  const names = parseMeasureNames(argv.what);
  if (argv.subsample !== undefined && (!Number.isInteger(argv.subsample) || argv.subsample < 1))
    throw new Error(`--subsample must be a positive whole number, got ${argv.subsample}`);
  if (argv.points !== undefined && (!Number.isInteger(argv.points) || argv.points < 1))
    throw new Error(`--points must be a positive whole number, got ${argv.points}`);
  const backend = argv.backend ?? 'auto';
  if (!BACKENDS.includes(backend)) throw new Error(`--backend must be one of ${BACKENDS.join(', ')}, got "${backend}"`);
  if (argv.workers !== undefined && (!Number.isInteger(argv.workers) || argv.workers < 1))
    throw new Error(`--workers must be a positive whole number, got ${argv.workers}`);
  const rd = RunDir.open(argv.runDir);
  readRunConfig(rd);
  const ref = findCheckpoint(rd, argv.checkpoint);

  const results: Record<string, unknown> = {},
    files: Record<string, string> = {},
    cached: Record<string, boolean> = {};
  const summary: Record<string, unknown> = {
    run: rd.path,
    checkpoint: { sequences: ref.sequences, path: ref.path },
    subsample: null,
    n: null,
    results,
    files,
    cached,
  };
  out(`run ${rd.path}\ncheckpoint ${ref.sequences} sequences`);

  let ctx: MeasureContext | null = null;
  let pool: PoolExecutor | null = null;
  // The influence matrix's configurations over worker processes (the same numbers as in this process).
  const splitEvaluator = async (c: MeasureContext): Promise<ConfigEvaluator | undefined> => {
    const n = argv.workers ?? (c.batch.size >= SPLIT_FROM_SEQUENCES ? os.availableParallelism() : 1);
    if (n <= 1) return undefined;
    if (!pool) {
      const init = {
        type: 'init',
        runDir: rd.path,
        subsample: c.subsample,
        backend,
        options: {},
        force: false,
      } as const;
      pool = await PoolExecutor.start(n, init, argv.workerEntry ?? measureWorkerEntry());
      out(`configurations split over ${pool.label}`);
    }
    return pool.configEvaluator(ref);
  };
  const context = async (): Promise<MeasureContext> => {
    if (ctx) return ctx;
    const be = await initBackend(backend as BackendPreference);
    ctx = await openMeasureContext(rd, ref.sequences, argv.subsample ?? null);
    summary.subsample = ctx.subsample;
    summary.n = ctx.batch.size;
    summary.backend = be.name;
    out(
      `${ctx.batch.size} sequences${ctx.subsample ? ` (seeded subsample of the ${ctx.denseSize} dense training sequences)` : ' (every dense training sequence)'} · backend ${be.name}`,
    );
    if (ctx.baseClamps.length)
      out(`the run's own ablations are kept in every configuration: ${ctx.baseClamps.map(describeClamp).join('; ')}`);
    return ctx;
  };

  try {
    for (const name of names) {
      if (name === 'learning-time') {
        const r = learningTimeResult(rd);
        results[name] = r;
        cached[name] = false;
        out(`\n== ${name} ==\n${render(name, r)}`);
        continue;
      }
      const c = await context();
      out(`\n== ${name} ==`);
      const t0 = Date.now();
      const unit = unitOf(name, false)!;
      const across =
        unit === 'paths' || unit === 'posthoc'
          ? selectCheckpoints(
              rd.listCheckpoints().filter((k) => k.sequences <= ref.sequences),
              argv.points ?? 12,
            )
          : undefined;
      const key = unitKey(
        unit,
        ref,
        { run: c.run, denseSize: c.denseSize, subsample: c.subsample, includeRunAblations: c.includeRunAblations },
        argv,
        across,
      );
      const evaluator =
        unit === 'influence-matrix' && (argv.force || !cachedUnit(rd.path, key)) ? await splitEvaluator(c) : undefined;
      const progress = (what: string) => (done: number, total: number) => {
        if (done === total || done % Math.max(1, Math.round(total / 8)) === 0) out(`  ${what}: ${done}/${total}`);
        argv.onProgress?.({
          type: 'progress',
          task: name,
          done,
          total,
          unit: what,
          message: `checkpoint ${ref.sequences}`,
        });
      };
      const {
        record,
        cached: hit,
        file,
      } = await computeUnit(
        c,
        rd.path,
        key,
        { ...argv, evaluator },
        across,
        progress(
          unit === 'influence-matrix'
            ? 'configurations'
            : unit === 'path-patching'
              ? 'chunks × corruptions'
              : 'checkpoints',
        ),
      );
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      let r: any = record.result;
      if (name === 'induction-strength') r = r.inductionStrength;
      if (name === 'prev-token-score') r = r.prevTokenScore;
      results[name] = r;
      files[name] = file;
      cached[name] = hit;
      argv.onProgress?.({
        type: 'progress',
        task: 'measure',
        done: names.indexOf(name) + 1,
        total: names.length,
        unit: 'measures',
        message: `${name} done`,
      });
      const how = hit
        ? `cached ${path.relative(rd.path, file)}`
        : `${((Date.now() - t0) / 1000).toFixed(1)} s → ${path.relative(rd.path, file)}`;
      out(`(${how})\n${render(name, r)}`);
    }
  } finally {
    if (ctx) disposeContext(ctx);
    const p = pool as PoolExecutor | null;
    if (p) summary.workers = { label: p.label, configCpuSeconds: p.configCpuSeconds };
    p?.close();
  }
  return summary;
}
