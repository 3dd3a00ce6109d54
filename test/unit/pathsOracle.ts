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
const ln = (x: Vec, g: Float32Array, b: Float32Array, eps: number) => {
  const m = x.reduce((s, v) => s + v, 0) / x.length,
    v = x.reduce((s, u) => s + (u - m) ** 2, 0) / x.length;
  return x.map((u, k) => ((u - m) / Math.sqrt(v + eps)) * g[k] + b[k]);
};
/** Rows [r0, r0 + n) of W [out, in] times x. */
const rows = (W: Float32Array, x: Vec, r0: number, n: number) =>
  Array.from({ length: n }, (_, r) => x.reduce((s, v, k) => s + W[(r0 + r) * x.length + k] * v, 0));
const rope = (x: Vec, p: number, base: number) =>
  x.map((_, e) => {
    const i = e >> 1,
      th = p / Math.pow(base, (2 * i) / x.length),
      c = Math.cos(th),
      s = Math.sin(th);
    return e % 2 === 0 ? x[e] * c - x[e + 1] * s : x[e] * c + x[e - 1] * s;
  });

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

/** One block l from its input h [T][d]; with an edit (last block), the receiver's input X is edited. */
export function block(
  c: ModelConfig,
  p: Params,
  l: number,
  h: Vec[],
  ablated: number[][],
  outs: Vec[][] | null,
  edit?: Edit,
) {
  const T = seqLen(c),
    d = c.dModel,
    H = c.numHeads,
    D = headDim(c);
  const g = p[`blocks.${l}.ln.weight`],
    b = p[`blocks.${l}.ln.bias`],
    W = p[`blocks.${l}.attn.qkv.weight`];
  const P = p[`blocks.${l}.attn.proj.weight`];
  const n = h.map((x) => ln(x, g, b, c.lnEps));
  const add = h.map(() => new Array<number>(d).fill(0)),
    heads: Vec[][] = [];
  for (let hh = 0; hh < H; hh++) {
    const input = (which: number) => {
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
    const q = input(0).map((x, t) => rope(rows(W, x, hh * D, D), t, c.ropeBase));
    const k = input(1).map((x, t) => rope(rows(W, x, d + hh * D, D), t, c.ropeBase));
    const v = input(2).map((x) =>
      ablated[l].includes(hh) ? new Array<number>(D).fill(0) : rows(W, x, 2 * d + hh * D, D),
    );
    const out = Array.from({ length: T }, (_, i) => {
      const s = Array.from({ length: i + 1 }, (_, j) => q[i].reduce((a, u, e) => a + u * k[j][e], 0) / Math.sqrt(D));
      const m = Math.max(...s),
        e = s.map((u) => Math.exp(u - m)),
        z = e.reduce((a, u) => a + u, 0);
      const zz = Array.from({ length: D }, (_, dd) => e.reduce((a, u, j) => a + (u / z) * v[j][dd], 0));
      // This head's write into the residual stream: z · W_proj[:, hh·D …]ᵀ.
      return Array.from({ length: d }, (_, r) => zz.reduce((a, u, dd) => a + u * P[r * d + hh * D + dd], 0));
    });
    heads.push(out);
    out.forEach((o, t) =>
      o.forEach((u, r) => {
        add[t][r] += u;
      }),
    );
  }
  return { h: h.map((x, t) => x.map((u, r) => u + add[t][r])), heads };
}

/**
 * One sequence of the two-layer model from its embedding h0 [T][d]: `ablated[l]` heads have zero values;
 * with an edit, the last block's receiver reads its input X from LN(resid − out_sender + replacement).
 * Returns the query logits and each first-layer head's output [H][T][d].
 */
export function plainForward(
  c: ModelConfig,
  p: Params,
  h0: Vec[],
  ablated: number[][],
  edit?: Edit,
  first?: ReturnType<typeof block>,
) {
  const T = seqLen(c);
  const b0 = first ?? block(c, p, 0, h0, ablated, null);
  const b1 = block(c, p, 1, b0.h, ablated, b0.heads, edit);
  const f = ln(b1.h[T - 1], p['ln_final.weight'], p['ln_final.bias'], c.lnEps);
  return {
    logits: rows(p['unembed.weight'], f, 0, c.numLabels).map((u, r) => u + p['unembed.bias'][r]),
    outs: b0.heads,
    first: b0,
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
