/**
 * Path patching of the PTH → IH circuit (issue 18; docs/path-patching.md). For every sender j (a first-layer
 * head), receiver i (a last-layer head) and receiver input X ∈ {Q, K, V}, on the context's sequences (the
 * run's own ablations kept), with corruption κ (clamps/corruptions.ts):
 *
 *   LD_s           = z_s[y_s] − z_s[ȳ_s]     query logits; y = the correct label, ȳ = the other context label
 *   E_κ[X][i][j]   = mean_s ( LD_s(receiver i's X reads LN(resid − out_j + out_j^κ)) − LD_s )
 *   A_κ[X][i][j]   = mean_s Σ_t ∂LD_s/∂x_{i,X}[t] · (out_j^κ[t] − out_j[t])       (attribution patching)
 *
 * resid = the last block's residual input (clean), out_j = z_j W_proj^{(0)}[:, jD…]ᵀ the sender's write into
 * it, out_j^κ the same on the corrupted sequence, x_{i,X} receiver i's private copy of the residual that
 * feeds its X through the block's LayerNorm. Everything else is clean: the sender's direct path, the other
 * receivers, the receiver's other inputs. An ablated receiver's entries are 0 (its values stay zero, as the
 * path clamps compose) and so are an ablated sender's (its output is zero on both inputs).
 *
 * Exact values: from one clean and one corrupted pass per chunk (the forward interface: the fast engine),
 * then per edge only what the edge changes — the receiver's attention at the query row and the final LN and
 * unembedding at the query — in double precision (a forward-only shortcut like fast/ablationEval.ts). The
 * TensorFlow.js reference (`exactPathPatchingTf`: the path-patch clamp itself, one full clamped forward per
 * edge) gives the same numbers within float32 rounding (test/unit/paths-measure.test.ts). The attribution
 * approximation is one TF.js pass and one backward per chunk, reported with its error against the exact values.
 */
import { tf } from '../model/tf';
import { ModelConfig, headDim, seqLen } from '../model/config';
import { Params } from '../model/params';
import { HostBatch } from '../model/hostBatch';
import { TfWeights, hostBatchInputs } from '../model/tfModel';
import { forward, layerNorm } from '../model/forward';
import { site } from '../model/sites';
import { ropeTables } from '../model/rope';
import { ClampSpec } from '../clamps/spec';
import { ClampContext } from '../clamps/context';
import { clampedForward, hostOverrides } from '../clamps/apply';
import { formatHead, headsByLayer } from '../clamps/heads';
import { CORRUPTIONS, CORRUPTION_DOC, Corruption, corruptHostBatch } from '../clamps/corruptions';
import { PATH_INPUTS, PathInput, inputSite } from '../clamps/pathKinds';
import { MeasureContext, layerHeads } from './dense';

export const PATH_PATCHING_FORMULA = {
  logitDiff: 'LD_s = z_s[y_s] − z_s[ȳ_s] at the query (y = correct label, ȳ = the other context label)',
  exact: 'E[X][i][j] = mean_s (LD_s with receiver i\'s X reading LN(resid − out_j + out_j^corrupt) − LD_s), '
    + 'rows i = last-layer receivers, cols j = first-layer senders',
  attribution: 'A[X][i][j] = mean_s Σ_t ∂LD_s/∂x_{i,X}[t] · (out_j^corrupt − out_j)[t]  (one clean pass, one corrupted pass, one backward)',
  error: 'attribution vs exact over the H×H×3 entries: max |A − E|, mean |A − E|, ‖A − E‖/‖E‖, Pearson r',
};

export type InputMatrices = Record<PathInput, number[][]>;

export interface ErrorStats { maxAbs: number; meanAbs: number; relative: number | null; correlation: number | null }

