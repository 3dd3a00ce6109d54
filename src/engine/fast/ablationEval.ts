/**
 * Forward-only evaluation of head-ablation configurations from a cached clean pass: what the measures of
 * spec §5.5–5.7 and §5.9 run by the hundred on one checkpoint (remove-one / keep-one, additivity,
 * complementarity, the influence matrix and Table 1, the layer → output paths, the post-hoc copy
 * measure). For a two-layer attention-only model, a configuration of zero-ablated heads (§4.1),
 * preserved activations (§4.2) and clamps that write only the query row of last-layer patterns
 * (`queryRowPattern` in clamps/kinds.ts: induction §4.4, match §4.5) is computed as the reference
 * computes it, but from per-batch caches:
 *
 *  - Layer 0 is the clean layer 0 minus the ablated heads' outputs. Its patterns depend only on the
 *    embedding, which no such clamp touches, and what preserve copies into it is what it computes anyway:
 *      resid0 = E + Σ_{h kept} O_h = resid0_clean − Σ_{h ablated} O_h,   O_h = z_h^clean · W_O,hᵀ
 *  - The last layer runs at the query only (nothing else reaches the logits), head by head, and only for
 *    heads whose values are not zero-ablated (their z is exactly 0) — unless their pattern is recorded:
 *      p_i = the clean pattern (preserve patterns) or softmax(rot_q_i · rot_k_iᵀ / √D) at the query row,
 *            rot_q / rot_k clean (preserve queries / keys) or from LN(resid0); then the query-row clamps;
 *      z_i = p_i · v_i^clean (preserve values) or W_V,i · Σ_j p_ij LN(resid0)_j (the values pooled);
 *      logits = unembed(LN_f(resid0[query] + Σ_i z_i · W_O,iᵀ)).
 * The numbers equal the reference's within float32 rounding (only summation orders differ);
 * test/unit/measures-engines.test.ts compares them with the TensorFlow.js engine.
 */
import { ModelConfig, headDim, seqLen } from '../model/config';
import { Params } from '../model/params';
import { HostOverride } from '../model/hostOverride';
import { HostBatch, ClampBatch } from '../model/hostBatch';
import { site } from '../model/sites';
import { ClampSpec, PreserveWhat } from '../clamps/spec';
import { defOf } from '../clamps/kinds';
import { headsByLayer } from '../clamps/heads';
import { hostOverrides } from '../clamps/apply';
import { FastModel, ModelInternals } from './model';
import { F, at } from './layout';
import { gemm, rowMajor, rows, transposed } from './gemm';

/** src [R, H, X] → dst [H, R, X] (the per-head slices made contiguous). */
function headOuter(src: Float32Array, dst: Float32Array, R: number, H: number, X: number): void {
  for (let r = 0; r < R; r++)
    for (let h = 0; h < H; h++) {
      const si = (r * H + h) * X,
        di = (h * R + r) * X;
      for (let e = 0; e < X; e++) dst[di + e] = src[si + e];
    }
}

export interface AblationPlan {
  /** Per layer (0, 1), 1 where the head's values are zero-ablated. */
  zero: [Uint8Array, Uint8Array];
  preserve: ReadonlySet<PreserveWhat>;
  /** The last layer's pattern override of the induction / match clamps (query row only), or null. */
  queryRow: HostOverride | null;
  /** Return the last layer's query-row pattern [B, H, T] of every head (ablated ones too). */
  recordQueryPattern: boolean;
  /** Return layer 0's pattern [B, H, T, T] (the clean one: this plan never changes it). */
  recordPattern0: boolean;
}

/**
 * The plan of a configuration (active clamps, windows stripped) if this evaluator computes it exactly,
 * else null: two-layer attention-only models; ablate, preserve, and induction / match on last-layer heads;
 * recording at most layer 0's pattern and the last layer's query-row pattern.
 */
