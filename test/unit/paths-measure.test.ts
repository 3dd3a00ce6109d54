/**
 * Path patching as a measure (issue 18): the exact effects of the fast shortcut equal a brute-force per-edge
 * forward written plainly here (double precision, one sequence at a time, the receiver's input edited
 * literally) and the TensorFlow.js reference (the path-patch clamp, one clamped forward per edge); the run's
 * ablations zero exactly the entries they should; the attribution approximation equals the derivative of the
 * brute force along the corruption (central finite differences); the corruptions are what the docs say.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/model/tf';
import { ModelConfig, headDim, seqLen } from '../../src/engine/model/config';
import { initParams, Params } from '../../src/engine/model/params';
import { encodeCheckpoint } from '../../src/engine/model/checkpoint';
import { HostBatch, itemExemplars } from '../../src/engine/model/hostBatch';
import { RunDir } from '../../src/engine/io';
import { resolveRunConfig, RunConfig } from '../../src/engine/train/runConfig';
import { MeasureContext, disposeContext, makeMeasureContext, openMeasureContext } from '../../src/engine/measures/dense';
import { exactPathPatchingTf, pathPatching } from '../../src/engine/measures/pathPatching';
import { CORRUPTIONS, Corruption, corruptHostBatch } from '../../src/engine/clamps/corruptions';
import { normalizeClamps } from '../../src/engine/clamps/spec';

const SUB = 24;
let root: string, run: RunConfig, ctx: MeasureContext, params: Params;

before(async () => {
  await initBackend('wasm');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-paths-'));
  // 8 heads of dimension 2 (d = 16): the paper's 8 × 8 edge structure at a fraction of the cost.
  run = resolveRunConfig({ name: 'p', model: { dModel: 16 }, data: { evalSize: 20 } });
  params = initParams(run.model, 17);
  for (const k of Object.keys(params)) if (k.endsWith('weight') && !k.includes('ln')) for (let i = 0; i < params[k].length; i++) params[k][i] *= 3;
  const rd = RunDir.create(root, 'run');
  rd.writeRunJson({ id: rd.id, name: run.name, status: 'completed', config: run, sequences: 100 });
  rd.writeCheckpoint(100, encodeCheckpoint({ config: run.model, sequences: 100, params }));
  ctx = await openMeasureContext(rd, undefined, SUB, { chunk: 16 });
});
after(() => { disposeContext(ctx); fs.rmSync(root, { recursive: true, force: true }); });

// ------------------------------------------------------------------------------ the brute force

type Vec = number[];
const ln = (x: Vec, g: Float32Array, b: Float32Array, eps: number) => {
  const m = x.reduce((s, v) => s + v, 0) / x.length, v = x.reduce((s, u) => s + (u - m) ** 2, 0) / x.length;
  return x.map((u, k) => ((u - m) / Math.sqrt(v + eps)) * g[k] + b[k]);
};
/** Rows [r0, r0 + n) of W [out, in] times x. */
const rows = (W: Float32Array, x: Vec, r0: number, n: number) =>
  Array.from({ length: n }, (_, r) => x.reduce((s, v, k) => s + W[(r0 + r) * x.length + k] * v, 0));
const rope = (x: Vec, p: number, base: number) => x.map((_, e) => {
  const i = e >> 1, th = p / Math.pow(base, (2 * i) / x.length), c = Math.cos(th), s = Math.sin(th);
  return e % 2 === 0 ? x[e] * c - x[e + 1] * s : x[e] * c + x[e - 1] * s;
});

interface Edit { sender: number; receiver: number; input: 0 | 1 | 2; replacement: Vec[] }

/** The token embeddings x1 ℓ1 x2 ℓ2 xq [T][d]. */
function embed(c: ModelConfig, p: Params, ex: Vec[], labels: number[]): Vec[] {
  const d = c.dModel;
  const emb = (x: Vec) => rows(p['embed.exemplar.weight'], x, 0, d).map((v, k) => v + p['embed.exemplar.bias'][k]);
  const lab = (y: number) => Array.from({ length: d }, (_, k) => p['embed.label.weight'][k * c.numLabels + y]);
  return [emb(ex[0]), lab(labels[0]), emb(ex[1]), lab(labels[1]), emb(ex[2])];
}

