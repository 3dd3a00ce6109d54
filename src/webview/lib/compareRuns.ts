/**
 * Compare view logic (pure, unit-tested): runs of different lengths on one x axis (sequences, optimiser
 * steps, or the fraction of each run's planned length), runs grouped by condition (preset + clamps: the
 * seeds of one condition share a hue, each seed its own dash), and names that are never ambiguous.
 */
import type { MetricsRecord, RunSummary } from '../../shared/webviewProtocol';
import { describeClamp, clampWindow } from './clampMarks';

export type CompareX = 'sequences' | 'steps' | 'fraction';
export const COMPARE_X: readonly CompareX[] = ['sequences', 'steps', 'fraction'];
export const COMPARE_X_LABEL: Record<CompareX, string> = {
  sequences: '# sequences seen',
  steps: 'optimiser steps',
  fraction: 'fraction of the run (sequences / planned length)',
};

/** The x of a record: sequences, the optimiser step, or sequences over the run's planned length. */
export function compareX(
  rec: Pick<MetricsRecord, 'sequences' | 'step'>,
  run: Pick<RunSummary, 'totalSequences'>,
  mode: CompareX,
  lastSequences = 0,
): number {
  if (mode === 'steps') return rec.step;
  if (mode === 'fraction') {
    const total = run.totalSequences > 0 ? run.totalSequences : lastSequences;
    return total > 0 ? rec.sequences / total : NaN;
  }
  return rec.sequences;
}

/** What makes runs comparable as one condition: the preset and the clamps with their windows. */
export function conditionOf(r: Pick<RunSummary, 'preset' | 'clamps'>): string {
  const clamps = r.clamps.map((c) => `${describeClamp(c)}${clampWindow(c) ? ` ${clampWindow(c)}` : ''}`);
  return [r.preset ?? 'custom', clamps.length ? clamps.join('; ') : 'no clamps'].join(' · ');
}

export interface CompareGroup {
  condition: string;
  runs: RunSummary[];
}

/** Runs grouped by condition, groups and members in first-seen order. */
export function groupByCondition(runs: readonly RunSummary[]): CompareGroup[] {
  const groups: CompareGroup[] = [];
  for (const r of runs) {
    const c = conditionOf(r);
    const g = groups.find((x) => x.condition === c);
    if (g) g.runs.push(r);
    else groups.push({ condition: c, runs: [r] });
  }
  return groups;
}

/** Colour index (= group) and dash index (= member) of each run id. */
export function compareStyles(groups: readonly CompareGroup[]): Map<string, { color: number; dash: number }> {
  const out = new Map<string, { color: number; dash: number }>();
  groups.forEach((g, gi) => g.runs.forEach((r, ri) => out.set(r.id, { color: gi, dash: ri })));
  return out;
}

/** Display names: the run's name, with its id added where two runs share a name. */
export function distinctNames(runs: readonly Pick<RunSummary, 'id' | 'name'>[]): Map<string, string> {
  const count = new Map<string, number>();
  for (const r of runs) count.set(r.name, (count.get(r.name) ?? 0) + 1);
  return new Map(runs.map((r) => [r.id, (count.get(r.name) ?? 0) > 1 ? `${r.name} (${r.id})` : r.name]));
}
