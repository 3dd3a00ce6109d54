/**
 * The fast training path: the same model as src/engine/model/forward.ts (pre-LN attention-only blocks,
 * interleaved RoPE, causal mask S·M + (1−M)(−1e20), heads head-major [B, H, T, D] inside — the per-head
 * sites are position-major [B, T, H, D] at the interface, as in sites.ts —, weights [out, in]),
 * forward and hand-written backward, with every intermediate reachable as the same named site and the
 * same override semantics: where(mask, value, computed), no gradient into the computation an overridden
 * entry replaced, the gradient of downstream entries flowing normally.
 *
 * Every buffer lives in one WebAssembly memory (layout.ts: laid out once per batch size, reused across
 * calls); the loops run in the kernels of wasm/kernels.c (named GEMM operands: gemm.ts); this file is the
 * orchestration, nanoGPT-style, with the shape of every tensor beside it. Each run() makes one immutable
 * plan (RunPlan: which rows, which mode, which blocks pool or skip) that the forward and the backward
 * pass both read; the distinct embedding rows are found in rows.ts and the folded perfect copy is folds.ts. Notation: B batch, C context pairs, C1 = C+1 exemplars, T = 2C+1
 * tokens, N = B·T, d = dModel, H heads, D = d/H, L labels, I = inputDim.
 *
 * Work skipped or regrouped because the loss does not need it (the same math; float32 results differ by
 * summation order only):
 *  - Only the query position feeds the loss, so the last block's queries, scores, pattern, z, output,
 *    residual, the final LayerNorm and the unembedding are computed at the query position only — unless
 *    one of those sites is recorded, in which case every position is computed ("full" forward). The
 *    backward pass always starts from the query row alone.
 *  - In that query-only last block the values are pooled before their projection (v_j = W_v·ln_j is
 *    linear): z_h = W_v,h · Σ_j p_hj ln_j, D·d multiply-adds per (b, h) instead of T·D·d — unless its
 *    hook_v is recorded or overridden by anything but whole-head zero ablation (then z_h = 0 for the
 *    ablated heads, which pass no gradient back), when v is formed as usual.
 *  - Layer 0's LayerNorm and QKV projection act on each token independently and there is no additive
 *    positional embedding (RoPE), so they are computed once per distinct embedding row ("rows mode"):
 *    identical exemplar vectors (the training set has one exemplar per class, and the query repeats a
 *    context exemplar) are embedded once, and the ≤ L label embeddings once each. Needs no override on
 *    hook_embed, blocks.0.hook_resid_pre, blocks.0.ln.hook_normalized or blocks.0.attn.hook_{q,k,v};
 *    deduplicating exemplars also needs none on hook_embed_exemplar / hook_embed_label.
 *  - The multi-pass clamps of the catalogue that training uses are folded into this one pass (options
 *    `layer1` and `copyHead`; see FastOptions): their passes differ only in a few sites, which are
 *    computed from the right inputs, and the gradient flows through all of them as through the
 *    reference's differentiated passes.
 */
import { ModelConfig, headDim, seqLen, validateModelConfig } from '../model/config';
import { Params, ParamSpec, paramSpecs } from '../model/params';
import { site, siteShapes, perHeadSites } from '../model/sites';
import { HostOverride } from '../model/hostOverride';
import { classIds, type HostBatch } from '../model/hostBatch';
import type { ExemplarBatch, FastBatch } from './inputs';
import { ropeTables } from '../model/rope';
import { layer1FoldReads } from '../clamps/kinds';
import { queryLoss } from '../model/queryLoss';
import { KernelExports, Kernels, WasmPreference, WasmVariant, loadKernels } from './kernels';
import { Arena, F, Geometry, Layout, at, makeLayout, refreshLayoutViews } from './layout';
import { gemm, gemmNT, rowMajor, rows, transposed } from './gemm';
import { EmbeddingRows, embeddingRows } from './rows';
import { foldCopyLogits, foldCopyScoreGradient } from './folds';
import { Corruption, corruptionMap } from '../clamps/corruptions';
import { HeadPass, HeadsEnv, corruptTokenMap, headsBackward, headsForward, shareCleanRows } from './corruptHeads';
import {
  FastPathEdge,
  PathBlock,
  PathBuffers,
  PathEnv,
  PathPlan,
  checkPathEdges,
  clearSenderGrads,
  inputBackward,
  patchInputs,
  patchesValues,
  pathCorruptions,
  pathCounts,
  planPaths,
  senderBackward,
  takeInputGrads,
} from './pathFold';

function checkHostBatch(b: HostBatch, C1: number, I: number): void {
  const U = b.vectors.length / I;
  if (!Number.isInteger(U))
    throw new Error(`batch.vectors has ${b.vectors.length} values, not a whole number of ${I}-dimensional vectors`);
  if (b.index.length !== b.size * C1)
    throw new Error(`batch.index has ${b.index.length} values, expected [${b.size}, ${C1}] = ${b.size * C1}`);
  for (let i = 0; i < b.index.length; i++)
    if (!(b.index[i] >= 0 && b.index[i] < U))
      throw new Error(`batch.index[${i}] = ${b.index[i]} is not a row of batch.vectors (${U} rows)`);
}

export interface FastOptions {
  overrides?: Map<string, HostOverride>;
  /** Record every site (true), none (false, the default), or the given ones. */
  record?: boolean | ReadonlySet<string>;
  /**
   * Record these sites at the query position only — [B, X] of a [B, T, X] site, [B, H, D] of a per-head
   * one, [B, H, T_key] of scores and patterns (the query's row) — without computing the last block at
   * every position (what the induction strength reads, spec §5.3).
   */
  recordQuery?: ReadonlySet<string>;
  /** Compute the gradients of the loss (else forward only). */
  backward: boolean;
  /** Forward only: false skips the loss (FastResult.loss is then NaN) when only logits or sites are read. */
  loss?: boolean;
  /**
   * The layer-1 clamp (spec §4.6; two-layer models), its three passes folded into this one. The last
   * block reads the clean embedding E where block 0's output would be (the final pass), and its queries
   * and keys read the shifted embedding E′ (the pattern pass: token t reads E at σ(t) = 0, t−1 for
   * 1 ≤ t ≤ T−2, T−1; [E0, E0, E1, E2, E4] for T = 5). Everything else of the two passes is identical, so
   * nothing is computed twice: the gradient reaches E through the values, the residual and the shifted
   * queries and keys — exactly the reference's, whose passes are differentiated too. Block 0's output is
   * replaced, so its parameters get zero gradient and it runs only when one of its sites is recorded.
   * Recorded q / k / rot_q / rot_k / attn_scores of the last block are the pattern pass's; every other
   * site is the final pass's (blocks.0.hook_resid_post records E). Overrides may not touch the embedding
   * or what the pattern pass reads (checked).
   */
  layer1?: boolean;
  /**
   * The perfect-copy clamp (spec §4.7) from this head of the last block: the query logits are the head's
   * pre-softmax scores at label keys 1 and 3 (logit[y1] = z1, logit[y2] = z2, the rest −1e9, written as
   * the reference writes them), so the last block's value path, the final LayerNorm and the unembedding
   * get zero gradient and are not computed unless a site is recorded. The reference reads the scores
   * from a clean pass, so no overrides are allowed (run them as a separate forward pass). Combined with
   * `layer1` the scores are the pattern pass's (the combined clamp of §4.7). Needs two context pairs.
   */
  copyHead?: number;
  /**
   * The path clamps (issue 18; path-patch, stop-gradient), folded into this pass (pathFold.ts): each edge's
   * receiver input reads LN(resid − out_sender + r), the rest of the pass clean, gradients as the reference's
   * differentiated passes give them; a corrupted r comes from blocks 0 … sender of the corrupted batch, run
   * first with the same overrides. Not with `layer1` or `copyHead`, nor an override of a receiver block's
   * hook_normalized (checked).
   */
  paths?: readonly FastPathEdge[];
  /**
   * [B, C+1] ids equal exactly for items of one class, which the `class` corruption reads (the training
   * engine passes the classes); default: HostBatch.index or ExemplarBatch.exemplarIds.
   */
  itemIds?: ArrayLike<number>;
}

export interface FastResult {
  /** Mean cross-entropy at the query position (NaN when FastOptions.loss is false). */
  loss: number;
  /** [B, L] logits at the query position. A view owned by the model: overwritten by the next run(). */
  logits: Float32Array;
  /** Gradients (when backward): the model's gradient buffers (a stable record like paramViews()), overwritten by the next run(). */
  grads?: Params;
  /** Recorded sites (post-override values): fresh copies, the caller's to keep. */
  acts: Map<string, Float32Array>;
  /** The query position's slices of the `recordQuery` sites (see FastOptions.recordQuery). */
  queryActs: Map<string, Float32Array>;
}

export interface FastModelOptions {
  /** Which WebAssembly build to use ('auto': relaxed SIMD where the runtime supports it). */
  wasm?: WasmPreference;
  /** Embed identical exemplar rows once (exact; on by default). */
  dedup?: boolean;
}

export interface ModelInternals {
  k: KernelExports;
  memory: WebAssembly.Memory;
  paramBlock: number;
  gradBlock: number;
  paramCount: number;
  specs: ParamSpec[];
  /** Allocates n floats (64-byte aligned); may grow the memory. */
  alloc: (floats: number) => number;
  /** Byte offset of a parameter tensor in the parameter block. */
  param: (name: string) => number;
  /** [T, D] RoPE tables (model/rope.ts). */
  rope: { cos: number; sin: number };
}

/** Why the fast path cannot run this config, or null when it can. */
export function unsupportedReason(c: ModelConfig): string | null {
  try {
    validateModelConfig(c);
  } catch (e) {
    return (e as Error).message;
  }
  if (c.mlpRatio !== null)
    return `models with MLP blocks (mlpRatio ${c.mlpRatio}) are not supported by the fast path; use the TensorFlow.js engine`;
  return null;
}

export function supports(c: ModelConfig): boolean {
  return unsupportedReason(c) === null;
}

/** src [B, X, Y, D] → dst [B, Y, X, D] (position-major ↔ head-major per-head vectors). */
function swapMiddle(
  src: ArrayLike<number>,
  dst: { [i: number]: number },
  B: number,
  X: number,
  Y: number,
  D: number,
): void {
  for (let b = 0; b < B; b++)
    for (let x = 0; x < X; x++)
      for (let y = 0; y < Y; y++) {
        const si = ((b * X + x) * Y + y) * D,
          di = ((b * Y + y) * X + x) * D;
        for (let e = 0; e < D; e++) dst[di + e] = src[si + e];
      }
}

interface LayerParams {
  lnW: number;
  lnB: number;
  qkv: number;
  proj: number;
}

interface LayerNames {
  residPre: string;
  ln: string;
  q: string;
  k: string;
  v: string;
  rotQ: string;
  rotK: string;
  scores: string;
  pattern: string;
  z: string;
  attnOut: string;
  residPost: string;
}