/** One block l from its input h [T][d]; with an edit (last block), the receiver's input X is edited. */
function block(c: ModelConfig, p: Params, l: number, h: Vec[], ablated: number[][], outs: Vec[][] | null, edit?: Edit) {
  const T = seqLen(c), d = c.dModel, H = c.numHeads, D = headDim(c);
  const g = p[`blocks.${l}.ln.weight`], b = p[`blocks.${l}.ln.bias`], W = p[`blocks.${l}.attn.qkv.weight`];
  const P = p[`blocks.${l}.attn.proj.weight`];
  const n = h.map((x) => ln(x, g, b, c.lnEps));
  const add = h.map(() => new Array<number>(d).fill(0)), heads: Vec[][] = [];
  for (let hh = 0; hh < H; hh++) {
    const input = (which: number) => {
      if (!edit || edit.receiver !== hh || edit.input !== which) return n;
      return h.map((x, t) => ln(x.map((v, k) => v - outs![edit.sender][t][k] + edit.replacement[t][k]), g, b, c.lnEps));
    };
    const q = input(0).map((x, t) => rope(rows(W, x, hh * D, D), t, c.ropeBase));
    const k = input(1).map((x, t) => rope(rows(W, x, d + hh * D, D), t, c.ropeBase));
    const v = input(2).map((x) => (ablated[l].includes(hh) ? new Array<number>(D).fill(0) : rows(W, x, 2 * d + hh * D, D)));
    const out = Array.from({ length: T }, (_, i) => {
      const s = Array.from({ length: i + 1 }, (_, j) => q[i].reduce((a, u, e) => a + u * k[j][e], 0) / Math.sqrt(D));
      const m = Math.max(...s), e = s.map((u) => Math.exp(u - m)), z = e.reduce((a, u) => a + u, 0);
      const zz = Array.from({ length: D }, (_, dd) => e.reduce((a, u, j) => a + (u / z) * v[j][dd], 0));
      // This head's write into the residual stream: z · W_proj[:, hh·D …]ᵀ.
      return Array.from({ length: d }, (_, r) => zz.reduce((a, u, dd) => a + u * P[r * d + hh * D + dd], 0));
    });
    heads.push(out);
    out.forEach((o, t) => o.forEach((u, r) => { add[t][r] += u; }));
  }
  return { h: h.map((x, t) => x.map((u, r) => u + add[t][r])), heads };
}

/**
 * One sequence of the two-layer model from its embedding h0 [T][d]: `ablated[l]` heads have zero values;
 * with an edit, the last block's receiver reads its input X from LN(resid − out_sender + replacement).
 * Returns the query logits and each first-layer head's output [H][T][d].
 */
function plainForward(c: ModelConfig, p: Params, h0: Vec[], ablated: number[][], edit?: Edit, first?: ReturnType<typeof block>) {
  const T = seqLen(c);
  const b0 = first ?? block(c, p, 0, h0, ablated, null);
  const b1 = block(c, p, 1, b0.h, ablated, b0.heads, edit);
  const f = ln(b1.h[T - 1], p['ln_final.weight'], p['ln_final.bias'], c.lnEps);
  return { logits: rows(p['unembed.weight'], f, 0, c.numLabels).map((u, r) => u + p['unembed.bias'][r]), outs: b0.heads, first: b0 };
}

/** The items of sequence s of a host batch. */
function items(b: HostBatch, c: ModelConfig, s: number) {
  const X = itemExemplars(b, c.inputDim), I = c.inputDim;
  return {
    ex: [0, 1, 2].map((i) => Array.from(X.subarray((s * 3 + i) * I, (s * 3 + i + 1) * I))),
    labels: [b.labels[s * 3], b.labels[s * 3 + 1]],
  };
}

const ldOf = (logits: Vec, labels: Int32Array, s: number) => {
  const y = labels[3 * s + 2], o = labels[3 * s] === y ? labels[3 * s + 1] : labels[3 * s];
  return logits[y] - logits[o];
};

