/**
 * `induction-lab reproduce FIGURE`: the runs a figure of the paper needs (scheduled with the sweep: one
 * process per core, finished runs reused, stopped ones resumed), the measures it reads, and the figure
 * itself as data (JSON, CSV) and SVG, laid out like the paper's (spec §8).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolvePreset, experimentPresets } from './presets';
import { RunConfig } from '../train/runConfig';
import { TaskData, StandIn } from '../data';
import { runSweep, sweepStatus, SweepJob, SweepOptions, SweepResult } from '../train/sweep';
import { RunDir, writeFileAtomic, writeJsonAtomic } from '../io';
import { Scale, fig5bConditions, fig6Columns, FIG6_ROWS, IS_SWEEP } from './conditions';
import { FigureData, LinePanel, figureCsv, figureSvg, DARK2 } from './figureSvg';
import { combineSeeds, summarizeSeeds } from './seedBands';
import { runToyModel, DEFAULT_TOY_SEED } from '../measures/toyModel';
import { learningTime } from '../measures/learningTime';
import type { MetricsRecord } from '../../shared/protocol';
import type { HeadAblations } from '../measures/ablations';
import type { CompositionMeasure, InfluenceMeasure } from '../measures/influence';

export const FIGURES = ['fig3a', 'fig3b', 'fig4a', 'fig4b', 'fig5a', 'fig5b', 'fig6', 'appfig11', 'appfig15'] as const;
export type FigureId = (typeof FIGURES)[number];
const LN2 = Math.log(2);
const LEG: Record<string, string> = {
  fsl_train: 'train',
  fsl_val_rl: 'test (relabel)',
  fsl_test_class: 'test (exemplars)',
  fsl_train_valex: 'train (new exemplars)',
};

export interface ReproduceOptions extends Omit<SweepOptions, 'root'> {
  scale: Scale;
  /** Folder that holds the runs (shared by all figures, so e.g. fig3a and fig3b train the main run once). */
  runsRoot: string;
  /** Folder the figure files go to. */
  out: string;
  seeds?: number[];
  /** The synthetic stand-in the runs use (default: the data config's default). */
  standIn?: StandIn;
  /** Measures on checkpoints use this many dense sequences (default 2,000 at the fast scale, all at paper scale). */
  subsample?: number;
  log?: (line: string) => void;
  /** false: train nothing, draw from finished runs or fail naming the missing ones (the Slurm merge job). */
  train?: boolean;
  /** The emitted Slurm array script, named in the "missing runs" error. */
  slurmScript?: string;
}

/** The figure's runs when nothing may be trained: all completed, or an error listing the others by array index. */
function finishedRuns(jobs: SweepJob[], runsRoot: string, slurmScript?: string): SweepResult[] {
  const { results, missing } = sweepStatus(jobs, runsRoot);
  if (!missing.length) return results;
  const how = slurmScript
    ? `sbatch --array=${missing.map((m) => m.index).join(',')} ${slurmScript}`
    : 'run reproduce without --no-train';
  throw new Error(
    `${missing.length} of ${jobs.length} run(s) are not complete: ${missing.map((m) => `#${m.index} ${m.key} (${m.why})`).join(', ')}; train them first: ${how}`,
  );
}

/** The stand-in a figure's runs use unless told otherwise: the data config's default. */
export const DEFAULT_STAND_IN: StandIn = TaskData.DEFAULT_DATA_CONFIG.standIn;

/**
 * A run of a figure: its key (the run folder's name) names the condition, scale, stand-in and seed, so the
 * runs of different stand-ins and seeds live side by side and any command needing the same run reuses it.
 */
export function runKey(condition: string, scale: string, standIn: StandIn, seed: number): string {
  return `${condition}-${scale}-${standIn}-seed${seed}`;
}