export interface CorruptionResult {
  corruption: Corruption;
  description: string;
  /** Mean LD of the fully corrupted run, against the clean sequences' labels. */
  corruptLD: number;
  /** Sequences without a class-disjoint partner in their chunk (class corruption). */
  unmatched: number;
  exact: InputMatrices;
  attribution: InputMatrices | null;
  attributionError: ErrorStats | null;
  /** The largest |E| edges, e.g. { edge: "L1H2→L2H3.K", exact, attribution }. */
  top: Array<{ edge: string; exact: number; attribution: number | null }>;
}

export interface PathPatchingResult {
  formula: typeof PATH_PATCHING_FORMULA;
  n: number;
  senders: string[];
  receivers: string[];
  inputs: readonly PathInput[];
  /** Mean clean LD. */
  cleanLD: number;
  engine: string;
  corruptions: CorruptionResult[];
}

// ------------------------------------------------------------------------------------------ host exact

/** The checkpoint's weights the shortcut reads, in double precision. */
interface HostWeights {
  Wp0: Float64Array; g: Float64Array; b: Float64Array; Wqkv: Float64Array; Wp1: Float64Array;
  gf: Float64Array; bf: Float64Array; Wun: Float64Array; bun: Float64Array; cos: Float64Array; sin: Float64Array;
}

function hostWeights(c: ModelConfig, p: Params): HostWeights {
  const L = c.depth - 1, f = (k: string) => Float64Array.from(p[k]);
  const rt = ropeTables(seqLen(c), headDim(c), c.ropeBase);
  return {
    Wp0: f('blocks.0.attn.proj.weight'), g: f(`blocks.${L}.ln.weight`), b: f(`blocks.${L}.ln.bias`),
    Wqkv: f(`blocks.${L}.attn.qkv.weight`), Wp1: f(`blocks.${L}.attn.proj.weight`),
    gf: f('ln_final.weight'), bf: f('ln_final.bias'), Wun: f('unembed.weight'), bun: f('unembed.bias'),
    cos: Float64Array.from(rt.cos), sin: Float64Array.from(rt.sin),
  };
}

function lnInto(x: Float64Array, xo: number, g: Float64Array, b: Float64Array, eps: number, out: Float64Array, oo: number, d: number): void {
  let m = 0;
  for (let k = 0; k < d; k++) m += x[xo + k];
  m /= d;
  let v = 0;
  for (let k = 0; k < d; k++) v += (x[xo + k] - m) ** 2;
  const r = 1 / Math.sqrt(v / d + eps);
  for (let k = 0; k < d; k++) out[oo + k] = (x[xo + k] - m) * r * g[k] + b[k];
}

/** The correct and the other context label of sequence s. */
function labelPair(labels: ArrayLike<number>, s: number): [number, number] {
  const y = labels[3 * s + 2];
  return [y, labels[3 * s] === y ? labels[3 * s + 1] : labels[3 * s]];
}

/** Sites of the clean pass the shortcut reads: in full, and at the query. */
function cleanSites(c: ModelConfig): { record: Set<string>; recordQuery: Set<string> } {
  const L = c.depth - 1;
  return {
    record: new Set([site.residPre(L), site.z(0), site.rotK(L), site.v(L)]),
    recordQuery: new Set([site.rotQ(L), site.pattern(L), site.z(L), site.residPost(L)]),
  };
}

/**
 * Exact effects of one chunk, summed over its sequences into `sum[x][i][j]` (x = 0, 1, 2 for Q, K, V), and
 * the sum of clean LDs. `zc` / `zx`: the sender layer's z [B, T, H, D], clean and corrupted.
 */
