/**
 * The path clamps (issue 18, clamps/pathKinds.ts, docs/path-patching.md) folded into the fast model's one
 * pass. An edge sender s (block ls) → receiver i (block lr > ls) through input X ∈ {q, k, v} replaces, for
 * receiver i's X alone, the block input x = resid_pre(lr) [N, d] by
 *
 *   x′ = x + Σ_edges (r − out_s),     out_s = merged_ls[:, s·D…] · W_proj^{(ls)}[:, s·D…]ᵀ   [N, d]
 *   X_i = LN_lr(x′) · W_X^{(i)}ᵀ        (columns X·d + i·D … of the block's qkv)             [N, D]
 *
 * with r = 0 (`zero`), the batch mean of out_s per position with no gradient (`mean`), out_s with its
 * gradient stopped (`stop`: stop-gradient; r − out_s = 0, so the forward is the clean one bit for bit), or
 * out_s^κ, the sender's output on the corrupted batch (`corrupt`: the model runs blocks 0 … ls of the
 * corrupted batch first, with the same overrides, as the reference's corrupted pass).
 * Several edges into one input share one x′ (a group). The rest of the block reads the clean LN(x).
 *
 * Backward (g′ = LN_lr backward of dX_i · W_X^{(i)} at x′, the gradient of x′):
 *   - dX_i leaves the block's main qkv gradient (its columns are taken out of dqkv before the block's GEMMs)
 *     and gives dW_X^{(i)} += dX_iᵀ · LN(x′), the LN parameters' share, and g′;
 *   - x gets g′ (x′ = x + …: the residual and everything upstream of it, the sender included);
 *   - each edge's out_s gets −g′ (the explicit − out_s; r passes nothing back for zero, mean and stop), added
 *     in block ls to head s's slice of dmerged and of dW_proj;
 *   - a corrupted edge's out_s^κ gets +g′: the corrupted pass's backward starts from it (block ls down to the
 *     embeddings, its gradients added to the clean pass's).
 * So along the edge the sender receives g′ − g′ = 0, and through every other path what it always gets.
 *
 * Receiver inputs keep whatever an override of hook_q / hook_k / hook_v sets (it is applied after the patch,
 * as the reference keeps another clamp's entries). This module owns the buffers' meaning; the model calls
 * patchInputs (after the receiver block's qkv GEMM), takeInputGrads (once its dqkv is complete),
 * inputBackward (after its LN backward) and senderBackward (after the sender block's dmerged GEMM).
 */
import type { KernelExports } from './kernels';
import { at } from './layout';
import { gemm, rowMajor, rows, transposed } from './gemm';
import type { PathInput } from '../clamps/pathKinds';
import type { Corruption } from '../clamps/corruptions';

export type FastPathReplacement = 'zero' | 'mean' | 'stop' | 'corrupt';

/** One edge as the fast model takes it (FastOptions.paths): 0-based layers and heads. */
export interface FastPathEdge {
  senderLayer: number;
  sender: number;
  receiverLayer: number;
  receiver: number;
  input: PathInput;
  with: FastPathReplacement;
  /** With `corrupt`: which corruption (clamps/corruptions.ts). */
  corruption?: Corruption;
}

/** The edges into one receiver input, and its buffers (byte offsets). */
export interface PathGroup {
  readonly layer: number;
  readonly head: number;
  readonly input: PathInput;
  /** First qkv column of the input: X·d + head·D. */
  readonly col: number;
  readonly edges: readonly FastPathEdge[];
  /** Some edge changes the forward (not every one is `stop`): x′, LN(x′) and its stats are its own. */
  readonly patched: boolean;
  /** x′ [N, d], LN(x′) [N, d], its (mean, rstd) [N, 2], the input's gradient [N, D]. */
  readonly x: number;
  readonly ln: number;
  readonly stats: number;
  readonly dx: number;
}

