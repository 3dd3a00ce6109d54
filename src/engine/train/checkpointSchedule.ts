/**
 * When a run saves checkpoints. The reference saves every 1,000 sequences or only at the end (spec §2.4);
 * to watch a head form a run needs a checkpoint at 0, dense ones early and several inside the phase
 * change, wherever that falls. `train.checkpoints` says which (counts are sequences, like every count of
 * a run config):
 *
 *   absent / null         the cadence train.checkpointEvery (0: none) — the old setting, kept for old configs
 *   [s1, s2, …]          exactly these counts
 *   { log, linear, every, at, lossChange, zero }   the union of the parts given:
 *     log: K          K counts log-spaced from one batch to the end   c_i = B·(T/B)^(i/(K−1)),  i = 0…K−1
 *     linear: M       M counts evenly spaced from 0 to the end        c_i = T·i/(M−1),          i = 0…M−1
 *                     (log + linear is devinterp's `checkpoint_steps: {log_space, linear_space}`, in steps there)
 *     every: N        every multiple of N, 0 included
 *     at: [s1, …]     these counts too
 *     lossChange: δ   each evaluation whose fsl_train loss differs by ≥ δ from the loss at the last evaluation
 *                     this part fired at (first reference: the evaluation at 0): dense where the loss moves fast
 *     zero: false     no checkpoint at 0 (default: one at 0)
 *
 * Snapping: a count c lands on the first step whose sequence count reaches it, ceil(c/B)·B with B the batch
 * size (the rule evaluation already follows), so counts that snap to one step give one checkpoint. The final
 * checkpoint is always saved; a stop (Ctrl-C, cancel) saves one where it stops. Everything but `lossChange`
 * is known before the run (`plannedCheckpoints`); `lossChange` depends only on the logged evaluations, so a
 * resumed run re-derives its state from metrics.jsonl and saves the same checkpoints as an uninterrupted one.
 */
import type { MetricsRecord } from '../../shared/protocol';

export interface CheckpointRule {
  log?: number;
  linear?: number;
  every?: number;
  at?: number[];
  lossChange?: number;
  zero?: boolean;
}
export type CheckpointsSetting = number[] | CheckpointRule;

/** What the schedule needs of a run's train config. */
export interface ScheduleTrain {
  batchSize: number;
  sequences: number;
  evalEvery: number;
  checkpointEvery: number;
  checkpoints?: CheckpointsSetting | null;
}

export const RULE_KEYS: Record<keyof CheckpointRule, string> = {
  log: 'K counts log-spaced from one batch to the end',
  linear: 'M counts evenly spaced from 0 to the end',
  every: 'every multiple of N sequences',
  at: 'a list of extra sequence counts',
  lossChange: 'at each evaluation where the fsl_train loss moved by ≥ δ',
  zero: 'a checkpoint at 0 (default true)',
};

/** The schedule the start flow offers for watching a head form (the fast presets' default). */
export const FORMATION_RULE: CheckpointRule = { log: 10, linear: 11, lossChange: 0.05 };

/** More checkpoints than this is a typo, not a schedule (each is ≈ 0.3 MB for the paper's model). */
export const MAX_CHECKPOINTS = 10_000;
const MAX_COUNT = 1e10;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const json = (x: unknown) => JSON.stringify(x);

function wholeCount(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_COUNT) {
    throw new Error(`${where} must be a whole number of sequences in [0, ${MAX_COUNT}], got ${json(v)}`);
  }
  return v;
}

function countList(v: unknown, where: string, sequences: number): number[] {
  if (!Array.isArray(v)) throw new Error(`${where} must be a list of sequence counts, got ${json(v)}`);
  if (v.length > MAX_CHECKPOINTS) {
    throw new Error(`${where} lists ${v.length} checkpoints (at most ${MAX_CHECKPOINTS})`);
  }
  return v.map((x, i) => {
    const c = wholeCount(x, `${where}[${i}]`);
    if (c > sequences) {
      throw new Error(`${where}[${i}] = ${c} is beyond the end of the run (train.sequences = ${sequences})`);
    }
    return c;
  });
}

/**
 * Throws one clear line when `v` is not a valid `train.checkpoints` (null and undefined are valid: the
 * cadence `checkpointEvery` applies).
 */