export function ablationPlan(
  c: ModelConfig,
  active: ClampSpec[],
  host: ClampBatch,
  record?: ReadonlySet<string>,
  recordQuery?: ReadonlySet<string>,
): AblationPlan | null {
  if (c.depth !== 2 || c.mlpRatio !== null) return null;
  // Zero ablations, preservation, and clamps that write only the query row of last-layer patterns (kinds.ts).
  if (!active.every((k) => k.kind === 'ablate' || k.kind === 'preserve' || defOf(k).queryRowPattern)) return null;
  if (
    [...(record ?? [])].some((s) => s !== site.pattern(0)) ||
    [...(recordQuery ?? [])].some((s) => s !== site.pattern(1))
  )
    return null;
  const zero: [Uint8Array, Uint8Array] = [new Uint8Array(c.numHeads), new Uint8Array(c.numHeads)];
  const preserve = new Set<PreserveWhat>();
  const rowClamps: ClampSpec[] = [];
  for (const k of active) {
    if (k.kind === 'ablate')
      for (const [l, heads] of headsByLayer(k.heads, c.depth, c.numHeads)) for (const h of heads) zero[l][h] = 1;
    else if (k.kind === 'preserve') for (const w of k.what) preserve.add(w);
    else {
      const hs = 'heads' in k ? k.heads : [];
      if ([...headsByLayer(hs, c.depth, c.numHeads).keys()].some((l) => l !== 1)) return null;
      rowClamps.push(k);
    }
  }
  const queryRow = rowClamps.length ? (hostOverrides(c, host, rowClamps, 0).get(site.pattern(1)) ?? null) : null;
  return { zero, preserve, queryRow, recordQueryPattern: !!recordQuery?.size, recordPattern0: !!record?.size };
}

/** Buffers for batch size B (byte offsets). */
interface Buffers {
  B: number;
  // The clean pass: E, resid0 [B, T, d]; O [H][B, T, d]; last layer's P [H][B, T, T], V, RQ, RK [H][B, T, D].
  E: number;
  R0: number;
  O: number;
  P1: number;
  V1: number;
  RQ1: number;
  RK1: number;
  // Work: x [B, T, d]; stats [2·B·T]; q, rq, k, rk, z [B, T, D]; s, p [B, T, T]; Y, out, resid, lnf [B, d].
  x: number;
  stats: number;
  q: number;
  rq: number;
  k: number;
  rk: number;
  z: number;
  s: number;
  p: number;
  Y: number;
  zq: number;
  out: number;
  resid: number;
  lnf: number;
  statsF: number;
  logits: number;
  queryRows: number;
  /** The clean pass's layer-0 pattern [B, H, T, T] (returned when recorded). */
  P0: Float32Array;
  /** The last layer's inputs per set of ablated layer-0 heads, most recent last (see inputs()). */
  inputs: Map<string, LastLayerInputs>;
  /** Freed entries' buffers, reused before allocating more. */
  spare: LastLayerInputs[];
}

/**
 * What the last layer reads, for one set of ablated layer-0 heads: LN(resid0) [B, T, d] row-major and
 * transposed [d, B·T] (the keys' GEMM reads it without packing), and resid0 at the query [B, d]. The
 * influence matrix's 264 configurations have 17 distinct sets, so each is normalised once per chunk when
 * configurations come grouped by set.
 */
interface LastLayerInputs {
  ln: number;
  lnT: number;
  xq: number;
}

/** Distinct layer-0 ablation sets kept per batch (the influence matrix asks for its 17 one after another). */
const INPUTS_KEPT = 4;

export interface AblationResult {
  logits: Float32Array;
  acts: Map<string, Float32Array>;
  queryActs: Map<string, Float32Array>;
}

export class AblationEvaluator {
  /** Clean passes computed (tests and benchmarks read it). */
  cleanPasses = 0;
  private readonly c: ModelConfig;
  private readonly T: number;
  private readonly d: number;
  private readonly H: number;
  private readonly D: number;
  private readonly L: number;
  private readonly it: ModelInternals;
  private readonly layouts = new Map<number, Buffers>();
  /** The parameters it reads, its own copies (another caller of the model may load other parameters). */
  private readonly w: {
    qkvT1: number;
    projT0: number;
    projT1: number;
    unT: number;
    ln1: number;
    lnf: number;
    unb: number;
  };
  private cached: HostBatch | null = null;
  private cachedParams: Params | null = null;