/** A sender head's extra gradient −Σ g′ [N, d] (byte offset). */
export interface PathSender {
  readonly layer: number;
  readonly head: number;
  readonly grad: number;
}

/** A corrupted pass: blocks 0 … lastBlock on the corrupted batch; its senders' gradients +Σ g′ start its backward. */
export interface CorruptPass {
  readonly kind: Corruption;
  readonly lastBlock: number;
  readonly senders: readonly PathSender[];
}

/** The folded path clamps of one run(): immutable, read by both passes. */
export interface PathPlan {
  readonly groups: readonly PathGroup[];
  readonly senders: readonly PathSender[];
  readonly corrupt: readonly CorruptPass[];
  /** Scratch [N, d]: a sender's output, dLN(x′), g′. */
  readonly out: number;
  readonly dln: number;
  readonly g: number;
  /** Scratch [T, d] (JavaScript): the batch mean of a sender's output per position. */
  readonly mean: Float64Array;
}

/** The buffers of one batch size, grown as more groups or senders are asked for. */
export interface PathBuffers {
  groups: { x: number; ln: number; stats: number; dx: number }[];
  senders: number[];
  corruptSenders: number[];
  out: number;
  dln: number;
  g: number;
  mean: Float64Array;
}

export interface PathGeometry {
  T: number;
  d: number;
  H: number;
  D: number;
  depth: number;
}

const INPUT_INDEX: Record<PathInput, number> = { q: 0, k: 1, v: 2 };

/** Throws unless every edge names heads of the model, with the receiver in a later block. */
export function checkPathEdges(edges: readonly FastPathEdge[], g: PathGeometry): void {
  for (const e of edges) {
    const ok = (l: number, h: number) => Number.isInteger(l) && Number.isInteger(h) && l >= 0 && h >= 0 && h < g.H;
    if (!ok(e.senderLayer, e.sender) || !ok(e.receiverLayer, e.receiver) || e.receiverLayer >= g.depth)
      throw new Error(`path edge ${JSON.stringify(e)} names a head the model does not have`);
    if (e.receiverLayer <= e.senderLayer)
      throw new Error(`path edge ${JSON.stringify(e)}: the receiver must sit in a later block than the sender`);
    if (!(e.input in INPUT_INDEX) || !['zero', 'mean', 'stop', 'corrupt'].includes(e.with))
      throw new Error(`path edge ${JSON.stringify(e)}: unknown input or replacement`);
    if ((e.with === 'corrupt') !== (e.corruption !== undefined))
      throw new Error(`path edge ${JSON.stringify(e)}: a corruption goes with with = "corrupt" only`);
  }
}

/** How many groups (receiver inputs) and sender heads these edges need. */
export function pathCounts(edges: readonly FastPathEdge[]): { groups: number; senders: number; corrupt: number } {
  const gs = new Set(edges.map((e) => `${e.receiverLayer}:${e.receiver}:${e.input}`)),
    ss = new Set(edges.map((e) => `${e.senderLayer}:${e.sender}`)),
    cs = new Set(edges.flatMap((e) => (e.corruption ? [corruptKey(e)] : [])));
  return { groups: gs.size, senders: ss.size, corrupt: cs.size };
}

const corruptKey = (e: FastPathEdge) => `${e.corruption}:${e.senderLayer}:${e.sender}`;

/** The corruptions these edges read, each once. */
export function pathCorruptions(edges: readonly FastPathEdge[] | undefined): Corruption[] {
  return [...new Set((edges ?? []).flatMap((e) => (e.corruption ? [e.corruption] : [])))];
}

