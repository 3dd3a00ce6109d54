/**
 * The fast training path: the same model as src/engine/model/forward.ts (pre-LN attention-only blocks,
 * interleaved RoPE, causal mask S·M + (1−M)(−1e20), heads head-major [B, H, T, D] inside — the per-head
 * sites are position-major [B, T, H, D] at the interface, as in sites.ts —, weights [out, in]),
 * forward and hand-written backward, with every intermediate reachable as the same named site and the
 * same override semantics: where(mask, value, computed), no gradient into the computation an overridden
 * entry replaced, the gradient of downstream entries flowing normally.
 *
 * Every buffer lives in one WebAssembly memory (laid out once per batch size, reused across calls); the
 * loops run in the kernels of wasm/kernels.c; this file is the orchestration, nanoGPT-style, with the
 * shape of every tensor beside it. Notation: B batch, C context pairs, C1 = C+1 exemplars, T = 2C+1
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
import type { HostBatch } from '../model/hostBatch';
import { ropeTables } from '../model/rope';
import { copyLogit } from '../clamps/copy';
import { layer1FoldReads } from '../clamps/kinds';
import { queryLoss } from '../model/queryLoss';
import { KernelExports, Kernels, WasmPreference, WasmVariant, loadKernels } from './kernels';

/** The fast model's input: a HostBatch (distinct vectors + index) or the full exemplar arrays. */
export type FastBatch = HostBatch | ExemplarBatch;

export interface ExemplarBatch {
  size: number;
  /** [B, C+1, inputDim]: context exemplars then the query. */
  exemplars: Float32Array;
  /** [B, C+1]; the last column (the query's label) is the target and is never embedded. */
  labels: Int32Array;
  /**
   * Optional [B, C+1] identities of the exemplar vectors (e.g. class · exemplarsPerClass + exemplar index):
   * equal ids promise bitwise-equal vectors, so identical rows are found without hashing the vectors.
   * Without it they are found by hashing and comparing.
   */
  exemplarIds?: Int32Array;
}

function checkHostBatch(b: HostBatch, C1: number, I: number): void {
  const U = b.vectors.length / I;
  if (!Number.isInteger(U)) throw new Error(`batch.vectors has ${b.vectors.length} values, not a whole number of ${I}-dimensional vectors`);
  if (b.index.length !== b.size * C1) throw new Error(`batch.index has ${b.index.length} values, expected [${b.size}, ${C1}] = ${b.size * C1}`);
  for (let i = 0; i < b.index.length; i++) if (!(b.index[i] >= 0 && b.index[i] < U)) throw new Error(`batch.index[${i}] = ${b.index[i]} is not a row of batch.vectors (${U} rows)`);
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
}

export interface FastResult {
  /** Mean cross-entropy at the query position. */
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
  paramBlock: number; gradBlock: number; paramCount: number;
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
  try { validateModelConfig(c); } catch (e) { return (e as Error).message; }
  if (c.mlpRatio !== null) return `models with MLP blocks (mlpRatio ${c.mlpRatio}) are not supported by the fast path; use the TensorFlow.js engine`;
  return null;
}

export function supports(c: ModelConfig): boolean { return unsupportedReason(c) === null; }

const F = 4; // bytes per float32 / int32

/** src [B, X, Y, D] → dst [B, Y, X, D] (position-major ↔ head-major per-head vectors). */
function swapMiddle(src: ArrayLike<number>, dst: { [i: number]: number }, B: number, X: number, Y: number, D: number): void {
  for (let b = 0; b < B; b++) for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) {
    const si = ((b * X + x) * Y + y) * D, di = ((b * Y + y) * X + x) * D;
    for (let e = 0; e < D; e++) dst[di + e] = src[si + e];
  }
}

/** Bump allocator over the kernels' memory; grows it on demand (which detaches every view: `gen` counts). */
class Arena {
  top: number;
  gen = 0;
  constructor(readonly memory: WebAssembly.Memory, base: number) { this.top = (base + 63) & ~63; }
  alloc(bytes: number): number {
    const p = (this.top + 63) & ~63;
    this.top = p + Math.max(bytes, 0);
    const need = this.top - this.memory.buffer.byteLength;
    if (need > 0) { this.memory.grow(Math.ceil(need / 65536)); this.gen++; }
    return p;
  }
  f32(n: number): number { return this.alloc(n * F); }
}

/** Per-layer buffers (byte offsets). */
interface LayerBufs {
  ln: number; stats: number; qkv: number;
  q: number; k: number; v: number; rq: number; rk: number;
  scores: number; pc: number; patt: number; z: number; merged: number; ao: number; rp: number;
}

/** Everything that depends on the batch size. */
interface Layout {
  B: number; N: number; nEx: number; nLab: number;
  X: number; Xu: number; labels: number; hashes: number; exmap: number; labmap: number; tokmap: number; uex: number; ylist: number;
  /** [B, T] the row of parts that token t's query and key read under the layer-1 clamp (tokmap at σ(t)). */
  smap: number;
  parts: number; embed: number; layers: LayerBufs[]; lnf: number; statsF: number; logits: number; qlogits: number;
  dlog: number; dlnf: number; dh: number; dao: number; dmerged: number; dz: number; dp: number; ds: number;
  drq: number; drk: number; dv: number; dqkv: number; dln: number; dparts: number; tmp: number; scratch: number;
  /** [B, H, d] pooled values of the last block and their gradient (see attn_pool). */
  pool: number; dpool: number;
  /** Override buffers per site (value floats, mask bytes). */
  ovr: Map<string, { val: number; mask: number; n: number; loaded: HostOverride | null }>;
  table: Int32Array;
  tableKeys: Int32Array;
  /** JS-side buffer for FastBatch.exemplarIds (batchViews). */
  ids: Int32Array;
  gen: number;
  views: LayoutViews;
}
interface LayoutViews {
  X: Float32Array; labels: Int32Array; hashes: Uint32Array; exmap: Int32Array; labmap: Int32Array; tokmap: Int32Array; smap: Int32Array;
  uex: Int32Array; ylist: Int32Array; logits: Float32Array; qlogits: Float32Array; dlog: Float32Array;
}

interface LayerParams { lnW: number; lnB: number; qkv: number; proj: number }

interface LayerNames {
  residPre: string; ln: string; q: string; k: string; v: string; rotQ: string; rotK: string;
  scores: string; pattern: string; z: string; attnOut: string; residPost: string;
}