function exactChunk(c: ModelConfig, w: HostWeights, labels: ArrayLike<number>, B: number, clean: Map<string, Float32Array>,
  cleanQ: Map<string, Float32Array>, zx: Float32Array, skipReceivers: Set<number>, sum: Float64Array[][]): number {
  const L = c.depth - 1, T = seqLen(c), d = c.dModel, H = c.numHeads, D = headDim(c), eps = c.lnEps;
  const resid = clean.get(site.residPre(L))!, zc = clean.get(site.z(0))!, rk = clean.get(site.rotK(L))!, v = clean.get(site.v(L))!;
  const rq = cleanQ.get(site.rotQ(L))!, pat = cleanQ.get(site.pattern(L))!, zq = cleanQ.get(site.z(L))!, rpq = cleanQ.get(site.residPost(L))!;
  const scale = 1 / Math.sqrt(D), tq = T - 1;
  const x = new Float64Array(T * d), n = new Float64Array(T * d), proj = new Float64Array(T * D), rot = new Float64Array(T * D);
  const zNew = new Float64Array(D), r = new Float64Array(d), rn = new Float64Array(d), sc = new Float64Array(T);
  // LD of a final residual at the query (through LN_f and the unembedding).
  const ld = (res: Float64Array, yc: number, yo: number) => {
    lnInto(res, 0, w.gf, w.bf, eps, rn, 0, d);
    let a = w.bun[yc] - w.bun[yo];
    for (let k = 0; k < d; k++) a += (w.Wun[yc * d + k] - w.Wun[yo * d + k]) * rn[k];
    return a;
  };
  const ropeAt = (src: Float64Array, so: number, t: number, dst: Float64Array, dO: number) => {
    for (let e = 0; e < D; e += 2) {
      const cs = w.cos[t * D + e], sn = w.sin[t * D + e], a = src[so + e], b2 = src[so + e + 1];
      dst[dO + e] = a * cs - b2 * sn; dst[dO + e + 1] = b2 * cs + a * sn;
    }
  };
  let ldSum = 0;
  for (let s = 0; s < B; s++) {
    const [yc, yo] = labelPair(labels, s);
    for (let k = 0; k < d; k++) r[k] = rpq[s * d + k];
    const ld0 = ld(r, yc, yo);
    ldSum += ld0;
    for (let j = 0; j < H; j++) {
      // x = resid + (out_j^corrupt − out_j), per position; an edge with a zero difference changes nothing.
      let any = false;
      for (let t = 0; t < T; t++) for (let k = 0; k < d; k++) {
        let a = 0;
        for (let e = 0; e < D; e++) {
          const at = ((s * T + t) * H + j) * D + e;
          a += (zx[at] - zc[at]) * w.Wp0[k * d + j * D + e];
        }
        if (a !== 0) any = true;
        x[t * d + k] = resid[(s * T + t) * d + k] + a;
      }
      if (!any) continue;
      for (let t = 0; t < T; t++) lnInto(x, t * d, w.g, w.b, eps, n, t * d, d);
      for (let i = 0; i < H; i++) {
        if (skipReceivers.has(i)) continue;
        for (let xi = 0; xi < 3; xi++) {
          // The receiver's new input rows: the query row for Q, every position for K and V.
          const t0 = xi === 0 ? tq : 0;
          for (let t = t0; t < T; t++) for (let e = 0; e < D; e++) {
            const row = (xi * d + i * D + e) * d;
            let a = 0;
            for (let k = 0; k < d; k++) a += n[t * d + k] * w.Wqkv[row + k];
            proj[t * D + e] = a;
          }
          zNew.fill(0);
          if (xi === 2) {
            for (let t = 0; t < T; t++) {
              const p = pat[(s * H + i) * T + t];
              for (let e = 0; e < D; e++) zNew[e] += p * proj[t * D + e];
            }
          } else {
            if (xi === 0) ropeAt(proj, tq * D, tq, rot, tq * D);
            else for (let t = 0; t < T; t++) ropeAt(proj, t * D, t, rot, t * D);
            let mx = -Infinity;
            for (let t = 0; t < T; t++) {
              let a = 0;
              for (let e = 0; e < D; e++) {
                const qv = xi === 0 ? rot[tq * D + e] : rq[(s * H + i) * D + e];
                const kv = xi === 0 ? rk[((s * T + t) * H + i) * D + e] : rot[t * D + e];
                a += qv * kv;
              }
              sc[t] = a * scale; if (sc[t] > mx) mx = sc[t];
            }
            let z = 0;
            for (let t = 0; t < T; t++) { sc[t] = Math.exp(sc[t] - mx); z += sc[t]; }
            for (let t = 0; t < T; t++) {
              const p = sc[t] / z;
              for (let e = 0; e < D; e++) zNew[e] += p * v[((s * T + t) * H + i) * D + e];
            }
          }
          for (let k = 0; k < d; k++) {
            let a = rpq[s * d + k];
            for (let e = 0; e < D; e++) a += (zNew[e] - zq[(s * H + i) * D + e]) * w.Wp1[k * d + i * D + e];
            r[k] = a;
          }
          sum[xi][i][j] += ld(r, yc, yo) - ld0;
        }
      }
    }
  }
  return ldSum;
}