/** Groups the edges by receiver input (in first-seen order) onto the buffers. */
export function planPaths(edges: readonly FastPathEdge[], g: PathGeometry, bufs: PathBuffers): PathPlan {
  const byInput = new Map<string, FastPathEdge[]>();
  for (const e of edges) {
    const key = `${e.receiverLayer}:${e.receiver}:${e.input}`;
    byInput.set(key, [...(byInput.get(key) ?? []), e]);
  }
  const groups = [...byInput.values()].map((es, i): PathGroup => {
    const e0 = es[0];
    return {
      layer: e0.receiverLayer,
      head: e0.receiver,
      input: e0.input,
      col: INPUT_INDEX[e0.input] * g.d + e0.receiver * g.D,
      edges: es,
      patched: es.some((e) => e.with !== 'stop'),
      ...bufs.groups[i],
    };
  });
  const senderKeys = [...new Set(edges.map((e) => `${e.senderLayer}:${e.sender}`))];
  const senders = senderKeys.map((key, i): PathSender => {
    const [layer, head] = key.split(':').map(Number);
    return { layer, head, grad: bufs.senders[i] };
  });
  const cKeys = [...new Set(edges.flatMap((e) => (e.corruption ? [corruptKey(e)] : [])))];
  const corrupt = pathCorruptions(edges).map((kind): CorruptPass => {
    const cs = cKeys.flatMap((key, i) => {
      const [k, layer, head] = key.split(':');
      return k === kind ? [{ layer: Number(layer), head: Number(head), grad: bufs.corruptSenders[i] }] : [];
    });
    return { kind, lastBlock: Math.max(...cs.map((c) => c.layer)), senders: cs };
  });
  return { groups, senders, corrupt, out: bufs.out, dln: bufs.dln, g: bufs.g, mean: bufs.mean };
}

/** Whether a group reads block l's values (the query-only block then forms v instead of pooling it). */
export function patchesValues(edges: readonly FastPathEdge[] | undefined, l: number): boolean {
  return !!edges && edges.some((e) => e.receiverLayer === l && e.input === 'v');
}

/** What the path passes read of the model in one run(). */
export interface PathEnv {
  k: KernelExports;
  view: (ptr: number, n: number) => Float32Array;
  g: PathGeometry;
  B: number;
  eps: number;
}

/** Per block: its input x, LN output and stats, qkv, merged heads, and weights (byte offsets). */
export interface PathBlock {
  x: number;
  ln: number;
  stats: number;
  qkv: number;
  merged: number;
  /** W_qkvᵀ [d, 3d] and W_projᵀ [d, d] (the forward GEMMs' copies), W_qkv [3d, d], W_proj [d, d]. */
  qkvT: number;
  projT: number;
  qkvW: number;
  projW: number;
  lnW: number;
  lnB: number;
}

/**
 * Forward, block lr after its qkv GEMM: each group's input columns of qkv from LN(x′). `corruptMerged` is
 * block l's merged heads [N, d] on a corrupted batch (its pass ran first). `qFrom`: the block's first query row
 * (T−1 in the query-only last block, whose other query rows nothing reads: a query group forms only that row).
 */
