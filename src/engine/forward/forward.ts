/**
 * The one forward interface of the engine (issue 11 part 1): training-time evaluation, every measure,
 * the `forward` command and the checkpoint summaries run
 *
 *   forward.run(batch, clamps, { sequences, record }) → query logits [B, L] + recorded sites
 *
 * with the fast engine wherever it supports the clamps (forward/support.ts) and TensorFlow.js otherwise —
 * the same rule as training (`auto`), or the engine asked for. Each result says which engine ran; `choose`
 * says why. The clean pass the two-pass clamps read is cached per batch object, so a measure that runs
 * many configurations on the same chunk computes it once (the cache assumes the parameters do not change
 * until parametersChanged() says otherwise).
 */
import { ModelConfig } from '../model/config';
import { siteShapes } from '../model/sites';
import { Params, cloneParams } from '../model/params';
import { HostBatch, itemExemplars } from '../model/hostBatch';
import { TfWeights } from '../model/tfModel';
import { ClampSpec, isActive } from '../clamps/spec';
import { readsExemplars } from '../clamps/support';
import { FastModel } from '../fast/model';
import { AblationEvaluator, ablationPlan } from '../fast/ablationEval';
import { sharedAblationEvaluator, sharedFastModel } from '../fast/pool';
import type { WasmPreference } from '../fast/kernels';
import { fastForwardUnsupported } from './support';
import { CleanActs, constantOverrides, fastClampedForward } from './fastForward';
import type { HostOverride } from '../model/hostOverride';
import { tfClampedForward } from './tfForward';

export type EngineName = 'fast' | 'tfjs';
export type EnginePreference = 'auto' | EngineName;

export interface ForwardOptions {
  /** Sequences seen, for the clamps' windows; undefined: every clamp is active. */
  sequences?: number;
  /** Sites to return (post-override, in the layouts of model/sites.ts). */
  record?: ReadonlySet<string>;
  /**
   * Sites to return at the query position only — [B, X] of a [B, T, X] site, [B, H, D] of a per-head site,
   * [B, H, T_key] of scores and patterns — so the last block need not run at every position.
   */
  recordQuery?: ReadonlySet<string>;
}

export interface ForwardOutput {
  /** [B, L] logits at the query position (the caller's to keep). */
  logits: Float32Array;
  acts: Map<string, Float32Array>;
  /** The recordQuery sites' query slices. */
  queryActs: Map<string, Float32Array>;
  engine: EngineName;
}

/** Where the parameters live: plain arrays, a fast model's own buffers (training) or TF.js variables. */
export type ForwardSource = { params: Params } | { fast: FastModel } | { tf: TfWeights };

export interface ForwardConstructorOptions {
  engine?: EnginePreference;
  wasm?: WasmPreference;
  /**
   * Many configurations will run on the same batches (measures): head-ablation configurations then run
   * from a cached clean pass of each batch (fast/ablationEval.ts) instead of a full pass each.
   */
  reuseBatches?: boolean;
}

/** The clamps active at `sequences` with their windows dropped (they have done their job). */
export function activeClamps(clamps: ClampSpec[], sequences?: number): ClampSpec[] {
  return clamps
    .filter((k) => sequences === undefined || isActive(k, sequences))
    .map(({ from: _f, until: _u, ...k }) => k as ClampSpec);
}

export class Forward {
  readonly engine: EnginePreference;
  /** Passes run, by engine, and clean passes computed (tests and progress lines read them). */
  readonly stats = { fast: 0, tfjs: 0, cleanPasses: 0 };
  /** Clean passes of the ablation evaluator (reuseBatches). */
  get evaluatorCleanPasses(): number {
    return this.evaluator?.cleanPasses ?? 0;
  }
  private fast: FastModel | null = null;
  private tfw: TfWeights | null = null;
  private ownsTf = false;
  private params: Params | null = null;
  private readonly wasm: WasmPreference;
  private clean = new WeakMap<HostBatch, CleanActs>();
  private readonly constantCache = new WeakMap<HostBatch, Map<string, Map<string, HostOverride>>>();
  private readonly reuse: boolean;
  private evaluator: AblationEvaluator | null = null;
  private readonly notFast = new Map<string, string | null>();