/** The main run of Fig 3 at a scale: every 8 Layer-2 heads, ≈ 20 (fast) or 100 (paper) checkpoints. */
export function mainRun(scale: Scale, seed: number, standIn: StandIn = DEFAULT_STAND_IN): SweepJob {
  const config = resolvePreset(scale === 'paper' ? 'paper' : 'fast');
  config.train.initSeed = seed;
  config.data.standIn = standIn;
  config.name = `main-${scale}`;
  return { key: runKey('main', scale, standIn, seed), config };
}

/** The run of one figure preset (e.g. fig5b.perfect_l1) at a scale, stand-in and seed. */
export function presetJob(
  preset: string,
  scale: Scale,
  seed: number,
  standIn: StandIn = DEFAULT_STAND_IN,
): SweepJob & { preset: string } {
  const config: RunConfig = resolvePreset(preset, scale);
  config.train.initSeed = seed;
  config.data.standIn = standIn;
  return { key: runKey(preset, scale, standIn, seed), config, preset };
}

function presetJobs(
  prefix: string,
  scale: Scale,
  seed: number,
  standIn: StandIn,
): Array<SweepJob & { preset: string }> {
  return experimentPresets(scale)
    .filter((p) => p.name.startsWith(prefix + '.'))
    .map((p) => presetJob(p.name, scale, seed, standIn));
}

/** The training runs a figure needs. */
export function figureJobs(
  fig: FigureId,
  scale: Scale,
  seeds: number[],
  standIn: StandIn = DEFAULT_STAND_IN,
): SweepJob[] {
  const s = seeds;
  switch (fig) {
    case 'fig3a':
    case 'fig3b':
    case 'fig4a':
    case 'appfig11':
      return s.map((x) => mainRun(scale, x, standIn));
    case 'fig4b':
      return s.flatMap((x) => [mainRun(scale, x, standIn), ...presetJobs('fig4b', scale, x, standIn)]);
    case 'fig5a':
      return [];
    case 'fig5b':
      return s.flatMap((x) => presetJobs('fig5b', scale, x, standIn));
    case 'fig6':
      return s.flatMap((x) => presetJobs('fig6', scale, x, standIn));
    case 'appfig15':
      return s.flatMap((x) => presetJobs('appfig15', scale, x, standIn));
  }
}

const metrics = (dir: string): MetricsRecord[] => {
  try {
    return RunDir.open(dir).readMetrics<MetricsRecord>();
  } catch {
    return [];
  }
};
const series = (
  rows: MetricsRecord[],
  label: string,
  y: (r: MetricsRecord) => number,
  color?: string,
  dashed?: boolean,
) => ({ label, xs: rows.map((r) => r.sequences), ys: rows.map(y), color, dashed });
const lossPanel = (title: string, s: LinePanel['series'], yMax = 2.2): LinePanel => ({
  kind: 'lines',
  title,
  xLabel: '# sequences seen',
  yLabel: 'loss',
  series: s,
  yDomain: [0, yMax],
  hline: { y: LN2, label: 'random label from context (ln 2)' },
});

export interface FigureResult {
  figure: FigureData;
  files: string[];
  runs: SweepResult[];
  numbers: Record<string, unknown>;
}

