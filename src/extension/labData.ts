/**
 * Reading what the views show from run folders (no vscode import): run summaries, metrics, attention
 * patterns from checkpoint summaries, cached influence matrices and subcircuit curves. Everything is
 * read from files the engine wrote; nothing here computes with the model.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunDir, compareNewestFirst, listRuns, orderKey } from '../engine/io';
import { readSummary } from './checkpointHover';
import type { MetricsRecord } from '../shared/protocol';
import type {
  AttentionPatterns,
  InfluenceHeatmap,
  PatternMode,
  RunSummary,
  SubcircuitPlotCurve,
  InfluenceKind,
  PanelIdentity,
  ViewName,
} from '../shared/webviewProtocol';
import { INFLUENCE_INFO, panelIdentity } from '../shared/webviewProtocol';
import { engineLabel } from '../shared/engineLabel';

export interface RunInfo {
  summary: RunSummary;
  dir: string;
}

interface RunJsonLike {
  id?: string;
  name?: string;
  displayName?: string;
  status?: string;
  preset?: string;
  engine?: unknown;
  engineDetail?: unknown;
  backend?: unknown;
  config?: { clamps?: RunSummary['clamps']; train?: { sequences?: number } };
}

export function runSummary(dir: string): RunSummary {
  const rd = RunDir.open(dir);
  const rj = rd.readRunJson<RunJsonLike>();
  return {
    id: rd.id,
    name: rj.displayName || rj.name || rd.id,
    status: rj.status ?? 'unknown',
    preset: rj.preset,
    engine: engineLabel(rj),
    backend: typeof rj.backend === 'string' ? rj.backend : undefined,
    clamps: rj.config?.clamps ?? [],
    totalSequences: rj.config?.train?.sequences ?? 0,
    checkpoints: rd.listCheckpoints().map((c) => c.sequences),
  };
}

/** Every run under the runs roots, newest first (the runs tree's order); unreadable folders are skipped. */
/** The runs under `roots`, newest first; `groups`: with the runs of subcircuits/ and reproduce/ (Compare lists them). */
export function findRuns(roots: string[], o: { groups?: boolean } = {}): RunInfo[] {
  const out: RunInfo[] = [];
  const listed = roots
    .flatMap((root) => [...listRuns(root, o)])
    .sort((a, b) => compareNewestFirst(orderKey(a), orderKey(b)));
  for (const r of listed) {
    try {
      out.push({ summary: runSummary(r.path), dir: r.path });
    } catch {
      /* listed as a problem by listRuns */
    }
  }
  return out;
}

export function readMetrics(dir: string): MetricsRecord[] {
  try {
    return RunDir.open(dir).readMetrics<MetricsRecord>();
  } catch {
    return [];
  }
}

/** The checkpoint nearest to `sequences` (null = the latest). */
export function nearestCheckpoint(
  dir: string,
  sequences: number | null,
): { sequences: number; path: string } | undefined {
  const cks = RunDir.open(dir).listCheckpoints();
  if (!cks.length) return undefined;
  if (sequences === null) return cks[cks.length - 1];
  return cks.reduce((best, c) => (Math.abs(c.sequences - sequences) < Math.abs(best.sequences - sequences) ? c : best));
}

/**
 * Patterns from the checkpoint's summary file (fsl_train sequence #0, or its plain mean), nearest to
 * `sequences`; a string says why there are none. Other sequences and the aligned mean come from the
 * `patterns` CLI command (patternsChild.ts).
 */
export function attentionPatterns(
  runId: string,
  dir: string,
  sequences: number | null,
  mode: PatternMode,
): AttentionPatterns | string {
  const ck = nearestCheckpoint(dir, sequences);
  if (!ck) return 'this run has no checkpoint yet';
  if (mode === 'aligned') return 'the aligned mean is computed by the patterns command';
  const s = readSummary(ck.path);
  if (!s) return `no attention summary next to ${path.basename(ck.path)} (written by runs of this version)`;
  const [y1, y2, yq] = s.canonicalLabels;
  const at = `checkpoint ${ck.sequences.toLocaleString('en-US')}`;
  const requested = sequences !== null && sequences !== ck.sequences ? { requested: sequences } : {};
  return {
    runId,
    sequences: ck.sequences,
    mode,
    tokens: s.tokens,
    layers: mode === 'single' ? s.patterns : s.meanPatterns,
    evalSet: 'fsl_train',
    sequenceIndex: mode === 'single' ? 0 : undefined,
    ...requested,
    note:
      mode === 'single'
        ? `fsl_train sequence #0 at ${at}: ℓ1 = ${y1}, ℓ2 = ${y2}, answer ${yq} ` +
          `(${yq === y1 ? 'first' : 'second'} pair matches)`
        : `plain mean over the fsl_train eval set at ${at}`,
  };
}