  constructor(private readonly model: FastModel) {
    const c = (this.c = model.config);
    if (c.depth !== 2 || c.mlpRatio !== null)
      throw new Error('the ablation evaluator runs two-layer attention-only models');
    this.T = seqLen(c);
    this.d = c.dModel;
    this.H = c.numHeads;
    this.D = headDim(c);
    this.L = c.numLabels;
    this.it = model.internals();
    const { d, L } = this,
      a = this.it.alloc;
    this.w = {
      qkvT1: a(3 * d * d),
      projT0: a(d * d),
      projT1: a(d * d),
      unT: a(d * L),
      ln1: a(2 * d),
      lnf: a(2 * d),
      unb: a(L),
    };
  }

  private view(ptr: number, n: number): Float32Array {
    return new Float32Array(this.it.memory.buffer, ptr, n);
  }

  private buffers(B: number): Buffers {
    let b = this.layouts.get(B);
    if (b) return b;
    const { T, d, H, D } = this,
      a = this.it.alloc,
      N = B * T;
    b = {
      B,
      E: a(N * d),
      R0: a(N * d),
      O: a(H * N * d),
      P1: a(H * N * T),
      V1: a(H * N * D),
      RQ1: a(H * N * D),
      RK1: a(H * N * D),
      x: a(N * d),
      stats: a(2 * N),
      q: a(N * D),
      rq: a(N * D),
      k: a(N * D),
      rk: a(N * D),
      z: a(N * D),
      s: a(N * T),
      p: a(N * T),
      Y: a(B * d),
      zq: a(B * D),
      out: a(B * d),
      resid: a(B * d),
      lnf: a(B * d),
      statsF: a(2 * B),
      logits: a(B * this.L),
      queryRows: a(B),
      P0: new Float32Array(0),
      inputs: new Map(),
      spare: [],
    };
    const qr = new Int32Array(this.it.memory.buffer, b.queryRows, B);
    for (let i = 0; i < B; i++) qr[i] = i * T + T - 1;
    this.layouts.set(B, b);
    return b;
  }

  /**
   * The clean pass of `batch` and what the plans read from it, computed when the batch is not the cached
   * one (one batch is kept: measures run their configurations chunk by chunk).
   */
  private prepare(params: Params, batch: HostBatch): Buffers {
    const buf = this.buffers(batch.size);
    if (this.cached === batch && this.cachedParams === params) return buf;
    const { T, d, H, D, L } = this,
      B = batch.size,
      N = B * T,
      k = this.it.k,
      p = this.it.param;
    const want = [
      site.embed,
      site.residPost(0),
      site.z(0),
      site.pattern(0),
      site.pattern(1),
      site.v(1),
      site.rotQ(1),
      site.rotK(1),
    ];
    const acts = this.model.run(params, batch, { backward: false, record: new Set(want) }).acts;
    this.cleanPasses++;
    // Weight transposes (the parameters are in the model's buffers now): Y = X·Wᵀ as X · (Wᵀ).
    k.transpose(p('blocks.1.attn.qkv.weight'), 3 * d, d, this.w.qkvT1);
    k.transpose(p('blocks.0.attn.proj.weight'), d, d, this.w.projT0);
    k.transpose(p('blocks.1.attn.proj.weight'), d, d, this.w.projT1);
    k.transpose(p('unembed.weight'), L, d, this.w.unT);
    k.copy(p('blocks.1.ln.weight'), this.w.ln1, d);
    k.copy(p('blocks.1.ln.bias'), this.w.ln1 + d * F, d);
    k.copy(p('ln_final.weight'), this.w.lnf, d);
    k.copy(p('ln_final.bias'), this.w.lnf + d * F, d);
    k.copy(p('unembed.bias'), this.w.unb, L);
    this.view(buf.E, N * d).set(acts.get(site.embed)!);
    this.view(buf.R0, N * d).set(acts.get(site.residPost(0))!);
    // O_h = z_h · W_O,hᵀ: hook_z [B, T, H, D] is the merged [B·T, d] layout; head h's inputs are rows h·D… of W_projᵀ.
    this.view(buf.x, N * d).set(acts.get(site.z(0))!);
    for (let h = 0; h < H; h++)
      gemm(k, {
        M: N,
        N: d,
        K: D,
        A: rows(at(buf.x, h * D), d),
        B: rowMajor(at(this.w.projT0, h * D * d), d),
        C: rowMajor(at(buf.O, h * N * d), d),
      });
    // The last layer's clean pattern [B, H, T, T] and per-head vectors [B, T, H, D] → head-outer [H][B, T, ·].
    headOuter(acts.get(site.pattern(1))!, this.view(buf.P1, H * N * T), B, H, T * T);
    for (const [s, ptr] of [
      [site.v(1), buf.V1],
      [site.rotQ(1), buf.RQ1],
      [site.rotK(1), buf.RK1],
    ] as const) {
      headOuter(acts.get(s)!, this.view(ptr, H * N * D), N, H, D);
    }
    buf.P0 = acts.get(site.pattern(0))!;
    for (const e of buf.inputs.values()) buf.spare.push(e);
    buf.inputs.clear();
    this.cached = batch;
    this.cachedParams = params;
    return buf;
  }

