/**
 * The pure half of "Start clamped run" (no vscode import: unit-tested): which item each step focuses, the
 * preset's own clamps, the confirm step's lines (one clamp per line, nothing cut off) and the engine's
 * verdict on the combined clamp list (refusal or warnings, spec §4 rules in clamps/spec.ts).
 */
import {
  ClampSpec,
  clampHeads,
  clampWarnings,
  describeClamp,
  ModelShape,
  normalizeClamps,
  PATTERN_KINDS,
} from '../engine/clamps/spec';
import { CheckpointsSetting, plannedCheckpoints, shortCheckpointLabel } from '../engine/train/checkpointSchedule';

/** The basic presets (science/presets.ts); every other preset name is a figure condition (`fig5b.noclamp`…). */
const BASIC = new Set(['paper', 'fast', 'demo', 'smoke']);

export interface PresetEntry {
  name: string;
  description: string;
}
export interface PresetGroup {
  title: string;
  presets: PresetEntry[];
}

/** Presets first (in their order), then the figure conditions, as two groups for quick-pick separators. */
export function groupPresets(all: PresetEntry[]): PresetGroup[] {
  const basic = all.filter((p) => BASIC.has(p.name)),
    figures = all.filter((p) => !BASIC.has(p.name));
  return [
    { title: 'Presets', presets: basic },
    { title: 'Figure conditions', presets: figures },
  ].filter((g) => g.presets.length);
}

/** The name to focus: the default when it exists, else the first (a stale `defaultPreset` setting). */
export function focusName(names: string[], dflt: string | undefined): string | undefined {
  return dflt !== undefined && names.includes(dflt) ? dflt : names[0];
}

/** What a head is already doing under `clamps` (shown beside it in the head pickers), or undefined. */
export function headRole(head: string, clamps: ClampSpec[]): string | undefined {
  const roles: string[] = [];
  for (const c of clamps) {
    if (!clampHeads(c).includes(head)) continue;
    const win = c.from !== undefined || c.until !== undefined ? ` [${c.from ?? 0}, ${c.until ?? '∞'})` : '';
    roles.push(
      c.kind === 'ablate' ? `ablated${win}` : PATTERN_KINDS.has(c.kind) ? `${c.kind} clamp${win}` : `${c.kind}${win}`,
    );
  }
  return roles.length ? roles.join(', ') : undefined;
}

export interface StartVerdict {
  /** The canonical clamp list, when the engine accepts it. */
  clamps?: ClampSpec[];
  /** The engine's one-line refusal, when it does not. */
  error?: string;
  warnings: string[];
}

/** Runs the engine's own validation (the CLI and config files get the same) on the combined list. */
export function judgeClamps(clamps: ClampSpec[], model: ModelShape): StartVerdict {
  try {
    const normalized = normalizeClamps(clamps, model);
    return { clamps: normalized, warnings: clampWarnings(normalized, model) };
  } catch (e) {
    return { error: (e as Error).message, warnings: [] };
  }
}

/** One line per clamp, with its window; the confirm step shows each as its own row. */
export function clampLines(clamps: ClampSpec[]): string[] {
  return clamps.length ? clamps.map(describeClamp) : ['no clamps'];
}

/**
 * Splits text into lines of at most `width` characters at spaces (a longer word stays whole): quick-pick
 * rows do not wrap, so a long message becomes several rows instead of an ellipsis.
 */
export function wrapText(text: string, width = 72): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

export interface CheckpointChoice {
  /** Short label of the schedule. */
  label: string;
  /** Config to merge into `train` (empty: the preset's own cadence). */
  train: Record<string, unknown>;
  /** Checkpoints the run will save (including the final one). */
  count: number;
}

/**
 * "Dense early (log-spaced) + linear": 0, then `log` counts log-spaced from one batch to a tenth of the run
 * (the plateau and the phase change sit early), then `linear` evenly spaced ones to the end; multiples of the
 * batch size, sorted, without repeats.
 */
export function denseEarlySchedule(total: number, batch: number, log = 12, linear = 20): number[] {
  const snap = (x: number) => Math.min(total, Math.max(0, Math.round(x / batch) * batch));
  const out = new Set<number>([0, total]);
  const lo = batch,
    hi = Math.max(batch, total / 10);
  for (let i = 0; i < log; i++) out.add(snap(lo * (hi / lo) ** (i / Math.max(1, log - 1))));
  for (let i = 1; i <= linear; i++) out.add(snap((total * i) / linear));
  return [...out].sort((a, b) => a - b);
}

/** Checkpoints a `checkpointEvery` cadence saves over `total` sequences (multiples, plus the final one). */
export function cadenceCount(total: number, every: number): number {
  if (every <= 0) return 1;
  const n = Math.floor(total / every);
  return n + (n * every === total ? 0 : 1);
}

/**
 * The two schedules the start flow offers: the preset's own (a `train.checkpoints` rule, or its cadence), and
 * dense early (log-spaced) + linear as an explicit `train.checkpoints` list.
 */
export function checkpointChoices(train: {
  sequences: number;
  batchSize: number;
  checkpointEvery: number;
  checkpoints?: CheckpointsSetting;
}): [CheckpointChoice, CheckpointChoice] {
  const fmt = (n: number) => n.toLocaleString('en-US');
  // A preset with a train.checkpoints schedule: its planned checkpoints (the loss-driven ones come on top).
  const preset: CheckpointChoice = train.checkpoints
    ? { label: `the preset's (${shortCheckpointLabel(train)})`, train: {}, count: plannedCheckpoints(train).length }
    : {
        label:
          train.checkpointEvery > 0
            ? `the preset's cadence (every ${fmt(train.checkpointEvery)})`
            : "the preset's (final only)",
        train: {},
        count: cadenceCount(train.sequences, train.checkpointEvery),
      };
  const list = denseEarlySchedule(train.sequences, train.batchSize);
  return [preset, { label: 'dense early (log-spaced) + linear', train: { checkpoints: list }, count: list.length }];
}

/**
 * A clamp short form's error as the person who typed it reads it: the engine's messages name the config
 * path (`clamps[0]: …`, `clamps[0].strength must …`), which the start flow's one short form does not have.
 */
export function clampInputError(message: string): string {
  return message.replace(/^clamps\[\d+\](?:\.([\w.]+))?:?\s*/, (_m, field?: string) => (field ? `${field} ` : ''));
}

/** The VS Code settings a new run's config takes unless it sets them itself (contracts.md §1 for the engine). */
export interface StartSettings {
  engine: string;
  backend: string;
  evalEvery: number;
  tensorboard: boolean;
}

/**
 * Adds the settings to a run config's `train`: engine and TF.js backend unless "auto" (the backend only
 * matters when TF.js trains; it never switches the fast engine off), the eval cadence when > 0, and
 * TensorBoard events (train.tensorboard). What the config sets wins.
 */
export function withStartSettings(
  config: Record<string, unknown> | undefined,
  s: StartSettings,
): Record<string, unknown> {
  const cfg = (config ?? {}) as { train?: Record<string, unknown> };
  const train: Record<string, unknown> = { ...(cfg.train ?? {}) };
  if (s.engine !== 'auto' && train.engine === undefined) train.engine = s.engine;
  if (s.backend !== 'auto' && train.backend === undefined) train.backend = s.backend;
  if (s.evalEvery > 0 && train.evalEvery === undefined) train.evalEvery = s.evalEvery;
  if (train.tensorboard === undefined) train.tensorboard = s.tensorboard;
  return { ...cfg, train };
}
