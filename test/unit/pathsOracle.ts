/**
 * A plain double-precision forward of the two-layer attention-only model (spec §2.1), one sequence at a time,
 * with the one edit path patching is made of written literally: the last block's receiver head reads its
 * input X ∈ {Q, K, V} from LN(resid − out_sender + replacement). No engine code: the path tests compare the
 * engine's path patching and path clamps with it.
 */
import assert from 'node:assert/strict';
import { ModelConfig, headDim, seqLen } from '../../src/engine/model/config';
import { Params } from '../../src/engine/model/params';
import { HostBatch, itemExemplars } from '../../src/engine/model/hostBatch';

export type Vec = number[];
// Plain loops over number[] (the closures of reduce / Array.from cost more than the arithmetic); every sum
// runs left to right from 0, as the formulas are written.
const ln = (x: Vec, g: Float32Array, b: Float32Array, eps: number): Vec => {
  const n = x.length;
  let m = 0,
    v = 0;
  for (let k = 0; k < n; k++) m += x[k];
  m /= n;
  for (let k = 0; k < n; k++) v += (x[k] - m) ** 2;
  v /= n;
  const y = new Array<number>(n);
  for (let k = 0; k < n; k++) y[k] = ((x[k] - m) / Math.sqrt(v + eps)) * g[k] + b[k];
  return y;
};
/** Rows [r0, r0 + n) of W [out, in] times x. */
const rows = (W: Float32Array, x: Vec, r0: number, n: number): Vec => {
  const I = x.length,
    y = new Array<number>(n);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let k = 0; k < I; k++) s += W[(r0 + r) * I + k] * x[k];
    y[r] = s;
  }
  return y;
};
const rope = (x: Vec, p: number, base: number): Vec => {
  const y = new Array<number>(x.length);
  for (let e = 0; e < x.length; e++) {
    const i = e >> 1,
      th = p / Math.pow(base, (2 * i) / x.length),
      c = Math.cos(th),
      s = Math.sin(th);
    y[e] = e % 2 === 0 ? x[e] * c - x[e + 1] * s : x[e] * c + x[e - 1] * s;
  }
  return y;
};

export interface Edit {
  sender: number;
  receiver: number;
  input: 0 | 1 | 2;
  replacement: Vec[];
}

/** The token embeddings x1 ℓ1 x2 ℓ2 xq [T][d]. */
export function embed(c: ModelConfig, p: Params, ex: Vec[], labels: number[]): Vec[] {
  const d = c.dModel;
  const emb = (x: Vec) => rows(p['embed.exemplar.weight'], x, 0, d).map((v, k) => v + p['embed.exemplar.bias'][k]);
  const lab = (y: number) => Array.from({ length: d }, (_, k) => p['embed.label.weight'][k * c.numLabels + y]);
  return [emb(ex[0]), lab(labels[0]), emb(ex[1]), lab(labels[1]), emb(ex[2])];
}

/** Head hh of block l from its Q, K and V inputs [T][d]: its write into the residual stream [T][d]. */
function head(c: ModelConfig, p: Params, l: number, hh: number, ablated: boolean, inQ: Vec[], inK: Vec[], inV: Vec[]) {
  const T = seqLen(c),
    d = c.dModel,
    D = headDim(c);
  const W = p[`blocks.${l}.attn.qkv.weight`],
    P = p[`blocks.${l}.attn.proj.weight`];
  const q = inQ.map((x, t) => rope(rows(W, x, hh * D, D), t, c.ropeBase));
  const k = inK.map((x, t) => rope(rows(W, x, d + hh * D, D), t, c.ropeBase));
  const v = inV.map((x) => (ablated ? new Array<number>(D).fill(0) : rows(W, x, 2 * d + hh * D, D)));
  const out: Vec[] = [];
  for (let i = 0; i < T; i++) {
    // Causal softmax of q_i · k_j / √D over j ≤ i.
    const s = new Array<number>(i + 1);
    for (let j = 0; j <= i; j++) {
      let a = 0;
      for (let e = 0; e < D; e++) a += q[i][e] * k[j][e];
      s[j] = a / Math.sqrt(D);
    }
    const m = Math.max(...s),
      e = s.map((u) => Math.exp(u - m));
    let z = 0;
    for (let j = 0; j <= i; j++) z += e[j];
    const zz = new Array<number>(D);
    for (let dd = 0; dd < D; dd++) {
      let a = 0;
      for (let j = 0; j <= i; j++) a += (e[j] / z) * v[j][dd];
      zz[dd] = a;
    }
    // This head's write into the residual stream: z · W_proj[:, hh·D …]ᵀ.
    const o = new Array<number>(d);
    for (let r = 0; r < d; r++) {
      let a = 0;
      for (let dd = 0; dd < D; dd++) a += zz[dd] * P[r * d + hh * D + dd];
      o[r] = a;
    }
    out.push(o);
  }
  return out;
}

/**
 * One block l from its input h [T][d]; with an edit (last block), the receiver's input X is edited. `clean`,
 * this block's unedited pass on the same h (same params and ablations), lends the edit every head but the
 * receiver: only the receiver reads an edited input, so the others' outputs are the clean ones.
 */