/** E[X][i][j] by brute force over the context's sequences (or the corrupted output scaled by ε around clean). */
function bruteForce(c: ModelConfig, p: Params, b: HostBatch, kind: Corruption, ablated: number[][],
  only?: { i: number; j: number; x: 0 | 1 | 2; eps: number }): number[][][] {
  const H = c.numHeads, cb = corruptHostBatch(b, kind).batch;
  const E = [0, 1, 2].map(() => Array.from({ length: H }, () => new Array<number>(H).fill(0)));
  for (let s = 0; s < b.size; s++) {
    const a = items(b, c, s), ac = items(cb, c, s), h0 = embed(c, p, a.ex, a.labels);
    const clean = plainForward(c, p, h0, ablated), cor = plainForward(c, p, embed(c, p, ac.ex, ac.labels), ablated);
    const ld0 = ldOf(clean.logits, b.labels, s);
    for (let x = 0 as 0 | 1 | 2; x < 3; x++) for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) {
      if (only && (only.i !== i || only.j !== j || only.x !== x)) continue;
      const at = (eps: number) => {
        const rep = clean.outs[j].map((o, t) => o.map((u, k) => u + eps * (cor.outs[j][t][k] - u)));
        const e: Edit = { sender: j, receiver: i, input: x, replacement: rep };
        return ldOf(plainForward(c, p, h0, ablated, e, clean.first).logits, b.labels, s);
      };
      E[x][i][j] += (only ? (at(only.eps) - at(-only.eps)) / (2 * only.eps) : at(1) - ld0) / b.size;
    }
  }
  return E;
}

const inputsOrder = ['q', 'k', 'v'] as const;
function assertClose(got: Record<string, number[][]>, want: number[][][], tol: number, what: string): void {
  let scale = 0;
  for (const m of want) for (const r of m) for (const v of r) scale = Math.max(scale, Math.abs(v));
  assert.ok(scale > 1e-3, `${what}: the effects are not all ~0 (max ${scale})`);
  inputsOrder.forEach((x, xi) => want[xi].forEach((r, i) => r.forEach((v, j) => {
    assert.ok(Math.abs(got[x][i][j] - v) <= tol * Math.max(scale, 1), `${what} ${x}[${i}][${j}]: ${got[x][i][j]} vs ${v}`);
  })));
}

// ------------------------------------------------------------------------------ tests

test('exact path patching equals a brute-force per-edge forward, for every corruption', () => {
  const res = pathPatching(ctx, { attribution: false });
  assert.equal(res.n, SUB);
  assert.deepEqual(res.senders, ['L1H0', 'L1H1', 'L1H2', 'L1H3', 'L1H4', 'L1H5', 'L1H6', 'L1H7']);
  const none = [[], []];
  for (const r of res.corruptions) {
    let at = 0;
    const want = [0, 1, 2].map(() => Array.from({ length: 8 }, () => new Array<number>(8).fill(0)));
    for (const chunk of ctx.chunks) {
      const part = bruteForce(run.model, params, chunk, r.corruption, none);
      part.forEach((m, x) => m.forEach((row, i) => row.forEach((v, j) => { want[x][i][j] += (v * chunk.size) / SUB; })));
      at += chunk.size;
    }
    assert.equal(at, SUB);
    assertClose(r.exact, want, 2e-4, r.corruption);
  }
});

test('the fast shortcut agrees with the TensorFlow.js reference (the path-patch clamp per edge)', () => {
  const chunk = ctx.chunks[0];
  const sub = makeMeasureContext({ run, params, task: ctx.task, sequences: 100, batch: { batch: ctx.batch, denseSize: ctx.denseSize, subsample: SUB }, chunk: 16 });
  try {
    for (const kind of ['class'] as Corruption[]) {
      const tfRef = exactPathPatchingTf(run.model, params, chunk, [], kind);
      const fast = pathPatching({ ...sub, chunks: [chunk], batch: { ...sub.batch, size: chunk.size } } as MeasureContext,
        { corruptions: [kind], attribution: false }).corruptions[0].exact;
      assertClose(fast, inputsOrder.map((x) => tfRef[x]), 2e-4, `${kind} fast vs TF.js`);
    }
  } finally { disposeContext(sub); }
});