export function patchInputs(
  env: PathEnv,
  plan: PathPlan,
  lr: number,
  blocks: (l: number) => PathBlock,
  corruptMerged: (kind: Corruption, l: number) => number,
  qFrom: number,
): void {
  const { k, B, g } = env,
    { T, d, D } = g;
  const r = blocks(lr);
  for (const grp of plan.groups) {
    if (grp.layer !== lr || !grp.patched) continue;
    // Rows t0… of each sequence: all of them (one span), or the query row of each.
    const t0 = grp.input === 'q' ? qFrom : 0,
      nr = B * (T - t0),
      ld = t0 === 0 ? d : T * d,
      span = (f: (o: number, n: number) => void) => {
        if (t0 === 0) f(0, B * T * d);
        else for (let b = 0; b < B; b++) f(at(0, (b * T + t0) * d), (T - t0) * d);
      };
    span((o, n) => k.copy(r.x + o, grp.x + o, n));
    for (const e of grp.edges) {
      if (e.with === 'stop') continue; // r − out_s = 0
      const s = blocks(e.senderLayer);
      // out_s = merged[:, s·D…] · W_projᵀ[s·D…, :]                          [N, d] (rows t0…)
      gemm(k, {
        M: nr,
        N: d,
        K: D,
        A: rows(at(s.merged, t0 * d + e.sender * D), ld),
        B: rowMajor(at(s.projT, e.sender * D * d), d),
        C: rowMajor(at(plan.out, t0 * d), ld),
      });
      // (axpy with a = ±1 rounds as the scalar x′ += r − out_s would: each product is exact.)
      if (e.with === 'zero') span((o, n) => k.axpy(grp.x + o, plan.out + o, n, -1));
      else if (e.with === 'corrupt') {
        // out_s^κ = merged^κ[:, s·D…] · W_projᵀ[s·D…, :], into plan.g (free until the backward)  [N, d]
        gemm(k, {
          M: nr,
          N: d,
          K: D,
          A: rows(at(corruptMerged(e.corruption!, e.senderLayer), t0 * d + e.sender * D), ld),
          B: rowMajor(at(s.projT, e.sender * D * d), d),
          C: rowMajor(at(plan.g, t0 * d), ld),
        });
        span((o, n) => {
          k.axpy(plan.g + o, plan.out + o, n, -1); // out_s^κ − out_s
          k.axpy(grp.x + o, plan.g + o, n, 1);
        });
      } else {
        // mean over the batch per position (no gradient through it)          [T, d] (positions t0…)
        const nd = B * T * d,
          out = env.view(plan.out, nd),
          xp = env.view(grp.x, nd),
          mean = plan.mean;
        mean.fill(0);
        for (let b = 0; b < B; b++) for (let i = t0 * d; i < T * d; i++) mean[i] += out[b * T * d + i];
        for (let i = t0 * d; i < T * d; i++) mean[i] = Math.fround(mean[i] / B);
        for (let b = 0; b < B; b++)
          for (let i = t0 * d, o = b * T * d; i < T * d; i++) xp[o + i] += Math.fround(mean[i] - out[o + i]);
      }
    }
    k.ln_fwd(grp.x, grp.ln, grp.stats, r.lnW, r.lnB, B, T, t0, d, env.eps);
    // X_i = LN(x′) · W_X^{(i)}ᵀ into qkv columns col…col+D                   [N, D] (rows t0…)
    gemm(k, {
      M: nr,
      N: D,
      K: d,
      A: rows(at(grp.ln, t0 * d), ld),
      B: rowMajor(at(r.qkvT, grp.col), 3 * d),
      C: rowMajor(at(r.qkv, t0 * 3 * d + grp.col), t0 === 0 ? 3 * d : T * 3 * d),
    });
  }
}

/**
 * Backward, block lr once dqkv holds its gradient: each group's input gradient moves out of dqkv into its
 * own buffer (rows t0… of the query input in the query-only block, every row of k and v).
 */
export function takeInputGrads(env: PathEnv, plan: PathPlan, lr: number, dqkv: number, qFrom: number): void {
  const { B, g } = env,
    { T, d, D } = g,
    N = B * T;
  const dq = env.view(dqkv, N * 3 * d);
  for (const grp of plan.groups) {
    if (grp.layer !== lr) continue;
    const t0 = grp.input === 'q' ? qFrom : 0,
      dx = env.view(grp.dx, N * D);
    for (let b = 0; b < B; b++)
      for (let t = t0; t < T; t++) {
        const row = b * T + t,
          src = row * 3 * d + grp.col;
        for (let e = 0; e < D; e++) {
          dx[row * D + e] = dq[src + e];
          dq[src + e] = 0;
        }
      }
  }
}

/** The receiver block's gradient buffers and dh, the gradient of its input x (byte offsets). */
export interface PathBlockGrads {
  qkv: number;
  lnW: number;
  lnB: number;
  dh: number;
}