export class FastModel {
  readonly config: ModelConfig;
  readonly variant: WasmVariant;
  readonly dedup: boolean;
  private readonly kern: Kernels;
  private readonly k: KernelExports;
  private readonly arena: Arena;
  private readonly T: number;
  private readonly d: number;
  private readonly H: number;
  private readonly D: number;
  private readonly L: number;
  private readonly C: number;
  private readonly I: number;
  private readonly depth: number;
  private readonly specs: ParamSpec[];
  /** Byte offsets of each parameter / gradient, and the weight transposes used by the forward GEMMs. */
  private readonly p: Record<string, number> = {};
  private readonly g: Record<string, number> = {};
  private readonly pSize: Record<string, number> = {};
  private readonly paramBlock: number;
  private readonly gradBlock: number;
  private readonly paramCount: number;
  private readonly qkvT: number[] = [];
  private readonly projT: number[] = [];
  private readonly unT: number;
  private readonly cos: number;
  private readonly sin: number;
  private readonly names: LayerNames[] = [];
  /** Per-layer parameter / gradient offsets. */
  private readonly lp: LayerParams[] = [];
  private readonly lg: LayerParams[] = [];
  private readonly labelSlot: Int32Array;
  private readonly truncSites: Set<string>;
  /** Per-head vector sites: position-major [B, T, H, D] at the interface, head-major [B, H, T, D] inside. */
  private readonly perHead: Set<string>;
  private readonly layer0Sites: string[];
  private readonly layouts = new Map<number, Layout>();
  private readonly geo: Geometry;
  private readonly ablCache = new WeakMap<HostOverride, Uint8Array | null>();
  /** The path clamps' buffers per batch size (pathFold.ts), and the corrupted passes' layouts per corruption and size. */
  private readonly pathBufs = new Map<number, PathBuffers>();
  private readonly corruptLayouts = new Map<string, Layout>();
  private readonly rowMaps = new Map<Layout, number>();
  private readonly corruptMaps = new Map<number, { exemplarFrom: Int32Array; labelFrom: Int32Array }>();
  /** A copy of the gradient block while a corrupted pass's backward writes its own share. */
  private gradSave = 0;
  /** siteShapes(config, B) per batch size (loadOverrides reads it once per pass). */
  private readonly shapesByB = new Map<number, ReturnType<typeof siteShapes>>();
  /** The corrupted passes' share of block 0's dW_proj while the clean backward finishes (run(), shared rows). */
  private projCorrupt = 0;
  /** Forward passes whose last block ran only its unablated heads (pooledHeadRuns; tests read it). */
  readonly stats = { headRuns: 0 };
  private viewGen = -1;
  private pViews: Params = {};
  private gViews: Params = {};
  /** Stable records whose properties resolve to the current views (see paramViews). */
  private readonly pObj: Params = {};
  private readonly gObj: Params = {};

  constructor(config: ModelConfig, opts: FastModelOptions = {}) {
    const why = unsupportedReason(config);
    if (why) throw new Error(why);
    this.config = { ...config };
    this.T = seqLen(config);
    this.d = config.dModel;
    this.H = config.numHeads;
    this.D = headDim(config);
    this.L = config.numLabels;
    this.C = config.contextLen;
    this.I = config.inputDim;
    this.depth = config.depth;
    this.dedup = opts.dedup ?? true;
    this.kern = loadKernels(opts.wasm ?? 'auto');
    this.k = this.kern.k;
    this.variant = this.kern.variant;
    this.arena = new Arena(this.kern.memory, this.kern.heapBase);
    this.geo = { T: this.T, d: this.d, H: this.H, D: this.D, L: this.L, C: this.C, I: this.I, depth: this.depth };
    const { d, T, D } = this;

    // Parameters and gradients: one contiguous block each, in paramSpecs order.
    this.specs = paramSpecs(config);
    this.paramCount = this.specs.reduce((s, sp) => s + sp.shape.reduce((a, b) => a * b, 1), 0);
    this.paramBlock = this.arena.f32(this.paramCount);
    let off = this.paramBlock;
    for (const sp of this.specs) {
      const n = sp.shape.reduce((a, b) => a * b, 1);
      this.p[sp.name] = off;
      this.pSize[sp.name] = n;
      off += n * F;
    }
    this.gradBlock = this.arena.f32(this.paramCount);
    off = this.gradBlock;
    for (const sp of this.specs) {
      this.g[sp.name] = off;
      off += this.pSize[sp.name] * F;
    }
    for (let l = 0; l < this.depth; l++) {
      this.qkvT.push(this.arena.f32(d * 3 * d));
      this.projT.push(this.arena.f32(d * d));
    } // [d, 3d], [d, d]
    this.unT = this.arena.f32(d * this.L); // [d, L]

    // RoPE tables [T, D] (the reference's, model/rope.ts).
    this.cos = this.arena.f32(T * D);
    this.sin = this.arena.f32(T * D);
    const rope = ropeTables(T, D, config.ropeBase);
    this.f32(this.cos, T * D).set(rope.cos);
    this.f32(this.sin, T * D).set(rope.sin);

    for (let l = 0; l < this.depth; l++) {
      this.names.push({
        residPre: site.residPre(l),
        ln: site.lnNormalized(l),
        q: site.q(l),
        k: site.k(l),
        v: site.v(l),
        rotQ: site.rotQ(l),
        rotK: site.rotK(l),
        scores: site.attnScores(l),
        pattern: site.pattern(l),
        z: site.z(l),
        attnOut: site.attnOut(l),
        residPost: site.residPost(l),
      });
    }
    for (const sp of this.specs) {
      Object.defineProperty(this.pObj, sp.name, {
        enumerable: true,
        get: () => {
          this.refreshViews();
          return this.pViews[sp.name];
        },
      });
      Object.defineProperty(this.gObj, sp.name, {
        enumerable: true,
        get: () => {
          this.refreshViews();
          return this.gViews[sp.name];
        },
      });
    }
    for (let l = 0; l < this.depth; l++) {
      const at = (o: Record<string, number>): LayerParams => ({
        lnW: o[`blocks.${l}.ln.weight`],
        lnB: o[`blocks.${l}.ln.bias`],
        qkv: o[`blocks.${l}.attn.qkv.weight`],
        proj: o[`blocks.${l}.attn.proj.weight`],
      });
      this.lp.push(at(this.p));
      this.lg.push(at(this.g));
    }
    this.labelSlot = new Int32Array(this.L);
    this.perHead = new Set(Array.from({ length: this.depth }, (_, l) => perHeadSites(l)).flat());
    const last = this.names[this.depth - 1];
    // Sites computed at the query position only unless recorded.
    this.truncSites = new Set([
      last.q,
      last.rotQ,
      last.scores,
      last.pattern,
      last.z,
      last.attnOut,
      last.residPost,
      site.lnFinal,
      site.logits,
    ]);
    // Per-token overrides on these force the token-by-token layer 0.
    this.layer0Sites = [
      site.embed,
      this.names[0].residPre,
      this.names[0].ln,
      this.names[0].q,
      this.names[0].k,
      this.names[0].v,
    ];
  }

  /**
   * The model's parameter buffers as a Params record: pass it to run() to skip the copy-in, write it to
   * set parameters, read it to save them. The record is stable; each property resolves to a view of the
   * current memory, so it stays valid when a larger batch grows the memory (a Float32Array taken out of
   * it does not).
   */
  paramViews(): Params {
    return this.pObj;
  }

  /**
   * Views of the model's input buffers for batch size B. Fill them and pass them as the FastBatch's
   * arrays to skip the copy-in (see fastBatch in ./batch). Invalidated when a larger batch grows the memory.
   */
  batchViews(B: number): { exemplars: Float32Array; labels: Int32Array; exemplarIds: Int32Array } {
    const lay = this.layout(B);
    return { exemplars: lay.views.X, labels: lay.views.labels, exemplarIds: lay.ids };
  }

  /** For FastAdam: the kernels, the parameter and gradient blocks (paramSpecs order) and an allocator. */
  /**
   * For FastAdam and the forward-only evaluators of this folder: the kernels, the parameter and gradient
   * blocks (paramSpecs order) with each parameter's byte offset (`param`, valid after a run() has loaded
   * the parameters), the RoPE tables and an allocator (which may grow the memory: take views after it).
   */
  internals(): ModelInternals {
    return {
      k: this.k,
      memory: this.kern.memory,
      paramBlock: this.paramBlock,
      gradBlock: this.gradBlock,
      paramCount: this.paramCount,
      specs: this.specs,
      alloc: (n) => this.arena.f32(n),
      param: (name) => this.p[name],
      rope: { cos: this.cos, sin: this.sin },
    };
  }

  /** Bytes of WebAssembly memory in use. */
  get memoryBytes(): number {
    return this.kern.memory.buffer.byteLength;
  }

