/**
 * Data shaping of the "LLC and stages" view (pure, unit-tested): from a run's llc.json and dynamics.json
 * (src/shared/llc.ts) to the curves (the model's LLC with its chain band, every head's LLC, the loss and the
 * induction strength beside them), the diagnostics of one checkpoint with the warnings next to each number,
 * and the essential-dynamics trajectory in a chosen pair of principal components, coloured by log time.
 */
import type { DynamicsFile, LlcPoint, LlcRunFile, LlcSummary, LlcWarningRecord } from '../../shared/llc';
import type { LinePoint } from './chart';
import { nearestIndex, uniqueSorted } from './steps';

/** The model's LLC per checkpoint: mean, and mean ± std over chains (the band); estimates without a mean left out. */
export function modelCurve(llc: LlcRunFile): {
  mean: LinePoint[];
  lo: LinePoint[];
  hi: LinePoint[];
  flagged: LinePoint[];
} {
  const out = { mean: [] as LinePoint[], lo: [] as LinePoint[], hi: [] as LinePoint[], flagged: [] as LinePoint[] };
  for (const p of llc.points) {
    const m = p.model;
    if (!m || m.mean === null || !Number.isFinite(m.mean)) continue;
    const sd = m.std ?? 0;
    out.mean.push({ x: p.sequences, y: m.mean });
    out.lo.push({ x: p.sequences, y: m.mean - sd });
    out.hi.push({ x: p.sequences, y: m.mean + sd });
    if (m.warnings.length) out.flagged.push({ x: p.sequences, y: m.mean });
  }
  return out;
}

/** The heads estimated anywhere in the file, in the model's order (L1H0 … L2H7). */
export function headNames(llc: LlcRunFile): string[] {
  const seen = new Set<string>();
  for (const p of llc.points) for (const h of Object.keys(p.heads ?? {})) seen.add(h);
  const key = (h: string) => {
    const m = /^L(\d+)H(\d+)$/.exec(h);
    return m ? Number(m[1]) * 1000 + Number(m[2]) : Infinity;
  };
  return [...seen].sort((a, b) => key(a) - key(b) || a.localeCompare(b));
}

/**
 * One curve per head (checkpoints where it was estimated), the points whose estimate carries a warning, and
 * `ablated` when a clamp zero-ablates the head at any of them.
 */
export function headCurves(
  llc: LlcRunFile,
): Array<{ head: string; points: LinePoint[]; flagged: LinePoint[]; ablated: boolean }> {
  return headNames(llc).map((head) => {
    const points: LinePoint[] = [],
      flagged: LinePoint[] = [];
    for (const p of llc.points) {
      const e = p.heads?.[head];
      if (!e || e.mean === null || !Number.isFinite(e.mean)) continue;
      points.push({ x: p.sequences, y: e.mean });
      if (e.warnings.length) flagged.push({ x: p.sequences, y: e.mean });
    }
    return {
      head,
      points,
      flagged,
      ablated: llc.points.some((p) => p.heads?.[head] && (p.ablatedHeads ?? []).includes(head)),
    };
  });
}

/** The fsl_train eval loss and the largest Layer-2 induction strength at the estimated checkpoints. */
export function lossAndStrength(llc: LlcRunFile): { loss: LinePoint[]; strength: LinePoint[] } {
  const loss: LinePoint[] = [],
    strength: LinePoint[] = [];
  for (const p of llc.points) {
    if (p.trainLoss !== null && Number.isFinite(p.trainLoss)) loss.push({ x: p.sequences, y: p.trainLoss });
    const is = (p.inductionStrength ?? []).filter(Number.isFinite);
    if (is.length) strength.push({ x: p.sequences, y: Math.max(...is) });
  }
  return { loss, strength };
}

/** The checkpoints of the view's step slider: those with an LLC estimate or an essential-dynamics point. */
export function viewSteps(llc: LlcRunFile | null, dynamics: DynamicsFile | null): number[] {
  return uniqueSorted([
    ...(llc?.points ?? []).map((p) => p.sequences),
    ...(dynamics?.points ?? []).map((p) => p.sequences),
  ]);
}

/** The estimated checkpoint nearest `sequences` (null = the latest). */
export function pointAt(llc: LlcRunFile | null, sequences: number | null): LlcPoint | undefined {
  const pts = llc?.points ?? [];
  if (!pts.length) return undefined;
  if (sequences === null) return pts[pts.length - 1];
  return pts[
    nearestIndex(
      pts.map((p) => p.sequences),
      sequences,
    )
  ];
}