// ------------------------------------------------------------------------------------------ attribution (TF.js)

/**
 * One backward: ∂(Σ_s LD_s)/∂x_{i,X} for every receiver i and input X, where the last block's Q, K and V of
 * head i are computed from private copies x_{i,X} [B, T, d] of its residual input (all equal to the clean
 * one); the run's ablations applied on top. Returns g[X] [B, T, H, d].
 */
function receiverGradients(c: ModelConfig, w: TfWeights, chunk: HostBatch, base: ClampSpec[]): Float32Array[] {
  const L = c.depth - 1, T = seqLen(c), d = c.dModel, H = c.numHeads, D = headDim(c), B = chunk.size;
  return tf.tidy(() => {
    const inputs = hostBatchInputs(c, chunk);
    const host = { labels: chunk.labels, size: B, itemIds: chunk.index };
    const rec = new Set([site.residPre(L)]);
    const resid = clampedForward(c, w.weights, inputs, host, base, 0, { record: rec }).acts.get(site.residPre(L))!;
    const copies = PATH_INPUTS.map(() => tf.tile(tf.reshape(resid, [B, T, 1, d]), [1, 1, H, 1]));
    const sign = new Float32Array(B * c.numLabels);
    for (let s = 0; s < B; s++) { const [yc, yo] = labelPair(chunk.labels, s); sign[s * c.numLabels + yc] += 1; sign[s * c.numLabels + yo] -= 1; }
    const signT = tf.tensor2d(sign, [B, c.numLabels]);
    const full = tf.ones([B, T, H, D], 'bool');
    const ldSum = (...xs: tf.Tensor[]) => {
      const ctx = new ClampContext(c, w.weights, inputs, host);
      xs.forEach((x, xi) => {
        const n = layerNorm(x, w.weights[`blocks.${L}.ln.weight`], w.weights[`blocks.${L}.ln.bias`], c.lnEps);  // [B, T, H, d]
        const W = tf.reshape(tf.slice(w.weights[`blocks.${L}.attn.qkv.weight`], [xi * d, 0], [d, d]), [H, D, d]);
        const nh = tf.transpose(tf.reshape(n, [B * T, H, d]), [1, 0, 2]);                                       // [H, BT, d]
        const y = tf.transpose(tf.matMul(nh, W, false, true), [1, 0, 2]);                                        // [BT, H, D]
        ctx.set(inputSite(PATH_INPUTS[xi], L), tf.reshape(y, [B, T, H, D]), full);
      });
      for (const o of hostOverrides(c, host, base, 0).values()) ctx.setHost(o);
      return tf.sum(tf.mul(forward(c, w.weights, inputs, { overrides: ctx.overrides }).logits, signT)) as tf.Scalar;
    };
    return tf.grads(ldSum)(copies).map((g) => g.dataSync() as Float32Array);
  });
}