  private f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.kern.memory.buffer, ptr, n);
  }

  private refreshViews(): void {
    if (this.viewGen === this.arena.gen) return;
    this.pViews = {};
    this.gViews = {};
    for (const sp of this.specs) {
      this.pViews[sp.name] = this.f32(this.p[sp.name], this.pSize[sp.name]);
      this.gViews[sp.name] = this.f32(this.g[sp.name], this.pSize[sp.name]);
    }
    this.viewGen = this.arena.gen;
  }

  private layout(B: number): Layout {
    let lay = this.layouts.get(B);
    if (!lay) {
      lay = makeLayout(this.arena, this.geo, B);
      this.layouts.set(B, lay);
    }
    refreshLayoutViews(lay, this.kern.memory, this.arena.gen, this.geo);
    return lay;
  }

  /**
   * Whether an override of the last block's hook_v is a head ablation — per (b, h) either every T·D
   * entry masked with value 0 or none — as [B·H] flags; null if it is anything else. A zero-ablated head
   * has z = 0 and passes no gradient to W_v or its pattern, so the pooled query path stays exact.
   */
  private headAblation(o: HostOverride): Uint8Array | null {
    if (this.ablCache.has(o)) return this.ablCache.get(o)!;
    const [B, T, H, D] = o.shape,
      flags = new Uint8Array(B * H); // position-major hook_v
    let ok = o.shape.length === 4;
    for (let b = 0; ok && b < B; b++)
      for (let h = 0; ok && h < H; h++) {
        const m0 = o.mask[(b * T * H + h) * D];
        for (let t = 0; ok && t < T; t++)
          for (let i = ((b * T + t) * H + h) * D, e = i + D; i < e; i++) {
            if (o.mask[i] !== m0 || (m0 && o.value[i] !== 0)) {
              ok = false;
              break;
            }
          }
        flags[b * H + h] = m0 ? 1 : 0;
      }
    const r = ok ? flags : null;
    this.ablCache.set(o, r);
    return r;
  }

  /** Zeroes row t of the flagged (b, h) of a head-major [B, H, T, D] buffer. */
  private zeroHeads(ptr: number, t: number, flags: Uint8Array): void {
    const { T, D } = this,
      a = this.f32(ptr, flags.length * T * D);
    for (let bh = 0; bh < flags.length; bh++)
      if (flags[bh]) for (let i = (bh * T + t) * D, e = i + D; i < e; i++) a[i] = 0;
  }

  /** Whether the call records `name`, in full or at the query position. */
  private recording(p: RunPlan, name: string): boolean {
    const r = p.record;
    return r === true || (r !== false && r.has(name)) || (p.recordQuery !== null && p.recordQuery.has(name));
  }

  private siteShapesAt(B: number): ReturnType<typeof siteShapes> {
    let s = this.shapesByB.get(B);
    if (!s) this.shapesByB.set(B, (s = siteShapes(this.config, B)));
    return s;
  }

  private has(p: RunPlan, name: string): boolean {
    return p.ov !== null && p.ov.has(name);
  }

  /** Applies the override of `name` (if any) to the n floats at ptr, then records it if asked. */
  private hook(p: RunPlan, name: string, ptr: number, n: number): void {
    if (p.ov !== null && p.ov.has(name)) {
      const o = p.lay.ovr.get(name)!;
      this.k.where_apply(ptr, o.val, o.mask, n);
    }
    const r = p.record;
    if (r === true || (r !== false && r.has(name))) {
      if (!this.perHead.has(name)) p.acts.set(name, this.f32(ptr, n).slice());
      else {
        // Head-major inside → position-major [B, T, H, D] (the [B·T, d] rows) at the interface.
        this.k.from_heads(ptr, p.lay.tmp, this.d, 0, 0, p.B, this.T, 0, this.H, this.D, 0);
        p.acts.set(name, this.f32(p.lay.tmp, n).slice());
      }
    }
    if (p.recordQuery?.has(name)) p.queryActs.set(name, this.querySlice(p, name, ptr, n));
  }

  /**
   * The query position's slice of a site: [B, X] of a [B, T, X] site, [B, H, D] of a per-head one,
   * [B, H, T_key] (the query's row) of scores and patterns — valid in the query-only last block too.
   */
  private querySlice(p: RunPlan, name: string, ptr: number, n: number): Float32Array {
    const { T, H } = this,
      B = p.B,
      v = this.f32(ptr, n),
      t = T - 1;
    const attn = name.endsWith('.hook_attn_scores') || name.endsWith('.hook_pattern');
    if (attn || this.perHead.has(name)) {
      // Head-major inside: [B, H, T, X] → [B, H, X] at row T−1.
      const X = n / (B * H * T),
        out = new Float32Array(B * H * X);
      for (let bh = 0; bh < B * H; bh++) out.set(v.subarray((bh * T + t) * X, (bh * T + t + 1) * X), bh * X);
      return out;
    }
    const X = n / (B * T),
      out = new Float32Array(B * X);
    for (let b = 0; b < B; b++) out.set(v.subarray((b * T + t) * X, (b * T + t + 1) * X), b * X);
    return out;
  }

  /** Zeroes the gradient of overridden entries of `name` (n floats at ptr). */
  private block(p: RunPlan, name: string, ptr: number, n: number): void {
    if (p.ov !== null && p.ov.has(name)) this.k.grad_mask(ptr, p.lay.ovr.get(name)!.mask, n);
  }

  /** Copies the caller's overrides into the kernels' memory (once per override object), checking names and shapes. */
  private loadOverrides(
    lay: Layout,
    overrides: Map<string, HostOverride> | undefined,
    unread: string | null,
  ): Map<string, HostOverride> | null {
    if (!overrides || overrides.size === 0) return null;
    const B = lay.B,
      shapes = this.siteShapesAt(B);
    for (const [name, o] of overrides) {
      const shape = shapes[name];
      if (!shape)
        throw new Error(`override of unknown site "${name}" (the fast path has: ${Object.keys(shapes).join(', ')})`);
      const n = shape.reduce((a, b) => a * b, 1);
      if (
        o.shape.length !== shape.length ||
        o.shape.some((s, i) => s !== shape[i]) ||
        o.value.length !== n ||
        o.mask.length !== n
      ) {
        throw new Error(
          `override of ${name} has shape [${o.shape.join(', ')}] (${o.value.length} values, ${o.mask.length} mask entries), expected [${shape.join(', ')}]`,
        );
      }
      // A site this call never forms (the pooled last block's values: their head ablation is read from the
      // host override) is checked but not copied.
      if (name === unread) continue;
      let buf = lay.ovr.get(name);
      if (!buf) {
        buf = { val: this.arena.f32(n), mask: this.arena.alloc(n), n, loaded: null };
        lay.ovr.set(name, buf);
      }
      // Host overrides are values (never mutated once built): one already in its buffer is not copied again.
      if (buf.loaded === o) continue;
      buf.loaded = o;
      const val = new Float32Array(this.kern.memory.buffer, buf.val, n),
        mask = new Uint8Array(this.kern.memory.buffer, buf.mask, n);
      if (this.perHead.has(name)) {
        // Position-major [B, T, H, D] at the interface ([B·T, d] rows), head-major [B, H, T, D] inside.
        this.f32(lay.tmp, n).set(o.value);
        this.k.to_heads(lay.tmp, this.d, 0, 0, buf.val, B, this.T, 0, this.H, this.D);
        swapMiddle(o.mask, mask, B, this.T, this.H, this.D);
      } else {
        val.set(o.value);
        mask.set(o.mask);
      }
    }
    return overrides;
  }

  /** qkv columns [off, off+d) → heads (raw site `rawName`) → RoPE (site `rotName`), rows [t0, T). */
  private headsRope(
    p: RunPlan,
    qkv: number,
    off: number,
    map: number,
    raw: number,
    rot: number,
    t0: number,
    rawName: string,
    rotName: string,
  ): void {
    const { k, T, d, H, D } = this,
      B = p.B,
      n = B * H * T * D;
    if (this.has(p, rawName)) {
      k.to_heads(qkv, 3 * d, off, map, raw, B, T, t0, H, D);
      this.hook(p, rawName, raw, n);
      k.rope(raw, rot, this.cos, this.sin, B * H, T, t0, D, 0);
    } else {
      const rec = this.recording(p, rawName);
      k.to_heads_rope(qkv, 3 * d, off, map, rec ? raw : 0, rot, this.cos, this.sin, B, T, t0, H, D);
      if (rec) this.hook(p, rawName, raw, n);
    }
    this.hook(p, rotName, rot, n);
  }

  /** Backward of headsRope: the gradient of the rotated heads → lay.dqkv columns [off, off+d). */
  private ropeFromHeads(
    p: RunPlan,
    drot: number,
    off: number,
    map: number,
    t0: number,
    rawName: string,
    add: number,
  ): void {
    const { k, T, d, H, D } = this,
      B = p.B;
    if (this.has(p, rawName)) {
      k.rope(drot, drot, this.cos, this.sin, B * H, T, t0, D, 1);
      this.block(p, rawName, drot, B * H * T * D);
      k.from_heads(drot, p.lay.dqkv, 3 * d, off, map, B, T, t0, H, D, add);
    } else k.rope_from_heads(drot, this.cos, this.sin, p.lay.dqkv, 3 * d, off, map, B, T, t0, H, D, add);
  }

  /** Refuses clamp combinations run() cannot compute exactly as the reference does. */
  private checkClamps(
    l1: boolean,
    copyHead: number | undefined,
    overrides: Map<string, HostOverride> | undefined,
    paths: readonly FastPathEdge[] | undefined,
  ): void {
    if (paths && paths.length) {
      checkPathEdges(paths, this.geo);
      if (l1 || copyHead !== undefined)
        throw new Error('the fast path does not fold path clamps with the layer1 or perfect-copy clamp');
      const ln = [...new Set(paths.map((e) => site.lnNormalized(e.receiverLayer)))].filter((s) => overrides?.has(s));
      if (ln.length)
        throw new Error(`path clamps read ${ln.join(', ')} recomputed: the fast path cannot also override it`);
    }
    if (l1 && this.depth !== 2)
      throw new Error(`the layer1 clamp needs a two-layer model; this one has ${this.depth} layers`);
    if (l1 && overrides) {
      const bad = layer1FoldReads(this.config).filter((s) => overrides.has(s));
      if (bad.length)
        throw new Error(
          `with the layer1 clamp the fast path cannot override ${bad.join(', ')} (the clamp's passes read them clean); use the TensorFlow.js engine`,
        );
    }
    if (copyHead === undefined) return;
    if (!Number.isInteger(copyHead) || copyHead < 0 || copyHead >= this.H)
      throw new Error(`copyHead ${copyHead} is not a head of the last block (0…${this.H - 1})`);
    if (this.C !== 2) throw new Error(`the perfect-copy clamp needs two context pairs; this model has ${this.C}`);
    if (overrides && overrides.size)
      throw new Error('the perfect-copy clamp reads a clean pass: run its overrides as a separate forward pass');
  }

  run(params: Params, batch: FastBatch, opts: FastOptions): FastResult {
    const { k, T, d, L, C, I, depth } = this;
    const C1 = C + 1,
      B = batch.size;
    if (!Number.isInteger(B) || B < 1) throw new Error(`batch.size must be a positive integer, got ${B}`);
    if ('vectors' in batch) checkHostBatch(batch, C1, I);
    else if (batch.exemplars.length !== B * C1 * I)
      throw new Error(
        `batch.exemplars has ${batch.exemplars.length} values, expected [${B}, ${C1}, ${I}] = ${B * C1 * I}`,
      );
    if (batch.labels.length !== B * C1)
      throw new Error(`batch.labels has ${batch.labels.length} values, expected [${B}, ${C1}] = ${B * C1}`);
    let lay = this.layout(B);

    // ---- inputs (copied before anything below can grow the memory and detach the caller's views) ----
    this.refreshViews();
    for (const sp of this.specs) {
      const src = params[sp.name],
        dst = this.pViews[sp.name];
      if (!src || src.length !== dst.length)
        throw new Error(
          `params: tensor ${sp.name} ${src ? `has ${src.length} values` : 'is missing'}, expected [${sp.shape.join(',')}]`,
        );
      if (src !== dst) dst.set(src); // (this.pObj's properties resolve to exactly these views)
    }
    if (!('vectors' in batch) && batch.exemplars !== lay.views.X) lay.views.X.set(batch.exemplars);
    if (batch.labels !== lay.views.labels) lay.views.labels.set(batch.labels);
    for (let i = 0; i < B * C1; i++) {
      const y = lay.views.labels[i];
      if (!(y >= 0 && y < L)) throw new Error(`batch.labels[${i}] = ${y} is outside [0, ${L})`);
    }
    this.checkClamps(opts.layer1 === true, opts.copyHead, opts.overrides, opts.paths);
    // Overrides and path buffers may allocate (first use at this batch size), which may grow the memory.
    const pooledLast = this.lastBlockPooled(opts);
    const unread = pooledLast ? this.names[depth - 1].v : null;
    const ov = this.loadOverrides(lay, opts.overrides, unread);
    const pathBufs = opts.paths && opts.paths.length ? this.pathBuffers(B, opts.paths) : null;
    // The corrupted passes' layouts and overrides (the reference applies every other clamp to them too). With
    // every corrupted sender in block 0 and nothing overriding block 0 they run their sender heads alone
    // (corruptHeads.ts), from the clean pass's block-0 rows; else each is a pass of its own.
    const headsOnly = this.corruptHeadsOnly(opts);
    const corrupt = pathCorruptions(opts.paths).map((kind) => {
      const cl = this.corruptLayout(kind, B);
      if (headsOnly) return { kind, cl, ov: null, rowMap: 0 };
      return { kind, cl, ov: this.loadOverrides(cl, opts.overrides, unread), rowMap: this.corruptRowMap(cl) };
    });
    if (corrupt.length && !headsOnly && !this.gradSave) {
      this.gradSave = this.arena.f32(this.paramCount);
      this.projCorrupt = this.arena.f32(this.d * this.d);
    }
    lay = this.layout(B);
    this.refreshViews();
    for (const c of corrupt) refreshLayoutViews(c.cl, this.kern.memory, this.arena.gen, this.geo);
    k.set_scratch(lay.scratch);

    // Weight transposes for the forward GEMMs (Y = X·Wᵀ as X[rows, in] · Wᵀ[in, out]).
    for (let l = 0; l < depth; l++) {
      k.transpose(this.lp[l].qkv, 3 * d, d, this.qkvT[l]);
      k.transpose(this.lp[l].proj, d, d, this.projT[l]);
    }
    k.transpose(this.p['unembed.weight'], L, d, this.unT);

    const cLays = new Map(corrupt.map((c) => [c.kind, c.cl]));
    const p0 = this.plan(lay, batch, opts, ov, pooledLast, pathBufs, cLays);
    const p: RunPlan = headsOnly ? { ...p0, heads: this.headPasses(p0, corrupt, opts.itemIds, batch) } : p0;
    // Corrupted passes first: blocks 0 … the last sender, whose outputs the clean pass's edges read. They
    // gather their rows (and block 0's LN and QKV of them) from the clean pass's, so those come first.
    // (Sender-head passes run inside the clean forward, after its block 0.)
    const rowsFirst = corrupt.length > 0 && p.dedup && !headsOnly;
    if (rowsFirst) this.rowsForward(p);
    const cPlans = (headsOnly ? [] : corrupt).map((c) => {
      const { batch: cb, exemplarFrom } = this.corruptBatch(lay, c.cl, batch, c.kind, opts.itemIds);
      const cp = p.paths!.corrupt.find((q) => q.kind === c.kind)!;
      const base = this.plan(c.cl, cb, { backward: opts.backward }, c.ov, pooledLast, null, new Map());
      // Every corrupted item is an item of this batch: its distinct exemplar rows are rows the clean pass
      // embedded (row u ← the clean row of the item its first occurrence takes its exemplar from).
      let sharedRows: RunPlan['sharedRows'] = null;
      if (p.dedup && base.dedup) {
        const { nUex, nUlab } = base.rows,
          map = c.rowMap,
          rm = new Int32Array(this.kern.memory.buffer, map, nUex + nUlab);
        for (let u = 0; u < nUex; u++) rm[u] = lay.views.exmap[exemplarFrom[c.cl.views.uex[u]]];
        // Its labels are the batch's context labels, permuted: label row u ← the clean row of the same label.
        const cleanRow = this.labelSlot;
        cleanRow.fill(-1);
        for (let j = 0; j < p.rows.nUlab; j++) cleanRow[lay.views.ylist[j]] = p.rows.nUex + j;
        for (let u = 0; u < nUlab; u++) {
          const r = cleanRow[c.cl.views.ylist[u]];
          if (r < 0) throw new Error(`internal: a ${c.kind}-corrupted label is not one of the batch's`);
          rm[nUex + u] = r;
        }
        sharedRows = { from: p, map, qkv: p.layers[0].byRows && base.layers[0].byRows };
      }
      const pc: RunPlan = {
        ...base,
        lastBlock: cp.lastBlock,
        seedOnly: true,
        sharedRows,
        paths: { ...p.paths!, groups: [], senders: cp.senders, corrupt: [] },
      };
      this.forward(pc);
      return pc;
    });
    this.forward(p, rowsFirst);

    // Cross-entropy at the query (model/queryLoss.ts), dlogits = (softmax − onehot)/B.
    const lv = lay.views,
      lg = lv.logits,
      ql = lv.qlogits;
    for (let b = 0; b < B; b++) ql.set(lg.subarray((b * T + T - 1) * L, (b * T + T) * L), b * L);
    const loss =
      opts.backward || opts.loss !== false
        ? queryLoss(lg, B, L, lv.labels, C1, {
            stride: T * L,
            offset: (T - 1) * L,
            dlogits: opts.backward ? lv.dlog : undefined,
            divisor: B,
          })
        : NaN;
    const result: FastResult = { loss, logits: ql, acts: p.acts, queryActs: p.queryActs };
    if (opts.backward) {
      // (Both passes dedup or neither: the same overrides decide it.)
      const merge = cPlans.length > 0 && cPlans.every((pc) => pc.sharedRows?.qkv === true && pc.lastBlock === 0);
      if (merge) {
        // The corrupted passes' backward runs inside the clean one's, before its block 0: it writes only its
        // senders' share of block 0's dW_proj (into projCorrupt) and its block-0 dqkv rows, which join the clean dqkv.
        const pc0 = this.projCorrupt;
        k.fill(pc0, d * d, 0);
        const before = () => {
          for (const pc of cPlans) this.backward(pc, false, undefined, pc0);
        };
        const rows = cPlans.map((pc) => ({
          dqkv: pc.lay.dqkv,
          map: pc.sharedRows!.map,
          n: pc.rows.nUex + pc.rows.nUlab,
        }));
        this.backward(p, true, { before, rows });
        k.axpy(this.lg[0].proj, pc0, d * d, 1);
        result.grads = this.gObj;
        return result;
      }
      const shared = cPlans.length > 0 && cPlans.every((pc) => pc.sharedRows !== null);
      this.backward(p, !shared);
      // Each corrupted pass's backward (from its senders' gradients) writes its share; the sum is kept. With
      // shared rows its exemplar rows' gradient joins the clean pass's before the one embedding backward.
      for (const pc of cPlans) {
        k.copy(this.gradBlock, this.gradSave, this.paramCount);
        k.fill(this.gradBlock, this.paramCount, 0);
        this.backward(pc, pc.sharedRows === null);
        k.axpy(this.gradBlock, this.gradSave, this.paramCount, 1);
        if (pc.sharedRows) {
          const { nUex, nUlab } = pc.rows;
          k.scatter_add_rows(pc.lay.dparts, pc.sharedRows.map, nUex, d, lay.dparts);
          const dlab = at(pc.lay.dparts, nUex * d);
          k.embed_label_bwd(pc.lay.ylist, nUlab, dlab, L, d, this.g['embed.label.weight']);
        }
      }
      if (shared) this.embeddingBackward(p);
      result.grads = this.gObj;
    }
    return result;
  }

  /**
   * Whether the corrupted passes can run their sender heads alone (corruptHeads.ts): every corrupted edge's sender
   * in block 0 and no override of the embedding or of a block-0 site (those would make a corrupted block 0 differ
   * from the clean one in more than its tokens, or put block 0 in token mode).
   */
  private corruptHeadsOnly(opts: FastOptions): boolean {
    const es = opts.paths ?? [];
    if (!es.some((e) => e.corruption) || es.some((e) => e.corruption && e.senderLayer !== 0)) return false;
    const ov = opts.overrides;
    if (!ov || ov.size === 0) return true;
    const b0 = [...Object.values(this.names[0]), site.embed, site.embedExemplar, site.embedLabel];
    return !b0.some((s) => ov.has(s));
  }

  /** The sender-head passes of this call: each corruption's token map onto the clean rows (plan() made them). */
  private headPasses(
    p: RunPlan,
    corrupt: ReadonlyArray<{ kind: Corruption; cl: Layout }>,
    itemIds: ArrayLike<number> | undefined,
    batch: FastBatch,
  ): HeadPass[] {
    const lay = p.lay,
      B = p.B;
    if (this.C !== 2) throw new Error('corruptions are defined for 2 context pairs (5 tokens)');
    const ids = itemIds ?? ('vectors' in batch ? classIds(batch) : (batch as ExemplarBatch).exemplarIds);
    return corrupt.map(({ kind, cl }) => {
      const m = corruptionMap(kind, B, lay.views.labels, ids, this.corruptScratch(B));
      const t0 = corruptTokenMap(lay.views.tokmap, m, B, this.C, cl.views.tokmap);
      const senders = p.paths!.corrupt.find((q) => q.kind === kind)!.senders;
      return { kind, lay: cl, map: cl.tokmap, t0, senders };
    });
  }

  /** The [nEx + nLab] int map of a corrupted layout's rows (exemplars, labels) onto the clean pass's (see run()). */
  private corruptRowMap(cl: Layout): number {
    let m = this.rowMaps.get(cl);
    if (m === undefined) {
      m = this.arena.alloc((cl.nEx + cl.nLab) * F);
      this.rowMaps.set(cl, m);
    }
    return m;
  }

  /** The layout of the `kind`-corrupted pass at batch size B (its own buffers; laid out once). */
  private corruptLayout(kind: Corruption, B: number): Layout {
    const key = `${kind}:${B}`;
    let cl = this.corruptLayouts.get(key);
    if (!cl) {
      cl = makeLayout(this.arena, this.geo, B);
      this.corruptLayouts.set(key, cl);
    }
    return cl;
  }

  /** The corrupted batch (clamps/corruptions.ts) in the corrupted layout's input buffers. */
  private corruptBatch(
    lay: Layout,
    cl: Layout,
    batch: FastBatch,
    kind: Corruption,
    itemIds: ArrayLike<number> | undefined,
  ): { batch: FastBatch; exemplarFrom: Int32Array } {
    const B = lay.B,
      n = B * (this.C + 1),
      I = this.I;
    if (this.C !== 2) throw new Error('corruptions are defined for 2 context pairs (5 tokens)');
    const host = 'vectors' in batch ? batch : null;
    const ids = itemIds ?? (host ? classIds(host) : (batch as ExemplarBatch).exemplarIds);
    const m = corruptionMap(kind, B, lay.views.labels, ids);
    const labels = cl.views.labels;
    for (let i = 0; i < n; i++) labels[i] = lay.views.labels[m.labelFrom[i]];
    const from = m.exemplarFrom;
    if (host)
      return {
        batch: { size: B, labels, vectors: host.vectors, index: Int32Array.from(from, (r) => host.index[r]) },
        exemplarFrom: from,
      };
    const X = cl.views.X,
      X0 = lay.views.X,
      ex = (batch as ExemplarBatch).exemplarIds;
    for (let i = 0; i < n; i++) X.set(X0.subarray(m.exemplarFrom[i] * I, (m.exemplarFrom[i] + 1) * I), i * I);
    const exemplarIds = ex ? Int32Array.from(from, (r) => ex[r]) : undefined;
    return { batch: { size: B, exemplars: X, labels, exemplarIds }, exemplarFrom: from };
  }

  /** Every decision of this call, made once: the forward and the backward pass both read it. */
  /**
   * Whether the last block pools its values at the query (z_h = W_v,h · Σ_j p_hj ln_j, v never formed): it
   * runs at the query only, not on the layer-1 clamp's rows, and its hook_v is neither recorded nor
   * overridden by anything but a whole-head zero ablation.
   */
  private lastBlockPooled(opts: FastOptions): boolean {
    const rec = opts.record ?? false,
      v = this.names[this.depth - 1].v;
    if (rec === true || (rec !== false && (rec.has(v) || [...this.truncSites].some((s) => rec.has(s))))) return false;
    if (opts.recordQuery?.has(v) || opts.layer1 === true) return false;
    if (patchesValues(opts.paths, this.depth - 1)) return false; // a path clamp on these values reads them per position
    // A one-block model's only block is the rows-mode layer 0 unless a per-token override forces tokens.
    if (this.depth === 1 && !this.layer0Sites.some((s) => opts.overrides?.has(s))) return false;
    const o = opts.overrides?.get(v);
    return !o || this.headAblation(o) !== null;
  }

  /**
   * Whether the embedding can be gathered into block 0's output rows (forward()): block 0 fused and by rows, no
   * path clamp (its folds read the block input) nor layer-1 clamp (its last block reads E), and neither the
   * embedding, block 0's input nor its attn_out recorded or replaced. x + attn_out = attn_out + x bit for bit.
   */
  private embedIntoResidual(p: RunPlan): boolean {
    const b0 = p.layers[0],
      nm = this.names[0];
    if (!b0.fused || !b0.byRows || p.layer1 || p.paths !== null || p.heads !== null) return false;
    return [site.embed, nm.residPre, nm.attnOut].every((s) => !this.has(p, s) && !this.recording(p, s));
  }

  /** Whether block l's attention can run as attn_fused: heads of 8 in fours, T ≤ 8, none of its head sites read or replaced. */
  private fusedAttention(pre: RunPlan, l: number): boolean {
    const nm = this.names[l];
    if (this.D !== 8 || this.H % 4 !== 0 || this.T > 8 || this.has(pre, nm.pattern)) return false;
    return [nm.q, nm.k, nm.rotQ, nm.rotK, nm.v, nm.scores, nm.z].every(
      (s) => !this.has(pre, s) && !this.recording(pre, s),
    );
  }

  /**
   * The last block's heads to compute, as runs [from, to) of adjacent heads, when the others may be skipped:
   * forward only, values pooled, every head it skips zero-ablated in every sequence (its z is exactly 0 and
   * nothing reads its query, key, scores or pattern: none of them is recorded or overridden). Else null.
   */
  private activeHeadRuns(pre: RunPlan, pooled: boolean, opts: FastOptions): Array<[number, number]> | null {
    const { H, depth } = this,
      f = pre.vAbl,
      nm = this.names[depth - 1];
    if (opts.backward || !pooled || !f || opts.copyHead !== undefined) return null;
    // A path clamp into this block patches its qkv columns, which the head runs do not form.
    if (opts.paths?.some((e) => e.receiverLayer === depth - 1)) return null;
    for (let bh = H; bh < f.length; bh++) if (f[bh] !== f[bh % H]) return null; // the same heads in every sequence
    if (!f.subarray(0, H).some((x) => x === 1)) return null;
    for (const s of [nm.q, nm.k, nm.rotQ, nm.rotK, nm.scores, nm.pattern, nm.z])
      if ((s !== nm.pattern && this.has(pre, s)) || this.recording(pre, s)) return null;
    const runs: Array<[number, number]> = [];
    for (let h = 0; h < H; h++) {
      if (f[h]) continue;
      if (runs.length && runs[runs.length - 1][1] === h) runs[runs.length - 1][1] = h + 1;
      else runs.push([h, h + 1]);
    }
    return runs;
  }

  private plan(
    lay: Layout,
    batch: FastBatch,
    opts: FastOptions,
    ov: Map<string, HostOverride> | null,
    pooledLast: boolean,
    pathBufs: PathBuffers | null,
    corruptLays: ReadonlyMap<Corruption, Layout>,
  ): RunPlan {
    const { T, H, depth } = this,
      B = lay.B;
    const vOv = ov?.get(this.names[depth - 1].v);
    const base = {
      lay,
      B,
      N: B * T,
      BH: B * H,
      ov,
      record: opts.record ?? false,
      recordQuery: opts.recordQuery && opts.recordQuery.size ? opts.recordQuery : null,
      vAbl: vOv ? this.headAblation(vOv) : null,
      acts: new Map<string, Float32Array>(),
      queryActs: new Map<string, Float32Array>(),
    };
    const pre = base as unknown as RunPlan; // has / recording read only these fields
    const rec = base.record;
    const full = rec === true || (rec !== false && [...this.truncSites].some((s) => rec.has(s)));
    const tokenMode = this.layer0Sites.some((s) => this.has(pre, s));
    const layer1 = opts.layer1 === true,
      copyHead = opts.copyHead ?? -1;
    // layer1: block 0's output is replaced, so it runs only to record its sites.
    const skip0 =
      layer1 &&
      !(
        rec === true || Object.entries(this.names[0]).some(([key, s]) => key !== 'residPost' && this.recording(pre, s))
      );
    const dedup = this.dedup && !this.has(pre, site.embedExemplar) && !this.has(pre, site.embedLabel);
    const embedding = embeddingRows(
      { k: this.k, memory: this.kern.memory, g: this.geo, lay, labelSlot: this.labelSlot },
      batch,
      dedup,
      layer1,
    );
    const layers: LayerPlan[] = [];
    for (let l = 0; l < depth; l++) {
      const last = l === depth - 1,
        l1Last = layer1 && last;
      const t0 = last && !full ? T - 1 : 0;
      const byRows = (l === 0 && !tokenMode) || l1Last; // LN + QKV over the distinct rows of parts
      const map = byRows ? lay.tokmap : 0;
      const pooled = last && pooledLast;
      layers.push({
        skip: l === 0 && skip0,
        t0,
        gradFrom: last ? T - 1 : 0,
        byRows,
        map,
        qkMap: l1Last ? lay.smap : map, // layer1: queries and keys from the shifted rows
        // Values pooled at the query: never formed, so neither overridden (but by a head ablation) nor recorded.
        pooled,
        heads: pooled ? this.activeHeadRuns(pre, pooled, opts) : null,
        // The block input (layer1: the last block reads E, the final pass's clamped block-0 output).
        x: l === 0 || l1Last ? lay.embed : lay.layers[l - 1].rp,
        copy: last && copyHead >= 0,
        fused: !opts.backward && !last && t0 === 0 && !(l === 0 && skip0) && this.fusedAttention(pre, l),
      });
    }
    const copyOnly = copyHead >= 0 && rec === false;
    return {
      ...base,
      full,
      tokenMode,
      dedup,
      layer1,
      copyHead,
      copyOnly,
      // Forward only, nothing of the last block read but the copied head's scores: only that head runs.
      copyHeadOnly: copyOnly && !opts.backward && base.recordQuery === null && !layers[depth - 1].byRows,
      rows: embedding,
      layers,
      paths: pathBufs && opts.paths ? planPaths(opts.paths, this.geo, pathBufs) : null,
      corruptLays,
      lastBlock: depth - 1,
      seedOnly: false,
      sharedRows: null,
      heads: null,
    };
  }

  /** The path clamps' buffers for batch size B, enough for these edges (allocated once, then reused). */
  private pathBuffers(B: number, edges: readonly FastPathEdge[]): PathBuffers {
    const N = B * this.T,
      d = this.d,
      need = pathCounts(edges);
    let b = this.pathBufs.get(B);
    if (!b) {
      b = {
        groups: [],
        senders: [],
        corruptSenders: [],
        out: this.arena.f32(N * d),
        dln: this.arena.f32(N * d),
        g: this.arena.f32(N * d),
        mean: new Float64Array(this.T * d),
      };
      this.pathBufs.set(B, b);
    }
    while (b.groups.length < need.groups)
      b.groups.push({
        x: this.arena.f32(N * d),
        ln: this.arena.f32(N * d),
        stats: this.arena.f32(2 * N),
        dx: this.arena.f32(N * this.D),
      });
    while (b.senders.length < need.senders) b.senders.push(this.arena.f32(N * d));
    while (b.corruptSenders.length < need.corrupt) b.corruptSenders.push(this.arena.f32(N * d));
    return b;
  }

  private pathEnv(p: RunPlan): PathEnv {
    return { k: this.k, view: (ptr, n) => this.f32(ptr, n), g: this.geo, B: p.B, eps: this.config.lnEps };
  }

  private headsEnv(p: RunPlan): HeadsEnv {
    return { k: this.k, view: (ptr, n) => this.f32(ptr, n), g: this.geo, B: p.B, cos: this.cos, sin: this.sin };
  }

  /** The corruption maps' arrays for batch size B (corruptionMap writes into them: no allocation per call). */
  private corruptScratch(B: number): { exemplarFrom: Int32Array; labelFrom: Int32Array } {
    let s = this.corruptMaps.get(B);
    if (!s) this.corruptMaps.set(B, (s = { exemplarFrom: new Int32Array(3 * B), labelFrom: new Int32Array(3 * B) }));
    return s;
  }

  /** Block l's buffers and weights as the path folds read them. */
  private pathBlock(p: RunPlan, l: number): PathBlock {
    const bf = p.lay.layers[l],
      lp = this.lp[l];
    return {
      x: p.layers[l].x,
      ln: bf.ln,
      stats: bf.stats,
      qkv: bf.qkv,
      merged: bf.merged,
      qkvT: this.qkvT[l],
      projT: this.projT[l],
      qkvW: lp.qkv,
      projW: lp.proj,
      lnW: lp.lnW,
      lnB: lp.lnB,
    };
  }

  /**
   * The distinct rows: parts = [exemplar rows; label rows] (each distinct row once under dedup) and, when block 0
   * runs by rows, its LayerNorm and QKV of them. A corrupted pass with shared rows gathers them from the clean
   * pass's (run() computes those first): each of its rows is a row of the batch, and LN and QKV act on each row
   * alone, so the gathered rows are the ones it would compute.
   */
  private rowsForward(p: RunPlan): void {
    const { k, d, L, I } = this,
      lay = p.lay,
      w = this.p;
    const { nUex, nUlab, Xsrc } = p.rows,
      nr = nUex + nUlab,
      byRows = p.layers[0].byRows && !p.layers[0].skip,
      b0 = lay.layers[0];
    if (p.sharedRows) {
      const from = p.sharedRows.from.lay,
        map = p.sharedRows.map;
      k.gather_rows(from.parts, map, nr, d, lay.parts);
      if (p.sharedRows.qkv) {
        const f0 = from.layers[0];
        k.gather_rows(f0.ln, map, nr, d, b0.ln);
        k.gather_rows(f0.stats, map, nr, 2, b0.stats); // [mean, rstd] per row
        k.gather_rows(f0.qkv, map, nr, 3 * d, b0.qkv);
        return;
      }
    } else {
      // parts[0:nUex] = Xsrc · W_exᵀ + b_ex                                  [nUex, d]
      gemmNT(k, {
        M: nUex,
        N: d,
        K: I,
        A: rowMajor(Xsrc, I),
        B: rowMajor(w['embed.exemplar.weight'], I),
        C: rowMajor(lay.parts, d),
      });
      k.add_bias(lay.parts, d, w['embed.exemplar.bias'], nUex, d);
      // parts[nUex:] = W_lab[:, y]                                            [nUlab, d]
      k.embed_label(lay.ylist, nUlab, w['embed.label.weight'], L, d, at(lay.parts, nUex * d));
    }
    // The embedding sites (without dedup an override edits parts, before block 0's LN reads them).
    const partsLab = at(lay.parts, nUex * d),
      nEx = lay.nEx,
      nLab = lay.nLab;
    if (p.dedup) {
      if (this.recording(p, site.embedExemplar)) {
        k.gather_rows(lay.parts, lay.exmap, nEx, d, lay.tmp);
        this.hook(p, site.embedExemplar, lay.tmp, nEx * d);
      }
      if (this.recording(p, site.embedLabel)) {
        k.gather_rows(lay.parts, lay.labmap, nLab, d, lay.tmp);
        this.hook(p, site.embedLabel, lay.tmp, nLab * d);
      }
    } else {
      this.hook(p, site.embedExemplar, lay.parts, nEx * d); // [B, C1, d]
      this.hook(p, site.embedLabel, partsLab, nLab * d); // [B, C, d]
    }
    if (!byRows) return;
    const lp = this.lp[0];
    k.ln_fwd(lay.parts, b0.ln, b0.stats, lp.lnW, lp.lnB, 1, nr, 0, d, this.config.lnEps); // [nr, d]
    const W = rowMajor(this.qkvT[0], 3 * d); // W_qkvᵀ [d, 3d]
    gemm(k, { M: nr, N: 3 * d, K: d, A: rows(b0.ln, d), B: W, C: rowMajor(b0.qkv, 3 * d) }); // qkv [nr, 3d]
  }

  /** The forward pass (the loss is taken by run()); `rowsReady`: rowsForward(p) already ran. */
  private forward(p: RunPlan, rowsReady = false): void {
    const { k, T, d, H, D, L, depth } = this,
      lay = p.lay,
      { B, N, BH } = p,
      w = this.p;
    const { nUex, nUlab } = p.rows;

    // ---- embeddings (and block 0's LN and QKV over the distinct rows) ----
    if (!rowsReady) this.rowsForward(p);
    // embed = interleave(exemplars, labels)                                [B, T, d]
    // With block 0 fused by rows and nothing reading its input or attn_out, the embedding goes straight into block
    // 0's output rows and its projection accumulates onto them (x + attn_out, without a pass of its own).
    const direct = this.embedIntoResidual(p);
    k.gather_rows(lay.parts, lay.tokmap, N, d, direct ? lay.layers[0].rp : lay.embed);
    if (!direct) this.hook(p, site.embed, lay.embed, N * d);

    // ---- blocks ----
    const scale = 1 / Math.sqrt(D);
    for (let l = 0; l <= p.lastBlock; l++) {
      const nm = this.names[l],
        bf = lay.layers[l],
        lp = this.lp[l],
        pl = p.layers[l],
        { t0, x, pooled } = pl,
        last = l === depth - 1;
      if (pl.skip) {
        this.hook(p, nm.residPost, lay.embed, N * d);
        continue;
      }
      // The sender-head corrupted passes read block 0's rows and, before their first changed position, its output.
      if (l === 1 && p.heads) {
        const env = this.headsEnv(p);
        for (const hp of p.heads) headsForward(env, hp, lay.layers[0].qkv, lay.layers[0].merged);
      }
      this.hook(p, nm.residPre, x, N * d);
      const W = rowMajor(this.qkvT[l], 3 * d); // W_qkvᵀ [d, 3d]
      if (pl.byRows) {
        const nr = nUex + nUlab;
        if (l > 0) {
          // (block 0's LN and QKV of the rows: rowsForward)
          k.ln_fwd(lay.parts, bf.ln, bf.stats, lp.lnW, lp.lnB, 1, nr, 0, d, this.config.lnEps); // [nr, d]
          gemm(k, { M: nr, N: 3 * d, K: d, A: rows(bf.ln, d), B: W, C: rowMajor(bf.qkv, 3 * d) }); // qkv [nr, 3d]
        }
        if (this.recording(p, nm.ln)) {
          k.gather_rows(bf.ln, lay.tokmap, N, d, lay.tmp);
          this.hook(p, nm.ln, lay.tmp, N * d);
        }
      } else {
        k.ln_fwd(x, bf.ln, bf.stats, lp.lnW, lp.lnB, B, T, 0, d, this.config.lnEps); // [B, T, d]
        this.hook(p, nm.ln, bf.ln, N * d);
        if (last && p.copyHeadOnly) {
          this.copiedHeadScores(p, l);
          break; // nothing after the copied scores reaches the logits
        }
        if (pl.heads) {
          this.pooledHeadRuns(p, l, pl.heads);
          this.hook(p, nm.attnOut, bf.ao, N * d);
          k.add_rows(x, bf.ao, bf.rp, B, T, t0, d); // resid_post = x + attn_out
          this.hook(p, nm.residPost, bf.rp, N * d);
          continue;
        }
        if (t0 === 0)
          gemm(k, { M: N, N: 3 * d, K: d, A: rows(bf.ln, d), B: W, C: rowMajor(bf.qkv, 3 * d) }); // qkv [B, T, 3d]
        else {
          // k (and v unless pooled) at every position; q at the query only.
          gemm(k, {
            M: N,
            N: pooled ? d : 2 * d,
            K: d,
            A: rows(bf.ln, d),
            B: rowMajor(at(W.at, d), 3 * d),
            C: rowMajor(at(bf.qkv, d), 3 * d),
          });
          gemm(k, {
            M: B,
            N: d,
            K: d,
            A: rows(at(bf.ln, t0 * d), T * d),
            B: W,
            C: rowMajor(at(bf.qkv, t0 * 3 * d), T * 3 * d),
          });
        }
      }
      // Path clamps: a receiver's q, k or v columns from LN(resid − out_sender + r) (pathFold.ts).
      if (p.paths)
        patchInputs(
          this.pathEnv(p),
          p.paths,
          l,
          (j) => this.pathBlock(p, j),
          (kind, j) => p.corruptLays.get(kind)!.layers[j].merged,
          t0,
        );
      if (pl.fused && p.paths === null && p.heads === null) {
        // qkv rows → merged in one kernel (the path clamps' senders and corrupted passes keep the general path).
        const rec = this.recording(p, nm.pattern);
        k.attn_fused(bf.qkv, 3 * d, pl.map, this.cos, this.sin, bf.merged, rec ? bf.pc : 0, B, T, H, scale);
        if (rec) this.hook(p, nm.pattern, bf.pc, BH * T * T);
      } else {
        // Feature index of qkv = which·d + head·D + dim → q, k, v [B, H, T, D]
        // q, k [B, H, T, D] then RoPE → rot_q, rot_k (one fused pass unless q / k is overridden in between).
        this.headsRope(p, bf.qkv, 0, pl.qkMap, bf.q, bf.rq, t0, nm.q, nm.rotQ);
        this.headsRope(p, bf.qkv, d, pl.qkMap, bf.k, bf.rk, 0, nm.k, nm.rotK);
        const copyOnly = p.copyOnly && last;
        if (!pooled && !copyOnly) {
          k.to_heads(bf.qkv, 3 * d, 2 * d, pl.map, bf.v, B, T, 0, H, D);
          this.hook(p, nm.v, bf.v, BH * T * D);
        }
        // scores = (rq·rkᵀ)/√D, causal −1e20                                 [B, H, T, T]
        k.attn_scores(bf.rq, bf.rk, bf.scores, BH, T, t0, D, scale);
        this.hook(p, nm.scores, bf.scores, BH * T * T);
        if (copyOnly) break; // nothing after the copied scores reaches the loss
        k.softmax(bf.scores, bf.pc, BH, T, t0);
        // pattern: the computed softmax (pc) is kept for the backward pass when an override replaces entries.
        let patt = bf.pc;
        if (this.has(p, nm.pattern)) {
          k.copy(bf.pc, bf.patt, BH * T * T);
          patt = bf.patt;
        }
        this.hook(p, nm.pattern, patt, BH * T * T);
        if (!pooled)
          k.attn_z(patt, bf.v, bf.z, BH, T, t0, D); // z [B, H, T, D]
        else {
          // Y = pattern[query] · ln                                            [B, H, d]
          // z[b, h, query] = Y[b, h] · W_v,hᵀ  (W_v,h = rows 2d + h·D … of W_qkv) [B, H, D]
          k.attn_pool(patt, bf.ln, lay.pool, B, H, T, d);
          for (let h = 0; h < H; h++) {
            gemm(k, {
              M: B,
              N: D,
              K: d,
              A: rows(at(lay.pool, h * d), H * d),
              B: rowMajor(at(W.at, 2 * d + h * D), 3 * d),
              C: rowMajor(at(bf.z, (h * T + t0) * D), H * T * D),
            });
          }
          if (p.vAbl) this.zeroHeads(bf.z, t0, p.vAbl); // zero-ablated heads: z = 0
        }
        this.hook(p, nm.z, bf.z, BH * T * D);
        k.from_heads(bf.z, bf.merged, d, 0, 0, B, T, t0, H, D, 0); // [B, T, d] head h → dims h·D…
      }
      // attn_out = merged · W_projᵀ                                        [B, T, d] (rows t0…)
      const nq = B * (T - t0),
        rs = t0 === 0 ? d : T * d;
      const onto = l === 0 && direct; // resid_post already holds x: attn_out accumulates onto it
      gemm(k, {
        M: nq,
        N: d,
        K: d,
        A: rows(at(bf.merged, t0 * d), rs),
        B: rowMajor(this.projT[l], d),
        C: rowMajor(at(onto ? bf.rp : bf.ao, t0 * d), rs),
        accumulate: onto,
      });
      if (!onto) {
        this.hook(p, nm.attnOut, bf.ao, N * d);
        k.add_rows(x, bf.ao, bf.rp, B, T, t0, d); // resid_post = x + attn_out
      }
      this.hook(p, nm.residPost, p.layer1 && l === 0 ? lay.embed : bf.rp, N * d); // (layer1: replaced by E)
    }

    if (p.lastBlock < depth - 1) return; // a corrupted pass: blocks 0 … the last sender only
    // ---- final LayerNorm, unembedding ----
    if (!p.copyOnly) {
      const tF = p.full ? 0 : T - 1;
      k.ln_fwd(
        lay.layers[depth - 1].rp,
        lay.lnf,
        lay.statsF,
        w['ln_final.weight'],
        w['ln_final.bias'],
        B,
        T,
        tF,
        d,
        this.config.lnEps,
      );
      this.hook(p, site.lnFinal, lay.lnf, N * d);
      // logits = lnf · W_unᵀ + b_un                                         [B, T, L] (query row, or all)
      const nq = B * (T - tF),
        rs = tF === 0 ? 1 : T;
      gemm(k, {
        M: nq,
        N: L,
        K: d,
        A: rows(at(lay.lnf, tF * d), rs * d),
        B: rowMajor(this.unT, L),
        C: rowMajor(at(lay.logits, tF * L), rs * L),
      });
      k.add_bias(at(lay.logits, tF * L), rs * L, w['unembed.bias'], nq, L);
    }
    if (p.copyHead >= 0) {
      // copyHeadOnly: the scores are the copied head's alone, [B, 1, T, T].
      const [Hs, hs] = p.copyHeadOnly ? [1, 0] : [H, p.copyHead];
      foldCopyLogits(
        this.f32(lay.layers[depth - 1].scores, B * Hs * T * T),
        lay.views.logits,
        lay.views.labels,
        B,
        Hs,
        T,
        L,
        hs,
      );
    }
    this.hook(p, site.logits, lay.logits, N * L);
  }

  /**
   * The pooled query-only last block over runs [h0, h1) of heads (LayerPlan.heads), each run in compact
   * [B, h1−h0, T, ·] buffers: its columns of q (query row) and k, RoPE, scores, softmax, the pooled values
   * z_h = W_v,h · Σ_j p_hj ln_j, and attn_out[query] = Σ_runs merged[:, h0·D…h1·D] · W_proj[:, h0·D…h1·D]ᵀ.
   * The skipped heads are zero-ablated (z = 0): leaving them out of the projection's sum is exact.
   */
  private pooledHeadRuns(p: RunPlan, l: number, runs: ReadonlyArray<readonly [number, number]>): void {
    const { k, T, d, D } = this,
      lay = p.lay,
      nm = this.names[l],
      bf = lay.layers[l],
      B = p.B,
      N = p.N,
      t0 = T - 1,
      W = this.qkvT[l]; // W_qkvᵀ [d, 3d]
    this.stats.headRuns++;
    if (runs.length === 0) k.fill(bf.ao, N * d, 0); // every head ablated: attn_out = 0
    runs.forEach(([h0, h1], r) => {
      const nh = h1 - h0,
        w = nh * D;
      this.queryRowScores(p, l, h0, nh);
      k.softmax(bf.scores, bf.pc, B * nh, T, t0);
      if (this.has(p, nm.pattern)) this.patternRowOverride(p, nm.pattern, bf.pc, h0, nh);
      // Y = pattern[query] · ln [B, nh, d]; z[b, h, query] = Y[b, h] · W_v,hᵀ [B, nh, D]
      k.attn_pool(bf.pc, bf.ln, lay.pool, B, nh, T, d);
      for (let h = 0; h < nh; h++)
        gemm(k, {
          M: B,
          N: D,
          K: d,
          A: rows(at(lay.pool, h * d), nh * d),
          B: rowMajor(at(W, 2 * d + (h0 + h) * D), 3 * d),
          C: rowMajor(at(bf.z, (h * T + t0) * D), nh * T * D),
        });
      k.from_heads(bf.z, bf.merged, d, h0 * D, 0, B, T, t0, nh, D, 0); // merged[:, query, h0·D …]
      gemm(k, {
        M: B,
        N: d,
        K: w,
        A: rows(at(bf.merged, t0 * d + h0 * D), T * d),
        B: rowMajor(at(this.projT[l], h0 * D * d), d),
        C: rowMajor(at(bf.ao, t0 * d), T * d),
        accumulate: r > 0,
      });
    });
  }

  /** The perfect-copy head's scores at the query, [B, 1, T, T] in the last block's scores buffer (copyHeadOnly). */
  private copiedHeadScores(p: RunPlan, l: number): void {
    this.queryRowScores(p, l, p.copyHead, 1);
  }

  /**
   * Heads h0 … h0+nh−1 of block l at the query row, in compact [B, nh, T, ·] buffers: their columns of k at every
   * position and of q at the query (qkv[:, d + h0·D …], qkv[query, h0·D …]), RoPE (rot_q, rot_k), and the
   * scores rot_q · rot_kᵀ / √D with the causal mask into the block's scores buffer [B, nh, T, T].
   */
  private queryRowScores(p: RunPlan, l: number, h0: number, nh: number): void {
    const { k, T, d, D } = this,
      bf = p.lay.layers[l],
      B = p.B,
      t0 = T - 1,
      w = nh * D,
      W = this.qkvT[l]; // W_qkvᵀ [d, 3d]
    gemm(k, {
      M: p.N,
      N: w,
      K: d,
      A: rows(bf.ln, d),
      B: rowMajor(at(W, d + h0 * D), 3 * d),
      C: rowMajor(at(bf.qkv, d + h0 * D), 3 * d),
    });
    gemm(k, {
      M: B,
      N: w,
      K: d,
      A: rows(at(bf.ln, t0 * d), T * d),
      B: rowMajor(at(W, h0 * D), 3 * d),
      C: rowMajor(at(bf.qkv, t0 * 3 * d + h0 * D), T * 3 * d),
    });
    k.to_heads_rope(bf.qkv, 3 * d, h0 * D, 0, 0, bf.rq, this.cos, this.sin, B, T, t0, nh, D);
    k.to_heads_rope(bf.qkv, 3 * d, d + h0 * D, 0, 0, bf.rk, this.cos, this.sin, B, T, 0, nh, D);
    k.attn_scores(bf.rq, bf.rk, bf.scores, B * nh, T, t0, D, 1 / Math.sqrt(D));
  }

  /**
   * The loaded pattern override (head-major [B, H, T, T]) applied to the query rows of heads h0 … h0+nh−1
   * held compact in `ptr` ([B, nh, T, T]): where(mask, value, computed), as hook() applies it.
   */
  private patternRowOverride(p: RunPlan, name: string, ptr: number, h0: number, nh: number): void {
    const { T, H } = this,
      B = p.B,
      o = p.lay.ovr.get(name)!,
      mem = this.kern.memory.buffer,
      val = new Float32Array(mem, o.val, B * H * T * T),
      mask = new Uint8Array(mem, o.mask, B * H * T * T),
      dst = this.f32(ptr, B * nh * T * T);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < nh; h++) {
        const from = ((b * H + h0 + h) * T + T - 1) * T,
          to = ((b * nh + h) * T + T - 1) * T;
        for (let j = 0; j < T; j++) if (mask[from + j]) dst[to + j] = val[from + j];
      }
  }

  /**
   * The backward pass from dlogits (lay.dlog, written by the loss), into the model's gradient buffers; the
   * embeddings' part unless `embeddings` is false (run() then adds corrupted passes' rows first).
   */
  /**
   * `block0`: corrupted passes merged into this (clean) pass's block 0. `projInto`: this is such a corrupted pass
   * (block 0 only, dh = 0): it adds its senders' dW_proj share there and leaves every other gradient alone.
   */
  private backward(p: RunPlan, embeddings = true, block0?: Block0Merge, projInto?: number): void {
    const { k, T, d, H, D, L, depth, g } = this,
      w = this.p,
      lay = p.lay,
      { B, N, BH } = p,
      tq = T - 1;
    const { nUex, nUlab } = p.rows;
    const scale = 1 / Math.sqrt(D);
    // Accumulated gradients start at zero; the GEMM-written ones are overwritten.
    if (projInto === undefined) {
      k.fill(g['embed.label.weight'], d * L, 0);
      for (let l = 0; l < depth; l++) {
        k.fill(this.lg[l].lnW, d, 0);
        k.fill(this.lg[l].lnB, d, 0);
      }
      k.fill(g['ln_final.weight'], d, 0);
      k.fill(g['ln_final.bias'], d, 0);
    }

    k.fill(lay.dh, N * d, 0);
    if (p.paths && !p.seedOnly) clearSenderGrads(this.pathEnv(p), p.paths);
    if (p.seedOnly) {
      // A corrupted pass: its only gradient is its senders' (+Σ g′), added in their block below.
    } else if (p.copyHead >= 0) {
      // The copy logits replace the unembedding's: nothing after the copied scores gets gradient.
      k.fill(g['unembed.weight'], L * d, 0);
      k.fill(g['unembed.bias'], L, 0);
    } else {
      // ---- unembedding and final LayerNorm (query rows only: nothing else reaches the loss) ----
      const dlq = at(lay.dlog, tq * L),
        lnq = at(lay.lnf, tq * d);
      this.block(p, site.logits, lay.dlog, N * L);
      gemm(k, {
        M: L,
        N: d,
        K: B,
        A: transposed(dlq, T * L),
        B: rowMajor(lnq, T * d),
        C: rowMajor(g['unembed.weight'], d),
      }); // dW_un = dlᵀ·lnf [L, d]
      k.col_sum(dlq, T * L, B, L, g['unembed.bias'], 0); // db_un [L]
      gemm(k, {
        M: B,
        N: d,
        K: L,
        A: rows(dlq, T * L),
        B: rowMajor(w['unembed.weight'], d),
        C: rowMajor(at(lay.dlnf, tq * d), T * d),
      }); // dlnf = dl·W_un
      this.block(p, site.lnFinal, lay.dlnf, N * d);
      k.ln_bwd(
        lay.layers[depth - 1].rp,
        lay.dlnf,
        lay.statsF,
        w['ln_final.weight'],
        lay.dh,
        g['ln_final.weight'],
        g['ln_final.bias'],
        B,
        T,
        tq,
        d,
        0,
      );
    }

    // ---- blocks, last to first; dh = gradient of the block's (hooked) output ----
    for (let l = p.lastBlock; l >= 0; l--) {
      const nm = this.names[l],
        bf = lay.layers[l],
        lp = this.lp[l],
        lgr = this.lg[l],
        pl = p.layers[l];
      const { gradFrom: t0, pooled, map, qkMap, copy: cp } = pl;
      if (l === 0) block0?.before(); // (every sender's seed is complete: receivers are in later blocks)
      if (l === 0 && p.heads) for (const hp of p.heads) shareCleanRows(this.headsEnv(p), hp, p.paths!.senders);
      if (p.layer1 && l === 0) {
        k.fill(lgr.qkv, 3 * d * d, 0);
        k.fill(lgr.proj, d * d, 0);
        continue;
      } // block 0's output is replaced
      if (cp) {
        // dloss/dscores at the query row: keys 1 and 3 of the copied head (the logits' only inputs).
        k.fill(lgr.proj, d * d, 0);
        foldCopyScoreGradient(this.f32(lay.ds, BH * T * T), lay.views.dlog, lay.views.labels, B, H, T, L, p.copyHead);
      } else {
        this.block(p, nm.residPost, lay.dh, N * d);
        // attn_out branch (the residual branch keeps dh)
        let dao = lay.dh;
        if (this.has(p, nm.attnOut)) {
          k.copy(lay.dh, lay.dao, N * d);
          dao = lay.dao;
          this.block(p, nm.attnOut, dao, N * d);
        }
        const nq = B * (T - t0),
          rs = t0 === 0 ? d : T * d; // query rows and their stride
        if (projInto !== undefined)
          k.fill(lay.dmerged, N * d, 0); // a merged corrupted pass: dao = 0
        else {
          gemm(k, {
            M: d,
            N: d,
            K: nq,
            A: transposed(at(dao, t0 * d), rs),
            B: rowMajor(at(bf.merged, t0 * d), rs),
            C: rowMajor(lgr.proj, d),
          }); // dW_proj = daoᵀ·merged
          gemm(k, {
            M: nq,
            N: d,
            K: d,
            A: rows(at(dao, t0 * d), rs),
            B: rowMajor(lp.proj, d),
            C: rowMajor(at(lay.dmerged, t0 * d), rs),
          }); // dmerged = dao·W_proj
        }
        // A path clamp's sender: its output's extra gradient −g′ along the edge (pathFold.ts).
        if (p.paths)
          senderBackward(this.pathEnv(p), p.paths, l, this.pathBlock(p, l), lay.dmerged, projInto ?? lgr.proj);
        k.to_heads(lay.dmerged, d, 0, 0, lay.dz, B, T, t0, H, D); // dz [B, H, T, D]
        this.block(p, nm.z, lay.dz, BH * T * D);
        const patt = this.has(p, nm.pattern) ? bf.patt : bf.pc;
        if (!pooled)
          k.attn_z_bwd(patt, bf.v, lay.dz, lay.dp, lay.dv, BH, T, t0, D); // dp [B,H,T,T], dv [B,H,T,D]
        else {
          // dY[b,h] = dz[b,h,query] · W_v,h [B, H, d]; dW_v,h = dz_hᵀ · Y_h [D, d]; dp[query] = dY · lnᵀ
          if (p.vAbl) this.zeroHeads(lay.dz, t0, p.vAbl); // zero-ablated heads pass nothing back
          for (let h = 0; h < H; h++) {
            const dzh = at(lay.dz, (h * T + t0) * D),
              wv = (2 * d + h * D) * d;
            gemm(k, {
              M: B,
              N: d,
              K: D,
              A: rows(dzh, H * T * D),
              B: rowMajor(at(lp.qkv, wv), d),
              C: rowMajor(at(lay.dpool, h * d), H * d),
            });
            gemm(k, {
              M: D,
              N: d,
              K: B,
              A: transposed(dzh, H * T * D),
              B: rowMajor(at(lay.pool, h * d), H * d),
              C: rowMajor(at(lgr.qkv, wv), d),
            });
          }
          k.attn_pool_dp(bf.ln, lay.dpool, lay.dp, B, H, T, d);
        }
        this.block(p, nm.pattern, lay.dp, BH * T * T);
        k.softmax_bwd(bf.pc, lay.dp, lay.ds, BH, T, t0);
      }
      this.block(p, nm.scores, lay.ds, BH * T * T);
      k.attn_scores_bwd(lay.ds, bf.rq, bf.rk, lay.drq, lay.drk, BH, T, t0, D, scale); // drq, drk [B,H,T,D]
      this.block(p, nm.rotQ, lay.drq, BH * T * D);
      this.block(p, nm.rotK, lay.drk, BH * T * D);
      if (!pooled && !cp) this.block(p, nm.v, lay.dv, BH * T * D); // (pooled: v was never formed)
      if (pl.byRows) {
        // dqkv over the distinct rows: tokens sharing a row add up.
        const nr = nUex + nUlab;
        k.fill(lay.dqkv, nr * 3 * d, 0);
        this.ropeFromHeads(p, lay.drq, 0, qkMap, t0, nm.q, 1);
        this.ropeFromHeads(p, lay.drk, d, qkMap, 0, nm.k, 1);
        if (!cp) k.from_heads(lay.dv, lay.dqkv, 3 * d, 2 * d, map, B, T, 0, H, D, 1);
        // A corrupted pass whose rows are the clean pass's: its dqkv joins the clean one (below), which takes
        // dW_qkv, the LN backward and the embedding rows' gradient for both.
        if (projInto !== undefined) continue;
        if (l === 0) for (const r of block0?.rows ?? []) k.scatter_add_rows(r.dqkv, r.map, r.n, 3 * d, lay.dqkv);
        if (l === 0 && p.heads)
          for (const hp of p.heads) headsBackward(this.headsEnv(p), hp, lp.proj, lgr.proj, lay.dqkv);
        gemm(k, {
          M: 3 * d,
          N: d,
          K: nr,
          A: transposed(lay.dqkv, 3 * d),
          B: rowMajor(bf.ln, d),
          C: rowMajor(lgr.qkv, d),
        }); // dW_qkv [3d, d]
        gemm(k, { M: nr, N: d, K: 3 * d, A: rows(lay.dqkv, 3 * d), B: rowMajor(lp.qkv, d), C: rowMajor(lay.dln, d) }); // dln [nr, d]
        // dparts = LN backward + the residual gradient of every token of the row.
        k.ln_bwd(lay.parts, lay.dln, bf.stats, lp.lnW, lay.dparts, lgr.lnW, lgr.lnB, 1, nr, 0, d, 0);
        k.scatter_add_rows(lay.dh, lay.tokmap, N, d, lay.dparts);
      } else {
        this.ropeFromHeads(p, lay.drq, 0, 0, t0, nm.q, 0);
        this.ropeFromHeads(p, lay.drk, d, 0, 0, nm.k, 0);
        if (!pooled && !cp) k.from_heads(lay.dv, lay.dqkv, 3 * d, 2 * d, 0, B, T, 0, H, D, 0);
        // Path clamps: a receiver input's gradient leaves the clean LN's (pathFold.ts).
        if (p.paths) takeInputGrads(this.pathEnv(p), p.paths, l, lay.dqkv, t0);
        if (cp && t0 === 0)
          throw new Error('internal: the copy head is in the last block, which runs from the query row');
        if (t0 === 0) {
          gemm(k, {
            M: 3 * d,
            N: d,
            K: N,
            A: transposed(lay.dqkv, 3 * d),
            B: rowMajor(bf.ln, d),
            C: rowMajor(lgr.qkv, d),
          });
          gemm(k, { M: N, N: d, K: 3 * d, A: rows(lay.dqkv, 3 * d), B: rowMajor(lp.qkv, d), C: rowMajor(lay.dln, d) });
        } else {
          // q rows only at the query; k (and v unless pooled) everywhere.
          const kv = pooled || cp ? d : 2 * d,
            dq = at(lay.dqkv, t0 * 3 * d);
          if (cp) k.fill(at(lgr.qkv, 2 * d * d), d * d, 0); // W_v: no gradient
          gemm(k, {
            M: d,
            N: d,
            K: B,
            A: transposed(dq, T * 3 * d),
            B: rowMajor(at(bf.ln, t0 * d), T * d),
            C: rowMajor(lgr.qkv, d),
          });
          gemm(k, {
            M: kv,
            N: d,
            K: N,
            A: transposed(at(lay.dqkv, d), 3 * d),
            B: rowMajor(bf.ln, d),
            C: rowMajor(at(lgr.qkv, d * d), d),
          });
          gemm(k, {
            M: N,
            N: d,
            K: kv,
            A: rows(at(lay.dqkv, d), 3 * d),
            B: rowMajor(at(lp.qkv, d * d), d),
            C: rowMajor(lay.dln, d),
          });
          gemm(k, {
            M: B,
            N: d,
            K: d,
            A: rows(dq, T * 3 * d),
            B: rowMajor(lp.qkv, d),
            C: rowMajor(at(lay.dln, t0 * d), T * d),
            accumulate: true,
          });
          if (pooled && !cp) k.attn_pool_dz(this.has(p, nm.pattern) ? bf.patt : bf.pc, lay.dpool, lay.dln, B, H, T, d); // dln += Σ_h p·dY (the value path)
        }
        this.block(p, nm.ln, lay.dln, N * d);
        // dh (residual) += LN backward → gradient of the block input
        k.ln_bwd(pl.x, lay.dln, bf.stats, lp.lnW, lay.dh, lgr.lnW, lgr.lnB, B, T, 0, d, 1);
        if (p.paths) {
          const gr = { qkv: lgr.qkv, lnW: lgr.lnW, lnB: lgr.lnB, dh: lay.dh };
          inputBackward(this.pathEnv(p), p.paths, l, this.pathBlock(p, l), gr, t0);
        }
        this.block(p, nm.residPre, lay.dh, N * d);
        if (l === 0) {
          this.block(p, site.embed, lay.dh, N * d);
          k.fill(lay.dparts, N * d, 0);
          k.scatter_add_rows(lay.dh, lay.tokmap, N, d, lay.dparts);
        }
      }
    }

    if (embeddings) this.embeddingBackward(p);
  }

  /** The embeddings' gradients from lay.dparts (the distinct rows' gradient). */
  private embeddingBackward(p: RunPlan): void {
    const { k, d, L, I, g } = this,
      lay = p.lay;
    const { nUex, nUlab, Xsrc } = p.rows;
    // ---- embeddings ----
    if (!p.dedup) {
      this.block(p, site.embedExemplar, lay.dparts, lay.nEx * d);
      this.block(p, site.embedLabel, at(lay.dparts, lay.nEx * d), lay.nLab * d);
    }
    gemm(k, {
      M: d,
      N: I,
      K: nUex,
      A: transposed(lay.dparts, d),
      B: rowMajor(Xsrc, I),
      C: rowMajor(g['embed.exemplar.weight'], I),
    }); // dW_ex = dexᵀ·X [d, I]
    k.col_sum(lay.dparts, d, nUex, d, g['embed.exemplar.bias'], 0);
    k.embed_label_bwd(lay.ylist, nUlab, at(lay.dparts, nUex * d), L, d, g['embed.label.weight']);
  }
}

