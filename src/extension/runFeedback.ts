/**
 * The words of the notifications a run ends with (no vscode import: unit-tested): on completion the final
 * losses, the learning time (spec §5.10) and the strongest induction head that learnt freely; on a stop,
 * where it stopped and that it can be resumed.
 */
import type { MetricsRecord } from '../shared/protocol';
import { headMarks, strongestFreeHead } from '../shared/headMarks';
import { learningTime } from '../engine/measures/learningTime';

const NAMES: Record<string, string> = {
  fsl_train: 'train',
  fsl_val_rl: 'test (relabel)',
  fsl_test_class: 'test (exemplars)',
  fsl_train_valex: 'train (new exemplars)',
};
const fmt = (n: number) => n.toLocaleString('en-US');

/** "34 s", "2 min 5 s", "1 h 3 min". */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
}

export interface CompletionFacts {
  finalLosses: Array<[string, number]>;
  /** First eval below 0.4·ln 2 on fsl_train; reached = false when it never got there. */
  learning?: { sequences: number; reached: boolean };
  strongest?: { head: string; score: number };
  /** Why no strongest head is named (every Layer-2 head clamped, ablated or replaced). */
  noFreeHead: boolean;
}

export function completionFacts(records: MetricsRecord[], clamps: unknown, depth = 2, numHeads = 8): CompletionFacts {
  const rows = records.filter((r) => r.eval?.fsl_train && Number.isFinite(r.eval.fsl_train.loss));
  const last = records[records.length - 1];
  const finalLosses: Array<[string, number]> = last
    ? ['fsl_train', 'fsl_val_rl', 'fsl_test_class']
        .filter((k) => last.eval?.[k])
        .map((k) => [NAMES[k] ?? k, last.eval[k].loss])
    : [];
  let learning: CompletionFacts['learning'];
  if (rows.length) {
    const xs = rows.map((r) => r.sequences),
      ys = rows.map((r) => r.eval.fsl_train.loss);
    const t = learningTime(xs, ys);
    learning = { sequences: t, reached: ys.some((y) => y < 0.4 * Math.LN2) };
  }
  let strongest: CompletionFacts['strongest'];
  let noFreeHead = false;
  if (last?.inductionStrength?.length) {
    const best = strongestFreeHead(
      last.inductionStrength,
      headMarks(clamps, { sequences: last.sequences, depth, numHeads }),
      depth,
    );
    if (best) strongest = { head: `L${depth}H${best.head}`, score: best.score };
    else noFreeHead = true;
  }
  return { finalLosses, learning, strongest, noFreeHead };
}

export function completionMessage(name: string, f: CompletionFacts, seconds: number): string {
  const parts = [`${name} completed in ${duration(seconds)}`];
  if (f.finalLosses.length)
    parts.push(`final loss ${f.finalLosses.map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
  if (f.learning)
    parts.push(
      f.learning.reached
        ? `learnt at ${fmt(f.learning.sequences)} sequences (loss < 0.4·ln 2)`
        : 'never below 0.4·ln 2 (no learning time)',
    );
  if (f.strongest) parts.push(`strongest induction head ${f.strongest.head} (IS ${f.strongest.score.toFixed(2)})`);
  else if (f.noFreeHead) parts.push('every Layer-2 head is clamped or ablated (no strongest head to name)');
  return parts.join(' · ');
}

export function stopMessage(
  name: string,
  sequences: number,
  total: number | undefined,
  hasCheckpoint: boolean,
): string {
  return (
    `${name} stopped at ${fmt(sequences)}${total ? ` / ${fmt(total)}` : ''} sequences` +
    (hasCheckpoint
      ? '; its checkpoint is saved, so Resume continues exactly where it stopped.'
      : '; no checkpoint yet, so Resume starts it again.')
  );
}