/** Adds Σ_s Σ_t g[s,t,i,:]·Δ_j[s,t,:] into sum[x][i][j], Δ_j = (z^corrupt − z)_j W_proj^{(0)}[:, jD…]ᵀ. */
function attributionChunk(c: ModelConfig, w: HostWeights, B: number, g: Float32Array[], zc: Float32Array, zx: Float32Array,
  sum: Float64Array[][]): void {
  const T = seqLen(c), d = c.dModel, H = c.numHeads, D = headDim(c);
  const delta = new Float64Array(d);
  for (let s = 0; s < B; s++) for (let t = 0; t < T; t++) for (let j = 0; j < H; j++) {
    for (let k = 0; k < d; k++) {
      let a = 0;
      for (let e = 0; e < D; e++) { const at = ((s * T + t) * H + j) * D + e; a += (zx[at] - zc[at]) * w.Wp0[k * d + j * D + e]; }
      delta[k] = a;
    }
    for (let xi = 0; xi < 3; xi++) for (let i = 0; i < H; i++) {
      const o = ((s * T + t) * H + i) * d;
      let a = 0;
      for (let k = 0; k < d; k++) a += g[xi][o + k] * delta[k];
      sum[xi][i][j] += a;
    }
  }
}

// ------------------------------------------------------------------------------------------ the measure

const zeros3 = (H: number) => [0, 1, 2].map(() => Array.from({ length: H }, () => new Float64Array(H)));
const toMatrices = (sum: Float64Array[][], n: number): InputMatrices =>
  Object.fromEntries(PATH_INPUTS.map((x, xi) => [x, sum[xi].map((row) => Array.from(row, (v) => v / n))])) as InputMatrices;

export function errorStats(a: InputMatrices, e: InputMatrices): ErrorStats {
  const av: number[] = [], ev: number[] = [];
  for (const x of PATH_INPUTS) a[x].forEach((row, i) => row.forEach((v, j) => { av.push(v); ev.push(e[x][i][j]); }));
  const n = av.length;
  let maxAbs = 0, sumAbs = 0, d2 = 0, e2 = 0, ma = 0, me = 0;
  for (let k = 0; k < n; k++) {
    const dd = av[k] - ev[k];
    maxAbs = Math.max(maxAbs, Math.abs(dd)); sumAbs += Math.abs(dd); d2 += dd * dd; e2 += ev[k] * ev[k]; ma += av[k]; me += ev[k];
  }
  ma /= n; me /= n;
  let cov = 0, va = 0, ve = 0;
  for (let k = 0; k < n; k++) { cov += (av[k] - ma) * (ev[k] - me); va += (av[k] - ma) ** 2; ve += (ev[k] - me) ** 2; }
  return {
    maxAbs, meanAbs: sumAbs / n, relative: e2 > 0 ? Math.sqrt(d2 / e2) : null,
    correlation: va > 0 && ve > 0 ? cov / Math.sqrt(va * ve) : null,
  };
}

