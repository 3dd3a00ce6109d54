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
import { ModelConfig } from '../../src/engine/model/config';
import { initParams, Params } from '../../src/engine/model/params';
import { encodeCheckpoint } from '../../src/engine/model/checkpoint';
import { HostBatch } from '../../src/engine/model/hostBatch';
import { RunDir } from '../../src/engine/io';
import { resolveRunConfig, RunConfig } from '../../src/engine/train/runConfig';
import {
  MeasureContext,
  disposeContext,
  makeMeasureContext,
  openMeasureContext,
} from '../../src/engine/measures/dense';
import { exactPathPatchingTf, pathPatching } from '../../src/engine/measures/pathPatching';
import { CORRUPTIONS, Corruption, corruptHostBatch } from '../../src/engine/clamps/corruptions';
import { normalizeClamps } from '../../src/engine/clamps/spec';
import { Edit, Vec, embed, items, plainForward } from './pathsOracle';

const SUB = 24;
let root: string, run: RunConfig, ctx: MeasureContext, params: Params;

before(async () => {
  await initBackend('wasm');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-paths-'));
  // 8 heads of dimension 2 (d = 16): the paper's 8 × 8 edge structure at a fraction of the cost.
  run = resolveRunConfig({ name: 'p', model: { dModel: 16 }, data: { evalSize: 20 } });
  params = initParams(run.model, 17);
  for (const k of Object.keys(params))
    if (k.endsWith('weight') && !k.includes('ln')) for (let i = 0; i < params[k].length; i++) params[k][i] *= 3;
  const rd = RunDir.create(root, 'run');
  rd.writeRunJson({ id: rd.id, name: run.name, status: 'completed', config: run, sequences: 100 });
  rd.writeCheckpoint(100, encodeCheckpoint({ config: run.model, sequences: 100, params }));
  ctx = await openMeasureContext(rd, undefined, SUB, { chunk: 16 });
});
after(() => {
  disposeContext(ctx);
  fs.rmSync(root, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------ the brute force

const ldOf = (logits: Vec, labels: Int32Array, s: number) => {
  const y = labels[3 * s + 2],
    o = labels[3 * s] === y ? labels[3 * s + 1] : labels[3 * s];
  return logits[y] - logits[o];
};

/** E[X][i][j] by brute force over the context's sequences (or the corrupted output scaled by ε around clean). */
function bruteForce(
  c: ModelConfig,
  p: Params,
  b: HostBatch,
  kind: Corruption,
  ablated: number[][],
  only?: { i: number; j: number; x: 0 | 1 | 2; eps: number },
): number[][][] {
  const H = c.numHeads,
    cb = corruptHostBatch(b, kind).batch;
  const E = [0, 1, 2].map(() => Array.from({ length: H }, () => new Array<number>(H).fill(0)));
  for (let s = 0; s < b.size; s++) {
    const a = items(b, c, s),
      ac = items(cb, c, s),
      h0 = embed(c, p, a.ex, a.labels);
    const clean = plainForward(c, p, h0, ablated),
      cor = plainForward(c, p, embed(c, p, ac.ex, ac.labels), ablated);
    const ld0 = ldOf(clean.logits, b.labels, s);
    for (let x = 0 as 0 | 1 | 2; x < 3; x++)
      for (let i = 0; i < H; i++)
        for (let j = 0; j < H; j++) {
          if (only && (only.i !== i || only.j !== j || only.x !== x)) continue;
          const at = (eps: number) => {
            const rep = clean.outs[j].map((o, t) => o.map((u, k) => u + eps * (cor.outs[j][t][k] - u)));
            const e: Edit = { sender: j, receiver: i, input: x, replacement: rep };
            return ldOf(plainForward(c, p, h0, ablated, e, clean).logits, b.labels, s);
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
  inputsOrder.forEach((x, xi) =>
    want[xi].forEach((r, i) =>
      r.forEach((v, j) => {
        assert.ok(
          Math.abs(got[x][i][j] - v) <= tol * Math.max(scale, 1),
          `${what} ${x}[${i}][${j}]: ${got[x][i][j]} vs ${v}`,
        );
      }),
    ),
  );
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
      part.forEach((m, x) =>
        m.forEach((row, i) =>
          row.forEach((v, j) => {
            want[x][i][j] += (v * chunk.size) / SUB;
          }),
        ),
      );
      at += chunk.size;
    }
    assert.equal(at, SUB);
    assertClose(r.exact, want, 2e-4, r.corruption);
  }
});

test('the fast shortcut agrees with the TensorFlow.js reference (the path-patch clamp per edge)', () => {
  const chunk = ctx.chunks[0];
  const sub = makeMeasureContext({
    run,
    params,
    task: ctx.task,
    sequences: 100,
    batch: { batch: ctx.batch, denseSize: ctx.denseSize, subsample: SUB },
    chunk: 16,
  });
  try {
    for (const kind of ['class'] as Corruption[]) {
      const tfRef = exactPathPatchingTf(run.model, params, chunk, [], kind);
      const fast = pathPatching(
        { ...sub, chunks: [chunk], batch: { ...sub.batch, size: chunk.size } } as MeasureContext,
        { corruptions: [kind], attribution: false },
      ).corruptions[0].exact;
      assertClose(
        fast,
        inputsOrder.map((x) => tfRef[x]),
        2e-4,
        `${kind} fast vs TF.js`,
      );
    }
  } finally {
    disposeContext(sub);
  }
});

test("the run's ablations: ablated receivers and senders carry nothing, the rest matches the brute force", () => {
  const r2 = resolveRunConfig({
    ...run,
    clamps: normalizeClamps([{ kind: 'ablate', heads: ['L1H4', 'L2H1'] }], run.model),
  });
  const c2 = makeMeasureContext({
    run: r2,
    params,
    task: ctx.task,
    sequences: 100,
    batch: { batch: ctx.batch, denseSize: ctx.denseSize, subsample: SUB },
    chunk: 64,
  });
  try {
    assert.equal(c2.baseClamps.length, 1);
    const r = pathPatching(c2, { corruptions: ['prev-token'], attribution: true }).corruptions[0];
    for (const x of inputsOrder)
      for (let k = 0; k < 8; k++) {
        assert.equal(r.exact[x][1][k], 0, `receiver L2H1 ${x}`);
        assert.equal(r.exact[x][k][4], 0, `sender L1H4 ${x}`);
        assert.ok(
          Math.abs(r.attribution![x][1][k]) < 1e-9 && Math.abs(r.attribution![x][k][4]) < 1e-9,
          `attribution ${x}`,
        );
      }
    assertClose(r.exact, bruteForce(run.model, params, c2.chunks[0], 'prev-token', [[4], [1]]), 2e-4, 'with ablations');
  } finally {
    disposeContext(c2);
  }
});

test('attribution patching is the derivative of the exact effect along the corruption', () => {
  const chunk = ctx.chunks[0];
  const small = { ...ctx, chunks: [chunk], batch: { ...ctx.batch, size: chunk.size } } as MeasureContext;
  const r = pathPatching(small, { corruptions: ['class'] }).corruptions[0];
  const edges: Array<[0 | 1 | 2, number, number]> = [
    [1, 3, 2],
    [0, 5, 1],
    [2, 0, 7],
    [1, 6, 6],
  ];
  for (const [x, i, j] of edges) {
    const fd = bruteForce(run.model, params, chunk, 'class', [[], []], { i, j, x, eps: 1e-4 })[x][i][j];
    const a = r.attribution![inputsOrder[x]][i][j];
    assert.ok(
      Math.abs(a - fd) <= 1e-3 * Math.max(1, Math.abs(fd)),
      `${inputsOrder[x]}[${i}][${j}]: attribution ${a} vs FD ${fd}`,
    );
  }
  assert.ok(r.attributionError && r.attributionError.maxAbs >= 0 && r.attributionError.correlation !== null);
});

test('the corruptions are the documented sequences', () => {
  const b = ctx.chunks[0];
  const lab = corruptHostBatch(b, 'labels').batch,
    prev = corruptHostBatch(b, 'prev-token').batch;
  const cls = corruptHostBatch(b, 'class');
  assert.equal(cls.unmatched, 0);
  for (let s = 0; s < b.size; s++) {
    const L = (x: HostBatch, i: number) => x.labels[3 * s + i],
      X = (x: HostBatch, i: number) => x.index[3 * s + i];
    assert.deepEqual(
      [L(lab, 0), L(lab, 1), X(lab, 0), X(lab, 1), X(lab, 2)],
      [L(b, 1), L(b, 0), X(b, 0), X(b, 1), X(b, 2)],
    );
    assert.deepEqual(
      [L(prev, 0), L(prev, 1), X(prev, 0), X(prev, 1), X(prev, 2)],
      [L(b, 0), L(b, 1), X(b, 1), X(b, 0), X(b, 2)],
    );
    const c = cls.batch,
      mine = new Set([X(b, 0), X(b, 1), X(b, 2)]);
    assert.deepEqual([L(c, 0), L(c, 1), L(c, 2)], [L(b, 0), L(b, 1), L(b, 2)], 'class: labels kept');
    for (let i = 0; i < 3; i++) assert.ok(!mine.has(X(c, i)), 'class: every exemplar of other classes');
    const answer = (x: HostBatch) => (X(x, 2) === X(x, 0) ? 0 : X(x, 2) === X(x, 1) ? 1 : -1);
    assert.equal(answer(c), answer(b), 'class: the query matches the same context position');
  }
  assert.deepEqual([...CORRUPTIONS], ['labels', 'prev-token', 'class']);
});

test('the class corruption pairs sequences that share no class, also when one class shows different exemplars', () => {
  // Items [context 1, context 2, query]; every item its own vector row, so rows never repeat within a class.
  // Sequence 0 shares class 0 with sequence 1 (other exemplars) and no class with sequence 2.
  const classes = Int32Array.from([0, 1, 0, 0, 2, 2, 3, 4, 4]);
  const b: HostBatch = {
    size: 3,
    labels: Int32Array.from([0, 1, 0, 1, 0, 0, 1, 0, 0]),
    vectors: new Float32Array(9),
    index: Int32Array.from({ length: 9 }, (_, i) => i),
    classes,
  };
  const c = corruptHostBatch(b, 'class').batch;
  // Sequence 2's items, ordered so that the query matches context 1 as sequence 0's does: rows 7, 6, 8.
  assert.deepEqual([...c.index.subarray(0, 3)], [7, 6, 8]);
  assert.deepEqual([...c.classes!.subarray(0, 3)], [4, 3, 4]);
  assert.deepEqual([...c.labels.subarray(0, 3)], [0, 1, 0], 'labels kept');
  // Told apart by vector row only (a batch without classes), sequence 1 would have been taken.
  const { classes: _c, ...rowsOnly } = b;
  assert.deepEqual([...corruptHostBatch(rowsOnly, 'class').batch.index.subarray(0, 3)], [4, 3, 5]);
});