  constructor(
    readonly config: ModelConfig,
    source: ForwardSource,
    opts: ForwardConstructorOptions = {},
  ) {
    this.engine = opts.engine ?? 'auto';
    this.wasm = opts.wasm ?? 'auto';
    this.reuse = opts.reuseBatches ?? false;
    if ('params' in source) this.params = source.params;
    else if ('fast' in source) {
      this.fast = source.fast;
      this.params = source.fast.paramViews();
    } else this.tfw = source.tf;
  }

  /** Which engine runs this clamp list (at `sequences`) and why not the fast one. */
  choose(clamps: ClampSpec[], sequences?: number): { engine: EngineName; reason: string | null } {
    return this.engineFor(activeClamps(clamps, sequences));
  }

  private engineFor(active: ClampSpec[]): { engine: EngineName; reason: string | null } {
    if (this.engine === 'tfjs') return { engine: 'tfjs', reason: 'the TensorFlow.js engine was asked for' };
    const why = this.whyNotFast(active);
    if (why && this.engine === 'fast') throw new Error(`the engine is "fast" but ${why}`);
    return why ? { engine: 'tfjs', reason: why } : { engine: 'fast', reason: null };
  }

  /**
   * fastForwardUnsupported of an active clamp list, once per list (by its JSON; the config is fixed): it runs
   * rarely enough to stay cold code, ≈ 50 µs a call, twice per training-time evaluation.
   */
  private whyNotFast(active: ClampSpec[]): string | null {
    const key = JSON.stringify(active);
    let why = this.notFast.get(key);
    if (why === undefined) {
      why = fastForwardUnsupported(this.config, active);
      if (this.notFast.size >= 16) this.notFast.delete(this.notFast.keys().next().value as string);
      this.notFast.set(key, why);
    }
    return why;
  }

  run(batch: HostBatch, clamps: ClampSpec[], opts: ForwardOptions = {}): ForwardOutput {
    const active = activeClamps(clamps, opts.sequences);
    const { engine } = this.engineFor(active);
    if (engine === 'fast') {
      this.stats.fast++;
      const model = this.fastModel(),
        params = this.hostParams();
      if (this.reuse) {
        const exemplars = readsExemplars(active) ? itemExemplars(batch, this.config.inputDim) : undefined;
        const plan = ablationPlan(
          this.config,
          active,
          { labels: batch.labels, size: batch.size, exemplars },
          opts.record,
          opts.recordQuery,
        );
        if (plan) return { ...(this.evaluator ??= sharedAblationEvaluator(model)).run(params, batch, plan), engine };
      }
      const r = fastClampedForward(
        model,
        params,
        batch,
        active,
        opts,
        (sites) => this.cleanPass(batch, sites),
        (ordered) => this.constants(batch, ordered),
      );
      return { ...r, engine };
    }
    this.stats.tfjs++;
    const full = new Set([...(opts.record ?? []), ...(opts.recordQuery ?? [])]);
    const r = tfClampedForward(this.config, this.tfWeights(), batch, active, full);
    const shapes = siteShapes(this.config, batch.size),
      queryActs = new Map<string, Float32Array>();
    for (const s of opts.recordQuery ?? []) queryActs.set(s, querySlice(s, r.acts.get(s)!, shapes[s]));
    for (const s of opts.recordQuery ?? []) if (!opts.record?.has(s)) r.acts.delete(s);
    return { logits: r.logits, acts: r.acts, queryActs, engine };
  }