export class FastModel {
  readonly config: ModelConfig;
  readonly variant: WasmVariant;
  readonly dedup: boolean;
  private readonly kern: Kernels;
  private readonly k: KernelExports;
  private readonly arena: Arena;
  private readonly T: number; private readonly d: number; private readonly H: number; private readonly D: number;
  private readonly L: number; private readonly C: number; private readonly I: number; private readonly depth: number;
  private readonly specs: ParamSpec[];
  /** Byte offsets of each parameter / gradient, and the weight transposes used by the forward GEMMs. */
  private readonly p: Record<string, number> = {};
  private readonly g: Record<string, number> = {};
  private readonly pSize: Record<string, number> = {};
  private readonly paramBlock: number; private readonly gradBlock: number; private readonly paramCount: number;
  private readonly qkvT: number[] = []; private readonly projT: number[] = []; private readonly unT: number;
  private readonly cos: number; private readonly sin: number;
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
    this.T = seqLen(config); this.d = config.dModel; this.H = config.numHeads; this.D = headDim(config);
    this.L = config.numLabels; this.C = config.contextLen; this.I = config.inputDim; this.depth = config.depth;
    this.dedup = opts.dedup ?? true;
    this.kern = loadKernels(opts.wasm ?? 'auto');
    this.k = this.kern.k;
    this.variant = this.kern.variant;
    this.arena = new Arena(this.kern.memory, this.kern.heapBase);
    const { d, T, D } = this;

    // Parameters and gradients: one contiguous block each, in paramSpecs order.
    this.specs = paramSpecs(config);
    this.paramCount = this.specs.reduce((s, sp) => s + sp.shape.reduce((a, b) => a * b, 1), 0);
    this.paramBlock = this.arena.f32(this.paramCount);
    let off = this.paramBlock;
    for (const sp of this.specs) { const n = sp.shape.reduce((a, b) => a * b, 1); this.p[sp.name] = off; this.pSize[sp.name] = n; off += n * F; }
    this.gradBlock = this.arena.f32(this.paramCount);
    off = this.gradBlock;
    for (const sp of this.specs) { this.g[sp.name] = off; off += this.pSize[sp.name] * F; }
    for (let l = 0; l < this.depth; l++) { this.qkvT.push(this.arena.f32(d * 3 * d)); this.projT.push(this.arena.f32(d * d)); } // [d, 3d], [d, d]
    this.unT = this.arena.f32(d * this.L);                              // [d, L]

    // RoPE tables [T, D] (the reference's, model/rope.ts).
    this.cos = this.arena.f32(T * D); this.sin = this.arena.f32(T * D);
    const rope = ropeTables(T, D, config.ropeBase);
    this.f32(this.cos, T * D).set(rope.cos); this.f32(this.sin, T * D).set(rope.sin);

