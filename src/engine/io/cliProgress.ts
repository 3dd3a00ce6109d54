/**
 * `--progress json` for CLI commands the extension runs in a child (contracts.md §2): one CliProgress
 * object per line on stderr, at most a few per second (the last one of a task always), with an ETA from the
 * rate so far. `sweepProgress` turns the training children's messages of a sweep into one "runs" count.
 */
import type { CliProgress, FromChildMessage } from '../../shared/protocol';
import type { SweepJob } from '../train/sweep';

export type ProgressSink = (p: Omit<CliProgress, 'type' | 'etaSeconds'>) => void;

/** A sink writing JSON lines to `write` (default stderr), throttled to one per `minMs` per task. */
export function jsonProgress(
  write: (s: string) => void = (s) => process.stderr.write(s),
  minMs = 250,
  now = () => Date.now(),
): ProgressSink {
  const first = new Map<string, { t: number; done: number }>(),
    last = new Map<string, number>();
  return (p) => {
    const t = now();
    if (!first.has(p.task) || p.done < first.get(p.task)!.done) first.set(p.task, { t, done: p.done });
    const finished = p.done >= p.total;
    if (!finished && t - (last.get(p.task) ?? -Infinity) < minMs) return;
    last.set(p.task, t);
    const f = first.get(p.task)!;
    const rate = t > f.t ? (p.done - f.done) / ((t - f.t) / 1000) : 0;
    const out: CliProgress = { type: 'progress', ...p };
    if (!finished && rate > 0) out.etaSeconds = Math.round((p.total - p.done) / rate);
    write(JSON.stringify(out) + '\n');
  };
}

/**
 * A sweep's progress in runs: each run counts its fraction of sequences, a finished one counts 1.
 * `preDone` = runs already complete (reused, they send no messages).
 */
export function sweepProgress(
  total: number,
  sink: ProgressSink,
  preDone = 0,
  task = 'runs',
): (job: SweepJob, m: FromChildMessage) => void {
  const frac = new Map<string, number>();
  const report = (message?: string) => {
    const done = Math.min(total, preDone + [...frac.values()].reduce((a, b) => a + b, 0));
    sink({ task, done: Math.round(done * 100) / 100, total, unit: 'runs', message });
  };
  return (job, m) => {
    if (m.type === 'progress' && m.totalSequences > 0) {
      frac.set(job.key, Math.min(1, m.sequences / m.totalSequences));
      report(job.key);
    } else if (m.type === 'finished') {
      frac.set(job.key, 1);
      report(`${job.key} ${m.status}`);
    }
  };
}