interface CachedInfluence {
  sequences: number;
  result: {
    matrix: {
      rows: string[];
      cols: string[];
      removeValuesPreserved: number[][];
      removePatternsPreserved: number[][];
      keepValuesPreserved: number[][];
      keepPatternsPreserved: number[][];
    };
  };
}
interface CachedComposition {
  sequences: number;
  result: { rows: string[]; cols: string[]; scores: { q: number[][]; k: number[][]; v: number[][] } };
}

/** Influence matrices cached by `induction-lab measure` (measures/influence-matrix-*.json, composition-*.json). */
export function influenceMatrices(runId: string, dir: string): InfluenceHeatmap[] {
  const mdir = path.join(dir, 'measures');
  let files: string[] = [];
  try {
    files = fs.readdirSync(mdir);
  } catch {
    return [];
  }
  const out: InfluenceHeatmap[] = [];
  const mk = (
    kind: InfluenceKind,
    sequences: number,
    rows: string[],
    cols: string[],
    values: number[][],
  ): InfluenceHeatmap => ({
    runId,
    sequences,
    kind,
    rows,
    cols,
    values,
    signed: INFLUENCE_INFO[kind].signed,
    formula: INFLUENCE_INFO[kind].formula,
    title: INFLUENCE_INFO[kind].title,
  });
  for (const f of files.sort()) {
    try {
      if (f.startsWith('influence-matrix-seq-')) {
        const c = JSON.parse(fs.readFileSync(path.join(mdir, f), 'utf8')) as CachedInfluence;
        const r = c.result.matrix;
        out.push(
          mk('valuePreserving', c.sequences, r.rows, r.cols, r.removeValuesPreserved),
          mk('patternPreserving', c.sequences, r.rows, r.cols, r.removePatternsPreserved),
          mk('keepOneValue', c.sequences, r.rows, r.cols, r.keepValuesPreserved),
          mk('keepOnePattern', c.sequences, r.rows, r.cols, r.keepPatternsPreserved),
        );
      } else if (f.startsWith('composition-seq-')) {
        const c = JSON.parse(fs.readFileSync(path.join(mdir, f), 'utf8')) as CachedComposition;
        const r = c.result;
        out.push(
          mk('compositionK', c.sequences, r.rows, r.cols, r.scores.k),
          mk('compositionV', c.sequences, r.rows, r.cols, r.scores.v),
          mk('compositionQ', c.sequences, r.rows, r.cols, r.scores.q),
        );
      }
    } catch {
      /* a half-written or foreign file: skip */
    }
  }
  return out;
}

/** Learning time of a curve (spec §5.10): the first x with loss < 0.4·ln 2, null when it never gets there. */
export function curveLearningTime(
  xs: readonly number[],
  ys: readonly number[],
  threshold = 0.4 * Math.LN2,
): number | null {
  for (let k = 0; k < xs.length; k++) if (ys[k] < threshold) return xs[k];
  return null;
}

export interface ConditionLabel {
  label: string;
  stepsClamped: string;
  stepsLearned: string;
}

/**
 * Subcircuit curves (fsl_train loss) of every clamped-condition run under a runs root: the runs of
 * "Run Subcircuit Progress" (`<root>/subcircuits/subcircuits-<scale>-seed<s>-<condition>`) and the Fig 5b /
 * Fig 6 runs of "Reproduce Paper Figure" (`<root>/reproduce/fig5b.<condition>-<scale>-seed<s>`,
 * `<root>/reproduce/fig6.<row>.<condition>-<scale>-seed<s>`). Each curve names its source; Fig 6 curves
 * carry their row (data condition) and panel (the column title).
 */