    for (let l = 0; l < this.depth; l++) {
      this.names.push({
        residPre: site.residPre(l), ln: site.lnNormalized(l), q: site.q(l), k: site.k(l), v: site.v(l),
        rotQ: site.rotQ(l), rotK: site.rotK(l), scores: site.attnScores(l), pattern: site.pattern(l), z: site.z(l),
        attnOut: site.attnOut(l), residPost: site.residPost(l),
      });
    }
    for (const sp of this.specs) {
      Object.defineProperty(this.pObj, sp.name, { enumerable: true, get: () => { this.refreshViews(); return this.pViews[sp.name]; } });
      Object.defineProperty(this.gObj, sp.name, { enumerable: true, get: () => { this.refreshViews(); return this.gViews[sp.name]; } });
    }
    for (let l = 0; l < this.depth; l++) {
      const at = (o: Record<string, number>): LayerParams => ({
        lnW: o[`blocks.${l}.ln.weight`], lnB: o[`blocks.${l}.ln.bias`], qkv: o[`blocks.${l}.attn.qkv.weight`], proj: o[`blocks.${l}.attn.proj.weight`],
      });
      this.lp.push(at(this.p)); this.lg.push(at(this.g));
    }
    this.labelSlot = new Int32Array(this.L);
    this.perHead = new Set(Array.from({ length: this.depth }, (_, l) => perHeadSites(l)).flat());
    const last = this.names[this.depth - 1];
    // Sites computed at the query position only unless recorded.
    this.truncSites = new Set([last.q, last.rotQ, last.scores, last.pattern, last.z, last.attnOut, last.residPost, site.lnFinal, site.logits]);
    // Per-token overrides on these force the token-by-token layer 0.
    this.layer0Sites = [site.embed, this.names[0].residPre, this.names[0].ln, this.names[0].q, this.names[0].k, this.names[0].v];
  }

  /**
   * The model's parameter buffers as a Params record: pass it to run() to skip the copy-in, write it to
   * set parameters, read it to save them. The record is stable; each property resolves to a view of the
   * current memory, so it stays valid when a larger batch grows the memory (a Float32Array taken out of
   * it does not).
   */
  paramViews(): Params { return this.pObj; }

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
      k: this.k, memory: this.kern.memory, paramBlock: this.paramBlock, gradBlock: this.gradBlock, paramCount: this.paramCount,
      specs: this.specs, alloc: (n) => this.arena.f32(n), param: (name) => this.p[name], rope: { cos: this.cos, sin: this.sin },
    };
  }

  /** Bytes of WebAssembly memory in use. */
  get memoryBytes(): number { return this.kern.memory.buffer.byteLength; }

  private f32(ptr: number, n: number): Float32Array { return new Float32Array(this.kern.memory.buffer, ptr, n); }
  private i32(ptr: number, n: number): Int32Array { return new Int32Array(this.kern.memory.buffer, ptr, n); }

  private refreshViews(): void {
    if (this.viewGen === this.arena.gen) return;
    this.pViews = {}; this.gViews = {};
    for (const sp of this.specs) {
      this.pViews[sp.name] = this.f32(this.p[sp.name], this.pSize[sp.name]);
      this.gViews[sp.name] = this.f32(this.g[sp.name], this.pSize[sp.name]);
    }
    this.viewGen = this.arena.gen;
  }

  private layout(B: number): Layout {
    let lay = this.layouts.get(B);
    if (!lay) {
      const { T, d, H, D, L, C, I } = this;
      const a = this.arena, N = B * T, nEx = B * (C + 1), nLab = B * C, BH = B * H;
      const layers: LayerBufs[] = [];
      for (let l = 0; l < this.depth; l++) {
        layers.push({
          ln: a.f32(N * d), stats: a.f32(2 * N), qkv: a.f32(N * 3 * d),
          q: a.f32(BH * T * D), k: a.f32(BH * T * D), v: a.f32(BH * T * D), rq: a.f32(BH * T * D), rk: a.f32(BH * T * D),
          scores: a.f32(BH * T * T), pc: a.f32(BH * T * T), patt: a.f32(BH * T * T), z: a.f32(BH * T * D),
          merged: a.f32(N * d), ao: a.f32(N * d), rp: a.f32(N * d),
        });
      }
      lay = {
        B, N, nEx, nLab,
        X: a.f32(nEx * I), Xu: a.f32(nEx * I), labels: a.f32(nEx), hashes: a.f32(nEx), exmap: a.f32(nEx), labmap: a.f32(nLab),
        tokmap: a.f32(N), smap: a.f32(N), uex: a.f32(nEx), ylist: a.f32(nLab),
        parts: a.f32(N * d), embed: a.f32(N * d), layers, lnf: a.f32(N * d), statsF: a.f32(2 * N), logits: a.f32(N * L), qlogits: a.f32(B * L),
        dlog: a.f32(N * L), dlnf: a.f32(N * d), dh: a.f32(N * d), dao: a.f32(N * d), dmerged: a.f32(N * d), dz: a.f32(N * d),
        dp: a.f32(BH * T * T), ds: a.f32(BH * T * T), drq: a.f32(N * d), drk: a.f32(N * d), dv: a.f32(N * d),
        dqkv: a.f32(N * 3 * d), dln: a.f32(N * d), dparts: a.f32(N * d), tmp: a.f32(N * Math.max(3 * d, L)),
        scratch: a.f32(4 * Math.max(I, 3 * d, N, L, 8)), pool: a.f32(BH * d), dpool: a.f32(BH * d),
        ovr: new Map(), table: new Int32Array(1 << Math.ceil(Math.log2(2 * nEx + 2))),
        tableKeys: new Int32Array(1 << Math.ceil(Math.log2(2 * nEx + 2))), ids: new Int32Array(nEx), gen: -1,
        views: undefined as unknown as LayoutViews,
      };
      this.layouts.set(B, lay);
    }
    if (lay.gen !== this.arena.gen) {
      const { N, nEx, nLab, B: b } = lay;
      lay.views = {
        X: this.f32(lay.X, nEx * this.I), labels: this.i32(lay.labels, nEx), hashes: new Uint32Array(this.kern.memory.buffer, lay.hashes, nEx),
        exmap: this.i32(lay.exmap, nEx), labmap: this.i32(lay.labmap, nLab), tokmap: this.i32(lay.tokmap, N), smap: this.i32(lay.smap, N),
        uex: this.i32(lay.uex, nEx), ylist: this.i32(lay.ylist, nLab),
        logits: this.f32(lay.logits, N * this.L), qlogits: this.f32(lay.qlogits, b * this.L), dlog: this.f32(lay.dlog, N * this.L),
      };
      lay.gen = this.arena.gen;
    }
    return lay;
  }

  // ---- per-call state (set by run) ----
  private ov: Map<string, HostOverride> | null = null;
  private rec: boolean | ReadonlySet<string> = false;
  private recQuery: ReadonlySet<string> | null = null;
  private acts: Map<string, Float32Array> = new Map();
  private queryActs: Map<string, Float32Array> = new Map();
  private lay!: Layout;
  /** Whether the last block ran with pooled values (set by the forward pass for the backward pass). */
  private lastPooled = false;
  /** [B·H] heads of the last block whose hook_v override is a whole-head zero ablation (1), or null. */
  private vAbl: Uint8Array | null = null;
  private readonly ablCache = new WeakMap<HostOverride, Uint8Array | null>();

  /**
   * Whether an override of the last block's hook_v is a head ablation — per (b, h) either every T·D
   * entry masked with value 0 or none — as [B·H] flags; null if it is anything else. A zero-ablated head
   * has z = 0 and passes no gradient to W_v or its pattern, so the pooled query path stays exact.
   */
  private headAblation(o: HostOverride): Uint8Array | null {
    if (this.ablCache.has(o)) return this.ablCache.get(o)!;
    const [B, T, H, D] = o.shape, flags = new Uint8Array(B * H); // position-major hook_v
    let ok = o.shape.length === 4;
    for (let b = 0; ok && b < B; b++) for (let h = 0; ok && h < H; h++) {
      const m0 = o.mask[(b * T * H + h) * D];
      for (let t = 0; ok && t < T; t++) for (let i = ((b * T + t) * H + h) * D, e = i + D; i < e; i++) {
        if (o.mask[i] !== m0 || (m0 && o.value[i] !== 0)) { ok = false; break; }
      }
      flags[b * H + h] = m0 ? 1 : 0;
    }
    const r = ok ? flags : null;
    this.ablCache.set(o, r);
    return r;
  }

  /** Zeroes row t of the flagged (b, h) of a head-major [B, H, T, D] buffer. */
  private zeroHeads(ptr: number, t: number, flags: Uint8Array): void {
    const { T, D } = this, a = this.f32(ptr, flags.length * T * D);
    for (let bh = 0; bh < flags.length; bh++) if (flags[bh]) for (let i = (bh * T + t) * D, e = i + D; i < e; i++) a[i] = 0;
  }

  /** Whether `name` is recorded in full or at the query position. */
  private recording(name: string): boolean {
    const r = this.rec;
    return r === true || (r !== false && r.has(name)) || (this.recQuery !== null && this.recQuery.has(name));
  }

  /** Applies the override of `name` (if any) to the n floats at ptr, then records it if asked. */
  private hook(name: string, ptr: number, n: number): void {
    if (this.ov !== null) {
      const o = this.lay.ovr.get(name);
      if (o !== undefined && this.ov.has(name)) this.k.where_apply(ptr, o.val, o.mask, n);
    }
    const r = this.rec;
    if (r === true || (r !== false && r.has(name))) {
      const v = this.f32(ptr, n);
      if (!this.perHead.has(name)) this.acts.set(name, v.slice());
      else {
        // Head-major inside → position-major [B, T, H, D] (the [B·T, d] rows) at the interface.
        this.k.from_heads(ptr, this.lay.tmp, this.d, 0, 0, this.lay.B, this.T, 0, this.H, this.D, 0);
        this.acts.set(name, this.f32(this.lay.tmp, n).slice());
      }
    }
    if (this.recQuery?.has(name)) this.queryActs.set(name, this.querySlice(name, ptr, n));
  }

  /**
   * The query position's slice of a site: [B, X] of a [B, T, X] site, [B, H, D] of a per-head one,
   * [B, H, T_key] (the query's row) of scores and patterns — valid in the query-only last block too.
   */
  private querySlice(name: string, ptr: number, n: number): Float32Array {
    const { T, H } = this, B = this.lay.B, v = this.f32(ptr, n), t = T - 1;
    const attn = name.endsWith('.hook_attn_scores') || name.endsWith('.hook_pattern');
    if (attn || this.perHead.has(name)) {
      // Head-major inside: [B, H, T, X] → [B, H, X] at row T−1.
      const X = n / (B * H * T), out = new Float32Array(B * H * X);
      for (let bh = 0; bh < B * H; bh++) out.set(v.subarray((bh * T + t) * X, (bh * T + t + 1) * X), bh * X);
      return out;
    }
    const X = n / (B * T), out = new Float32Array(B * X);
    for (let b = 0; b < B; b++) out.set(v.subarray((b * T + t) * X, (b * T + t + 1) * X), b * X);
    return out;
  }

  /** Zeroes the gradient of overridden entries of `name` (n floats at ptr). */
  private block(name: string, ptr: number, n: number): void {
    if (this.ov === null || !this.ov.has(name)) return;
    this.k.grad_mask(ptr, this.lay.ovr.get(name)!.mask, n);
  }

  private has(name: string): boolean { return this.ov !== null && this.ov.has(name); }

  /** Copies the caller's overrides into the kernels' memory, checking names and shapes. */
  private loadOverrides(overrides: Map<string, HostOverride> | undefined, B: number): void {
    this.ov = null;
    this.vAbl = null;
    if (!overrides || overrides.size === 0) return;
    const shapes = siteShapes(this.config, B);
    for (const [name, o] of overrides) {
      const shape = shapes[name];
      if (!shape) throw new Error(`override of unknown site "${name}" (the fast path has: ${Object.keys(shapes).join(', ')})`);
      const n = shape.reduce((a, b) => a * b, 1);
      if (o.shape.length !== shape.length || o.shape.some((s, i) => s !== shape[i]) || o.value.length !== n || o.mask.length !== n) {
        throw new Error(`override of ${name} has shape [${o.shape.join(', ')}] (${o.value.length} values, ${o.mask.length} mask entries), expected [${shape.join(', ')}]`);
      }
      let buf = this.lay.ovr.get(name);
      if (!buf) { buf = { val: this.arena.f32(n), mask: this.arena.alloc(n), n, loaded: null }; this.lay.ovr.set(name, buf); }
      // Host overrides are values (never mutated once built): one already in its buffer is not copied again.
      if (buf.loaded === o) continue;
      buf.loaded = o;
      const val = new Float32Array(this.kern.memory.buffer, buf.val, n), mask = new Uint8Array(this.kern.memory.buffer, buf.mask, n);
      if (this.perHead.has(name)) {
        // Position-major [B, T, H, D] at the interface ([B·T, d] rows), head-major [B, H, T, D] inside.
        this.f32(this.lay.tmp, n).set(o.value);
        this.k.to_heads(this.lay.tmp, this.d, 0, 0, buf.val, B, this.T, 0, this.H, this.D);
        swapMiddle(o.mask, mask, B, this.T, this.H, this.D);
      } else { val.set(o.value); mask.set(o.mask); }
    }
    this.ov = overrides;
    const v = overrides.get(this.names[this.depth - 1].v);
    this.vAbl = v ? this.headAblation(v) : null;
  }

  /**
   * Whether block l pools its values at the query (attn_pool): the last block when only the query is
   * computed, in token order, and with its hook_v neither overridden nor recorded (v is then never formed).
   */
  private pooled(l: number, t0: number, rows: boolean): boolean {
    const v = this.names[l].v;
    return l === this.depth - 1 && t0 === this.T - 1 && !rows && (!this.has(v) || this.vAbl !== null) && !this.recording(v);
  }

  /** qkv columns [off, off+d) → heads (raw site `rawName`) → RoPE (site `rotName`), rows [t0, T). */
  private headsRope(qkv: number, off: number, map: number, raw: number, rot: number, B: number, t0: number, rawName: string, rotName: string): void {
    const { k, T, d, H, D } = this, n = B * H * T * D;
    if (this.has(rawName)) {
      k.to_heads(qkv, 3 * d, off, map, raw, B, T, t0, H, D); this.hook(rawName, raw, n);
      k.rope(raw, rot, this.cos, this.sin, B * H, T, t0, D, 0);
    } else {
      const rec = this.recording(rawName);
      k.to_heads_rope(qkv, 3 * d, off, map, rec ? raw : 0, rot, this.cos, this.sin, B, T, t0, H, D);
      if (rec) this.hook(rawName, raw, n);
    }
    this.hook(rotName, rot, n);
  }

  /** Backward of headsRope: the gradient of the rotated heads → lay.dqkv columns [off, off+d). */
  private ropeFromHeads(drot: number, off: number, map: number, B: number, t0: number, rawName: string, add: number): void {
    const { k, T, d, H, D } = this;
    if (this.has(rawName)) {
      k.rope(drot, drot, this.cos, this.sin, B * H, T, t0, D, 1);
      this.block(rawName, drot, B * H * T * D);
      k.from_heads(drot, this.lay.dqkv, 3 * d, off, map, B, T, t0, H, D, add);
    } else k.rope_from_heads(drot, this.cos, this.sin, this.lay.dqkv, 3 * d, off, map, B, T, t0, H, D, add);
  }

  /** Refuses clamp combinations run() cannot compute exactly as the reference does. */
  private checkClamps(l1: boolean, copyHead: number | undefined, overrides: Map<string, HostOverride> | undefined): void {
    if (l1 && this.depth !== 2) throw new Error(`the layer1 clamp needs a two-layer model; this one has ${this.depth} layers`);
    if (l1 && overrides) {
      const bad = layer1FoldReads(this.config).filter((s) => overrides.has(s));
      if (bad.length) throw new Error(`with the layer1 clamp the fast path cannot override ${bad.join(', ')} (the clamp's passes read them clean); use the TensorFlow.js engine`);
    }
    if (copyHead === undefined) return;
    if (!Number.isInteger(copyHead) || copyHead < 0 || copyHead >= this.H) throw new Error(`copyHead ${copyHead} is not a head of the last block (0…${this.H - 1})`);
    if (this.C !== 2) throw new Error(`the perfect-copy clamp needs two context pairs; this model has ${this.C}`);
    if (overrides && overrides.size) throw new Error('the perfect-copy clamp reads a clean pass: run its overrides as a separate forward pass');
  }

  /**
   * Query logits of the perfect-copy clamp (clamps/copy.ts, the reference's float32 arithmetic),
   * z1, z2 = the head's scores at keys 1 and 3.
   */
  private copyLogits(h: number): void {
    const { T, H, L } = this, lay = this.lay, B = lay.B;
    const S = this.f32(lay.layers[this.depth - 1].scores, B * H * T * T), lg = lay.views.logits, y = lay.views.labels;
    for (let b = 0; b < B; b++) {
      const r = ((b * H + h) * T + T - 1) * T, z1 = S[r + 1], z2 = S[r + 3], y1 = y[b * 3], y2 = y[b * 3 + 1];
      const o = (b * T + T - 1) * L;
      for (let j = 0; j < L; j++) lg[o + j] = copyLogit(j, y1, y2, z1, z2);
    }
  }

  /**
   * The exemplar rows the embedding reads: Xsrc [nUex, I] and exmap [B·C1] (item → row). Under dedup each
   * distinct vector is one row, found by the HostBatch's index, the caller's exemplar ids, or by hashing
   * the vectors (bitwise equality); otherwise every item is its own row.
   */
  private exemplarRows(batch: FastBatch, dedup: boolean): { nUex: number; Xsrc: number } {
    const { k, I } = this, lay = this.lay, lv = lay.views, nEx = lay.nEx, ex = lv.exmap, ue = lv.uex;
    const rows = 'vectors' in batch ? batch : null;
    const copyRow = (dst: number, r: number) => this.f32(dst + 0, I).set(rows!.vectors.subarray(r * I, (r + 1) * I));
    if (!dedup) {
      if (rows) for (let r = 0; r < nEx; r++) copyRow(lay.X + r * I * F, rows.index[r]);
      for (let r = 0; r < nEx; r++) ex[r] = r;
      return { nUex: nEx, Xsrc: lay.X };
    }
    let nUex: number;
    const ids = rows ? rows.index : (batch as ExemplarBatch).exemplarIds;
    if (ids) {
      // Distinct vectors by id (open addressing on the id); ue = the first item of each.
      if (ids.length !== nEx) throw new Error(`batch.${rows ? 'index' : 'exemplarIds'} has ${ids.length} values, expected ${nEx}`);
      const tab = lay.table, keys = lay.tableKeys, mask = tab.length - 1;
      tab.fill(0);
      nUex = 0;
      for (let r = 0; r < nEx; r++) {
        const id = ids[r];
        let s = (Math.imul(id ^ (id >>> 15), 0x2c1b3c6d) >>> 12) & mask, found = -1;
        while (tab[s] !== 0) { if (keys[s] === id) { found = tab[s] - 1; break; } s = (s + 1) & mask; }
        if (found < 0) { tab[s] = nUex + 1; keys[s] = id; ue[nUex] = r; found = nUex++; }
        ex[r] = found;
      }
    } else {
      // Distinct exemplar vectors (bitwise), found by hash then confirmed by comparison.
      k.hash_rows(lay.X, nEx, I, lay.hashes);
      const h = lv.hashes, tab = lay.table, mask = tab.length - 1;
      tab.fill(0);
      nUex = 0;
      for (let r = 0; r < nEx; r++) {
        let s = h[r] & mask, found = -1;
        while (tab[s] !== 0) {
          const rep = tab[s] - 1;
          if (h[rep] === h[r] && k.rows_equal(lay.X + rep * I * F, lay.X + r * I * F, I)) { found = ex[rep]; break; }
          s = (s + 1) & mask;
        }
        if (found < 0) { tab[s] = r + 1; ue[nUex] = r; found = nUex++; }
        ex[r] = found;
      }
    }
    if (rows) for (let u = 0; u < nUex; u++) copyRow(lay.Xu + u * I * F, rows.index[ue[u]]);
    else k.gather_rows(lay.X, lay.uex, nUex, I, lay.Xu);                   // Xu [nUex, I]
    return { nUex, Xsrc: lay.Xu };
  }

  /** Label rows of parts after the nUex exemplar rows: labmap [B·C] and ylist; returns their count. */
  private labelRows(nUex: number, dedup: boolean): number {
    const { C } = this, C1 = C + 1, lay = this.lay, lv = lay.views, B = lay.B, lm = lv.labmap, yl = lv.ylist;
    if (!dedup) {
      for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) { lm[b * C + c] = nUex + b * C + c; yl[b * C + c] = lv.labels[b * C1 + c]; }
      return lay.nLab;
    }
    const slot = this.labelSlot; // label → row among the distinct labels (−1 = unseen)
    slot.fill(-1);
    let n = 0;
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
      const y = lv.labels[b * C1 + c];
      if (slot[y] < 0) { slot[y] = n; yl[n++] = y; }
      lm[b * C + c] = nUex + slot[y];
    }
    return n;
  }

  run(params: Params, batch: FastBatch, opts: FastOptions): FastResult {
    const { k, T, d, H, D, L, C, I, depth } = this;
    const C1 = C + 1, B = batch.size;
    if (!Number.isInteger(B) || B < 1) throw new Error(`batch.size must be a positive integer, got ${B}`);
    if ('vectors' in batch) checkHostBatch(batch, C1, I);
    else if (batch.exemplars.length !== B * C1 * I) throw new Error(`batch.exemplars has ${batch.exemplars.length} values, expected [${B}, ${C1}, ${I}] = ${B * C1 * I}`);
    if (batch.labels.length !== B * C1) throw new Error(`batch.labels has ${batch.labels.length} values, expected [${B}, ${C1}] = ${B * C1}`);
    const lay = this.layout(B);
    this.lay = lay;
    this.ov = null;

    // ---- inputs (copied before anything below can grow the memory and detach the caller's views) ----
    let lv = lay.views;
    this.refreshViews();
    for (const sp of this.specs) {
      const src = params[sp.name], dst = this.pViews[sp.name];
      if (!src || src.length !== dst.length) throw new Error(`params: tensor ${sp.name} ${src ? `has ${src.length} values` : 'is missing'}, expected [${sp.shape.join(',')}]`);
      if (src !== dst) dst.set(src); // (this.pObj's properties resolve to exactly these views)
    }
    if (!('vectors' in batch) && batch.exemplars !== lv.X) lv.X.set(batch.exemplars);
    if (batch.labels !== lv.labels) lv.labels.set(batch.labels);
    for (let i = 0; i < B * C1; i++) { const y = lv.labels[i]; if (!(y >= 0 && y < L)) throw new Error(`batch.labels[${i}] = ${y} is outside [0, ${L})`); }
    const l1 = opts.layer1 === true, copyH = opts.copyHead ?? -1, copy = copyH >= 0;
    this.checkClamps(l1, opts.copyHead, opts.overrides);
    // Overrides may allocate (first use of a site at this batch size), which may grow the memory.
    this.loadOverrides(opts.overrides, B);
    lv = this.layout(B).views;
    this.refreshViews();
    k.set_scratch(lay.scratch);
    this.rec = opts.record ?? false;
    this.acts = new Map();
    this.recQuery = opts.recordQuery && opts.recordQuery.size ? opts.recordQuery : null;
    this.queryActs = new Map();

    // Weight transposes for the forward GEMMs (Y = X·Wᵀ as X[rows, in] · Wᵀ[in, out]).
    const p = this.p;
    for (let l = 0; l < depth; l++) {
      k.transpose(this.lp[l].qkv, 3 * d, d, this.qkvT[l]);
      k.transpose(this.lp[l].proj, d, d, this.projT[l]);
    }
    k.transpose(p['unembed.weight'], L, d, this.unT);

    // ---- modes ----
    let full = false;
    if (this.rec === true) full = true;
    else if (this.rec !== false) for (const s of this.truncSites) if (this.rec.has(s)) { full = true; break; }
    let tokenMode = false;
    for (const s of this.layer0Sites) if (this.has(s)) { tokenMode = true; break; }
    // layer1: block 0's output is replaced, so it runs only to record its sites.
    const rec = this.rec;
    const skip0 = l1 && !(rec === true || Object.entries(this.names[0]).some(([key, s]) => key !== 'residPost' && this.recording(s)));
    // copy with nothing recorded: the last block stops at the scores the copy logits read.
    const copyOnly = copy && this.rec === false;
    const dedup = this.dedup && !this.has(site.embedExemplar) && !this.has(site.embedLabel);
    const N = B * T, BH = B * H, nEx = lay.nEx, nLab = lay.nLab;
    const tq = (l: number) => (l === depth - 1 && !full ? T - 1 : 0);

    // ---- embeddings: parts = [exemplar rows; label rows] (each distinct row once under dedup) ----
    // exmap [B·C1] → row of Xsrc; labmap [B·C] → row of parts; ylist = the label of each label row.
    const { nUex, Xsrc } = this.exemplarRows(batch, dedup);
    const nUlab = this.labelRows(nUex, dedup);
    const ex = lv.exmap, lm = lv.labmap, tm = lv.tokmap;
    // Token t of sequence b: exemplar c at t = 2c, label c at t = 2c+1, the query at t = 2C.
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < C; c++) { tm[b * T + 2 * c] = ex[b * C1 + c]; tm[b * T + 2 * c + 1] = lm[b * C + c]; }
      tm[b * T + 2 * C] = ex[b * C1 + C];
    }
    if (l1) {
      // The layer-1 pattern pass's shift σ: [0, 0, 1, …, T−3, T−1].
      const sm = lv.smap;
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) sm[b * T + t] = tm[b * T + (t === 0 || t === T - 1 ? t : t - 1)];
    }
    const partsLab = lay.parts + nUex * d * F;
    // parts[0:nUex] = Xsrc · W_exᵀ + b_ex                                  [nUex, d]
    k.gemm_nt(nUex, d, I, Xsrc, I, p['embed.exemplar.weight'], I, lay.parts, d, 0);
    k.add_bias(lay.parts, d, p['embed.exemplar.bias'], nUex, d);
    // parts[nUex:] = W_lab[:, y]                                            [nUlab, d]
    k.embed_label(lay.ylist, nUlab, p['embed.label.weight'], L, d, partsLab);
    if (dedup) {
      if (this.recording(site.embedExemplar)) { k.gather_rows(lay.parts, lay.exmap, nEx, d, lay.tmp); this.hook(site.embedExemplar, lay.tmp, nEx * d); }
      if (this.recording(site.embedLabel)) { k.gather_rows(lay.parts, lay.labmap, nLab, d, lay.tmp); this.hook(site.embedLabel, lay.tmp, nLab * d); }
    } else {
      this.hook(site.embedExemplar, lay.parts, nEx * d);                   // [B, C1, d]
      this.hook(site.embedLabel, partsLab, nLab * d);                      // [B, C, d]
    }
    // embed = interleave(exemplars, labels)                                [B, T, d]
    k.gather_rows(lay.parts, lay.tokmap, N, d, lay.embed);
    this.hook(site.embed, lay.embed, N * d);

    // ---- blocks ----
    const scale = 1 / Math.sqrt(D);
    for (let l = 0; l < depth; l++) {
      const nm = this.names[l], bf = lay.layers[l], t0 = tq(l);
      const l1Last = l1 && l === depth - 1, last = l === depth - 1;
      if (l === 0 && skip0) { this.hook(nm.residPost, lay.embed, N * d); continue; }
      // [B, T, d] block input (layer1: the last block reads E, the final pass's clamped block-0 output)
      const x = l === 0 || l1Last ? lay.embed : lay.layers[l - 1].rp;
      this.hook(nm.residPre, x, N * d);
      const lp = this.lp[l];
      const rows = (l === 0 && !tokenMode) || l1Last;  // LN + QKV over the distinct rows of parts
      const map = rows ? lay.tokmap : 0;
      const qkMap = l1Last ? lay.smap : map;          // layer1: queries and keys from the shifted rows
      const pooled = this.pooled(l, t0, rows);
      this.lastPooled = pooled;
      if (rows) {
        const nr = nUex + nUlab;
        k.ln_fwd(lay.parts, bf.ln, bf.stats, lp.lnW, lp.lnB, 1, nr, 0, d, this.config.lnEps); // [nr, d]
        if (this.recording(nm.ln)) { k.gather_rows(bf.ln, lay.tokmap, N, d, lay.tmp); this.hook(nm.ln, lay.tmp, N * d); }
        k.gemm(nr, 3 * d, d, bf.ln, d, 1, this.qkvT[l], 3 * d, bf.qkv, 3 * d, 0);                          // qkv [nr, 3d]
      } else {
        k.ln_fwd(x, bf.ln, bf.stats, lp.lnW, lp.lnB, B, T, 0, d, this.config.lnEps);           // [B, T, d]
        this.hook(nm.ln, bf.ln, N * d);
        if (t0 === 0) k.gemm(N, 3 * d, d, bf.ln, d, 1, this.qkvT[l], 3 * d, bf.qkv, 3 * d, 0);               // qkv [B, T, 3d]
        else {
          // k (and v unless pooled) at every position; q at the query only.
          k.gemm(N, pooled ? d : 2 * d, d, bf.ln, d, 1, this.qkvT[l] + d * F, 3 * d, bf.qkv + d * F, 3 * d, 0);
          k.gemm(B, d, d, bf.ln + t0 * d * F, T * d, 1, this.qkvT[l], 3 * d, bf.qkv + t0 * 3 * d * F, T * 3 * d, 0);
        }
      }
      // Feature index of qkv = which·d + head·D + dim → q, k, v [B, H, T, D]
      // q, k [B, H, T, D] then RoPE → rot_q, rot_k (one fused pass unless q / k is overridden in between).
      this.headsRope(bf.qkv, 0, qkMap, bf.q, bf.rq, B, t0, nm.q, nm.rotQ);
      this.headsRope(bf.qkv, d, qkMap, bf.k, bf.rk, B, 0, nm.k, nm.rotK);
      if (!pooled && !(copyOnly && last)) { k.to_heads(bf.qkv, 3 * d, 2 * d, map, bf.v, B, T, 0, H, D); this.hook(nm.v, bf.v, BH * T * D); }
      // scores = (rq·rkᵀ)/√D, causal −1e20                                 [B, H, T, T]
      k.attn_scores(bf.rq, bf.rk, bf.scores, BH, T, t0, D, scale); this.hook(nm.scores, bf.scores, BH * T * T);
      if (copyOnly && last) break; // nothing after the copied scores reaches the loss
      k.softmax(bf.scores, bf.pc, BH, T, t0);
      // pattern: the computed softmax (pc) is kept for the backward pass when an override replaces entries.
      let patt = bf.pc;
      if (this.has(nm.pattern)) { k.copy(bf.pc, bf.patt, BH * T * T); patt = bf.patt; }
      this.hook(nm.pattern, patt, BH * T * T);
      if (!pooled) k.attn_z(patt, bf.v, bf.z, BH, T, t0, D);                            // z [B, H, T, D]
      else {
        // Y = pattern[query] · ln                                            [B, H, d]
        // z[b, h, query] = Y[b, h] · W_v,hᵀ  (W_v,h = rows 2d + h·D … of W_qkv) [B, H, D]
        k.attn_pool(patt, bf.ln, lay.pool, B, H, T, d);
        for (let h = 0; h < H; h++) k.gemm(B, D, d, lay.pool + h * d * F, H * d, 1, this.qkvT[l] + (2 * d + h * D) * F, 3 * d, bf.z + (h * T + t0) * D * F, H * T * D, 0);
        if (this.vAbl) this.zeroHeads(bf.z, t0, this.vAbl);                                // zero-ablated heads: z = 0
      }
      this.hook(nm.z, bf.z, BH * T * D);
      k.from_heads(bf.z, bf.merged, d, 0, 0, B, T, t0, H, D, 0);                         // [B, T, d] head h → dims h·D…
      // attn_out = merged · W_projᵀ                                        [B, T, d]
      if (t0 === 0) k.gemm(N, d, d, bf.merged, d, 1, this.projT[l], d, bf.ao, d, 0);
      else k.gemm(B, d, d, bf.merged + t0 * d * F, T * d, 1, this.projT[l], d, bf.ao + t0 * d * F, T * d, 0);
      this.hook(nm.attnOut, bf.ao, N * d);
      k.add_rows(x, bf.ao, bf.rp, B, T, t0, d);                                            // resid_post = x + attn_out
      this.hook(nm.residPost, l1 && l === 0 ? lay.embed : bf.rp, N * d);                     // (layer1: replaced by E)
    }

    // ---- final LayerNorm, unembedding, loss ----
    if (!copyOnly) {
      const tF = full ? 0 : T - 1;
      const h = lay.layers[depth - 1].rp;
      k.ln_fwd(h, lay.lnf, lay.statsF, p['ln_final.weight'], p['ln_final.bias'], B, T, tF, d, this.config.lnEps);
      this.hook(site.lnFinal, lay.lnf, N * d);
      // logits = lnf · W_unᵀ + b_un                                         [B, T, L] (query row, or all)
      if (tF === 0) k.gemm(N, L, d, lay.lnf, d, 1, this.unT, L, lay.logits, L, 0);
      else k.gemm(B, L, d, lay.lnf + tF * d * F, T * d, 1, this.unT, L, lay.logits + tF * L * F, T * L, 0);
      k.add_bias(lay.logits + tF * L * F, tF === 0 ? L : T * L, p['unembed.bias'], tF === 0 ? N : B, L);
    }
    if (copy) this.copyLogits(copyH);
    this.hook(site.logits, lay.logits, N * L);

    // Cross-entropy at the query (model/queryLoss.ts), dlogits = (softmax − onehot)/B.
    const lg = lv.logits, ql = lv.qlogits;
    for (let b = 0; b < B; b++) ql.set(lg.subarray((b * T + T - 1) * L, (b * T + T) * L), b * L);
    const loss = queryLoss(lg, B, L, lv.labels, C1, { stride: T * L, offset: (T - 1) * L, dlogits: opts.backward ? lv.dlog : undefined, divisor: B });
    const result: FastResult = { loss, logits: ql, acts: this.acts, queryActs: this.queryActs };
    if (opts.backward) { this.backward(dedup, tokenMode, nUex, nUlab, Xsrc, l1, copyH); result.grads = this.gObj; }
    this.ov = null;
    return result;
  }

  private backward(dedup: boolean, tokenMode: boolean, nUex: number, nUlab: number, Xsrc: number, l1: boolean, copyH: number): void {
    const { k, T, d, H, D, L, I, depth, p, g } = this;
    const lay = this.lay, B = lay.B, N = lay.N, BH = B * H, tq = T - 1;
    const scale = 1 / Math.sqrt(D);
    // Accumulated gradients start at zero; the GEMM-written ones are overwritten.
    k.fill(g['embed.label.weight'], d * L, 0);
    for (let l = 0; l < depth; l++) { k.fill(this.lg[l].lnW, d, 0); k.fill(this.lg[l].lnB, d, 0); }
    k.fill(g['ln_final.weight'], d, 0); k.fill(g['ln_final.bias'], d, 0);

    const copy = copyH >= 0;
    k.fill(lay.dh, N * d, 0);
    if (copy) {
      // The copy logits replace the unembedding's: nothing after the copied scores gets gradient.
      k.fill(g['unembed.weight'], L * d, 0); k.fill(g['unembed.bias'], L, 0);
    } else {
      // ---- unembedding and final LayerNorm (query rows only: nothing else reaches the loss) ----
      const dlq = lay.dlog + tq * L * F, lnq = lay.lnf + tq * d * F;
      this.block(site.logits, lay.dlog, N * L);
      k.gemm(L, d, B, dlq, 1, T * L, lnq, T * d, g['unembed.weight'], d, 0);              // dW_un = dlᵀ·lnf  [L, d]
      k.col_sum(dlq, T * L, B, L, g['unembed.bias'], 0);                                  // db_un             [L]
      k.gemm(B, d, L, dlq, T * L, 1, p['unembed.weight'], d, lay.dlnf + tq * d * F, T * d, 0); // dlnf = dl·W_un [B, d]
      this.block(site.lnFinal, lay.dlnf, N * d);
      const hLast = lay.layers[depth - 1].rp;
      k.ln_bwd(hLast, lay.dlnf, lay.statsF, p['ln_final.weight'], lay.dh, g['ln_final.weight'], g['ln_final.bias'], B, T, tq, d, 0);
    }

    // ---- blocks, last to first; dh = gradient of the block's (hooked) output ----
    for (let l = depth - 1; l >= 0; l--) {
      const nm = this.names[l], bf = lay.layers[l], t0 = l === depth - 1 ? tq : 0;
      const lp = this.lp[l], lg = this.lg[l];
      if (l1 && l === 0) { k.fill(lg.qkv, 3 * d * d, 0); k.fill(lg.proj, d * d, 0); continue; } // block 0's output is replaced
      const l1Last = l1 && l === depth - 1, cp = copy && l === depth - 1;
      const rows = (l === 0 && !tokenMode) || l1Last, map = rows ? lay.tokmap : 0, qkMap = l1Last ? lay.smap : map;
      const x = l === 0 ? lay.embed : lay.layers[l - 1].rp;
      const pooled = l === depth - 1 && this.lastPooled;
      if (cp) {
        // dloss/dscores at the query row: keys 1 and 3 of the copied head (the logits' only inputs).
        k.fill(lg.proj, d * d, 0);
        k.fill(lay.ds, BH * T * T, 0);
        const ds = this.f32(lay.ds, BH * T * T), dl = lay.views.dlog, y = lay.views.labels;
        for (let b = 0; b < B; b++) {
          const r = ((b * H + copyH) * T + tq) * T, o = (b * T + tq) * L;
          ds[r + 1] = dl[o + y[b * 3]]; ds[r + 3] = dl[o + y[b * 3 + 1]];
        }
      } else {
        this.block(nm.residPost, lay.dh, N * d);
        // attn_out branch (the residual branch keeps dh)
        let dao = lay.dh;
        if (this.has(nm.attnOut)) { k.copy(lay.dh, lay.dao, N * d); dao = lay.dao; this.block(nm.attnOut, dao, N * d); }
        const nq = B * (T - t0), rs = t0 === 0 ? d : T * d, ro = t0 * d * F;              // query rows, stride, offset
        k.gemm(d, d, nq, dao + ro, 1, rs, bf.merged + ro, rs, lg.proj, d, 0);  // dW_proj = daoᵀ·merged
        k.gemm(nq, d, d, dao + ro, rs, 1, lp.proj, d, lay.dmerged + ro, rs, 0); // dmerged = dao·W_proj
        k.to_heads(lay.dmerged, d, 0, 0, lay.dz, B, T, t0, H, D);                              // dz [B, H, T, D]
        this.block(nm.z, lay.dz, BH * T * D);
        const patt = this.has(nm.pattern) ? bf.patt : bf.pc;
        if (!pooled) k.attn_z_bwd(patt, bf.v, lay.dz, lay.dp, lay.dv, BH, T, t0, D);         // dp [B,H,T,T], dv [B,H,T,D]
        else {
          // dY[b,h] = dz[b,h,query] · W_v,h [B, H, d]; dW_v,h = dz_hᵀ · Y_h [D, d]; dp[query] = dY · lnᵀ
          if (this.vAbl) this.zeroHeads(lay.dz, t0, this.vAbl);                             // zero-ablated heads pass nothing back
          for (let h = 0; h < H; h++) {
            const dzh = lay.dz + (h * T + t0) * D * F, wv = (2 * d + h * D) * d * F;
            k.gemm(B, d, D, dzh, H * T * D, 1, lp.qkv + wv, d, lay.dpool + h * d * F, H * d, 0);
            k.gemm(D, d, B, dzh, 1, H * T * D, lay.pool + h * d * F, H * d, lg.qkv + wv, d, 0);
          }
          k.attn_pool_dp(bf.ln, lay.dpool, lay.dp, B, H, T, d);
        }
        this.block(nm.pattern, lay.dp, BH * T * T);
        k.softmax_bwd(bf.pc, lay.dp, lay.ds, BH, T, t0);
      }
      this.block(nm.scores, lay.ds, BH * T * T);
      k.attn_scores_bwd(lay.ds, bf.rq, bf.rk, lay.drq, lay.drk, BH, T, t0, D, scale);     // drq, drk [B,H,T,D]
      this.block(nm.rotQ, lay.drq, BH * T * D); this.block(nm.rotK, lay.drk, BH * T * D);
      if (!pooled && !cp) this.block(nm.v, lay.dv, BH * T * D);  // (pooled: v was never formed)
      if (rows) {
        // dqkv over the distinct rows: tokens sharing a row add up.
        const nr = nUex + nUlab;
        k.fill(lay.dqkv, nr * 3 * d, 0);
        this.ropeFromHeads(lay.drq, 0, qkMap, B, t0, nm.q, 1);
        this.ropeFromHeads(lay.drk, d, qkMap, B, 0, nm.k, 1);
        if (!cp) k.from_heads(lay.dv, lay.dqkv, 3 * d, 2 * d, map, B, T, 0, H, D, 1);
        k.gemm(3 * d, d, nr, lay.dqkv, 1, 3 * d, bf.ln, d, lg.qkv, d, 0);   // dW_qkv [3d, d]
        k.gemm(nr, d, 3 * d, lay.dqkv, 3 * d, 1, lp.qkv, d, lay.dln, d, 0);  // dln [nr, d]
        // dparts = LN backward + the residual gradient of every token of the row.
        k.ln_bwd(lay.parts, lay.dln, bf.stats, lp.lnW, lay.dparts, lg.lnW, lg.lnB, 1, nr, 0, d, 0);
        k.scatter_add_rows(lay.dh, lay.tokmap, N, d, lay.dparts);
      } else {
        this.ropeFromHeads(lay.drq, 0, 0, B, t0, nm.q, 0);
        this.ropeFromHeads(lay.drk, d, 0, B, 0, nm.k, 0);
        if (!pooled && !cp) k.from_heads(lay.dv, lay.dqkv, 3 * d, 2 * d, 0, B, T, 0, H, D, 0);
        if (cp && t0 === 0) throw new Error('internal: the copy head is in the last block, which runs from the query row');
        if (t0 === 0) {
          k.gemm(3 * d, d, N, lay.dqkv, 1, 3 * d, bf.ln, d, lg.qkv, d, 0);
          k.gemm(N, d, 3 * d, lay.dqkv, 3 * d, 1, lp.qkv, d, lay.dln, d, 0);
        } else {
          // q rows only at the query; k (and v unless pooled) everywhere.
          const kv = pooled || cp ? d : 2 * d;
          if (cp) k.fill(lg.qkv + 2 * d * d * F, d * d, 0);                                  // W_v: no gradient
          k.gemm(d, d, B, lay.dqkv + t0 * 3 * d * F, 1, T * 3 * d, bf.ln + t0 * d * F, T * d, lg.qkv, d, 0);
          k.gemm(kv, d, N, lay.dqkv + d * F, 1, 3 * d, bf.ln, d, lg.qkv + d * d * F, d, 0);
          k.gemm(N, d, kv, lay.dqkv + d * F, 3 * d, 1, lp.qkv + d * d * F, d, lay.dln, d, 0);
          k.gemm(B, d, d, lay.dqkv + t0 * 3 * d * F, T * 3 * d, 1, lp.qkv, d, lay.dln + t0 * d * F, T * d, 1);
          if (pooled && !cp) k.attn_pool_dz(this.has(nm.pattern) ? bf.patt : bf.pc, lay.dpool, lay.dln, B, H, T, d); // dln += Σ_h p·dY (the value path)
        }
        this.block(nm.ln, lay.dln, N * d);
        // dh (residual) += LN backward → gradient of the block input
        k.ln_bwd(x, lay.dln, bf.stats, lp.lnW, lay.dh, lg.lnW, lg.lnB, B, T, 0, d, 1);
        this.block(nm.residPre, lay.dh, N * d);
        if (l === 0) {
          this.block(site.embed, lay.dh, N * d);
          k.fill(lay.dparts, N * d, 0);
          k.scatter_add_rows(lay.dh, lay.tokmap, N, d, lay.dparts);
        }
      }
    }

    // ---- embeddings ----
    if (!dedup) { this.block(site.embedExemplar, lay.dparts, lay.nEx * d); this.block(site.embedLabel, lay.dparts + lay.nEx * d * F, lay.nLab * d); }
    k.gemm(d, I, nUex, lay.dparts, 1, d, Xsrc, I, g['embed.exemplar.weight'], I, 0);      // dW_ex = dexᵀ·X [d, I]
    k.col_sum(lay.dparts, d, nUex, d, g['embed.exemplar.bias'], 0);
    k.embed_label_bwd(lay.ylist, nUlab, lay.dparts + nUex * d * F, L, d, g['embed.label.weight']);
  }
}