export function validateCheckpoints(
  v: unknown,
  train: Omit<ScheduleTrain, 'checkpoints'>,
  where = 'train.checkpoints',
): void {
  if (v === undefined || v === null) return;
  if (Array.isArray(v)) {
    countList(v, where, train.sequences);
    return;
  }
  if (!isObj(v)) {
    throw new Error(
      `${where} must be a list of sequence counts or a rule such as ` +
        `{"log": 10, "linear": 11, "lossChange": 0.05}, got ${json(v)}`,
    );
  }
  const known = Object.keys(RULE_KEYS);
  for (const k of Object.keys(v)) {
    if (!known.includes(k)) {
      const list = known.map((n) => `${n} = ${RULE_KEYS[n as keyof CheckpointRule]}`).join('; ');
      throw new Error(`unknown key "${k}" in ${where} (known: ${list})`);
    }
  }
  for (const k of ['log', 'linear'] as const) {
    const x = v[k];
    if (x !== undefined && (typeof x !== 'number' || !Number.isInteger(x) || x < 2 || x > MAX_CHECKPOINTS)) {
      throw new Error(`${where}.${k} must be a whole number of checkpoints in [2, ${MAX_CHECKPOINTS}], got ${json(x)}`);
    }
  }
  if (v.every !== undefined) {
    const e = v.every;
    if (typeof e !== 'number' || !Number.isInteger(e) || e < 1 || e > MAX_COUNT) {
      throw new Error(`${where}.every must be a whole number of sequences ≥ 1, got ${json(e)}`);
    }
    if (train.sequences / e > MAX_CHECKPOINTS) {
      const n = Math.floor(train.sequences / e);
      throw new Error(`${where}.every = ${e} makes ${n} checkpoints (at most ${MAX_CHECKPOINTS})`);
    }
  }
  if (v.at !== undefined) countList(v.at, `${where}.at`, train.sequences);
  if (v.lossChange !== undefined) {
    const d = v.lossChange;
    if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0 || d > 100) {
      throw new Error(`${where}.lossChange must be a loss difference in (0, 100], got ${json(d)}`);
    }
  }
  if (v.zero !== undefined && typeof v.zero !== 'boolean') {
    throw new Error(`${where}.zero must be true or false, got ${json(v.zero)}`);
  }
}

/** The first step's sequence count that reaches `c`: ceil(c/B)·B. */
export const snap = (c: number, batchSize: number): number => Math.ceil(c / batchSize) * batchSize;

/** The run's last sequence count (the final checkpoint): the first step that reaches train.sequences. */
export const finalCount = (t: Pick<ScheduleTrain, 'batchSize' | 'sequences'>): number => snap(t.sequences, t.batchSize);

/** log: K counts B·(T/B)^(i/(K−1)); when T ≤ B every count is T. */
export function logSpaced(k: number, batchSize: number, total: number): number[] {
  const lo = Math.min(batchSize, total);
  return Array.from({ length: k }, (_, i) => (i === k - 1 ? total : Math.round(lo * (total / lo) ** (i / (k - 1)))));
}

/** linear: M counts T·i/(M−1). */
export function linearSpaced(m: number, total: number): number[] {
  return Array.from({ length: m }, (_, i) => Math.round((total * i) / (m - 1)));
}