  /** Drops the cached clean pass (the parameters changed in place). */
  forget(): void {
    this.cached = null;
    this.cachedParams = null;
  }

  /** The last layer's inputs for this set of ablated layer-0 heads (cached per batch, least recently used dropped). */
  private inputs(buf: Buffers, zero0: Uint8Array): LastLayerInputs {
    const key = zero0.join('');
    let e = buf.inputs.get(key);
    if (e) {
      buf.inputs.delete(key);
      buf.inputs.set(key, e);
      return e;
    }
    const { T, d, H } = this,
      B = buf.B,
      N = B * T,
      k = this.it.k;
    if (buf.inputs.size >= INPUTS_KEPT) {
      const [oldest, entry] = buf.inputs.entries().next().value as [string, LastLayerInputs];
      buf.inputs.delete(oldest);
      buf.spare.push(entry);
    }
    e = buf.spare.pop() ?? { ln: this.it.alloc(N * d), lnT: this.it.alloc(N * d), xq: this.it.alloc(B * d) };
    // resid0 = R0 − Σ_{ablated} O_h, or E + Σ_{kept} O_h (whichever adds fewer heads).
    const ablated = zero0.reduce((n, z) => n + z, 0);
    let x = buf.R0;
    if (ablated > 0) {
      x = buf.x;
      const fromClean = ablated <= H / 2;
      k.copy(fromClean ? buf.R0 : buf.E, x, N * d);
      for (let h = 0; h < H; h++)
        if (zero0[h] === (fromClean ? 1 : 0)) k.axpy(x, buf.O + h * N * d * F, N * d, fromClean ? -1 : 1);
    }
    k.ln_fwd(x, e.ln, buf.stats, this.w.ln1, this.w.ln1 + d * F, B, T, 0, d, this.c.lnEps);
    k.transpose(e.ln, N, d, e.lnT);
    k.gather_rows(x, buf.queryRows, B, d, e.xq);
    buf.inputs.set(key, e);
    return e;
  }