/** Trains what is missing, computes the measures per seed, combines the seeds, writes the figure. */
export async function reproduce(fig: FigureId, o: ReproduceOptions): Promise<FigureResult> {
  const seeds = o.seeds?.length ? o.seeds : [5];
  const log = o.log ?? (() => {});
  const standIn = o.standIn ?? DEFAULT_STAND_IN;
  const jobs = figureJobs(fig, o.scale, seeds, standIn);
  let runs: SweepResult[] = [];
  if (jobs.length) {
    if (o.train === false) runs = finishedRuns(jobs, o.runsRoot, o.slurmScript);
    else {
      log(
        `${fig}: ${jobs.length} run(s) at the ${o.scale} scale (${standIn} stand-in, seeds ${seeds.join(', ')}) → ${o.runsRoot}`,
      );
      runs = await runSweep(jobs, { ...o, root: o.runsRoot });
      const bad = runs.filter((r) => r.status !== 'completed');
      if (bad.length)
        throw new Error(
          `${bad.length} run(s) did not complete (${bad.map((b) => `${b.key}: ${b.error ?? b.status}`).join('; ')}); run the same command again to resume`,
        );
    }
  }
  const ctx: SeedContext = {
    scale: o.scale,
    standIn,
    multi: seeds.length > 1,
    log,
    seedsText: seeds.length > 1 ? `seeds ${seeds.join(', ')}` : undefined,
    dirOf: (key) => runs.find((r) => r.key === key)!.runDir,
    sub: o.subsample ?? (o.scale === 'fast' ? 2000 : undefined),
  };
  // Fig 5a's seeds are the toy model's own (default DEFAULT_TOY_SEED); every other figure's are init seeds.
  const figSeeds = fig === 'fig5a' && !o.seeds?.length ? [DEFAULT_TOY_SEED] : seeds;
  const perSeed: SeedFigure[] = [];
  for (const seed of figSeeds) perSeed.push(await figureForSeed(fig, seed, ctx));
  const figure =
    perSeed.length === 1
      ? { ...perSeed[0].figure, seeds: figSeeds }
      : combineSeeds(
          perSeed.map((p) => p.figure),
          figSeeds,
        );
  const numbers: Record<string, unknown> =
    perSeed.length === 1
      ? perSeed[0].numbers
      : {
          perSeed: Object.fromEntries(figSeeds.map((x, i) => [x, perSeed[i].numbers])),
          acrossSeeds: summarizeSeeds(perSeed.map((p) => p.numbers)),
        };
  const dir = path.join(o.out, fig);
  fs.mkdirSync(dir, { recursive: true });
  const files = [path.join(dir, 'figure.svg'), path.join(dir, 'data.json'), path.join(dir, 'data.csv')];
  writeFileAtomic(files[0], figureSvg(figure));
  writeJsonAtomic(files[1], {
    figure,
    numbers,
    scale: o.scale,
    standIn,
    seeds: figSeeds,
    runs: runs.map((r) => ({ key: r.key, runDir: r.runDir, reused: r.reused })),
  });
  writeFileAtomic(files[2], figureCsv(figure));
  return { figure, files, runs, numbers };
}

interface SeedContext {
  scale: Scale;
  standIn: StandIn;
  /** Several seeds are drawn together (Fig 3b then ranks heads by strength: head identities differ by seed). */
  multi: boolean;
  /** "seeds 5, 6, 7" in titles when several are drawn together. */
  seedsText?: string;
  dirOf: (key: string) => string;
  sub: number | undefined;
  log: (line: string) => void;
}
interface SeedFigure {
  figure: FigureData;
  numbers: Record<string, unknown>;
}