  /** The clean pass's sites for this batch (computed, or extended to more sites, on demand). */
  private cleanPass(batch: HostBatch, sites: { full: Set<string>; query: Set<string> }): CleanActs {
    const have = this.clean.get(batch);
    if (
      have &&
      [...sites.full].every((s) => have.acts.has(s)) &&
      [...sites.query].every((s) => have.queryActs.has(s) || have.acts.has(s))
    ) {
      return have;
    }
    const full = new Set([...(have?.acts.keys() ?? []), ...sites.full]);
    const query = new Set([...(have?.queryActs.keys() ?? []), ...sites.query].filter((s) => !full.has(s)));
    this.stats.cleanPasses++;
    const r = this.fastModel().run(this.hostParams(), batch, { backward: false, record: full, recordQuery: query });
    const shapes = siteShapes(this.config, batch.size);
    // A site recorded in full also answers its query slice.
    for (const s of sites.query) if (!r.queryActs.has(s)) r.queryActs.set(s, querySlice(s, r.acts.get(s)!, shapes[s]));
    const acts: CleanActs = { acts: r.acts, queryActs: r.queryActs };
    this.clean.set(batch, acts);
    return acts;
  }

  /** The constant clamps' overrides for this batch (they depend on the batch only): built once per batch and clamp list. */
  private constants(batch: HostBatch, ordered: ClampSpec[]): Map<string, HostOverride> {
    const key = JSON.stringify(ordered);
    let byKey = this.constantCache.get(batch);
    if (!byKey) {
      byKey = new Map();
      this.constantCache.set(batch, byKey);
    }
    let o = byKey.get(key);
    if (!o) {
      o = constantOverrides(this.config, batch, ordered);
      if (byKey.size >= 16) byKey.delete(byKey.keys().next().value as string);
      byKey.set(key, o);
    }
    return o;
  }

  /**
   * The parameters changed (a training step): clean passes are recomputed; the constant clamps'
   * overrides, which depend only on the batches, are kept.
   */
  parametersChanged(): void {
    this.clean = new WeakMap();
    this.evaluator?.forget();
  }

  private hostParams(): Params {
    if (!this.params) this.params = this.tfw!.read();
    return this.params;
  }

  private fastModel(): FastModel {
    if (!this.fast) this.fast = sharedFastModel(this.config, this.wasm);
    return this.fast;
  }

  private tfWeights(): TfWeights {
    if (!this.tfw) {
      this.tfw = new TfWeights(this.config, cloneParams(this.hostParams()), false);
      this.ownsTf = true;
    }
    return this.tfw;
  }

  /** Frees what this Forward created (the TF.js variables it made; WebAssembly memory goes with the model). */
  dispose(): void {
    if (this.ownsTf && this.tfw) this.tfw.dispose();
    this.tfw = null;
    this.ownsTf = false;
  }
}

/** The query position's slice of a recorded site in its interface layout (see ForwardOptions.recordQuery). */
export function querySlice(name: string, full: Float32Array, shape: number[]): Float32Array {
  const B = shape[0];
  if (name.endsWith('.hook_attn_scores') || name.endsWith('.hook_pattern')) {
    const [, H, T] = shape; // [B, H, T, T] → [B, H, T]
    return gatherRows(full, B * H, T, (T - 1) * T, T * T);
  }
  const T = shape[1],
    X = full.length / (B * T); // [B, T, …] → [B, …]
  return gatherRows(full, B, X, (T - 1) * X, T * X);
}

/** Rows r < n of `width` floats at r·stride + offset, packed. */
function gatherRows(src: Float32Array, n: number, width: number, offset: number, stride: number): Float32Array {
  const out = new Float32Array(n * width);
  // Short rows by index (a subarray view per row costs more than its copy); long ones by memcpy.
  if (width < 32)
    for (let r = 0, o = 0; r < n; r++) for (let i = r * stride + offset, e = i + width; i < e; i++) out[o++] = src[i];
  else for (let r = 0; r < n; r++) out.set(src.subarray(r * stride + offset, r * stride + offset + width), r * width);
  return out;
}