/** The counts a rule or list names before snapping (the loss-driven part excluded), ascending, distinct. */
export function scheduledCounts(t: Omit<ScheduleTrain, 'evalEvery'>): number[] {
  const v = t.checkpoints;
  const T = t.sequences,
    out: number[] = [];
  if (v === undefined || v === null) {
    if (t.checkpointEvery > 0) for (let c = t.checkpointEvery; c < T; c += t.checkpointEvery) out.push(c);
  } else if (Array.isArray(v)) out.push(...v);
  else {
    if (v.zero !== false) out.push(0);
    if (v.log) out.push(...logSpaced(v.log, t.batchSize, T));
    if (v.linear) out.push(...linearSpaced(v.linear, T));
    if (v.every) for (let c = 0; c < T; c += v.every) out.push(c);
    if (v.at) out.push(...v.at);
    if (v.zero === false) return [...new Set(out.filter((c) => c > 0))].sort((a, b) => a - b);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

/**
 * The checkpoints a run will save apart from the loss-driven ones and stops: every scheduled count
 * snapped to its step, plus the final one; ascending, distinct.
 */
export function plannedCheckpoints(t: Omit<ScheduleTrain, 'evalEvery'>): number[] {
  const end = finalCount(t);
  const snapped = scheduledCounts(t).map((c) => Math.min(snap(c, t.batchSize), end));
  return [...new Set([...snapped, end])].sort((a, b) => a - b);
}

/** One line for logs and the start flow, e.g. "0, 10 log-spaced, 11 evenly spaced, … (≈ 21 planned)". */
export function describeCheckpoints(t: Omit<ScheduleTrain, 'evalEvery'>): string {
  const v = t.checkpoints,
    n = plannedCheckpoints(t).length;
  if (v === undefined || v === null) {
    if (t.checkpointEvery <= 0) return 'the final one only';
    return `every ${t.checkpointEvery} sequences and the final one (${n})`;
  }
  if (Array.isArray(v)) return `at ${v.length} listed counts and the final one (${n})`;
  const parts: string[] = [];
  if (v.zero !== false) parts.push('at 0');
  if (v.log) parts.push(`${v.log} log-spaced`);
  if (v.linear) parts.push(`${v.linear} evenly spaced`);
  if (v.every) parts.push(`every ${v.every} sequences`);
  if (v.at?.length) parts.push(`at ${v.at.length} listed counts`);
  const planned = `${n} planned`;
  if (v.lossChange) {
    return (
      `${parts.join(', ')}, and at each evaluation where the fsl_train loss moved by ≥ ${v.lossChange} ` +
      `(${planned} + the loss-driven ones)`
    );
  }
  return `${parts.join(', ')} and the final one (${planned})`;
}

/** A few words for a picker, e.g. "0 + 10 log-spaced + 11 linear + where the loss moves ≥ 0.05". */
export function shortCheckpointLabel(t: Omit<ScheduleTrain, 'evalEvery'>): string {
  const v = t.checkpoints;
  if (v === undefined || v === null) {
    return t.checkpointEvery > 0 ? `every ${t.checkpointEvery.toLocaleString('en-US')}` : 'final only';
  }
  if (Array.isArray(v)) return `${v.length} listed counts`;
  return [
    v.zero !== false ? '0' : '',
    v.log ? `${v.log} log-spaced` : '',
    v.linear ? `${v.linear} linear` : '',
    v.every ? `every ${v.every.toLocaleString('en-US')}` : '',
    v.at?.length ? `${v.at.length} listed` : '',
    v.lossChange ? `where the loss moves ≥ ${v.lossChange}` : '',
  ]
    .filter(Boolean)
    .join(' + ');
}

/** Whether `s` is a regular evaluation point: 0 or the first step reaching a multiple of evalEvery. */
function regularEval(s: number, t: Pick<ScheduleTrain, 'batchSize' | 'evalEvery'>): boolean {
  return s === 0 || Math.floor(s / t.evalEvery) > Math.floor((s - t.batchSize) / t.evalEvery);
}

/**
 * The trainer's checkpoint predicate. `due(before, after, evalLoss)` is asked once per step, after that
 * step's evaluation (if one ran); the final checkpoint and stops are the trainer's own.
 */
export class CheckpointSchedule {
  private readonly planned: Set<number>;
  private readonly legacy: boolean;
  private readonly lossChange: number | null;
  /** fsl_train loss at the last evaluation the loss-driven part fired at (first: at 0). */
  private reference: number | null = null;

  /** `history`: the metrics rows already logged (a resumed run), from which the loss-driven state is rebuilt. */
  constructor(
    private readonly t: ScheduleTrain,
    history: ReadonlyArray<Pick<MetricsRecord, 'sequences' | 'eval'>> = [],
  ) {
    const v = t.checkpoints;
    this.lossChange = v && !Array.isArray(v) && v.lossChange ? v.lossChange : null;
    // The old cadence is checked arithmetically (checkpointEvery may be 1); the rest is a set of snapped counts.
    this.legacy = v === undefined || v === null;
    this.planned = new Set(this.legacy ? [] : plannedCheckpoints(t));
    // Only regular evaluations count: a stop's extra evaluation must not shift later checkpoints.
    for (const r of history) {
      const loss = r.eval?.fsl_train?.loss;
      if (regularEval(r.sequences, t) && typeof loss === 'number') this.lossMoved(r.sequences, loss);
    }
  }

  /**
   * Called once before the first step of a fresh run with the fsl_train loss of the evaluation at 0 (the
   * loss-driven part's first reference); true when the run checkpoints at 0.
   */
  start(evalLoss?: number): boolean {
    if (evalLoss !== undefined && Number.isFinite(evalLoss)) this.lossMoved(0, evalLoss);
    return this.planned.has(0);
  }

  /** Whether the step that took the counter from `before` to `after` sequences ends with a checkpoint. */
  due(before: number, after: number, evalLoss?: number): boolean {
    const moved = evalLoss !== undefined && Number.isFinite(evalLoss) && this.lossMoved(after, evalLoss);
    if (this.legacy) {
      const n = this.t.checkpointEvery;
      return n > 0 && Math.floor(after / n) > Math.floor(before / n);
    }
    // Snapped counts are multiples of the batch size, and so is every step's count.
    return moved || this.planned.has(after);
  }

  /** Whether some checkpoint depends on an evaluation's loss (`lossChange`). */
  get readsLoss(): boolean {
    return this.lossChange !== null;
  }

  /** The part of `due` known without the step's evaluation (the planned counts, the old cadence); no state change. */
  dueWithoutLoss(before: number, after: number): boolean {
    if (this.legacy) {
      const n = this.t.checkpointEvery;
      return n > 0 && Math.floor(after / n) > Math.floor(before / n);
    }
    return this.planned.has(after);
  }

  private lossMoved(at: number, loss: number): boolean {
    if (this.lossChange === null) return false;
    if (at === 0 || this.reference === null) {
      this.reference = loss;
      return false;
    }
    if (Math.abs(loss - this.reference) < this.lossChange) return false;
    this.reference = loss;
    return true;
  }
}