export function subcircuitCurves(
  root: string,
  labels: Record<string, ConditionLabel>,
  fig6?: { rows: Record<string, string>; columns: Record<string, string> },
): SubcircuitPlotCurve[] {
  const curves: SubcircuitPlotCurve[] = [];
  const list = (dir: string) => {
    try {
      return fs.readdirSync(dir).sort();
    } catch {
      return [];
    }
  };
  const add = (dir: string, cond: string, source: string, extra: Partial<SubcircuitPlotCurve> = {}) => {
    const rows = readMetrics(dir);
    if (!rows.length || !labels[cond]) return;
    const xs = rows.map((r) => r.sequences),
      ys = rows.map((r) => r.eval.fsl_train?.loss ?? NaN);
    curves.push({
      ...labels[cond],
      xs,
      ys,
      source,
      learningTime: curveLearningTime(xs, ys),
      runId: path.basename(dir),
      ...extra,
    });
  };
  // Longest first: perfect_l1_and_copy before perfect_l1.
  const conds = Object.keys(labels).sort((a, b) => b.length - a.length);
  for (const d of list(path.join(root, 'subcircuits'))) {
    const m = /^subcircuits-(\w+)-seed(\d+)-(.+)$/.exec(d);
    const cond = m && conds.find((k) => k === m[3]);
    if (m && cond) add(path.join(root, 'subcircuits', d), cond, `Run Subcircuit Progress · ${m[1]} · seed ${m[2]}`);
  }
  for (const d of list(path.join(root, 'reproduce'))) {
    const f5 = /^fig5b\.(.+)-(fast|paper)-seed(\d+)$/.exec(d);
    if (f5 && labels[f5[1]]) {
      add(path.join(root, 'reproduce', d), f5[1], `Reproduce fig5b · ${f5[2]} · seed ${f5[3]}`);
      continue;
    }
    const f6 = /^fig6\.([^.]+)\.(.+)-(fast|paper)-seed(\d+)$/.exec(d);
    if (f6 && fig6 && labels[f6[2]]) {
      const panel = fig6.columns[f6[2]] ?? labels[f6[2]].label;
      add(path.join(root, 'reproduce', d), f6[2], `Reproduce fig6 · ${f6[3]} · seed ${f6[4]}`, {
        row: fig6.rows[f6[1]] ?? f6[1],
        panel,
        label: fig6.rows[f6[1]] ?? f6[1],
      });
    }
  }
  return curves;
}

/** A restored panel: the run(s) to show and, when its saved run is missing, a notice saying what it shows instead. */
export interface RestoredPanel extends PanelIdentity {
  notice?: string;
}

/**
 * What a panel restored after a reload shows: the run (attention, influence) or runs (compare) it saved
 * with setState. A single-run panel whose state names no run, or a run that is gone, falls back to the
 * active run and says so (never silently another run).
 */
export function restorePanel(
  view: ViewName,
  saved: unknown,
  runs: readonly RunSummary[],
  activeRunId: string | undefined,
): RestoredPanel {
  const id = panelIdentity(saved);
  if (view === 'compare') return { runIds: (id.runIds ?? []).filter((r) => runs.some((x) => x.id === r)) };
  if (view !== 'attention' && view !== 'influence' && view !== 'llc' && view !== 'paths') return {};
  if (id.runId && runs.some((r) => r.id === id.runId)) return { runId: id.runId };
  const active = runs.find((r) => r.id === activeRunId);
  const why = id.runId ? `its run (${id.runId} is gone)` : 'a saved run';
  const shown = active ? `the active run, ${active.name}` : 'no run';
  return { runId: active?.id, notice: `This panel was restored without ${why}: showing ${shown}.` };
}

/**
 * The selected step of every run (absent = follow the latest, so a new run starts at "latest"), and the
 * multi-run views' own cursor. A restored view's saved step is adopted for its run unless a step was
 * chosen for it in this session.
 */
export class SelectedSteps {
  private readonly steps = new Map<string, number | null>();
  private cursorStep: number | null = null;

  select(runId: string | undefined, sequences: number | null): void {
    if (runId) this.steps.set(runId, sequences);
    else this.cursorStep = sequences;
  }
  adopt(runId: string, sequences: number | null): void {
    if (!this.steps.has(runId)) this.steps.set(runId, sequences);
  }
  of(runId: string): number | null {
    return this.steps.get(runId) ?? null;
  }
  get cursor(): number | null {
    return this.cursorStep;
  }
  /** The `step` messages a view needs when it (re)connects: its runs' steps, or the cursor for multi-run views. */
  messagesFor(
    view: ViewName,
    shows: (runId: string) => boolean,
  ): Array<{ type: 'step'; sequences: number | null; runId?: string }> {
    if (view === 'compare' || view === 'subcircuits') return [{ type: 'step', sequences: this.cursorStep }];
    return [...this.steps]
      .filter(([id]) => shows(id))
      .map(([runId, sequences]) => ({ type: 'step' as const, runId, sequences }));
  }
}