export interface PathPatchingOptions {
  corruptions?: readonly Corruption[];
  /** Compute the attribution approximation too (default true). */
  attribution?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** The `path-patching` measure at the context's checkpoint (see the file comment). */
export function pathPatching(ctx: MeasureContext, o: PathPatchingOptions = {}): PathPatchingResult {
  const c = ctx.config, H = c.numHeads, L = c.depth - 1, N = ctx.batch.size;
  if (c.mlpRatio !== null) throw new Error('path patching is defined for attention-only models (this one has MLP blocks)');
  const kinds = o.corruptions ?? CORRUPTIONS;
  const w = hostWeights(c, ctx.params);
  const ablated = headsByLayer(ctx.baseClamps.flatMap((k) => (k.kind === 'ablate' ? k.heads : [])), c.depth, c.numHeads);
  const skip = new Set(ablated.get(L) ?? []);
  const exact = kinds.map(() => zeros3(H)), attr = kinds.map(() => zeros3(H));
  const corruptLD = kinds.map(() => 0), unmatched = kinds.map(() => 0);
  const want = o.attribution !== false;
  const tfw = want ? new TfWeights(c, ctx.params, false) : null;
  let ldSum = 0, engine = '';
  const total = ctx.chunks.length * kinds.length;
  try {
    ctx.chunks.forEach((chunk, ci) => {
      const sites = cleanSites(c);
      const clean = ctx.forward.run(chunk, ctx.baseClamps, { sequences: ctx.sequences, ...sites });
      engine = clean.engine;
      const g = tfw ? receiverGradients(c, tfw, chunk, ctx.baseClamps) : null;
      let chunkLD = 0;
      kinds.forEach((kind, ki) => {
        const cb = corruptHostBatch(chunk, kind);
        unmatched[ki] += cb.unmatched;
        const cor = ctx.forward.run(cb.batch, ctx.baseClamps, { sequences: ctx.sequences, record: new Set([site.z(0)]) });
        for (let s = 0; s < chunk.size; s++) {
          const [yc, yo] = labelPair(chunk.labels, s);
          corruptLD[ki] += cor.logits[s * c.numLabels + yc] - cor.logits[s * c.numLabels + yo];
        }
        const zx = cor.acts.get(site.z(0))!;
        chunkLD = exactChunk(c, w, chunk.labels, chunk.size, clean.acts, clean.queryActs, zx, skip, exact[ki]);
        if (g) attributionChunk(c, w, chunk.size, g, clean.acts.get(site.z(0))!, zx, attr[ki]);
        o.onProgress?.(ci * kinds.length + ki + 1, total);
      });
      ldSum += chunkLD;
    });
  } finally { tfw?.dispose(); }
  const senders = layerHeads(c, 0), receivers = layerHeads(c, L);
  return {
    formula: PATH_PATCHING_FORMULA, n: N, senders, receivers, inputs: PATH_INPUTS, cleanLD: ldSum / N, engine,
    corruptions: kinds.map((kind, ki) => {
      const E = toMatrices(exact[ki], N), A = want ? toMatrices(attr[ki], N) : null;
      const edges = PATH_INPUTS.flatMap((x) => receivers.flatMap((r, i) => senders.map((s, j) => ({
        edge: `${s}→${r}.${x.toUpperCase()}`, exact: E[x][i][j], attribution: A ? A[x][i][j] : null,
      }))));
      edges.sort((a, b) => Math.abs(b.exact) - Math.abs(a.exact));
      return {
        corruption: kind, description: CORRUPTION_DOC[kind], corruptLD: corruptLD[ki] / N, unmatched: unmatched[ki],
        exact: E, attribution: A, attributionError: A ? errorStats(A, E) : null, top: edges.slice(0, 8),
      };
    }),
  };
}

// ------------------------------------------------------------------------------------------ TF.js reference

/**
 * The exact effects on the TensorFlow.js reference: for each edge, one clamped forward with the path-patch
 * clamp (receiver i's X reads the sender's corrupted output), on top of the run's ablations. Slow (3·H²
 * forwards of three passes each); the tests compare `pathPatching` with it.
 */
export function exactPathPatchingTf(c: ModelConfig, params: Params, chunk: HostBatch, base: ClampSpec[], kind: Corruption): InputMatrices {
  const H = c.numHeads, L = c.depth - 1, B = chunk.size, w = new TfWeights(c, params, false);
  const sum = zeros3(H);
  const ldOf = (logits: Float32Array) => {
    let a = 0;
    for (let s = 0; s < B; s++) { const [yc, yo] = labelPair(chunk.labels, s); a += logits[s * c.numLabels + yc] - logits[s * c.numLabels + yo]; }
    return a;
  };
  try {
    tf.tidy(() => {
      const inputs = hostBatchInputs(c, chunk), host = { labels: chunk.labels, size: B, itemIds: chunk.index };
      const clean = ldOf(clampedForward(c, w.weights, inputs, host, base, 0).logits.dataSync() as Float32Array);
      PATH_INPUTS.forEach((input, xi) => {
        for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) {
          const edge: ClampSpec = {
            kind: 'path-patch', sender: formatHead({ layer: 0, head: j }), receiver: formatHead({ layer: L, head: i }),
            input, with: 'corrupt', corruption: kind,
          };
          const ld = tf.tidy(() => ldOf(clampedForward(c, w.weights, inputs, host, [...base, edge], 0).logits.dataSync() as Float32Array));
          sum[xi][i][j] = ld - clean;
        }
      });
    });
  } finally { w.dispose(); }
  return toMatrices(sum, B);
}
