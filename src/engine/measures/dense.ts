/**
 * Dense evaluation of one checkpoint (spec §5.2–5.4): the model, with a list of clamps, over every
 * training sequence (78,400 with the paper's data config) or over a fixed seeded subsample of them,
 * giving per-sequence correctness and loss:
 *
 *   loss_s = logsumexp_j z_s[j] − z_s[y_s]        (CE over all L logits at the query)
 *   correct_s = [argmax_j z_s[j] = y_s]           (ties → the lowest label, like classificationMetrics)
 *   acc = mean_s correct_s,   meanLoss = mean_s loss_s
 *
 * and, on request, the dense induction strength of each last-layer head (§5.3) and the previous-token
 * score of each first-layer head (§5.4, raw, label rows):
 *
 *   IS_h = mean_s ( A_h[4, 2c_s+1] − A_h[4, 2(1−c_s)+1] ),   PT_h = mean_{s, i∈{1,3}} A_h[i, i−1]
 *
 * A `MeasureContext` holds one checkpoint's weights (behind the engine's one forward interface,
 * src/engine/forward: the fast engine wherever it supports a configuration's clamps, TensorFlow.js
 * otherwise), the task and the sequences; every configuration evaluated through it sees exactly the same
 * sequences. The subsample is drawn with a fixed seed from
 * the dense set, so it is also the same across checkpoints and across processes.
 */
import { Rng } from '../data/rng';
import { Batch, TaskData, loadTaskData } from '../data';
import { ModelConfig, seqLen } from '../model/config';
import { Params } from '../model/params';
import { sliceBatch } from '../model/tfModel';
import { HostBatch, hostBatch } from '../model/hostBatch';
import { readCheckpoint } from '../model/checkpoint';
import { site } from '../model/sites';
import { queryLoss } from '../model/queryLoss';
import { ClampSpec, isActive, normalizeClamps } from '../clamps/spec';
import { formatHead } from '../clamps/heads';
import { inductionStrengthAtQuery, prevTokenScore } from './attention';
import { CheckpointRef, RunDir } from '../io';
import { RunConfig, resolveStoredRunConfig } from '../train/runConfig';
import { EngineName, EnginePreference, Forward } from '../forward';

/** Seed of the subsample: fixed, so every configuration, checkpoint and process sees the same sequences. */
export const SUBSAMPLE_SEED = 5_2024;
/** Configurations remembered per context (oldest dropped first). */
export const MEMO_LIMIT = 64;
/** Sequences per forward call (each inside its own tf.tidy). */
export const DEFAULT_CHUNK = 2000;

export interface MeasureContext {
  /** The run's configuration (run.json `config`). */
  run: RunConfig;
  config: ModelConfig;
  params: Params;
  /** The checkpoint behind the forward interface; its engine preference is `forward.engine`. */
  forward: Forward;
  task: TaskData;
  /** The sequences every configuration is evaluated on: the dense set or its subsample. */
  batch: Batch;
  /** `batch` in chunks of `chunk` sequences, as the models read them (made once, so the clean passes cache per chunk). */
  readonly chunks: HostBatch[];
  /** Size of the full dense set (78,400 for the paper's data config). */
  denseSize: number;
  /** Subsample size, or null when `batch` is the whole dense set. */
  subsample: number | null;
  /** Sequence count of the checkpoint. */
  sequences: number;
  checkpointPath: string | null;
  runDir: RunDir | null;
  /**
   * Clamps prepended to every configuration: the run's own head ablations active at `sequences` (e.g.
   * REST_HEADS of a single-IH run), so the model is measured as it was trained. Empty for the main run.
   */
  baseClamps: ClampSpec[];
  /** Whether baseClamps follow the run's ablations (false: the bare model). */
  includeRunAblations: boolean;
  chunk: number;
  /** Forward work done through this context (tests and progress lines read it). */
  stats: { configs: number; chunks: number; memoHits: number };
  /** Results by configuration, so measures sharing a configuration (e.g. only-L2H3) run it once. */
  memo: Map<string, DenseResult>;
}

export interface HeadScores {
  /** Last-layer head names, e.g. L2H0…L2H7, and their induction strength (§5.3). */
  isHeads: string[];
  inductionStrength: number[];
  /** First-layer head names, e.g. L1H0…L1H7, and their previous-token score (§5.4). */
  ptHeads: string[];
  prevTokenScore: number[];
}

