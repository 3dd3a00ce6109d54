/**
 * The measure-over-training tasks the extension runs in a CLI child (issue 11 part 3): "Compute Measures
 * over Training" (`measure RUN --checkpoints all`) and "measure while training" (`measure RUN --follow`, a
 * second child started with a run). Their arguments and the measure picker's rows, from the engine's own
 * list of measures (names.ts has no imports: safe in the extension host). No vscode import: unit-tested.
 */
import {
  DEFAULT_MEASURES,
  MEASURE_HELP,
  MEASURE_NAMES,
  MeasureName,
  parseMeasureNames,
} from '../engine/measures/names';

export interface OverTrainingTask {
  /** Measure names (checked against the engine's list). */
  measures: readonly string[];
  /** A fixed random subset of the dense set (0 or absent: all of it). */
  subsample?: number;
  /** Follow a training run (a checkpoint behind its newest) instead of measuring the checkpoints it has. */
  follow?: boolean;
}

/** `measure RUN --checkpoints all|--follow --what A,B --subsample N` (runTask adds --progress json, --workers). */
export function overTrainingArgs(runDir: string, t: OverTrainingTask): string[] {
  const names = checkedMeasures(t.measures);
  const args = ['measure', runDir, ...(t.follow ? ['--follow'] : ['--checkpoints', 'all']), '--what', names.join(',')];
  if (t.subsample !== undefined && t.subsample > 0) {
    if (!Number.isInteger(t.subsample)) {
      throw new Error(`the subsample must be a whole number of sequences, got ${t.subsample}`);
    }
    args.push('--subsample', String(t.subsample));
  }
  return args;
}

/** The names, checked (one clear error naming the unknown ones); none is refused. */
export function checkedMeasures(measures: readonly string[]): MeasureName[] {
  if (!measures.length) throw new Error('no measure chosen');
  return parseMeasureNames([...measures]);
}

export interface MeasureRow {
  label: MeasureName;
  detail: string;
  picked: boolean;
}

/** One row per measure, in the engine's order; `preselected` (a setting) or the engine's defaults are picked. */
export function measureRows(preselected?: readonly string[]): MeasureRow[] {
  const valid = (preselected ?? []).filter((m): m is MeasureName => (MEASURE_NAMES as readonly string[]).includes(m));
  const picked = new Set<string>(valid.length ? valid : DEFAULT_MEASURES);
  return MEASURE_NAMES.map((m) => ({ label: m, detail: MEASURE_HELP[m], picked: picked.has(m) }));
}