  run(params: Params, batch: HostBatch, plan: AblationPlan): AblationResult {
    const buf = this.prepare(params, batch);
    const { T, d, H, D, L, w } = this,
      B = batch.size,
      N = B * T,
      k = this.it.k;
    const { cos, sin } = this.it.rope;

    // ---- layer 0 from the cache: LN(resid0) and resid0 at the query ----
    const inp = this.inputs(buf, plan.zero[0]);

    // ---- the last layer at the query, head by head ----
    k.fill(buf.out, B * d, 0);
    const scale = 1 / Math.sqrt(D),
      tq = T - 1,
      pv = plan.preserve;
    const rowsOut = plan.recordQueryPattern ? new Float32Array(B * H * T) : null;
    for (let i = 0; i < H; i++) {
      const active = plan.zero[1][i] === 0;
      if (!active && !rowsOut) continue;
      // p_i [B, T, T] (row T−1 valid)
      let pi = buf.P1 + i * N * T * F;
      if (!pv.has('patterns')) {
        let rq = buf.RQ1 + i * N * D * F,
          rk = buf.RK1 + i * N * D * F;
        if (!pv.has('queries')) {
          // q_i at the query = LN(x)[query] · W_Q,iᵀ (columns i·D… of W_qkvᵀ), then RoPE at position T−1
          gemm(k, {
            M: B,
            N: D,
            K: d,
            A: rows(at(inp.ln, tq * d), T * d),
            B: rowMajor(at(w.qkvT1, i * D), 3 * d),
            C: rowMajor(at(buf.q, tq * D), T * D),
          });
          k.rope(buf.q, buf.rq, cos, sin, B, T, tq, D, 0);
          rq = buf.rq;
        }
        if (!pv.has('keys')) {
          // k_i at every position = LN(x) · W_K,iᵀ (columns d + i·D…; A column-major: LN(x)ᵀ), then RoPE
          gemm(k, {
            M: N,
            N: D,
            K: d,
            A: transposed(inp.lnT, N),
            B: rowMajor(at(w.qkvT1, d + i * D), 3 * d),
            C: rowMajor(buf.k, D),
          });
          k.rope(buf.k, buf.rk, cos, sin, B, T, 0, D, 0);
          rk = buf.rk;
        }
        k.attn_scores(rq, rk, buf.s, B, T, tq, D, scale);
        k.softmax(buf.s, buf.p, B, T, tq);
        pi = buf.p;
      }
      if (plan.queryRow) pi = this.applyQueryRow(plan.queryRow, i, pi, buf);
      if (rowsOut) {
        const pr = this.view(pi, N * T);
        for (let b = 0; b < B; b++) rowsOut.set(pr.subarray((b * T + tq) * T, (b * T + T) * T), (b * H + i) * T);
      }
      if (!active) continue;
      // z_i [B, D] and its output z_i · W_O,iᵀ (rows i·D… of W_projᵀ) added into out [B, d]
      if (pv.has('values')) {
        k.attn_z(pi, buf.V1 + i * N * D * F, buf.z, B, T, tq, D);
        gemm(k, {
          M: B,
          N: d,
          K: D,
          A: rows(at(buf.z, tq * D), T * D),
          B: rowMajor(at(w.projT1, i * D * d), d),
          C: rowMajor(buf.out, d),
          accumulate: true,
        });
      } else {
        k.attn_pool(pi, inp.ln, buf.Y, B, 1, T, d);
        gemm(k, {
          M: B,
          N: D,
          K: d,
          A: rows(buf.Y, d),
          B: rowMajor(at(w.qkvT1, 2 * d + i * D), 3 * d),
          C: rowMajor(buf.zq, D),
        });
        gemm(k, {
          M: B,
          N: d,
          K: D,
          A: rows(buf.zq, D),
          B: rowMajor(at(w.projT1, i * D * d), d),
          C: rowMajor(buf.out, d),
          accumulate: true,
        });
      }
    }

    // ---- resid = x[query] + out → final LayerNorm → logits ----
    k.copy(inp.xq, buf.resid, B * d);
    k.axpy(buf.resid, buf.out, B * d, 1);
    k.ln_fwd(buf.resid, buf.lnf, buf.statsF, w.lnf, w.lnf + d * F, B, 1, 0, d, this.c.lnEps);
    gemm(k, { M: B, N: L, K: d, A: rows(buf.lnf, d), B: rowMajor(w.unT, L), C: rowMajor(buf.logits, L) });
    k.add_bias(buf.logits, L, w.unb, B, L);

    const acts = new Map<string, Float32Array>(),
      queryActs = new Map<string, Float32Array>();
    if (plan.recordPattern0) acts.set(site.pattern(0), buf.P0.slice());
    if (rowsOut) queryActs.set(site.pattern(1), rowsOut);
    return { logits: this.view(buf.logits, B * L).slice(), acts, queryActs };
  }

  /** Head i's query row with the override applied (into the work pattern buffer). */
  private applyQueryRow(o: HostOverride, i: number, pi: number, buf: Buffers): number {
    const { T, H } = this,
      B = buf.B,
      tq = T - 1;
    const dst = this.view(buf.p, B * T * T);
    if (pi !== buf.p) {
      const src = this.view(pi, B * T * T);
      for (let b = 0; b < B; b++) dst.set(src.subarray((b * T + tq) * T, (b * T + T) * T), (b * T + tq) * T);
    }
    for (let b = 0; b < B; b++) {
      const from = ((b * H + i) * T + tq) * T,
        to = (b * T + tq) * T;
      for (let j = 0; j < T; j++) if (o.mask[from + j]) dst[to + j] = o.value[from + j];
    }
    return buf.p;
  }
}
