/**
 * A corrupted path clamp's pass (issue 18, pathFold.ts, docs/path-patching.md "Cost") when every sender it
 * feeds sits in block 0 and nothing overrides block 0 or the embedding: it computes only what the clamp reads,
 * the sender heads' outputs on the corrupted batch, from the clean pass's own block-0 rows.
 *
 *  - Every corrupted item is an item of the batch (clamps/corruptions.ts), and block 0's LayerNorm and QKV act
 *    on each row alone, so a corrupted token's q, k, v are those of a clean block-0 row: `map` [B·T] says which
 *    (token (b, t) reads the clean token its item takes its exemplar or label from). No corrupted batch, rows or
 *    LN are formed.
 *  - Only the sender heads' merged columns merged^κ[:, s·D…] are read (patchInputs), so only those heads run:
 *    RoPE, scores, softmax and z for one head each, in compact [B, 1, T, ·] slabs of the corrupted layout.
 *  - Causal attention: position t's output depends on tokens 0 … t alone, so before `t0`, the first position
 *    any sequence of the batch changes, the corrupted rows are the clean rows. They are copied, not computed
 *    (forward), and their share of the edge's gradient (+g′ on out_s^κ = out_s there) goes to the clean sender
 *    (backward), where it meets the edge's −g′ (`labels` leaves position 0 unchanged; `prev-token` and `class`
 *    change position 0, so t0 = 0 for them).
 *
 * Backward (seed e = +Σ g′ [N, d] on out_s^κ, pathFold.ts): dmerged^κ_s = e · W_proj[:, s·D…], dW_proj[:, s·D…]
 * += eᵀ · merged^κ_s, then the head's attention backward into the clean pass's block-0 dqkv rows through `map`,
 * where dW_qkv, the LN backward and the embedding backward of the clean pass serve both. The results are those of
 * the full corrupted pass (the other heads and rows carry no gradient of the clamp), float32 summation order aside.
 */
import type { KernelExports } from './kernels';
import { at, type Layout } from './layout';
import { gemm, rowMajor, rows, transposed } from './gemm';
import type { PathGeometry, PathSender } from './pathFold';
import type { Corruption, CorruptionMap } from '../clamps/corruptions';

/** One corruption's sender-head pass of one run() (immutable once made). */
export interface HeadPass {
  readonly kind: Corruption;
  /** The corrupted layout: its block-0 buffers hold the sender heads' slabs and merged^κ. */
  readonly lay: Layout;
  /** [B·T] int32 (byte offset): token → the clean block-0 row (of parts) it reads. */
  readonly map: number;
  /** First position at which some sequence's corrupted token differs from its clean one (T: none). */
  readonly t0: number;
  /** Its senders (all in block 0) with their seeds +Σ g′ [N, d]. */
  readonly senders: readonly PathSender[];
}

export interface HeadsEnv {
  k: KernelExports;
  view: (ptr: number, n: number) => Float32Array;
  g: PathGeometry;
  B: number;
  /** [T, D] RoPE tables. */
  cos: number;
  sin: number;
}

/**
 * `out` [B·T] ← the clean row each corrupted token reads: token 2c of sequence b is item c's exemplar, token 2c+1
 * its label (c < C), token 2C the query; an item takes its exemplar from item m.exemplarFrom and its label from
 * m.labelFrom, i.e. the clean token (`tokmap`) of that item. Returns t0 (see HeadPass).
 */
export function corruptTokenMap(tokmap: Int32Array, m: CorruptionMap, B: number, C: number, out: Int32Array): number {
  const C1 = C + 1,
    T = 2 * C + 1;
  let t0 = T;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const c = t >> 1,
        item = b * C1 + c,
        src = (t & 1) === 0 ? m.exemplarFrom[item] : m.labelFrom[item];
      const sb = (src / C1) | 0,
        tok = b * T + t;
      out[tok] = tokmap[sb * T + 2 * (src - sb * C1) + (t & 1)];
      if (out[tok] !== tokmap[tok] && t < t0) t0 = t;
    }
  return t0;
}

/** Sender i's compact slab [B, 1, T, X] of a [B, H, T, X] buffer. */
const slab = (ptr: number, i: number, B: number, T: number, X: number) => at(ptr, i * B * T * X);

/**
 * Forward, once the clean pass's block 0 ran: merged^κ[:, s·D…] of each sender s, from the clean block-0 qkv rows
 * (`qkv` [rows, 3d]) and, before t0, the clean merged rows (`merged` [N, d]).
 */