export interface DenseResult {
  n: number;
  /** The engine that ran it. */
  engine: EngineName;
  /** 1 where the argmax at the query is the target. */
  correct: Uint8Array;
  /** Cross-entropy of each sequence. */
  loss: Float32Array;
  acc: number;
  meanLoss: number;
  /** With `headScores: true`. */
  headScores?: HeadScores;
  /** Recorded sites, concatenated over chunks along the batch axis (with `record`). */
  acts?: Record<string, Float32Array>;
}

export interface DenseEvalOptions {
  /** Sites to return whole (post-override), e.g. site.pattern(1). Memory: B × site size floats. */
  record?: ReadonlySet<string>;
  /** Also compute IS of the last layer's heads and PT score of the first layer's heads. */
  headScores?: boolean;
  /** Skip the run's ablations for this call (default false: they are prepended). */
  withoutBaseClamps?: boolean;
}

/** m distinct indices of [0, n) drawn with a seeded partial Fisher–Yates, ascending. */
export function subsampleIndices(n: number, m: number, seed = SUBSAMPLE_SEED): Int32Array {
  if (!Number.isInteger(m) || m < 1) throw new Error(`subsample must be a positive whole number, got ${m}`);
  if (m >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(seed, 11);
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(n - i);
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx.slice(0, m).sort();
}

/** Rows `idx` of a batch. */
export function takeRows(batch: Batch, idx: ArrayLike<number>): Batch {
  const items = batch.labels.length / batch.size;
  const n = idx.length;
  const out: Batch = {
    size: n,
    classes: new Int32Array(n * items),
    exemplarIdx: new Int32Array(n * items),
    labels: new Int32Array(n * items),
    correct: new Uint8Array(n),
  };
  for (let r = 0; r < n; r++) {
    const s = idx[r];
    out.classes.set(batch.classes.subarray(s * items, (s + 1) * items), r * items);
    out.exemplarIdx.set(batch.exemplarIdx.subarray(s * items, (s + 1) * items), r * items);
    out.labels.set(batch.labels.subarray(s * items, (s + 1) * items), r * items);
    out.correct[r] = batch.correct[s];
  }
  return out;
}

/** The run's head ablations active at `sequences`, without their windows. */
export function runAblations(run: RunConfig, sequences: number): ClampSpec[] {
  const heads = run.clamps
    .filter((c) => c.kind === 'ablate' && isActive(c, sequences))
    .flatMap((c) => (c.kind === 'ablate' ? c.heads : []));
  return heads.length ? normalizeClamps([{ kind: 'ablate', heads: [...new Set(heads)] }], run.model) : [];
}

export interface MakeContextOptions {
  run: RunConfig;
  params: Params;
  task: TaskData;
  sequences: number;
  /** Subsample size (null/undefined: the whole dense set). */
  subsample?: number | null;
  /** Re-use an already drawn batch (contexts of other checkpoints of the same run). */
  batch?: { batch: Batch; denseSize: number; subsample: number | null };
  checkpointPath?: string | null;
  runDir?: RunDir | null;
  chunk?: number;
  /** Prepend the run's ablations active at `sequences` (default true). */
  includeRunAblations?: boolean;
  /** auto (the fast engine where it supports the clamps, the default), fast or tfjs. */
  engine?: EnginePreference;
}

export function makeMeasureContext(o: MakeContextOptions): MeasureContext {
  const config = o.run.model;
  if (config.depth < 2)
    throw new Error(`the dense measures need a model with ≥ 2 layers, this one has ${config.depth}`);
  if (seqLen(config) !== 5)
    throw new Error(
      `the dense measures are defined for 2 context pairs (5 tokens); this model has contextLen ${config.contextLen}`,
    );
  let b = o.batch;
  if (!b) {
    const dense = o.task.denseTrainSequences();
    const sub = o.subsample && o.subsample < dense.size ? o.subsample : null;
    b = {
      batch: sub ? takeRows(dense, subsampleIndices(dense.size, sub)) : dense,
      denseSize: dense.size,
      subsample: sub,
    };
  }
  const chunk = o.chunk ?? DEFAULT_CHUNK,
    batch = b.batch,
    bank = o.task.bank;
  let chunks: HostBatch[] | null = null;
  const ctx: MeasureContext = {
    run: o.run,
    config,
    params: o.params,
    forward: new Forward(config, { params: o.params }, { engine: o.engine, reuseBatches: true }),
    task: o.task,
    get chunks() {
      if (!chunks) {
        chunks = [];
        for (let start = 0; start < batch.size; start += chunk)
          chunks.push(hostBatch(bank, sliceBatch(batch, start, chunk)));
      }
      return chunks;
    },
    batch: b.batch,
    denseSize: b.denseSize,
    subsample: b.subsample,
    sequences: o.sequences,
    checkpointPath: o.checkpointPath ?? null,
    runDir: o.runDir ?? null,
    baseClamps: o.includeRunAblations === false ? [] : runAblations(o.run, o.sequences),
    includeRunAblations: o.includeRunAblations !== false,
    chunk,
    stats: { configs: 0, chunks: 0, memoHits: 0 },
    memo: new Map(),
  };
  return ctx;
}

/** The run's config from run.json, with a clear error when it is missing or invalid. */
export function readRunConfig(rd: RunDir): RunConfig {
  const j = rd.readRunJson<{ config?: unknown }>();
  if (!j || typeof j !== 'object' || j.config === undefined) throw new Error(`${rd.runJsonPath} has no "config"`);
  try {
    return resolveStoredRunConfig(j.config);
  } catch (e) {
    throw new Error(`${rd.runJsonPath}: invalid config: ${(e as Error).message}`);
  }
}

/** The checkpoint with this sequence count (default: the latest), or an error listing the available ones. */
export function findCheckpoint(rd: RunDir, sequences?: number): CheckpointRef {
  const all = rd.listCheckpoints();
  if (all.length === 0)
    throw new Error(`run ${rd.path} has no checkpoints (${rd.checkpointsDir} holds no seq-N.safetensors)`);
  if (sequences === undefined) return all[all.length - 1];
  const hit = all.find((c) => c.sequences === sequences);
  if (!hit)
    throw new Error(
      `checkpoint ${sequences} does not exist in ${rd.path} (available: ${listSequences(all.map((c) => c.sequences))})`,
    );
  return hit;
}

function listSequences(s: number[]): string {
  return s.length <= 24
    ? s.join(', ')
    : `${s.slice(0, 10).join(', ')}, … (${s.length - 20} more), ${s.slice(-10).join(', ')}`;
}

/**
 * Opens a run's checkpoint (default: the latest) for measuring: reads run.json's config, builds the
 * task and the dense set (or its seeded subsample of `subsample` sequences). Dispose with disposeContext.
 */
export async function openMeasureContext(
  runDir: string | RunDir,
  checkpointSequences?: number,
  subsample?: number | null,
  opts: { chunk?: number; includeRunAblations?: boolean; engine?: EnginePreference } = {},
): Promise<MeasureContext> {
  const rd = typeof runDir === 'string' ? RunDir.open(runDir) : runDir;
  const run = readRunConfig(rd);
  const ref = findCheckpoint(rd, checkpointSequences);
  const ck = readCheckpoint(ref.path, run.model);
  const task = await loadTaskData(run.data);
  return makeMeasureContext({
    run,
    params: ck.params,
    task,
    sequences: ref.sequences,
    subsample,
    checkpointPath: ref.path,
    runDir: rd,
    ...opts,
  });
}

/** A context for another checkpoint of the same run, on the same sequences (dispose it when done). */
export function contextAtCheckpoint(ctx: MeasureContext, ref: CheckpointRef): MeasureContext {
  const ck = readCheckpoint(ref.path, ctx.config);
  return makeMeasureContext({
    run: ctx.run,
    params: ck.params,
    task: ctx.task,
    sequences: ref.sequences,
    checkpointPath: ref.path,
    runDir: ctx.runDir,
    batch: { batch: ctx.batch, denseSize: ctx.denseSize, subsample: ctx.subsample },
    chunk: ctx.chunk,
    includeRunAblations: ctx.includeRunAblations,
    engine: ctx.forward.engine,
  });
}

export function disposeContext(ctx: MeasureContext): void {
  ctx.forward.dispose();
  ctx.memo.clear();
}

/** Head names of one layer: layerHeads(c, 1) = ['L2H0', …]. */
export function layerHeads(c: ModelConfig, layer: number): string[] {
  return Array.from({ length: c.numHeads }, (_, head) => formatHead({ layer, head }));
}

/** The full, validated clamp list of a configuration: the context's base clamps, then `clamps`. */
export function configurationClamps(ctx: MeasureContext, clamps: ClampSpec[], withoutBase = false): ClampSpec[] {
  return normalizeClamps([...(withoutBase ? [] : ctx.baseClamps), ...clamps], ctx.config);
}

/** Per-sequence CE and correctness from query logits [B, L] (model/queryLoss.ts). */
export function lossAndCorrect(
  logits: Float32Array,
  B: number,
  L: number,
  labels: Int32Array,
  items: number,
  loss: Float32Array,
  correct: Uint8Array,
  offset = 0,
): void {
  queryLoss(logits, B, L, labels, items, { loss, correct, outOffset: offset });
}

/**
 * Evaluates one configuration (the context's base clamps + `clamps`) on the context's sequences, in
 * chunks of ctx.chunk, through the context's forward interface. Results without `record` are memoised
 * per context.
 */
export function denseEval(ctx: MeasureContext, clamps: ClampSpec[], opts: DenseEvalOptions = {}): DenseResult {
  return denseEvalMany(ctx, [clamps], opts)[0];
}

/**
 * Evaluates several configurations, chunk by chunk (every configuration on one chunk before the next
 * chunk), so that each chunk's clean pass is computed once for all of them — what the influence matrix's
 * 264 configurations on the dense set need. `onProgress(done, total)` counts configurations finished.
 */
export function denseEvalMany(
  ctx: MeasureContext,
  configs: ClampSpec[][],
  opts: DenseEvalOptions = {},
  onProgress?: (done: number, total: number) => void,
): DenseResult[] {
  const record = opts.record && opts.record.size ? opts.record : undefined;
  const lists = configs.map((k) => configurationClamps(ctx, k, opts.withoutBaseClamps));
  const keys = lists.map((l) => JSON.stringify(l) + (opts.headScores ? '|hs' : ''));
  const out: Array<DenseResult | undefined> = keys.map((key) => {
    // A result with head scores also answers the same configuration without them.
    const m = record ? undefined : (ctx.memo.get(key) ?? (opts.headScores ? undefined : ctx.memo.get(key + '|hs')));
    if (m) ctx.stats.memoHits++;
    return m;
  });
  const todo = new Map<string, number[]>(); // distinct configurations still to compute → their positions
  keys.forEach((key, i) => {
    if (!out[i]) todo.set(key, [...(todo.get(key) ?? []), i]);
  });
  const work = [...todo.values()].map((at) => new Accumulator(ctx, lists[at[0]], opts));
  const total = work.length * ctx.chunks.length;
  let done = 0,
    start = 0;
  for (const chunk of ctx.chunks) {
    const sub = sliceBatch(ctx.batch, start, chunk.size);
    for (const a of work) {
      a.add(chunk, sub, start);
      done++;
      if (onProgress && done % ctx.chunks.length === 0) onProgress(done / ctx.chunks.length, total / ctx.chunks.length);
    }
    start += chunk.size;
  }
  [...todo.values()].forEach((at, w) => {
    const res = work[w].result();
    for (const i of at) out[i] = res;
    if (!record) {
      ctx.memo.set(keys[at[0]], res);
      // Bounded: the influence matrix alone runs 264 configurations; keep the most recent ones.
      if (ctx.memo.size > MEMO_LIMIT) ctx.memo.delete(ctx.memo.keys().next().value as string);
    }
  });
  return out as DenseResult[];
}

/** One configuration's per-sequence results, filled chunk by chunk. */
class Accumulator {
  private readonly loss: Float32Array;
  private readonly correct: Uint8Array;
  private readonly is: Float64Array;
  private readonly pt: Float64Array;
  private readonly parts = new Map<string, Float32Array[]>();
  private readonly want: Set<string>;
  private readonly wantQuery: Set<string>;
  private readonly engine: EngineName;

  constructor(
    private readonly ctx: MeasureContext,
    private readonly list: ClampSpec[],
    private readonly opts: DenseEvalOptions,
  ) {
    const c = ctx.config,
      B = ctx.batch.size,
      last = c.depth - 1;
    this.loss = new Float32Array(B);
    this.correct = new Uint8Array(B);
    this.is = new Float64Array(c.numHeads);
    this.pt = new Float64Array(c.numHeads);
    // Head scores read layer 0's pattern (label rows) and the last layer's query row only.
    this.want = new Set<string>(opts.record ?? []);
    if (opts.headScores) this.want.add(site.pattern(0));
    this.wantQuery = new Set<string>(opts.headScores ? [site.pattern(last)] : []);
    this.engine = ctx.forward.choose(list, ctx.sequences).engine;
    ctx.stats.configs++;
  }

  add(chunk: HostBatch, sub: Batch, start: number): void {
    const { ctx, opts } = this,
      c = ctx.config,
      n = chunk.size,
      H = c.numHeads,
      T = seqLen(c),
      last = c.depth - 1;
    const r = ctx.forward.run(chunk, this.list, {
      sequences: ctx.sequences,
      record: this.want,
      recordQuery: this.wantQuery,
    });
    ctx.stats.chunks++;
    lossAndCorrect(r.logits, n, c.numLabels, chunk.labels, c.contextLen + 1, this.loss, this.correct, start);
    if (opts.headScores) {
      const isC = inductionStrengthAtQuery(r.queryActs.get(site.pattern(last))!, n, H, T, sub.correct);
      const ptC = prevTokenScore(r.acts.get(site.pattern(0))!, n, H, T);
      for (let h = 0; h < H; h++) {
        this.is[h] += isC[h] * n;
        this.pt[h] += ptC[h] * n;
      }
    }
    for (const s of opts.record ?? []) this.parts.set(s, [...(this.parts.get(s) ?? []), r.acts.get(s)!]);
  }

  result(): DenseResult {
    const c = this.ctx.config,
      B = this.ctx.batch.size,
      last = c.depth - 1;
    let accSum = 0,
      lossSum = 0;
    for (let b = 0; b < B; b++) {
      accSum += this.correct[b];
      lossSum += this.loss[b];
    }
    const res: DenseResult = {
      n: B,
      engine: this.engine,
      correct: this.correct,
      loss: this.loss,
      acc: accSum / B,
      meanLoss: lossSum / B,
    };
    if (this.opts.headScores) {
      res.headScores = {
        isHeads: layerHeads(c, last),
        inductionStrength: Array.from(this.is, (v) => v / B),
        ptHeads: layerHeads(c, 0),
        prevTokenScore: Array.from(this.pt, (v) => v / B),
      };
    }
    if (this.opts.record && this.opts.record.size) {
      res.acts = {};
      for (const [s, arrs] of this.parts) {
        const out = new Float32Array(arrs.reduce((t, a) => t + a.length, 0));
        let o = 0;
        for (const a of arrs) {
          out.set(a, o);
          o += a.length;
        }
        res.acts[s] = out;
      }
    }
    return res;
  }
}

/** Dense IS of every last-layer head and PT score of every first-layer head, with the given clamps. */
export function denseHeadScores(ctx: MeasureContext, clamps: ClampSpec[] = []): HeadScores {
  return denseEval(ctx, clamps, { headScores: true }).headScores!;
}

export interface DenseSummary {
  formula: string;
  n: number;
  denseSize: number;
  subsample: number | null;
  sequences: number;
  clamps: ClampSpec[];
  acc: number;
  loss: number;
  inductionStrength: { heads: string[]; values: number[]; formula: string };
  prevTokenScore: { heads: string[]; values: number[]; formula: string };
}

export const DENSE_FORMULA =
  'acc = mean_s [argmax_j z_s[j] = y_s];  loss = mean_s (logsumexp_j z_s[j] − z_s[y_s])  over the dense training sequences (spec §5.2)';
export const IS_FORMULA =
  'IS_h = mean_s ( A_h[4, 2c+1] − A_h[4, 2(1−c)+1] ),  A = post-softmax pattern, c = correct_ind (spec §5.3)';
export const PT_FORMULA = 'PT_h = mean_{s, i∈{1,3}} A_h[i, i−1]  (label rows, raw; spec §5.4)';

/** The `dense` measure: accuracy, loss, IS and PT score of the model as trained (its own ablations kept). */
export function denseSummary(ctx: MeasureContext): DenseSummary {
  const r = denseEval(ctx, [], { headScores: true });
  const hs = r.headScores!;
  return {
    formula: DENSE_FORMULA,
    n: r.n,
    denseSize: ctx.denseSize,
    subsample: ctx.subsample,
    sequences: ctx.sequences,
    clamps: ctx.baseClamps,
    acc: r.acc,
    loss: r.meanLoss,
    inductionStrength: { heads: hs.isHeads, values: hs.inductionStrength, formula: IS_FORMULA },
    prevTokenScore: { heads: hs.ptHeads, values: hs.prevTokenScore, formula: PT_FORMULA },
  };
}
