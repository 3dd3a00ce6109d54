/**
 * `induction-lab reproduce FIGURE`: the runs a figure of the paper needs (scheduled with the sweep: one
 * process per core, finished runs reused, stopped ones resumed), the measures it reads, and the figure
 * itself as data (JSON, CSV) and SVG, laid out like the paper's (spec §8).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolvePreset, experimentPresets } from '../presets';
import { RunConfig } from '../train/runConfig';
import { runSweep, sweepStatus, SweepJob, SweepOptions, SweepResult } from '../sweep';
import { RunDir, writeFileAtomic, writeJsonAtomic } from '../io';
import { Scale, fig5bConditions, fig6Columns, FIG6_ROWS, IS_SWEEP } from './conditions';
import { FigureData, LinePanel, figureCsv, figureSvg, DARK2 } from './figureSvg';
import { runToyModel, DEFAULT_TOY_SEED } from '../measures/toyModel';
import { learningTime } from '../measures/learningTime';
import type { MetricsRecord } from '../../shared/protocol';

export const FIGURES = ['fig3a', 'fig3b', 'fig4a', 'fig4b', 'fig5a', 'fig5b', 'fig6', 'appfig11', 'appfig15'] as const;
export type FigureId = (typeof FIGURES)[number];
const LN2 = Math.log(2);
const LEG: Record<string, string> = { fsl_train: 'train', fsl_val_rl: 'test (relabel)', fsl_test_class: 'test (exemplars)', fsl_train_valex: 'train (new exemplars)' };

export interface ReproduceOptions extends Omit<SweepOptions, 'root'> {
  scale: Scale;
  /** Folder that holds the runs (shared by all figures, so e.g. fig3a and fig3b train the main run once). */
  runsRoot: string;
  /** Folder the figure files go to. */
  out: string;
  seeds?: number[];
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
  const how = slurmScript ? `sbatch --array=${missing.map((m) => m.index).join(',')} ${slurmScript}` : 'run reproduce without --no-train';
  throw new Error(`${missing.length} of ${jobs.length} run(s) are not complete: ${missing.map((m) => `#${m.index} ${m.key} (${m.why})`).join(', ')}; train them first: ${how}`);
}

/** The main run of Fig 3 at a scale: every 8 Layer-2 heads, ≈ 20 (fast) or 100 (paper) checkpoints. */
function mainRun(scale: Scale, seed: number): SweepJob {
  const config = resolvePreset(scale === 'paper' ? 'paper' : 'fast');
  config.train.initSeed = seed;
  config.name = `main-${scale}`;
  return { key: `main-${scale}-seed${seed}`, config };
}

function presetJobs(prefix: string, scale: Scale, seed: number): Array<SweepJob & { preset: string }> {
  return experimentPresets(scale).filter((p) => p.name.startsWith(prefix + '.')).map((p) => {
    const config: RunConfig = resolvePreset(p.name, scale);
    config.train.initSeed = seed;
    return { key: `${p.name}-${scale}-seed${seed}`, config, preset: p.name };
  });
}

/** The training runs a figure needs. */
export function figureJobs(fig: FigureId, scale: Scale, seeds: number[]): SweepJob[] {
  const s = seeds;
  switch (fig) {
    case 'fig3a': case 'fig3b': case 'fig4a': case 'appfig11': return s.map((x) => mainRun(scale, x));
    case 'fig4b': return s.flatMap((x) => [mainRun(scale, x), ...presetJobs('fig4b', scale, x)]);
    case 'fig5a': return [];
    case 'fig5b': return s.flatMap((x) => presetJobs('fig5b', scale, x));
    case 'fig6': return s.flatMap((x) => presetJobs('fig6', scale, x));
    case 'appfig15': return s.flatMap((x) => presetJobs('appfig15', scale, x));
  }
}

const metrics = (dir: string): MetricsRecord[] => { try { return RunDir.open(dir).readMetrics<MetricsRecord>(); } catch { return []; } };
const series = (rows: MetricsRecord[], label: string, y: (r: MetricsRecord) => number, color?: string, dashed?: boolean) =>
  ({ label, xs: rows.map((r) => r.sequences), ys: rows.map(y), color, dashed });
