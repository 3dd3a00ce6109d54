/**
 * Progress of a computation over checkpoints, on stderr: a bar with the checkpoint count, the current
 * measure's own count (e.g. "influence-matrix 120/264 configurations") and an ETA; or, with
 * `--progress json`, one `CliProgress` object per line (contracts.md §2) for the extension's notification:
 *
 *   {"type":"progress","task":"measure","done":3,"total":20,"unit":"checkpoints","etaSeconds":41,"message":"…"}
 *   {"type":"progress","task":"influence-matrix","done":120,"total":264,"unit":"configurations","message":"…"}
 *
 * The two tasks are independent counters: `measure` counts checkpoints finished (cached ones included),
 * the other counts the configurations of the measure being computed. The ETA comes from the work
 * computed so far in this process (cached checkpoints cost nothing).
 */
import type { CliProgress } from '../../shared/protocol';

export type ProgressMode = 'bar' | 'json' | 'none';

const fmtSeq = (s: number) => s.toLocaleString('en-US');

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

interface InFlight {
  units: number;
  unitsDone: number;
  inner: number;
}

export class MeasureProgress {
  private readonly t0 = Date.now();
  private done: number;
  private computed = 0;
  private readonly inFlight = new Map<number, InFlight>();
  private lastLine = 0;
  private lastInner = 0;
  private lastMessage = '';

  /**
   * `total` checkpoints, `cached` of them already complete; `pending` checkpoints to compute, each with
   * its number of units.
   */
  constructor(
    private readonly mode: ProgressMode,
    private readonly write: (s: string) => void,
    private readonly tty: boolean,
    private total: number,
    cached: number,
    private pending: number,
  ) {
    this.done = cached;
  }

  /** More checkpoints appeared (--follow). */
  grow(checkpoints: number, pending: number): void {
    this.total += checkpoints;
    this.pending += pending;
    this.done += checkpoints - pending;
    this.render(true);
  }

  start(sequences: number, units: number): void {
    this.inFlight.set(sequences, { units, unitsDone: 0, inner: 0 });
  }

  /** Progress inside one unit (`done` of `total` configurations or checkpoints). */
  inner(sequences: number, unit: string, done: number, total: number): void {
    const f = this.inFlight.get(sequences);
    if (f) f.inner = total > 0 ? done / total : 0;
    this.lastMessage = `${unit} ${done}/${total} configurations at ${fmtSeq(sequences)} sequences`;
    if (this.mode === 'json' && (done === total || Date.now() - this.lastInner > 200)) {
      this.lastInner = Date.now();
      const message = `checkpoint ${fmtSeq(sequences)} (${this.done + 1}/${this.total})`;
      this.json({ type: 'progress', task: unit, done, total, unit: 'configurations', message });
    }
    this.render(false);
  }

  unitDone(sequences: number, unit: string): void {
    const f = this.inFlight.get(sequences);
    if (f) {
      f.unitsDone++;
      f.inner = 0;
    }
    this.lastMessage = `${unit} done at ${fmtSeq(sequences)} sequences`;
    this.render(false);
  }

  checkpointDone(sequences: number): void {
    this.inFlight.delete(sequences);
    this.done++;
    this.computed++;
    this.lastMessage = `checkpoint ${fmtSeq(sequences)} done`;
    this.render(true);
  }

  /** Seconds left, from the computed fraction of the pending work (null before anything finished). */
  eta(): number | null {
    let frac = this.computed;
    for (const f of this.inFlight.values()) frac += f.units ? (f.unitsDone + f.inner) / f.units : 0;
    if (frac <= 0 || this.pending <= 0) return null;
    return (((Date.now() - this.t0) / 1000) * Math.max(0, this.pending - frac)) / frac;
  }

  end(): void {
    if (this.mode === 'bar' && this.tty) this.write('\n');
  }

  private json(p: CliProgress): void {
    this.write(JSON.stringify(p) + '\n');
  }

  private render(force: boolean): void {
    const eta = this.eta();
    if (this.mode === 'json') {
      if (!force && Date.now() - this.lastLine < 200) return;
      this.lastLine = Date.now();
      this.json({
        type: 'progress',
        task: 'measure',
        done: this.done,
        total: this.total,
        unit: 'checkpoints',
        ...(eta === null ? {} : { etaSeconds: Math.round(eta) }),
        message: this.lastMessage,
      });
      return;
    }
    if (this.mode !== 'bar') return;
    if (!this.tty && !force && Date.now() - this.lastLine < 5000) return;
    if (this.tty && !force && Date.now() - this.lastLine < 100) return;
    this.lastLine = Date.now();
    const w = 24,
      f = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const bar = '#'.repeat(Math.round(f * w)).padEnd(w, '.');
    const line =
      `[${bar}] ${this.done}/${this.total} checkpoints · ${this.lastMessage}` +
      (eta === null ? '' : ` · ETA ${formatDuration(eta)}`);
    this.write(this.tty ? `\r\x1b[K${line}` : `${line}\n`);
  }
}
