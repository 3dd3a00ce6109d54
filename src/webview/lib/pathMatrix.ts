/**
 * The edge matrices of path patching (issue 18, docs/path-patching.md), the pure part of the edge view: which
 * frame the one step slider shows, the three Q / K / V matrices of a corruption choice, what a cell holds
 * (exact E, attribution A, or A − E), colour ranges that stay fixed while the checkpoints play, the run's
 * path clamps on an edge, the strongest edges over training (the timeline's lines), the tooltip lines and
 * the notes. Matrices are [receiver i][sender j] (rows Layer-2 heads, columns Layer-1 heads), as in the
 * aggregate and the influence view. No DOM here (unit-tested in test/unit/pathMatrix.test.ts).
 */
import type {
  ClampSummary,
  PathErrorStats,
  PathInputName,
  PathPatchingData,
  PathPatchingFrame,
} from '../../shared/webviewProtocol';
import { PATH_INPUT_NAMES } from '../../shared/webviewProtocol';
import { clampActive, clampWindow, describeClamp } from './clampMarks';
import { snapToMeasured } from './overTraining';
import { uniqueSorted } from './steps';
import { fmtInt, fmtValue } from './format';

/**
 * `matched`: each input under the corruption that targets what it reads (docs/path-patching.md): Q under
 * `class` (the query's exemplar), K under `prev-token` (what a previous-token head copies into the label
 * token), V under `labels` (which label follows which exemplar). Else one corruption for all three.
 */
const MATCHED: Record<PathInputName, string> = { q: 'class', k: 'prev-token', v: 'labels' };
type CorruptionChoice = 'matched' | string;
export type CellShown = 'exact' | 'attribution' | 'error';
export type RangeMode = 'training' | 'frame';

export const INPUT_LABEL: Record<PathInputName, string> = { q: 'Q', k: 'K', v: 'V' };
export const SHOWN_LABEL: Record<CellShown, string> = {
  exact: 'exact E',
  attribution: 'attribution A',
  error: 'A − E',
};

/** The corruption input `x` is shown under (matched, or the chosen one when the run has it). */
export function corruptionOf(data: PathPatchingData, choice: CorruptionChoice, x: PathInputName): string {
  const names = data.corruptions.map((c) => c.name);
  const want = choice === 'matched' ? MATCHED[x] : choice;
  return names.includes(want) ? want : (names[0] ?? want);
}

/** The checkpoints with a frame of any shown corruption, ascending. */
export function pathSteps(data: PathPatchingData | undefined, choice: CorruptionChoice): number[] {
  if (!data) return [];
  const used = new Set(PATH_INPUT_NAMES.map((x) => corruptionOf(data, choice, x)));
  return uniqueSorted(data.frames.filter((f) => used.has(f.corruption)).map((f) => f.sequences));
}

/** One of the three matrices the view draws: input `input` under `corruption`, at the shown checkpoint. */
export interface EdgePanel {
  input: PathInputName;
  corruption: string;
  frame: PathPatchingFrame;
}

/** The Q, K, V panels at the measured checkpoint nearest `step` (null = the latest); [] when nothing is measured. */
export function panelsAt(
  data: PathPatchingData | undefined,
  choice: CorruptionChoice,
  step: number | null,
): EdgePanel[] {
  if (!data) return [];
  const { shown } = snapToMeasured(pathSteps(data, choice), step);
  if (shown === null) return [];
  return PATH_INPUT_NAMES.flatMap((input) => {
    const corruption = corruptionOf(data, choice, input);
    const frame = data.frames.find((f) => f.sequences === shown && f.corruption === corruption);
    return frame ? [{ input, corruption, frame }] : [];
  });
}

/** What a panel's cells hold; null when the attribution was not computed at that checkpoint. */
export function cellValues(p: EdgePanel, shown: CellShown): number[][] | null {
  const e = p.frame.exact[p.input];
  if (shown === 'exact') return e;
  const a = p.frame.attribution?.[p.input];
  if (!a) return null;
  return shown === 'attribution' ? a : a.map((row, i) => row.map((v, j) => v - e[i][j]));
}

/**
 * A symmetric colour range ±m: `training` takes the largest |value| over every measured checkpoint of the
 * shown input and corruption (colours comparable while the checkpoints play, so an edge visibly lights
 * up); `frame` that of the checkpoint shown. A floor keeps an all-zero matrix (initialisation) drawable.
 */
export function edgeDomain(
  data: PathPatchingData,
  p: EdgePanel,
  shown: CellShown,
  mode: RangeMode,
  floor = 0.05,
): [number, number] {
  const frames = mode === 'frame' ? [p.frame] : data.frames.filter((f) => f.corruption === p.corruption);
  let m = 0;
  for (const f of frames) {
    const vs = cellValues({ ...p, frame: f }, shown);
    for (const row of vs ?? []) for (const v of row) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  }
  const r = Math.max(floor, m);
  return [-r, r];
}

/** The run's path clamps on one edge at a checkpoint (null: at any time of the run), described. */
export function edgeClamps(
  clamps: readonly ClampSummary[],
  sequences: number | null,
  e: { sender: string; receiver: string; input: PathInputName },
): string[] {
  return clamps
    .filter(
      (c) =>
        (c.kind === 'path-patch' || c.kind === 'stop-gradient') &&
        c.sender === e.sender &&
        c.receiver === e.receiver &&
        c.input === e.input &&
        clampActive(c, sequences),
    )
    .map((c) => `${describeClamp(c)}${clampWindow(c) ? ` ${clampWindow(c)}` : ''}`);
}