const lossPanel = (title: string, s: LinePanel['series'], yMax = 2.2): LinePanel =>
  ({ kind: 'lines', title, xLabel: '# sequences seen', yLabel: 'loss', series: s, yDomain: [0, yMax], hline: { y: LN2, label: 'random label from context (ln 2)' } });

export interface FigureResult { figure: FigureData; files: string[]; runs: SweepResult[]; numbers: Record<string, unknown> }

/** Trains what is missing, computes the measures, writes the figure. */
export async function reproduce(fig: FigureId, o: ReproduceOptions): Promise<FigureResult> {
  const seeds = o.seeds?.length ? o.seeds : [5];
  const log = o.log ?? (() => {});
  const jobs = figureJobs(fig, o.scale, seeds);
  let runs: SweepResult[] = [];
  if (jobs.length) {
    if (o.train === false) runs = finishedRuns(jobs, o.runsRoot, o.slurmScript);
    else {
      log(`${fig}: ${jobs.length} run(s) at the ${o.scale} scale → ${o.runsRoot}`);
      runs = await runSweep(jobs, { ...o, root: o.runsRoot });
      const bad = runs.filter((r) => r.status !== 'completed');
      if (bad.length) throw new Error(`${bad.length} run(s) did not complete (${bad.map((b) => `${b.key}: ${b.error ?? b.status}`).join('; ')}); run the same command again to resume`);
    }
  }
  const dirOf = (key: string) => runs.find((r) => r.key === key)!.runDir;
  const seed = seeds[0];
  const sub = o.subsample ?? (o.scale === 'fast' ? 2000 : undefined);
  const numbers: Record<string, unknown> = {};
  let figure: FigureData;

  switch (fig) {
    case 'fig3a': {
      const rows = metrics(dirOf(`main-${o.scale}-seed${seed}`));
      figure = { id: fig, title: `Fig 3a — loss of the main run (seed ${seed}, ${o.scale} scale)`, columns: 1, notes: [], panels: [lossPanel('All 8 Layer-2 heads',
        ['fsl_train', 'fsl_test_class', 'fsl_val_rl'].map((n, i) => series(rows, LEG[n], (r) => r.eval[n]?.loss ?? NaN, DARK2[i])))] };
      const lt = learningTime(rows.map((r) => r.sequences), rows.map((r) => r.eval.fsl_train.loss));
      const plateau = rows.filter((r) => r.sequences < lt && r.eval.fsl_train.loss > 0.9 * LN2);
      const last = rows[rows.length - 1];
      Object.assign(numbers, { learningTime: lt, plateauEnd: plateau.length ? plateau[plateau.length - 1].sequences : null, finalLoss: Object.fromEntries(Object.entries(last.eval).map(([k, v]) => [k, v.loss])) });
      break;
    }
    case 'fig3b': {
      const rows = metrics(dirOf(`main-${o.scale}-seed${seed}`));
      figure = { id: fig, title: `Fig 3b — induction strength of each Layer-2 head (seed ${seed}, ${o.scale} scale)`, columns: 1, notes: ['Induction strength on the 1,000-sequence fsl_train eval set at each evaluation (spec §5.3).'], panels: [{
        kind: 'lines', title: 'Layer 2 Head #', xLabel: '# sequences seen', yLabel: 'induction strength', yDomain: [-0.05, 1],
        series: Array.from({ length: 8 }, (_, h) => series(rows, `H${h}`, (r) => r.inductionStrength[h], DARK2[h])),
      }] };
      numbers.finalIS = rows[rows.length - 1].inductionStrength;
      break;
    }
    case 'fig4a': case 'appfig11': {
      const { measureCommand } = await import('../measures/command');
      const dir = dirOf(`main-${o.scale}-seed${seed}`);
      const what = fig === 'fig4a' ? ['ablations'] : ['influence-matrix', 'composition'];
      const r = await measureCommand({ runDir: dir, what, subsample: sub }, (l) => log(l)) as { results: Record<string, any> };
      if (fig === 'fig4a') {
        const a = r.results.ablations;
        figure = { id: fig, title: `Fig 4a — accuracy vs induction strength, final checkpoint (seed ${seed}, ${o.scale} scale)`, columns: 1,
          notes: [`circles: only that Layer-2 head active; triangles: only that head ablated; dashed: no ablation (${a.baseline.acc.toFixed(4)}); ${a.n} dense sequences`], panels: [{
            kind: 'scatter', title: 'Layer-2 heads', xLabel: 'induction strength', yLabel: 'accuracy', xDomain: [0, 1], yDomain: [0.2, 1.05], hline: { y: a.baseline.acc, label: 'no ablation' },
            points: a.heads.flatMap((h: string, i: number) => [
              { x: a.inductionStrength[i], y: a.keepOne[i].acc, label: h, marker: 'circle' as const },
              { x: a.inductionStrength[i], y: a.removeOne[i].acc, label: h, marker: 'triangle' as const }]),
          }] };
        Object.assign(numbers, { baselineAcc: a.baseline.acc, keepOneAcc: a.keepOne.map((x: { acc: number }) => x.acc), removeOneAcc: a.removeOne.map((x: { acc: number }) => x.acc), inductionStrength: a.inductionStrength });
      } else {
        const m = r.results['influence-matrix'].matrix, c = r.results.composition;
        const heat = (title: string, values: number[][], domain: [number, number], signed: boolean) => ({ kind: 'heat' as const, title, rows: m.rows, cols: m.cols, values, domain, signed, note: 'rows: Layer-2 head; cols: Layer-1 head;' });
        const fitK = [Math.min(...c.scores.k.flat()), Math.max(...c.scores.k.flat())] as [number, number];
        const fitV = [Math.min(...c.scores.v.flat()), Math.max(...c.scores.v.flat())] as [number, number];
        figure = { id: fig, title: `App Fig 11 — PTH → IH influence (seed ${seed}, ${o.scale} scale, ${m.n} sequences)`, columns: 2, notes: [], panels: [
          heat('Δacc ablating L1 head (value-preserving)', m.removeValuesPreserved, [-0.16, 0.16], true),
          heat('Δacc ablating L1 head (pattern-preserving)', m.removePatternsPreserved, [-0.16, 0.16], true),
          heat('acc, one head per layer (value-preserving)', m.keepValuesPreserved, [0, 1], false),
          heat('acc, one head per layer (pattern-preserving)', m.keepPatternsPreserved, [0, 1], false),
          heat('K-composition', c.scores.k, [+fitK[0].toFixed(3), +fitK[1].toFixed(3)], false),
          heat('V-composition', c.scores.v, [+fitV[0].toFixed(3), +fitV[1].toFixed(3)], false),
        ] };
        Object.assign(numbers, { onlyAcc: m.onlyAcc, table1: r.results['influence-matrix'].table1 });
      }
      break;
    }
    case 'fig4b': {
      const js = presetJobs('fig4b', o.scale, seed);
      const all = metrics(dirOf(`main-${o.scale}-seed${seed}`));
      const s = js.map((j, h) => series(metrics(dirOf(j.key)), `H${h}`, (r) => r.eval.fsl_train.loss, DARK2[h]));
      figure = { id: fig, title: `Fig 4b — training with one Layer-2 head (seed ${seed}, ${o.scale} scale)`, columns: 1, notes: [], panels: [lossPanel('fsl_train loss', all.length ? [...s, series(all, 'all heads', (r) => r.eval.fsl_train.loss, '#000', true)] : s)] };
      numbers.learningTime = Object.fromEntries(js.map((j, h) => { const rows = metrics(dirOf(j.key)); return [`L2H${h}`, learningTime(rows.map((r) => r.sequences), rows.map((r) => r.eval.fsl_train.loss))]; }));
      break;
    }
    case 'fig5a': {
      const conds = [['none', '#000'], ['c', '#1f77b4'], ['b+c', '#9467bd']] as const;
      const runsToy = conds.map(([c]) => runToyModel({ clamp: c }));
      figure = { id: fig, title: `Fig 5a — toy model ℒ = ½·mean(a*⊗b*⊗c* − a⊗b⊗c)², n = 20, GD lr 1 (seed ${DEFAULT_TOY_SEED})`, columns: 1, notes: [], panels: [{
        kind: 'lines', title: '"Clamped" variable', xLabel: 'GD iteration', yLabel: 'loss',
        series: conds.map(([c, color], i) => ({ label: c, xs: runsToy[i].loss.map((_, k) => k), ys: runsToy[i].loss, color })),
      }] };
      numbers.iterationsTo10pct = Object.fromEntries(conds.map(([c], i) => [c, runsToy[i].loss.findIndex((v) => v < 0.1 * runsToy[i].loss[0])]));
      break;
    }
    case 'fig5b': {
      const conds = fig5bConditions();
      const js = presetJobs('fig5b', o.scale, seed);
      const colors = ['#000', '#ff7f0e', '#d62728', '#2ca02c', '#1f77b4', '#9467bd'];
      figure = { id: fig, title: `Fig 5b — clamped training of the single-IH model (L2H3; seed ${seed}, ${o.scale} scale)`, columns: 1, notes: [], panels: [lossPanel('"Clamped" steps',
        conds.map((c, i) => series(metrics(dirOf(js.find((j) => j.preset === `fig5b.${c.name}`)!.key)), c.label, (r) => r.eval.fsl_train.loss, colors[i])))] };
      numbers.learningTime = Object.fromEntries(conds.map((c) => { const rows = metrics(dirOf(js.find((j) => j.preset === `fig5b.${c.name}`)!.key)); return [c.label, learningTime(rows.map((r) => r.sequences), rows.map((r) => r.eval.fsl_train.loss))]; }));
      break;
    }
    case 'fig6': {
      const cols = fig6Columns();
      const js = presetJobs('fig6', o.scale, seed);
      const rowSets = [{ title: '# classes', rows: FIG6_ROWS.filter((r) => r.name.startsWith('classes')) }, { title: '# labels', rows: [{ name: 'classes50', label: '5 labels' }, ...FIG6_ROWS.filter((r) => r.name.startsWith('labels'))] }];
      const panels: LinePanel[] = [];
      const lt: Record<string, Record<string, number>> = {};
      for (const rs of rowSets) for (const col of cols) {
        panels.push(lossPanel(`${col.label} — ${rs.title}`, rs.rows.map((row, i) => {
          const j = js.find((x) => x.preset === `fig6.${row.name}.${col.name}`)!;
          const rows = metrics(dirOf(j.key));
          (lt[col.label] ??= {})[row.label] = learningTime(rows.map((r) => r.sequences), rows.map((r) => r.eval.fsl_train.loss));
          return series(rows, row.label.replace('classes50', '50 classes'), (r) => r.eval.fsl_train.loss, DARK2[i]);
        }), 1.5));
      }
      figure = { id: fig, title: `Fig 6 — data-dependent timing: normal training vs subcircuits (seed ${seed}, ${o.scale} scale)`, columns: 4, notes: [], panels };
      numbers.learningTime = lt;
      break;
    }
    case 'appfig15': {
      const js = presetJobs('appfig15', o.scale, seed);
      const panels = (['fsl_train', 'fsl_val_rl', 'fsl_test_class'] as const).map((n) => lossPanel(LEG[n].replace(/^./, (c) => c.toUpperCase()), IS_SWEEP.map((s, i) => {
        const t = (2 * s - 1 + 1) / 2; // coolwarm-ish from blue (IS −1) to red (IS 1)
        const color = `rgb(${Math.round(59 + 121 * t)},${Math.round(76 + 20 * (1 - Math.abs(2 * t - 1)))},${Math.round(192 - 154 * t)})`;
        return series(metrics(dirOf(js[i].key)), `IS ${(2 * s - 1).toFixed(1)}`, (r) => r.eval[n]?.loss ?? NaN, color);
      })));
      figure = { id: fig, title: `App Fig 15 — clamped induction strength of L2H3 (all heads active; seed ${seed}, ${o.scale} scale)`, columns: 3, notes: [], panels };
      numbers.finalTrainLoss = Object.fromEntries(IS_SWEEP.map((s, i) => { const rows = metrics(dirOf(js[i].key)); return [`IS ${(2 * s - 1).toFixed(1)}`, rows[rows.length - 1]?.eval.fsl_train.loss]; }));
      break;
    }
  }
  const dir = path.join(o.out, fig);
  fs.mkdirSync(dir, { recursive: true });
  const files = [path.join(dir, 'figure.svg'), path.join(dir, 'data.json'), path.join(dir, 'data.csv')];
  writeFileAtomic(files[0], figureSvg(figure!));
  writeJsonAtomic(files[1], { figure: figure!, numbers, scale: o.scale, seeds, runs: runs.map((r) => ({ key: r.key, runDir: r.runDir, reused: r.reused })) });
  writeFileAtomic(files[2], figureCsv(figure!));
  return { figure: figure!, files, runs, numbers };
}