export function headsForward(env: HeadsEnv, hp: HeadPass, qkv: number, merged: number): void {
  const { k, B, g } = env,
    { T, d, D } = g,
    b0 = hp.lay.layers[0],
    t0 = Math.min(hp.t0, T),
    scale = 1 / Math.sqrt(D);
  hp.senders.forEach((s, i) => {
    const c = s.head * D,
      rq = slab(b0.rq, i, B, T, D),
      rk = slab(b0.rk, i, B, T, D),
      v = slab(b0.v, i, B, T, D),
      pc = slab(b0.pc, i, B, T, T),
      z = slab(b0.z, i, B, T, D);
    if (t0 < T) {
      // q (rows t0…), k and v of head s at the corrupted tokens, RoPE                   [B, 1, T, D]
      k.to_heads_rope(qkv, 3 * d, c, hp.map, 0, rq, env.cos, env.sin, B, T, t0, 1, D);
      k.to_heads_rope(qkv, 3 * d, d + c, hp.map, 0, rk, env.cos, env.sin, B, T, 0, 1, D);
      k.to_heads(qkv, 3 * d, 2 * d + c, hp.map, v, B, T, 0, 1, D);
      k.attn_scores(rq, rk, b0.scores, B, T, t0, D, scale); // [B, 1, T, T], rows t0…
      k.softmax(b0.scores, pc, B, T, t0);
      k.attn_z(pc, v, z, B, T, t0, D);
      k.from_heads(z, b0.merged, d, c, 0, B, T, t0, 1, D, 0); // merged^κ[:, c…], rows t0…
    }
    if (t0 > 0) {
      // Rows before t0: the clean rows.
      const src = env.view(merged, B * T * d),
        dst = env.view(b0.merged, B * T * d);
      for (let b = 0; b < B; b++)
        for (let t = 0; t < t0; t++) {
          const o = (b * T + t) * d + c;
          dst.set(src.subarray(o, o + D), o);
        }
    }
  });
}

/**
 * Backward, before the clean block 0's sender backward: the seed rows before t0 move to the clean sender's
 * gradient (out_s^κ = out_s there), so the head's own backward starts at t0.
 */
export function shareCleanRows(env: HeadsEnv, hp: HeadPass, clean: readonly PathSender[]): void {
  const { T, d } = env.g,
    t0 = Math.min(hp.t0, T);
  if (t0 === 0) return;
  for (const s of hp.senders) {
    const into = clean.find((q) => q.layer === s.layer && q.head === s.head)!;
    const e = env.view(s.grad, env.B * T * d),
      o = env.view(into.grad, env.B * T * d);
    for (let b = 0; b < env.B; b++)
      for (let i = b * T * d, end = i + t0 * d; i < end; i++) {
        o[i] += e[i];
        e[i] = 0;
      }
  }
}

/**
 * Backward, in the clean block 0 once its dqkv rows hold the clean gradient: each sender head's dW_proj share
 * (`dProj` [d, d], accumulated) and its attention backward added to `dqkv` [rows, 3d] through the map.
 */
export function headsBackward(env: HeadsEnv, hp: HeadPass, projW: number, dProj: number, dqkv: number): void {
  const { k, B, g } = env,
    { T, d, D } = g,
    N = B * T,
    b0 = hp.lay.layers[0],
    lay = hp.lay,
    t0 = Math.min(hp.t0, T),
    scale = 1 / Math.sqrt(D);
  if (t0 === T) return; // nothing changed: every row went to the clean sender
  hp.senders.forEach((s, i) => {
    const c = s.head * D,
      rq = slab(b0.rq, i, B, T, D),
      rk = slab(b0.rk, i, B, T, D),
      v = slab(b0.v, i, B, T, D),
      pc = slab(b0.pc, i, B, T, T);
    // dW_proj[:, c…] += eᵀ · merged^κ[:, c…]                                          [d, D]
    gemm(k, {
      M: d,
      N: D,
      K: N,
      A: transposed(s.grad, d),
      B: rowMajor(at(b0.merged, c), d),
      C: rowMajor(at(dProj, c), d),
      accumulate: true,
    });
    // dmerged^κ_s = e · W_proj[:, c…]                                                  [N, D]
    gemm(k, { M: N, N: D, K: d, A: rows(s.grad, d), B: rowMajor(at(projW, c), d), C: rowMajor(lay.dmerged, D) });
    k.to_heads(lay.dmerged, D, 0, 0, lay.dz, B, T, t0, 1, D); // dz [B, 1, T, D], rows t0…
    k.attn_z_bwd(pc, v, lay.dz, lay.dp, lay.dv, B, T, t0, D);
    k.softmax_bwd(pc, lay.dp, lay.ds, B, T, t0);
    k.attn_scores_bwd(lay.ds, rq, rk, lay.drq, lay.drk, B, T, t0, D, scale);
    // Into the clean rows the corrupted tokens read (tokens sharing a row add up).
    k.rope_from_heads(lay.drq, env.cos, env.sin, dqkv, 3 * d, c, hp.map, B, T, t0, 1, D, 1);
    k.rope_from_heads(lay.drk, env.cos, env.sin, dqkv, 3 * d, d + c, hp.map, B, T, 0, 1, D, 1);
    k.from_heads(lay.dv, dqkv, 3 * d, 2 * d + c, hp.map, B, T, 0, 1, D, 1);
  });
}
