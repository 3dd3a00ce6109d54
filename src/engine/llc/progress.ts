/**
 * Progress of a long CLI computation on stderr: a bar for people, or with `--progress json` one
 * CliProgress object per line (contracts.md §2) for the extension. ETA from the rate so far.
 */
import type { CliProgress } from '../../shared/protocol';

export type ProgressMode = 'text' | 'json' | 'none';

export class ProgressReporter {
  private done = 0;
  private readonly t0 = Date.now();
  private last = 0;
  constructor(
    private readonly mode: ProgressMode,
    private readonly task: string,
    private total: number,
    private readonly unit: string,
    private readonly write: (s: string) => void = (s) => process.stderr.write(s),
  ) {}

  setTotal(total: number): void {
    this.total = total;
  }

  add(n: number, message?: string): void {
    this.done += n;
    if (this.done < this.total) this.emit(message);
  }

  /** Writes a line now (at most every 250 ms unless forced). */
  emit(message?: string, force = false): void {
    if (this.mode === 'none') return;
    const now = Date.now();
    // Lines to a log (no TTY) every 5 s; redraws and JSON every 250 ms.
    const every = this.mode === 'text' && !process.stderr.isTTY ? 5000 : 250;
    if (!force && now - this.last < every && this.done < this.total) return;
    this.last = now;
    const el = (now - this.t0) / 1000;
    const eta =
      this.done > 0 && this.total > this.done
        ? (el / this.done) * (this.total - this.done)
        : this.done >= this.total
          ? 0
          : undefined;
    if (this.mode === 'json') {
      const p: CliProgress = { type: 'progress', task: this.task, done: this.done, total: this.total, unit: this.unit };
      if (eta !== undefined) p.etaSeconds = Math.round(eta);
      if (message) p.message = message;
      this.write(JSON.stringify(p) + '\n');
      return;
    }
    const w = 30,
      f = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const bar = `[${'#'.repeat(Math.round(f * w)).padEnd(w, '.')}] ${(f * 100).toFixed(0).padStart(3)}%`;
    const tail = `${eta !== undefined ? ` · ETA ${eta.toFixed(0)} s` : ''}${message ? ` · ${message}` : ''}`;
    const line = `${bar} ${this.done}/${this.total} ${this.unit}${tail}`;
    this.write(process.stderr.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
  }

  finish(message?: string): void {
    this.emit(message, true);
    if (this.mode === 'text' && process.stderr.isTTY) this.write('\n');
  }
}