/**
 * The clean backward's block 0 with corrupted passes that share its rows: `before` runs their backward (down to
 * their block-0 dqkv), whose rows `rows` adds to the clean dqkv ([n, 3d] at dqkv, row r onto the clean row map[r]).
 */
interface Block0Merge {
  readonly before: () => void;
  readonly rows: ReadonlyArray<{ readonly dqkv: number; readonly map: number; readonly n: number }>;
}

/** The decisions of one run() (plan()), read by both passes; only `acts` / `queryActs` fill as it runs. */
interface RunPlan {
  readonly lay: Layout;
  readonly B: number;
  readonly N: number;
  readonly BH: number;
  /** The caller's overrides (loaded into lay.ovr), or null. */
  readonly ov: Map<string, HostOverride> | null;
  readonly record: boolean | ReadonlySet<string>;
  readonly recordQuery: ReadonlySet<string> | null;
  /** [B·H] flags when the last block's hook_v override is a whole-head zero ablation, else null. */
  readonly vAbl: Uint8Array | null;
  /** A site of the last block is recorded: it runs at every position (else at the query only). */
  readonly full: boolean;
  /** An override on a per-token site of layer 0 or the embedding: layer 0 token by token. */
  readonly tokenMode: boolean;
  /** Identical exemplar rows embedded once. */
  readonly dedup: boolean;
  readonly layer1: boolean;
  /** The perfect-copy head of the last block, or −1; copyOnly: nothing is recorded, so the last block stops at its scores. */
  readonly copyHead: number;
  readonly copyOnly: boolean;
  /** copyOnly, forward only, on tokens: the last block computes the copied head alone ([B, 1, T, ·] buffers). */
  readonly copyHeadOnly: boolean;
  readonly rows: EmbeddingRows;
  readonly layers: readonly LayerPlan[];
  /** The folded path clamps (pathFold.ts), or null; the corrupted passes' layouts they read. */
  readonly paths: PathPlan | null;
  readonly corruptLays: ReadonlyMap<Corruption, Layout>;
  /** The last block run: depth − 1, or a corrupted pass's last sender block (no final LN, no logits). */
  readonly lastBlock: number;
  /** A corrupted pass's backward: from its senders' gradients only (no loss gradient). */
  readonly seedOnly: boolean;
  /**
   * A corrupted pass's rows: gathered from the clean pass's (`map`: [nUex + nUlab] its rows), not embedded; with
   * `qkv` (both run block 0 by rows) block 0's LN and QKV of them too.
   */
  readonly sharedRows: { readonly from: RunPlan; readonly map: number; readonly qkv: boolean } | null;
  /** The corrupted passes as sender-head passes (corruptHeads.ts) inside this clean pass, or null. */
  readonly heads: readonly HeadPass[] | null;
  readonly acts: Map<string, Float32Array>;
  readonly queryActs: Map<string, Float32Array>;
}