/** One row of the diagnostics table: an estimate with its numbers and the warnings that qualify them. */
export interface DiagnosticsRow {
  name: string;
  mean: number | null;
  std: number | null;
  /** With L(w*)'s error (src/shared/llc.ts LlcSummary.stderr). */
  stderr: number | null;
  initLoss: number;
  acceptance: number | null;
  /** Convergence gap: (second-half − all-draw estimate) / |second-half|. */
  gap: number | null;
  diverged: string;
  warnings: LlcWarningRecord[];
  ablated: boolean;
}

const row = (name: string, s: LlcSummary, ablated: boolean): DiagnosticsRow => ({
  name,
  mean: s.mean,
  std: s.std,
  stderr: s.stderr,
  initLoss: s.initLoss,
  acceptance: s.meanAcceptance,
  gap: s.relativeGap,
  diverged: `${s.divergedChains} / ${s.chains}`,
  warnings: s.warnings ?? [],
  ablated,
});

/** The model's row, then one per head estimated at this checkpoint (model order). */
export function diagnosticsRows(p: LlcPoint): DiagnosticsRow[] {
  const rows: DiagnosticsRow[] = p.model ? [row('model', p.model, false)] : [];
  const heads = Object.keys(p.heads ?? {});
  const order = headNames({ points: [p] } as LlcRunFile);
  for (const h of order) if (heads.includes(h)) rows.push(row(h, p.heads[h], (p.ablatedHeads ?? []).includes(h)));
  return rows;
}

/** Every warning of a file's estimates, counted by code (for the header: "3 estimates not flattened"). */
export function warningCounts(llc: LlcRunFile): Map<string, number> {
  const n = new Map<string, number>();
  for (const p of llc.points) {
    for (const s of [p.model, ...Object.values(p.heads ?? {})]) {
      for (const w of s?.warnings ?? []) n.set(w.code, (n.get(w.code) ?? 0) + 1);
    }
  }
  return n;
}

/** The running estimate of one checkpoint's model chains per draw, with its ±std band (draws 1-based). */
export function runningCurve(p: LlcPoint | undefined): { mean: LinePoint[]; lo: LinePoint[]; hi: LinePoint[] } {
  const r = p?.model?.running;
  const out = { mean: [] as LinePoint[], lo: [] as LinePoint[], hi: [] as LinePoint[] };
  if (!r) return out;
  r.mean.forEach((m, i) => {
    if (!Number.isFinite(m)) return;
    const sd = Number.isFinite(r.std[i]) ? r.std[i] : 0;
    out.mean.push({ x: i + 1, y: m });
    out.lo.push({ x: i + 1, y: m - sd });
    out.hi.push({ x: i + 1, y: m + sd });
  });
  return out;
}

/** The PC pairs a trajectory can be drawn in: (0, 1), (0, 2), (1, 2), … up to the first `max` components. */
export function pcPairs(dynamics: DynamicsFile, max = 4): Array<[number, number]> {
  const n = Math.min(max, ...dynamics.points.map((p) => p.pcs.length));
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) out.push([i, j]);
  return out;
}

export const pairLabel = ([i, j]: [number, number]): string => `PC${i + 1}–PC${j + 1}`;

/** "PC1–PC3" → [0, 2]; anything else → null. */
export function parsePair(text: string): [number, number] | null {
  const m = /^PC(\d+)–PC(\d+)$/.exec(text);
  if (!m) return null;
  const i = Number(m[1]) - 1,
    j = Number(m[2]) - 1;
  return i >= 0 && j > i ? [i, j] : null;
}

export interface TrajectoryPoint {
  sequences: number;
  x: number;
  y: number;
  /** Training time in [0, 1] on log(sequences + 1), for the colour scale. */
  t: number;
}

/** The trajectory of the checkpoints in components (i, j), in training order. */
export function trajectory(dynamics: DynamicsFile, [i, j]: [number, number]): TrajectoryPoint[] {
  const pts = dynamics.points.filter((p) => Number.isFinite(p.pcs[i]) && Number.isFinite(p.pcs[j]));
  const ls = pts.map((p) => Math.log10(p.sequences + 1));
  const lo = Math.min(...ls),
    hi = Math.max(...ls);
  return pts.map((p, k) => ({
    sequences: p.sequences,
    x: p.pcs[i],
    y: p.pcs[j],
    t: hi > lo ? (ls[k] - lo) / (hi - lo) : 0,
  }));
}

/** Explained variance of components i and j as "86.5 %", for the axis labels. */
export const variancePct = (dynamics: DynamicsFile, i: number): string =>
  dynamics.explainedVariance[i] === undefined ? '' : `${(100 * dynamics.explainedVariance[i]).toFixed(1)} %`;
