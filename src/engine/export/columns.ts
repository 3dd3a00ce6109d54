/**
 * One naming of a run's scalars shared by every export (TensorBoard tags, CSV / Parquet columns) and by the
 * Python reader (`python/induction_lab/run.py`, `metric_columns`), grouped the way TensorBoard groups tags
 * (by the part before the first "/"):
 *
 * | column / tag                         | from metrics.jsonl                                   |
 * |--------------------------------------|------------------------------------------------------|
 * | sequences, step, wall_time           | sequences, step, wallTime (not TensorBoard scalars)  |
 * | train/loss                           | trainLoss (mean over the steps since the last eval)  |
 * | train/learning_rate                  | the run's train.lr (constant Adam, spec §2.3)        |
 * | <eval set>/<metric>                  | eval.<set>.<metric>, metric in snake_case (spec §1.4)|
 * | heads/L<depth>H<h>/induction_strength| inductionStrength[h] (last layer, spec §5.3)         |
 * | heads/L1H<h>/prev_token_score        | prevTokenScore[h] (first layer, spec §5.4)           |
 * | train/<name>                         | any other numeric field of a record, snake_case      |
 */
import type { MetricsRecord } from '../../shared/protocol';

export const snake = (s: string): string => s.replace(/(?<=[a-z0-9])([A-Z])/g, '_$1').toLowerCase();

/** Fields of a record that are axes, not scalars to plot. */
export const AXIS_COLUMNS = ['sequences', 'step', 'wall_time'] as const;

const KNOWN = new Set(['sequences', 'step', 'wallTime', 'trainLoss', 'eval', 'inductionStrength', 'prevTokenScore']);

/** A record as ordered [column, value] pairs; null / missing numbers become NaN. */
export function metricColumns(r: MetricsRecord, depth: number, lr?: number): Array<[string, number]> {
  const num = (x: unknown) => (typeof x === 'number' ? x : NaN);
  const out: Array<[string, number]> = [
    ['sequences', num(r.sequences)],
    ['step', num(r.step)],
    ['wall_time', num(r.wallTime)],
    ['train/loss', num(r.trainLoss)],
  ];
  if (lr !== undefined) out.push(['train/learning_rate', lr]);
  for (const [set, ms] of Object.entries(r.eval ?? {})) {
    for (const [m, v] of Object.entries(ms)) out.push([`${set}/${snake(m)}`, num(v)]);
  }
  (r.inductionStrength ?? []).forEach((v, h) => out.push([`heads/L${depth}H${h}/induction_strength`, num(v)]));
  (r.prevTokenScore ?? []).forEach((v, h) => out.push([`heads/L1H${h}/prev_token_score`, num(v)]));
  for (const [k, v] of Object.entries(r as unknown as Record<string, unknown>)) {
    if (!KNOWN.has(k) && typeof v === 'number') out.push([`train/${snake(k)}`, v]);
  }
  return out;
}

/** The scalars of a record that TensorBoard plots (every column but the axes; non-finite ones dropped). */
export function metricScalars(r: MetricsRecord, depth: number, lr?: number): Array<{ tag: string; value: number }> {
  const axes = new Set<string>(AXIS_COLUMNS);
  return metricColumns(r, depth, lr)
    .filter(([k, v]) => !axes.has(k) && Number.isFinite(v))
    .map(([tag, value]) => ({ tag, value }));
}

/** Every record as rows over the union of their columns (first-seen order), missing cells NaN. */
export function metricTable(
  records: MetricsRecord[],
  depth: number,
  lr?: number,
): { columns: string[]; rows: number[][] } {
  const maps = records.map((r) => new Map(metricColumns(r, depth, lr)));
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const m of maps)
    for (const k of m.keys())
      if (!seen.has(k)) {
        seen.add(k);
        columns.push(k);
      }
  return { columns, rows: maps.map((m) => columns.map((c) => m.get(c) ?? NaN)) };
}