interface LayerPlan {
  /** The layer-1 clamp's block 0 when none of its sites is recorded: its output is replaced, it does not run. */
  readonly skip: boolean;
  /** First row computed: T−1 for the query-only last block, else 0. */
  readonly t0: number;
  /** First row the backward pass starts from: the query row in the last block (only it reaches the loss), else 0. */
  readonly gradFrom: number;
  /** LN + QKV over the distinct rows of parts (layer 0 in rows mode; the layer-1 clamp's last block). */
  readonly byRows: boolean;
  /** Row maps (byte offsets; 0 = identity): `map` for v, `qkMap` for q and k (the layer-1 shift in its last block). */
  readonly map: number;
  readonly qkMap: number;
  /** Values pooled at the query before their projection (attn_pool). */
  readonly pooled: boolean;
  /**
   * The pooled last block computed for these runs [from, to) of heads only, in compact [B, heads, T, ·]
   * buffers (the other heads are zero-ablated and nothing of theirs is read; forward only); null: all heads.
   */
  readonly heads: ReadonlyArray<readonly [number, number]> | null;
  /** The block input [B, T, d]. */
  readonly x: number;
  /** The last block, whose scores the perfect-copy clamp reads. */
  readonly copy: boolean;
  /**
   * Forward only, at every position, nothing of the attention read but its pattern: one kernel from the qkv
   * rows to merged (attn_fused), bit for bit the head-by-head passes, without their [B, H, T, ·] buffers.
   */
  readonly fused: boolean;
}