/** One seed's figure and numbers. */
async function figureForSeed(fig: FigureId, seed: number, c: SeedContext): Promise<SeedFigure> {
  const o = { scale: c.scale },
    standIn = c.standIn,
    dirOf = c.dirOf,
    sub = c.sub,
    log = c.log;
  const st = c.seedsText ?? `seed ${seed}`;
  const numbers: Record<string, unknown> = {};
  let figure: FigureData;

  switch (fig) {
    case 'fig3a': {
      const rows = metrics(dirOf(runKey('main', o.scale, standIn, seed)));
      figure = {
        id: fig,
        title: `Fig 3a — loss of the main run (${st}, ${o.scale} scale, ${standIn} stand-in)`,
        columns: 1,
        notes: [],
        panels: [
          lossPanel(
            'All 8 Layer-2 heads',
            ['fsl_train', 'fsl_test_class', 'fsl_val_rl'].map((n, i) =>
              series(rows, LEG[n], (r) => r.eval[n]?.loss ?? NaN, DARK2[i]),
            ),
          ),
        ],
      };
      const lt = learningTime(
        rows.map((r) => r.sequences),
        rows.map((r) => r.eval.fsl_train.loss),
      );
      const plateau = rows.filter((r) => r.sequences < lt && r.eval.fsl_train.loss > 0.9 * LN2);
      const last = rows[rows.length - 1];
      Object.assign(numbers, {
        learningTime: lt,
        plateauEnd: plateau.length ? plateau[plateau.length - 1].sequences : null,
        finalLoss: Object.fromEntries(Object.entries(last.eval).map(([k, v]) => [k, v.loss])),
      });
      break;
    }
    case 'fig3b': {
      const rows = metrics(dirOf(runKey('main', o.scale, standIn, seed)));
      const final = rows[rows.length - 1].inductionStrength;
      // Across seeds a head's index means nothing (the strongest IH is H3 at seed 5, H5, H7, H1, H2 at 6–9):
      // several seeds are drawn by rank of the final strength instead.
      const order = c.multi ? final.map((_, h) => h).sort((p, q) => final[q] - final[p]) : final.map((_, h) => h);
      const name = (k: number, h: number) =>
        c.multi ? `${['1st', '2nd', '3rd'][k] ?? `${k + 1}th`} strongest` : `H${h}`;
      figure = {
        id: fig,
        title: `Fig 3b — induction strength of each Layer-2 head (${st}, ${o.scale} scale, ${standIn} stand-in)`,
        columns: 1,
        notes: [
          'Induction strength on the 1,000-sequence fsl_train eval set at each evaluation (spec §5.3).',
          ...(c.multi ? ['Heads ranked by final strength within each seed.'] : []),
        ],
        panels: [
          {
            kind: 'lines',
            title: c.multi ? 'Layer 2 heads by rank' : 'Layer 2 Head #',
            xLabel: '# sequences seen',
            yLabel: 'induction strength',
            yDomain: [-0.05, 1],
            series: order.map((h, k) =>
              series(rows, name(k, h), (r) => r.inductionStrength[h], DARK2[c.multi ? k : h]),
            ),
          },
        ],
      };
      numbers.finalIS = final;
      break;
    }
    case 'fig4a':
    case 'appfig11': {
      const { measureCommand } = await import('../measures/command');
      const dir = dirOf(runKey('main', o.scale, standIn, seed));
      const what = fig === 'fig4a' ? ['ablations'] : ['influence-matrix', 'composition'];
      const r = (await measureCommand({ runDir: dir, what, subsample: sub }, (l) => log(l))) as {
        results: {
          ablations: HeadAblations;
          'influence-matrix': InfluenceMeasure;
          composition: CompositionMeasure;
        };
      };
      if (fig === 'fig4a') {
        const a = r.results.ablations;
        figure = {
          id: fig,
          title: `Fig 4a — accuracy vs induction strength, final checkpoint (${st}, ${o.scale} scale, ${standIn} stand-in)`,
          columns: 1,
          notes: [
            `circles: only that Layer-2 head active; triangles: only that head ablated; dashed: no ablation (${a.baseline.acc.toFixed(4)}); ${a.n} dense sequences`,
          ],
          panels: [
            {
              kind: 'scatter',
              title: 'Layer-2 heads',
              xLabel: 'induction strength',
              yLabel: 'accuracy',
              xDomain: [0, 1],
              yDomain: [0.2, 1.05],
              hline: { y: a.baseline.acc, label: 'no ablation' },
              points: a.heads.flatMap((h, i) => [
                { x: a.inductionStrength[i], y: a.keepOne[i].acc, label: h, marker: 'circle' as const, seed },
                { x: a.inductionStrength[i], y: a.removeOne[i].acc, label: h, marker: 'triangle' as const, seed },
              ]),
            },
          ],
        };
        Object.assign(numbers, {
          baselineAcc: a.baseline.acc,
          keepOneAcc: a.keepOne.map((x) => x.acc),
          removeOneAcc: a.removeOne.map((x) => x.acc),
          inductionStrength: a.inductionStrength,
        });
      } else {
        const m = r.results['influence-matrix'].matrix,
          c = r.results.composition;
        const heat = (title: string, values: number[][], domain: [number, number], signed: boolean) => ({
          kind: 'heat' as const,
          title,
          rows: m.rows,
          cols: m.cols,
          values,
          domain,
          signed,
          note: 'rows: Layer-2 head; cols: Layer-1 head;',
        });
        const fitK = [Math.min(...c.scores.k.flat()), Math.max(...c.scores.k.flat())] as [number, number];
        const fitV = [Math.min(...c.scores.v.flat()), Math.max(...c.scores.v.flat())] as [number, number];
        figure = {
          id: fig,
          title: `App Fig 11 — PTH → IH influence (${st}, ${o.scale} scale, ${standIn} stand-in, ${m.n} sequences)`,
          columns: 2,
          notes: [],
          panels: [
            heat('Δacc ablating L1 head (value-preserving)', m.removeValuesPreserved, [-0.16, 0.16], true),
            heat('Δacc ablating L1 head (pattern-preserving)', m.removePatternsPreserved, [-0.16, 0.16], true),
            heat('acc, one head per layer (value-preserving)', m.keepValuesPreserved, [0, 1], false),
            heat('acc, one head per layer (pattern-preserving)', m.keepPatternsPreserved, [0, 1], false),
            heat('K-composition', c.scores.k, [+fitK[0].toFixed(3), +fitK[1].toFixed(3)], false),
            heat('V-composition', c.scores.v, [+fitV[0].toFixed(3), +fitV[1].toFixed(3)], false),
          ],
        };
        Object.assign(numbers, { onlyAcc: m.onlyAcc, table1: r.results['influence-matrix'].table1 });
      }
      break;
    }
    case 'fig4b': {
      const js = presetJobs('fig4b', o.scale, seed, standIn);
      const all = metrics(dirOf(runKey('main', o.scale, standIn, seed)));
      const s = js.map((j, h) => series(metrics(dirOf(j.key)), `H${h}`, (r) => r.eval.fsl_train.loss, DARK2[h]));
      figure = {
        id: fig,
        title: `Fig 4b — training with one Layer-2 head (${st}, ${o.scale} scale, ${standIn} stand-in)`,
        columns: 1,
        notes: [],
        panels: [
          lossPanel(
            'fsl_train loss',
            all.length ? [...s, series(all, 'all heads', (r) => r.eval.fsl_train.loss, '#000', true)] : s,
          ),
        ],
      };
      numbers.learningTime = Object.fromEntries(
        js.map((j, h) => {
          const rows = metrics(dirOf(j.key));
          return [
            `L2H${h}`,
            learningTime(
              rows.map((r) => r.sequences),
              rows.map((r) => r.eval.fsl_train.loss),
            ),
          ];
        }),
      );
      break;
    }
    case 'fig5a': {
      const conds = [
        ['none', '#000'],
        ['c', '#1f77b4'],
        ['b+c', '#9467bd'],
      ] as const;
      const runsToy = conds.map(([k]) => runToyModel({ clamp: k, seed }));
      figure = {
        id: fig,
        title: `Fig 5a — toy model ℒ = ½·mean(a*⊗b*⊗c* − a⊗b⊗c)², n = 20, GD lr 1 (${st})`,
        columns: 1,
        notes: [],
        panels: [
          {
            kind: 'lines',
            title: '"Clamped" variable',
            xLabel: 'GD iteration',
            yLabel: 'loss',
            series: conds.map(([k, color], i) => ({
              label: k,
              xs: runsToy[i].loss.map((_, j) => j),
              ys: runsToy[i].loss,
              color,
            })),
          },
        ],
      };
      numbers.iterationsTo10pct = Object.fromEntries(
        conds.map(([k], i) => [k, runsToy[i].loss.findIndex((v) => v < 0.1 * runsToy[i].loss[0])]),
      );
      break;
    }
    case 'fig5b': {
      const conds = fig5bConditions();
      const js = presetJobs('fig5b', o.scale, seed, standIn);
      const colors = ['#000', '#ff7f0e', '#d62728', '#2ca02c', '#1f77b4', '#9467bd'];
      figure = {
        id: fig,
        title: `Fig 5b — clamped training of the single-IH model (L2H3; ${st}, ${o.scale} scale, ${standIn} stand-in)`,
        columns: 1,
        notes: [],
        panels: [
          lossPanel(
            '"Clamped" steps',
            conds.map((c, i) =>
              series(
                metrics(dirOf(js.find((j) => j.preset === `fig5b.${c.name}`)!.key)),
                c.label,
                (r) => r.eval.fsl_train.loss,
                colors[i],
              ),
            ),
          ),
        ],
      };
      numbers.learningTime = Object.fromEntries(
        conds.map((c) => {
          const rows = metrics(dirOf(js.find((j) => j.preset === `fig5b.${c.name}`)!.key));
          return [
            c.label,
            learningTime(
              rows.map((r) => r.sequences),
              rows.map((r) => r.eval.fsl_train.loss),
            ),
          ];
        }),
      );
      break;
    }
    case 'fig6': {
      const cols = fig6Columns();
      const js = presetJobs('fig6', o.scale, seed, standIn);
      const rowSets = [
        { title: '# classes', rows: FIG6_ROWS.filter((r) => r.name.startsWith('classes')) },
        {
          title: '# labels',
          rows: [{ name: 'classes50', label: '5 labels' }, ...FIG6_ROWS.filter((r) => r.name.startsWith('labels'))],
        },
      ];
      const panels: LinePanel[] = [];
      const lt: Record<string, Record<string, number>> = {};
      for (const rs of rowSets)
        for (const col of cols) {
          panels.push(
            lossPanel(
              `${col.label} — ${rs.title}`,
              rs.rows.map((row, i) => {
                const j = js.find((x) => x.preset === `fig6.${row.name}.${col.name}`)!;
                const rows = metrics(dirOf(j.key));
                (lt[col.label] ??= {})[row.label] = learningTime(
                  rows.map((r) => r.sequences),
                  rows.map((r) => r.eval.fsl_train.loss),
                );
                return series(
                  rows,
                  row.label.replace('classes50', '50 classes'),
                  (r) => r.eval.fsl_train.loss,
                  DARK2[i],
                );
              }),
              1.5,
            ),
          );
        }
      figure = {
        id: fig,
        title: `Fig 6 — data-dependent timing: normal training vs subcircuits (${st}, ${o.scale} scale, ${standIn} stand-in)`,
        columns: 4,
        notes: [],
        panels,
      };
      numbers.learningTime = lt;
      break;
    }
    case 'appfig15': {
      const js = presetJobs('appfig15', o.scale, seed, standIn);
      const panels = (['fsl_train', 'fsl_val_rl', 'fsl_test_class'] as const).map((n) =>
        lossPanel(
          LEG[n].replace(/^./, (c) => c.toUpperCase()),
          IS_SWEEP.map((s, i) => {
            const t = (2 * s - 1 + 1) / 2; // coolwarm-ish from blue (IS −1) to red (IS 1)
            const color = `rgb(${Math.round(59 + 121 * t)},${Math.round(76 + 20 * (1 - Math.abs(2 * t - 1)))},${Math.round(192 - 154 * t)})`;
            return series(
              metrics(dirOf(js[i].key)),
              `IS ${(2 * s - 1).toFixed(1)}`,
              (r) => r.eval[n]?.loss ?? NaN,
              color,
            );
          }),
        ),
      );
      figure = {
        id: fig,
        title: `App Fig 15 — clamped induction strength of L2H3 (all heads active; ${st}, ${o.scale} scale, ${standIn} stand-in)`,
        columns: 3,
        notes: [],
        panels,
      };
      const final = (set: string) =>
        Object.fromEntries(
          IS_SWEEP.map((s, i) => {
            const rows = metrics(dirOf(js[i].key));
            return [`IS ${(2 * s - 1).toFixed(1)}`, rows[rows.length - 1]?.eval[set]?.loss];
          }),
        );
      Object.assign(numbers, {
        finalTrainLoss: final('fsl_train'),
        finalRelabelLoss: final('fsl_val_rl'),
        finalTestClassLoss: final('fsl_test_class'),
      });
      break;
    }
  }
  return { figure: figure!, numbers };
}
