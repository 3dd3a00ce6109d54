/**
 * Reading a CLI child's stderr under `--progress json` (contracts.md §2): whole lines are split out of
 * arbitrary chunks; each line is either a CliProgress object or ordinary text (warnings, the one-line
 * error). No runtime imports: used by the extension host, tested in unit tests.
 */
import type { CliProgress } from './protocol';

export function parseCliProgress(line: string): CliProgress | undefined {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return undefined;
  }
  const o = v as Partial<CliProgress> | null;
  if (!o || o.type !== 'progress' || typeof o.task !== 'string' || typeof o.unit !== 'string') return undefined;
  if (
    typeof o.done !== 'number' ||
    typeof o.total !== 'number' ||
    !Number.isFinite(o.done) ||
    !Number.isFinite(o.total)
  )
    return undefined;
  return o as CliProgress;
}

/** Feeds chunks, calls back once per complete line (a partial line waits for its end). */
export class LineSplitter {
  private rest = '';
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: string | Buffer): void {
    const text = this.rest + String(chunk);
    const lines = text.split(/\r?\n/);
    this.rest = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) this.onLine(l);
  }
  /** The unterminated last line, if any (call when the stream ends). */
  end(): void {
    if (this.rest.trim()) this.onLine(this.rest);
    this.rest = '';
  }
}

/** "12 s", "3 min", "1 h 20 min": short, for a progress line. */
export function eta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** What a notification shows: "configurations 33/264 · ≈ 1 min left". */
export function progressText(p: CliProgress): string {
  const n = (x: number) => (Number.isInteger(x) ? x.toLocaleString('en-US') : x.toFixed(1));
  return [
    `${p.task} ${n(p.done)}/${n(p.total)}${p.unit && p.unit !== p.task ? ` ${p.unit}` : ''}`,
    p.etaSeconds !== undefined ? `≈ ${eta(p.etaSeconds)} left` : undefined,
    p.message,
  ]
    .filter(Boolean)
    .join(' · ');
}