/** Backward, block lr after its LN backward: each group's weight and LN gradients, g′ into dh and the senders. */
export function inputBackward(
  env: PathEnv,
  plan: PathPlan,
  lr: number,
  r: PathBlock,
  gr: PathBlockGrads,
  qFrom: number,
): void {
  const { k, B, g } = env,
    { T, d, D } = g,
    N = B * T;
  for (const grp of plan.groups) {
    if (grp.layer !== lr) continue;
    const t0 = grp.input === 'q' ? qFrom : 0,
      nq = B * (T - t0),
      step = t0 === 0 ? 1 : T; // rows t0… of each sequence: all of them, or one per sequence
    const ln = grp.patched ? grp.ln : r.ln,
      x = grp.patched ? grp.x : r.x,
      stats = grp.patched ? grp.stats : r.stats;
    // dW_X^{(i)} += dX_iᵀ · LN(x′)                                          [D, d]
    gemm(k, {
      M: D,
      N: d,
      K: nq,
      A: transposed(at(grp.dx, t0 * D), step * D),
      B: rowMajor(at(ln, t0 * d), step * d),
      C: rowMajor(at(gr.qkv, grp.col * d), d),
      accumulate: true,
    });
    // dLN(x′) = dX_i · W_X^{(i)}                                            [N, d]
    gemm(k, {
      M: nq,
      N: d,
      K: D,
      A: rows(at(grp.dx, t0 * D), step * D),
      B: rowMajor(at(r.qkvW, grp.col * d), d),
      C: rowMajor(at(plan.dln, t0 * d), step * d),
    });
    if (t0 > 0) k.fill(plan.g, N * d, 0);
    k.ln_bwd(x, plan.dln, stats, r.lnW, plan.g, gr.lnW, gr.lnB, B, T, t0, d, 0); // g′
    k.axpy(gr.dh, plan.g, N * d, 1); // x′ = x + …
    for (const e of grp.edges) {
      const s = plan.senders.find((q) => q.layer === e.senderLayer && q.head === e.sender)!;
      k.axpy(s.grad, plan.g, N * d, -1); // − out_s
      if (e.corruption) {
        const c = plan.corrupt
          .find((q) => q.kind === e.corruption)!
          .senders.find((q) => q.layer === e.senderLayer && q.head === e.sender)!;
        k.axpy(c.grad, plan.g, N * d, 1); // + out_s^κ
      }
    }
  }
}

/** Backward start: the senders' extra gradients, clean and corrupted, are zero. */
export function clearSenderGrads(env: PathEnv, plan: PathPlan): void {
  const N = env.B * env.g.T;
  for (const s of [...plan.senders, ...plan.corrupt.flatMap((c) => c.senders)]) env.k.fill(s.grad, N * env.g.d, 0);
}

/** Backward, block ls after its dmerged / dW_proj GEMMs: each sender head's extra gradient through W_proj. */
export function senderBackward(
  env: PathEnv,
  plan: { readonly senders: readonly PathSender[] },
  ls: number,
  s: PathBlock,
  dmerged: number,
  dProj: number,
): void {
  const { k, B, g } = env,
    { T, d, D } = g,
    N = B * T;
  for (const snd of plan.senders) {
    if (snd.layer !== ls) continue;
    const c = snd.head * D;
    // dmerged[:, c…] += e · W_proj[:, c…]                                   [N, D]
    gemm(k, {
      M: N,
      N: D,
      K: d,
      A: rows(snd.grad, d),
      B: rowMajor(at(s.projW, c), d),
      C: rowMajor(at(dmerged, c), d),
      accumulate: true,
    });
    // dW_proj[:, c…] += eᵀ · merged[:, c…]                                 [d, D]
    gemm(k, {
      M: d,
      N: D,
      K: N,
      A: transposed(snd.grad, d),
      B: rowMajor(at(s.merged, c), d),
      C: rowMajor(at(dProj, c), d),
      accumulate: true,
    });
  }
}
