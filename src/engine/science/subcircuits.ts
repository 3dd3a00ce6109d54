/**
 * Subcircuit progress curves (spec §5.8–5.9 method 1): train the clamped set from one initialisation —
 * no clamp, A+B (copy clamped), B alone (layer 1 + copy), C alone (induction pattern), B+C (layer 1) —
 * and read each run's fsl_train loss curve as the learning curve of the subcircuits it leaves to learn.
 */
import { resolvePreset } from './presets';
import { runSweep, SweepOptions, SweepResult } from '../train/sweep';
import { RunDir } from '../io';
import { Scale, fig5bConditions } from './conditions';
import { learningTime } from '../measures/learningTime';
import type { MetricsRecord } from '../../shared/protocol';

export interface SubcircuitRunCurve {
  name: string;
  /** Which subcircuits the curve measures, e.g. "B" or "B, C". */
  measures: string;
  label: string;
  stepsClamped: string;
  stepsLearned: string;
  xs: number[];
  ys: number[];
  /** First x with loss < 0.4·ln 2 (spec §5.10), or the last x. */
  learningTime: number;
  status: string;
}

/** Which Fig 5b condition measures which subcircuits (spec §5.9). */
export const SUBCIRCUIT_SET: Array<{ condition: string; measures: string }> = [
  { condition: 'noclamp', measures: 'A, B, C (none clamped)' },
  { condition: 'perfect_copy', measures: 'A, B' },
  { condition: 'perfect_l1', measures: 'B, C' },
  { condition: 'perfect_l1_and_copy', measures: 'B' },
  { condition: 'perfect_match', measures: 'C' },
];

export interface SubcircuitOptions extends Omit<SweepOptions, 'root'> {
  scale: Scale;
  root: string;
  initSeed?: number;
  /** Override the run length (sequences). */
  sequences?: number;
}

export async function runSubcircuits(
  o: SubcircuitOptions,
): Promise<{ curves: SubcircuitRunCurve[]; runs: SweepResult[] }> {
  const conds = fig5bConditions();
  const jobs = SUBCIRCUIT_SET.map(({ condition }) => {
    const config = resolvePreset(`fig5b.${condition}`, o.scale);
    if (o.initSeed !== undefined) config.train.initSeed = o.initSeed;
    if (o.sequences !== undefined) config.train.sequences = o.sequences;
    return { key: `subcircuits-${o.scale}-seed${config.train.initSeed}-${condition}`, config };
  });
  const runs = await runSweep(jobs, { ...o, root: o.root });
  const curves = SUBCIRCUIT_SET.map(({ condition, measures }, i) => {
    const c = conds.find((x) => x.name === condition)!;
    const rows = safeMetrics(runs[i].runDir);
    const xs = rows.map((r) => r.sequences),
      ys = rows.map((r) => r.eval.fsl_train.loss);
    return {
      name: condition,
      measures,
      label: c.label,
      stepsClamped: c.stepsClamped,
      stepsLearned: c.stepsLearned,
      xs,
      ys,
      learningTime: xs.length ? learningTime(xs, ys) : NaN,
      status: runs[i].status,
    };
  });
  return { curves, runs };
}

function safeMetrics(dir: string): MetricsRecord[] {
  try {
    return RunDir.open(dir).readMetrics<MetricsRecord>();
  } catch {
    return [];
  }
}
