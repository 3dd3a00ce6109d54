/**
 * An independent reference for the measure tests: the two-layer attention-only model of spec §2.1
 * written as plain double-precision loops over one sequence at a time (no engine code), with the three
 * edits the measures of §5.5–5.7 are made of, applied as spec §4.1/§4.2 define them:
 *
 *  - zero[l]: heads of layer l whose values are zero (§4.1);
 *  - preserve: 'patterns' / 'values' of every head of every layer taken from the unedited pass (§4.2),
 *    ablation zeros applied on top of preserved values (the composition order of §3.4).
 */
import { ModelConfig, headDim, seqLen } from '../../src/engine/model/config';
import { Params } from '../../src/engine/model/params';

export interface OracleEdits {
  zero?: [number[], number[]];
  preserve?: Array<'patterns' | 'values'>;
}

interface Pass {
  logits: number[];
  patterns: number[][][][];
  values: number[][][][];
}

function layerNorm(x: number[], g: Float32Array, b: Float32Array, eps: number): number[] {
  const n = x.length,
    m = x.reduce((s, v) => s + v, 0) / n;
  const v = x.reduce((s, u) => s + (u - m) ** 2, 0) / n,
    r = 1 / Math.sqrt(v + eps);
  return x.map((u, j) => (u - m) * r * g[j] + b[j]);
}

/** y = W x for W [out, in] row-major. */
function matVec(W: Float32Array, x: number[], rows: number, offsetRow = 0): number[] {
  const n = x.length,
    out = new Array<number>(rows).fill(0);
  for (let r = 0; r < rows; r++) for (let k = 0; k < n; k++) out[r] += W[(offsetRow + r) * n + k] * x[k];
  return out;
}

function rope(x: number[], pos: number, base: number): number[] {
  const D = x.length,
    out = x.slice();
  for (let i = 0; i < D / 2; i++) {
    const th = pos / Math.pow(base, (2 * i) / D),
      c = Math.cos(th),
      s = Math.sin(th);
    out[2 * i] = x[2 * i] * c - x[2 * i + 1] * s;
    out[2 * i + 1] = x[2 * i + 1] * c + x[2 * i] * s;
  }
  return out;
}

/**
 * One sequence: items [C+1][inputDim] exemplars (context then query), labels [C] (context). `clean`
 * supplies the unedited pass's patterns / values when preserving.
 */
function pass(c: ModelConfig, p: Params, items: number[][], labels: number[], e: OracleEdits, clean?: Pass): Pass {
  const T = seqLen(c),
    d = c.dModel,
    H = c.numHeads,
    D = headDim(c),
    C = c.contextLen;
  const embEx = (x: number[]) =>
    matVec(p['embed.exemplar.weight'], x, d).map((v, j) => v + p['embed.exemplar.bias'][j]);
  const embLab = (y: number) => Array.from({ length: d }, (_, j) => p['embed.label.weight'][j * c.numLabels + y]);
  let h: number[][] = [];
  for (let i = 0; i < C; i++) h.push(embEx(items[i]), embLab(labels[i]));
  h.push(embEx(items[C]));
  const patterns: number[][][][] = [],
    values: number[][][][] = [];
  for (let l = 0; l < c.depth; l++) {
    const w = (n: string) => p[`blocks.${l}.${n}`];
    const z = h.map((x) => layerNorm(x, w('ln.weight'), w('ln.bias'), c.lnEps));
    const qkv = z.map((x) => matVec(w('attn.qkv.weight'), x, 3 * d));
    const P: number[][][] = [],
      V: number[][][] = [];
    const merged = Array.from({ length: T }, () => new Array<number>(d).fill(0));
    for (let hh = 0; hh < H; hh++) {
      const q = qkv.map((r, t) => rope(r.slice(hh * D, hh * D + D), t, c.ropeBase));
      const k = qkv.map((r, t) => rope(r.slice(d + hh * D, d + hh * D + D), t, c.ropeBase));
      let v = qkv.map((r) => r.slice(2 * d + hh * D, 2 * d + hh * D + D));
      if (e.preserve?.includes('values') && clean) v = clean.values[l][hh];
      if (e.zero?.[l].includes(hh)) v = v.map((r) => r.map(() => 0));
      let pat = q.map((qi, i) => {
        const s = k.map((kj, j) => (j <= i ? qi.reduce((a, u, m) => a + u * kj[m], 0) / Math.sqrt(D) : -Infinity));
        const mx = Math.max(...s),
          ex = s.map((u) => Math.exp(u - mx)),
          sum = ex.reduce((a, u) => a + u, 0);
        return ex.map((u) => u / sum);
      });
      if (e.preserve?.includes('patterns') && clean) pat = clean.patterns[l][hh];
      P.push(pat);
      V.push(v);
      for (let t = 0; t < T; t++)
        for (let m = 0; m < D; m++) merged[t][hh * D + m] = pat[t].reduce((a, u, j) => a + u * v[j][m], 0);
    }
    patterns.push(P);
    values.push(V);
    h = h.map((x, t) => {
      const o = matVec(w('attn.proj.weight'), merged[t], d);
      return x.map((u, j) => u + o[j]);
    });
  }
  const f = layerNorm(h[T - 1], p['ln_final.weight'], p['ln_final.bias'], c.lnEps);
  const logits = matVec(p['unembed.weight'], f, c.numLabels).map((v, j) => v + p['unembed.bias'][j]);
  return { logits, patterns, values };
}

export interface OracleResult {
  /** Per sequence: cross-entropy at the query and whether the argmax is the target. */
  loss: number[];
  correct: number[];
  acc: number;
  /** Per sequence: [layer][head][query][key]. */
  patterns: number[][][][][];
}

/** The model with `edits` on B sequences: exemplars [B, C+1, I], labels [B, C+1] (the last is the target). */
export function oracle(
  c: ModelConfig,
  p: Params,
  exemplars: Float32Array,
  labels: Int32Array,
  B: number,
  edits: OracleEdits = {},
): OracleResult {
  const I = c.inputDim,
    C1 = c.contextLen + 1;
  const out: OracleResult = { loss: [], correct: [], acc: 0, patterns: [] };
  for (let b = 0; b < B; b++) {
    const items = Array.from({ length: C1 }, (_, i) =>
      Array.from(exemplars.subarray((b * C1 + i) * I, (b * C1 + i + 1) * I)),
    );
    const ys = Array.from(labels.subarray(b * C1, b * C1 + C1));
    const clean = edits.preserve?.length ? pass(c, p, items, ys, {}) : undefined;
    const r = pass(c, p, items, ys, edits, clean);
    const y = ys[C1 - 1],
      mx = Math.max(...r.logits);
    out.loss.push(mx + Math.log(r.logits.reduce((a, u) => a + Math.exp(u - mx), 0)) - r.logits[y]);
    out.correct.push(r.logits.indexOf(mx) === y ? 1 : 0);
    out.patterns.push(r.patterns);
  }
  out.acc = out.correct.reduce((a, u) => a + u, 0) / B;
  return out;
}