export function block(
  c: ModelConfig,
  p: Params,
  l: number,
  h: Vec[],
  ablated: number[][],
  outs: Vec[][] | null,
  edit?: Edit,
  clean?: Pass,
): Pass {
  const T = seqLen(c),
    d = c.dModel,
    H = c.numHeads;
  const g = p[`blocks.${l}.ln.weight`],
    b = p[`blocks.${l}.ln.bias`];
  const n = h.map((x) => ln(x, g, b, c.lnEps));
  const input = (hh: number, which: number) => {
    if (!edit || edit.receiver !== hh || edit.input !== which) return n;
    return h.map((x, t) =>
      ln(
        x.map((v, k) => v - outs![edit.sender][t][k] + edit.replacement[t][k]),
        g,
        b,
        c.lnEps,
      ),
    );
  };
  const heads: Vec[][] = [];
  for (let hh = 0; hh < H; hh++)
    heads.push(
      edit && clean && hh !== edit.receiver
        ? clean.heads[hh]
        : head(c, p, l, hh, ablated[l].includes(hh), input(hh, 0), input(hh, 1), input(hh, 2)),
    );
  // The residual stream: h + (the heads' writes summed in head order).
  const out: Vec[] = [];
  for (let t = 0; t < T; t++) {
    const o = new Array<number>(d);
    for (let r = 0; r < d; r++) {
      let add = 0;
      for (let hh = 0; hh < H; hh++) add += heads[hh][t][r];
      o[r] = h[t][r] + add;
    }
    out.push(o);
  }
  return { h: out, heads };
}

/** One block's pass: its output h [T][d] and each head's write into the residual stream [H][T][d]. */
export interface Pass {
  h: Vec[];
  heads: Vec[][];
}
/** One forward: the query logits, each first-layer head's output [H][T][d] (= first.heads), both blocks. */
export interface Forward {
  logits: Vec;
  outs: Vec[][];
  first: Pass;
  last: Pass;
}

/**
 * One sequence of the two-layer model from its embedding h0 [T][d]: `ablated[l]` heads have zero values;
 * with an edit, the last block's receiver reads its input X from LN(resid − out_sender + replacement).
 * Returns the query logits, each first-layer head's output [H][T][d] and both blocks' passes. `clean`, the
 * unedited forward of the same h0 (same params and ablations), lends an edited forward what the edit cannot
 * change: the first block, and the last block's heads other than the receiver.
 */
export function plainForward(
  c: ModelConfig,
  p: Params,
  h0: Vec[],
  ablated: number[][],
  edit?: Edit,
  clean?: Forward,
): Forward {
  const T = seqLen(c);
  const b0 = clean?.first ?? block(c, p, 0, h0, ablated, null);
  const b1 = block(c, p, 1, b0.h, ablated, b0.heads, edit, clean?.last);
  const f = ln(b1.h[T - 1], p['ln_final.weight'], p['ln_final.bias'], c.lnEps);
  return {
    logits: rows(p['unembed.weight'], f, 0, c.numLabels).map((u, r) => u + p['unembed.bias'][r]),
    outs: b0.heads,
    first: b0,
    last: b1,
  };
}

/** The items of sequence s of a host batch. */
export function items(b: HostBatch, c: ModelConfig, s: number) {
  const X = itemExemplars(b, c.inputDim),
    I = c.inputDim;
  return {
    ex: [0, 1, 2].map((i) => Array.from(X.subarray((s * 3 + i) * I, (s * 3 + i + 1) * I))),
    labels: [b.labels[s * 3], b.labels[s * 3 + 1]],
  };
}

/** The parameters in float64, so central differences of the oracle's loss are not float32 noise. */
export const f64 = (p: Params): Params =>
  Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Float64Array.from(v)])) as unknown as Params;

/**
 * Central differences of `loss` at `params` (h = 1e-5, in float64) against the gradient `g` of `engine`, at
 * the three largest-gradient entries of each named tensor (the largest must be worth checking).
 */
export function checkFd(
  params: Params,
  g: Params,
  loss: (p: Params) => number,
  tensors: string[],
  what: string,
  engine: string,
): void {
  const base = f64(params),
    h = 1e-5;
  for (const name of tensors) {
    const idx = Array.from(g[name].keys())
      .sort((a, b) => Math.abs(g[name][b]) - Math.abs(g[name][a]))
      .slice(0, 3);
    assert.ok(Math.abs(g[name][idx[0]]) > 1e-3, `${what} ${name}: a gradient worth checking`);
    for (const i of idx) {
      const plus = { ...base, [name]: base[name].slice() },
        minus = { ...base, [name]: base[name].slice() };
      plus[name][i] += h;
      minus[name][i] -= h;
      const fd = (loss(plus) - loss(minus)) / (2 * h);
      assert.ok(
        Math.abs(fd - g[name][i]) < 2e-3 * Math.abs(fd) + 1e-4,
        `${what} ${name}[${i}]: ${engine} ${g[name][i]} vs FD ${fd}`,
      );
    }
  }
}
