/**
 * Measures over training in the influence view (issue 11 part 4), the pure part: which heat-map frame
 * the one step slider shows (the measured checkpoint nearest the selected step, and the sentence saying
 * so), curve sets → chart series with the run's clamp marks, and what to tell when checkpoints are
 * not measured yet. No DOM here (unit-tested in test/unit/overTraining.test.ts).
 */
import type {
  ClampSummary,
  CurveSetOverTraining,
  InfluenceKind,
  InfluenceHeatmap,
  OverTrainingData,
} from '../../shared/webviewProtocol';
import type { LineSeries } from './chart';
import { headMarks, MARK_WORD } from './clampMarks';
import { extentDomain } from './domains';
import { nearestIndex, uniqueSorted } from './steps';
import { fmtInt } from './format';

/** The measured checkpoint shown for a selected step: the nearest one (null step = the latest). */
export function snapToMeasured(
  measured: readonly number[],
  selected: number | null,
): { shown: number | null; snapped: boolean } {
  if (!measured.length) return { shown: null, snapped: false };
  if (selected === null) return { shown: measured[measured.length - 1], snapped: false };
  const shown = measured[nearestIndex(measured, selected)];
  return { shown, snapped: shown !== selected };
}

/** The sentence under the slider when the selected step is not a measured checkpoint ('' when it is). */
export function snapNote(measured: readonly number[], selected: number | null): string {
  const { shown, snapped } = snapToMeasured(measured, selected);
  if (!snapped || shown === null || selected === null) return '';
  return `Step ${fmtInt(selected)} has no measured checkpoint: showing the nearest one, ${fmtInt(shown)} sequences.`;
}

/** The checkpoints with a frame of any of `kinds`, ascending. */
export const measuredSteps = (matrices: readonly InfluenceHeatmap[], kinds: readonly InfluenceKind[]): number[] =>
  uniqueSorted(matrices.filter((m) => kinds.includes(m.kind)).map((m) => m.sequences));

/**
 * The frame of each kind at the selected step: its own nearest measured checkpoint (kinds may be
 * measured at different checkpoints, so each frame names its own).
 */
export function framesAt(
  matrices: readonly InfluenceHeatmap[],
  kinds: readonly InfluenceKind[],
  selected: number | null,
): InfluenceHeatmap[] {
  return kinds.flatMap((k) => {
    const ms = matrices.filter((m) => m.kind === k);
    const { shown } = snapToMeasured(uniqueSorted(ms.map((m) => m.sequences)), selected);
    const m = ms.find((x) => x.sequences === shown);
    return m ? [m] : [];
  });
}

/**
 * Chart series of a curve set: one per line, null values left out; lines of heads the run ablates
 * are drawn faded and labelled, clamped or replaced heads labelled (marks at any time of the run).
 */
export function curveSeries(
  set: CurveSetOverTraining,
  clamps: readonly ClampSummary[],
  color: (i: number) => string,
): LineSeries[] {
  const marks = headMarks(clamps, null);
  let colorIndex = 0;
  return set.lines.map((l) => {
    const mk = l.head ? marks.get(l.head) : undefined;
    const points = set.sequences.flatMap((x, k) => (l.ys[k] === null ? [] : [{ x, y: l.ys[k] as number }]));
    return {
      id: l.id,
      label: mk ? `${l.label} (${MARK_WORD[mk.state]})` : l.label,
      points,
      color: l.reference ? 'currentColor' : color(colorIndex++),
      ...(l.reference ? { dash: '5 4' } : {}),
      ...(mk?.state === 'ablated' ? { faded: true } : {}),
    };
  });
}

/** The y range of a curve set: its natural range (accuracy) when every value fits, else the data's. */
export function curveYDomain(set: CurveSetOverTraining): [number, number] {
  const ys = set.lines.flatMap((l) => l.ys.filter((y): y is number => y !== null));
  if (set.yRange && ys.every((y) => y >= set.yRange![0] && y <= set.yRange![1])) return set.yRange;
  const [a, b] = extentDomain(ys, [0, 1]);
  return set.ln2 ? [Math.min(0, a), Math.max(b, Math.LN2 * 1.05)] : [a, b];
}

/**
 * What the view says about coverage: nothing measured yet (and the command that computes it), or the
 * run's checkpoints some measure has no result for yet. '' when everything is measured.
 */
export function coverageNote(d: OverTrainingData | undefined): string {
  if (!d || !d.sources.length) {
    return (
      'No measures over training for this run yet. They are computed by ' +
      `"Induction Lab: Compute Measures over Training" or on the command line: ${
        d?.command ?? 'induction-lab measure RUN --checkpoints all --what all --subsample 2000'
      }`
    );
  }
  const gaps = d.sources.filter((s) => s.missing.length);
  if (!gaps.length) return '';
  const parts = gaps.map((s) => `${s.measure} at ${s.checkpoints} of ${s.checkpoints + s.missing.length}`);
  return `Measured so far: ${parts.join(', ')} checkpoints. To complete them: ${d.command}`;
}

/** The head the curve set is about, with why it is not a learned choice when the run clamps it. */
export function aboutNote(set: CurveSetOverTraining, clamps: readonly ClampSummary[]): string {
  if (!set.about) return '';
  const mk = headMarks(clamps, null).get(set.about);
  const base = `${set.about} is the strongest induction head at the last measured checkpoint`;
  return mk
    ? `${base}; it is ${MARK_WORD[mk.state]} in this run (${mk.clamps.join('; ')}), ` +
        'so its strength is set by the clamp, not learned.'
    : `${base} (heads the run ablates excluded).`;
}
