/**
 * What a task's progress notification shows, from the CLI child's `--progress json` lines (contracts.md §2).
 * A child may report two independent counters (measure over training: `measure` counts checkpoints,
 * `influence-matrix` the configurations of the measure being computed at one of them); the notification
 * shows both, e.g. "checkpoints 3/20 · influence-matrix 120/264 configurations · ≈ 41 s left", and its
 * bar follows the outer counter plus the inner one's fraction of one outer step. With one counter it is
 * that counter's own line. No vscode import: unit-tested.
 */
import type { CliProgress } from '../shared/protocol';
import { eta, progressText } from '../shared/cliProgress';

export interface ProgressView {
  /** 0…100, never decreasing (a notification bar only moves forward). */
  percent: number;
  /** The notification's message line. */
  message: string;
}

const n = (x: number) => (Number.isInteger(x) ? x.toLocaleString('en-US') : x.toFixed(1));

export class ProgressBoard {
  private outer?: CliProgress;
  private inner?: CliProgress;
  private last?: CliProgress;
  private shown = 0;

  /** `outerTask`: the task name of the outer counter (e.g. "measure"); absent: every line stands alone. */
  constructor(private readonly outerTask?: string) {}

  update(p: CliProgress): ProgressView {
    this.last = p;
    if (this.outerTask !== undefined && p.task === this.outerTask) {
      // A new outer step: the inner counter of the previous one is finished.
      const innerDone = this.inner !== undefined && this.inner.done >= this.inner.total;
      if (this.outer && p.done !== this.outer.done && innerDone) this.inner = undefined;
      this.outer = p;
    } else if (this.outerTask !== undefined) this.inner = p;
    this.shown = Math.max(this.shown, Math.min(100, this.fraction() * 100));
    return { percent: this.shown, message: this.message() };
  }

  private fraction(): number {
    const o = this.outer;
    if (this.outerTask === undefined || !o) {
      const p = this.outerTask === undefined ? this.last : undefined;
      return p && p.total > 0 ? p.done / p.total : 0;
    }
    if (o.total <= 0) return 0;
    const i = this.inner;
    const part = i && i.total > 0 && o.done < o.total ? Math.min(1, i.done / i.total) : 0;
    return Math.min(1, (o.done + part) / o.total);
  }

  private message(): string {
    if (this.outerTask === undefined) return this.last ? progressText(this.last) : '';
    const o = this.outer,
      i = this.inner;
    const parts: string[] = [];
    if (o) parts.push(`${o.unit} ${n(o.done)}/${n(o.total)}`);
    if (i) parts.push(`${i.task} ${n(i.done)}/${n(i.total)}${i.unit && i.unit !== i.task ? ` ${i.unit}` : ''}`);
    if (o?.etaSeconds !== undefined) parts.push(`≈ ${eta(o.etaSeconds)} left`);
    // The outer line's own text when no inner counter says more (e.g. "checkpoint 40,000 done").
    if (o?.message && !i) parts.push(o.message);
    return parts.join(' · ');
  }
}