/** An edge's name: "L1H4→L2H3 · K". */
const edgeName = (sender: string, receiver: string, input: PathInputName): string =>
  `${sender}→${receiver} · ${INPUT_LABEL[input]}`;

/** One line of the timeline: an edge's exact effect at every measured checkpoint (null where not measured). */
interface EdgeLine {
  id: string;
  label: string;
  input: PathInputName;
  sender: string;
  receiver: string;
  ys: Array<number | null>;
}

/**
 * The `k` edges with the largest |E| at any checkpoint (each input under its shown corruption), their exact
 * values over `steps`: the lines of the timeline, strongest first.
 */
export function strongestEdges(
  data: PathPatchingData,
  choice: CorruptionChoice,
  steps: readonly number[],
  k = 6,
): EdgeLine[] {
  const lines: Array<EdgeLine & { peak: number }> = [];
  for (const input of PATH_INPUT_NAMES) {
    const corruption = corruptionOf(data, choice, input);
    const byStep = new Map(data.frames.filter((f) => f.corruption === corruption).map((f) => [f.sequences, f]));
    data.receivers.forEach((receiver, i) =>
      data.senders.forEach((sender, j) => {
        const ys = steps.map((s) => byStep.get(s)?.exact[input][i]?.[j] ?? null);
        const peak = Math.max(0, ...ys.map((y) => (y === null ? 0 : Math.abs(y))));
        const id = `${input}:${receiver}:${sender}`;
        lines.push({ id, label: edgeName(sender, receiver, input), input, sender, receiver, ys, peak });
      }),
    );
  }
  return lines
    .filter((l) => l.peak > 0)
    .sort((a, b) => b.peak - a.peak)
    .slice(0, k)
    .map(({ peak: _peak, ...l }) => l);
}

/** "attribution vs exact: max |A − E| 4.06, mean |A − E| 0.037, ‖A − E‖/‖E‖ 0.90, r 0.63" (per corruption). */
export function errorLine(e: PathErrorStats | null): string {
  if (!e) return 'attribution not computed at this checkpoint';
  const parts = [`max |A − E| ${fmtValue(e.maxAbs, 3)}`, `mean |A − E| ${fmtValue(e.meanAbs, 3)}`];
  if (e.relative !== null) parts.push(`‖A − E‖/‖E‖ ${fmtValue(e.relative, 2)}`);
  if (e.correlation !== null) parts.push(`Pearson r ${fmtValue(e.correlation, 2)}`);
  return `attribution vs exact over every edge and input: ${parts.join(', ')}`;
}

/** Tooltip lines of a cell. */
export function describeEdge(
  p: EdgePanel,
  i: number,
  j: number,
  o: { receiver: string; sender: string; marks: string[]; clamps: string[] },
): string[] {
  const e = p.frame.exact[p.input][i][j];
  const a = p.frame.attribution?.[p.input]?.[i]?.[j];
  return [
    `${edgeName(o.sender, o.receiver, p.input)} (${p.corruption} corruption)`,
    `exact E = ${fmtValue(e, 4)} (change of the logit difference)`,
    a === undefined
      ? 'attribution A: not computed'
      : `attribution A = ${fmtValue(a, 4)}, A − E = ${fmtValue(a - e, 4)}`,
    ...o.marks,
    ...o.clamps.map((c) => `this edge is clamped in this run: ${c}`),
    `checkpoint at ${fmtInt(p.frame.sequences)} sequences seen`,
  ];
}

/**
 * Where the phase change is: the run's learning time (spec §5.10) and the measured checkpoint nearest it,
 * said in one sentence ('' when the run never got there or nothing is measured).
 */
export function phaseNote(
  learningTime: number | null,
  steps: readonly number[],
): { text: string; checkpoint: number | null } {
  if (learningTime === null || !steps.length) {
    return {
      text: learningTime === null ? 'The run has not reached its learning time (fsl_train loss < 0.4·ln 2) yet.' : '',
      checkpoint: null,
    };
  }
  const { shown } = snapToMeasured(steps, learningTime);
  const at = shown === learningTime ? '' : ` (nearest measured checkpoint: ${fmtInt(shown ?? 0)})`;
  return {
    text: `Phase change: learning time ${fmtInt(learningTime)} sequences (first fsl_train loss < 0.4·ln 2, spec §5.10)${at}.`,
    checkpoint: shown,
  };
}

/** What is measured: nothing yet (and the command), or the checkpoints the aggregate still lacks; '' when complete. */
export function pathCoverageNote(data: PathPatchingData | undefined): string {
  if (!data || !data.source || !data.frames.length) {
    return `No path patching over training for this run yet. Compute it here, or on the command line: ${
      data?.command ?? 'induction-lab measure RUN --what path-patching --checkpoints all --subsample 2000'
    }`;
  }
  const n = data.source.n !== null ? `${fmtInt(data.source.n)} sequences per checkpoint` : 'the dense set';
  const missing = data.source.missing.length;
  const measured = uniqueSorted(data.frames.map((f) => f.sequences)).length;
  return missing
    ? `Measured at ${measured} of ${measured + missing} checkpoints (${n}, ${data.source.file}). To complete: ${data.command}`
    : `Measured at every checkpoint (${measured}; ${n}, ${data.source.file}).`;
}