test('the run\'s ablations: ablated receivers and senders carry nothing, the rest matches the brute force', () => {
  const r2 = resolveRunConfig({ ...run, clamps: normalizeClamps([{ kind: 'ablate', heads: ['L1H4', 'L2H1'] }], run.model) });
  const c2 = makeMeasureContext({ run: r2, params, task: ctx.task, sequences: 100, batch: { batch: ctx.batch, denseSize: ctx.denseSize, subsample: SUB }, chunk: 64 });
  try {
    assert.equal(c2.baseClamps.length, 1);
    const r = pathPatching(c2, { corruptions: ['prev-token'], attribution: true }).corruptions[0];
    for (const x of inputsOrder) for (let k = 0; k < 8; k++) {
      assert.equal(r.exact[x][1][k], 0, `receiver L2H1 ${x}`); assert.equal(r.exact[x][k][4], 0, `sender L1H4 ${x}`);
      assert.ok(Math.abs(r.attribution![x][1][k]) < 1e-9 && Math.abs(r.attribution![x][k][4]) < 1e-9, `attribution ${x}`);
    }
    assertClose(r.exact, bruteForce(run.model, params, c2.chunks[0], 'prev-token', [[4], [1]]), 2e-4, 'with ablations');
  } finally { disposeContext(c2); }
});

test('attribution patching is the derivative of the exact effect along the corruption', () => {
  const chunk = ctx.chunks[0];
  const small = { ...ctx, chunks: [chunk], batch: { ...ctx.batch, size: chunk.size } } as MeasureContext;
  const r = pathPatching(small, { corruptions: ['class'] }).corruptions[0];
  const edges: Array<[0 | 1 | 2, number, number]> = [[1, 3, 2], [0, 5, 1], [2, 0, 7], [1, 6, 6]];
  for (const [x, i, j] of edges) {
    const fd = bruteForce(run.model, params, chunk, 'class', [[], []], { i, j, x, eps: 1e-4 })[x][i][j];
    const a = r.attribution![inputsOrder[x]][i][j];
    assert.ok(Math.abs(a - fd) <= 1e-3 * Math.max(1, Math.abs(fd)), `${inputsOrder[x]}[${i}][${j}]: attribution ${a} vs FD ${fd}`);
  }
  assert.ok(r.attributionError && r.attributionError.maxAbs >= 0 && r.attributionError.correlation !== null);
});

test('the corruptions are the documented sequences', () => {
  const b = ctx.chunks[0];
  const lab = corruptHostBatch(b, 'labels').batch, prev = corruptHostBatch(b, 'prev-token').batch;
  const cls = corruptHostBatch(b, 'class');
  assert.equal(cls.unmatched, 0);
  for (let s = 0; s < b.size; s++) {
    const L = (x: HostBatch, i: number) => x.labels[3 * s + i], X = (x: HostBatch, i: number) => x.index[3 * s + i];
    assert.deepEqual([L(lab, 0), L(lab, 1), X(lab, 0), X(lab, 1), X(lab, 2)], [L(b, 1), L(b, 0), X(b, 0), X(b, 1), X(b, 2)]);
    assert.deepEqual([L(prev, 0), L(prev, 1), X(prev, 0), X(prev, 1), X(prev, 2)], [L(b, 0), L(b, 1), X(b, 1), X(b, 0), X(b, 2)]);
    const c = cls.batch, mine = new Set([X(b, 0), X(b, 1), X(b, 2)]);
    assert.deepEqual([L(c, 0), L(c, 1), L(c, 2)], [L(b, 0), L(b, 1), L(b, 2)], 'class: labels kept');
    for (let i = 0; i < 3; i++) assert.ok(!mine.has(X(c, i)), 'class: every exemplar of other classes');
    const answer = (x: HostBatch) => (X(x, 2) === X(x, 0) ? 0 : X(x, 2) === X(x, 1) ? 1 : -1);
    assert.equal(answer(c), answer(b), 'class: the query matches the same context position');
  }
  assert.deepEqual([...CORRUPTIONS], ['labels', 'prev-token', 'class']);
});
