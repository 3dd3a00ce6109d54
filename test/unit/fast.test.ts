// The fast training path (src/engine/fast) against the TensorFlow.js reference engine: loss, logits, every
// site and every gradient, with and without overrides; plus finite differences and the WebAssembly Adam
// against train/adam.ts. The references run on TF.js's wasm backend (the one TF.js runs on here, ≈ 3.5× faster
// than its plain-JS cpu backend), except the multi-pass clamps': through the folded copy pass one gradient of
// the wasm backend's is 3.7e-6 off where both fast builds agree, over the 2.9e-6 the comparison allows, so those
// keep the cpu backend, whose float32 sums are the plain ones.
// Run: node --import tsx --test test/unit/fast.test.ts
import * as v8 from 'node:v8';
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/model/tf';
import { ModelConfig, DEFAULT_MODEL_CONFIG, seqLen } from '../../src/engine/model/config';
import { initParams, Params, cloneParams, paramSpecs } from '../../src/engine/model/params';
import { TfWeights } from '../../src/engine/model/tfModel';
import { forward, crossEntropy, Overrides, Weights, ModelInputs, ForwardResult } from '../../src/engine/model/forward';
import { siteShapes, site } from '../../src/engine/model/sites';
import { HostOverride, newHostOverride } from '../../src/engine/model/hostOverride';
import { hostOverrides, clampedForward } from '../../src/engine/clamps/apply';
import { ClampSpec } from '../../src/engine/clamps/spec';
import { REST_HEADS } from '../../src/engine/science/conditions';
import { adamInit, adamStep, DEFAULT_ADAM } from '../../src/engine/train/adam';
import { Rng } from '../../src/engine/data/rng';
import { FastModel, FastResult, supports, unsupportedReason } from '../../src/engine/fast/model';
import type { ExemplarBatch as FastBatch } from '../../src/engine/fast/inputs';
import { FastAdam } from '../../src/engine/fast/adam';
import { fastBatch } from '../../src/engine/fast/batch';
import { wasmVariantSupported, WasmVariant } from '../../src/engine/fast/kernels';

const SMALL: ModelConfig = { ...DEFAULT_MODEL_CONFIG, dModel: 16, numHeads: 2, inputDim: 24 };
/** Odd sizes: tails in every GEMM dimension, head dim 4, 3 blocks, 3 context pairs (T = 7), 7 labels. */
const ODD: ModelConfig = {
  ...DEFAULT_MODEL_CONFIG,
  dModel: 12,
  numHeads: 3,
  depth: 3,
  numLabels: 7,
  inputDim: 10,
  contextLen: 3,
};

/**
 * A batch like the training task's: non-negative correlated exemplars from a few classes, the query a
 * bit-identical copy of one context exemplar (so rows repeat and the dedup path runs). `distinct` makes
 * every exemplar vector different instead.
 */
function makeBatch(c: ModelConfig, B: number, seed: number, distinct = false): FastBatch {
  const rng = new Rng(seed, 7);
  const C1 = c.contextLen + 1,
    I = c.inputDim,
    classes = 6;
  const shared = Float32Array.from({ length: I }, () => Math.abs(rng.normal()));
  const proto = Array.from({ length: classes }, () =>
    Float32Array.from({ length: I }, (_, k) => Math.max(0, shared[k] + 0.5 * rng.normal())),
  );
  const exemplars = new Float32Array(B * C1 * I),
    labels = new Int32Array(B * C1);
  for (let b = 0; b < B; b++) {
    const match = rng.int(c.contextLen);
    for (let i = 0; i < C1; i++) {
      const src = i === c.contextLen ? match : i;
      const cls = distinct ? -1 : rng.int(classes);
      for (let k = 0; k < I; k++)
        exemplars[(b * C1 + i) * I + k] = distinct ? Math.abs(rng.normal()) * 2 : proto[cls][k];
      if (i === c.contextLen && !distinct)
        exemplars.copyWithin((b * C1 + i) * I, (b * C1 + src) * I, (b * C1 + src + 1) * I);
      labels[b * C1 + i] = i === c.contextLen ? labels[b * C1 + src] : rng.int(c.numLabels);
    }
  }
  return { size: B, exemplars, labels };
}

interface Ref {
  loss: number;
  logits: Float32Array;
  grads: Params;
  acts: Map<string, Float32Array>;
}

type TfForward = (w: Weights, inputs: ModelInputs, record?: boolean | ReadonlySet<string>) => ForwardResult;

/** FNV-1a over the bytes of some typed arrays and strings: the memo key of a reference computation. */
function contentKey(parts: Array<ArrayBufferView | string>): string {
  let h = 0x811c9dc5;
  for (const p of parts) {
    const bytes = typeof p === 'string' ? Buffer.from(p) : new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
    for (let i = 0; i < bytes.length; i++) {
      h ^= bytes[i];
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0xff;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16) + ':' + parts.length;
}

/**
 * References are computed once per (config, params, batch, what) and shared by both WebAssembly builds'
 * tests: the TF.js reference is the expensive half of every comparison.
 */
const referenceMemo = new Map<string, Ref>();

/**
 * The TensorFlow.js engine on the same params and batch: `fwd` recording `record`, then its loss and gradients.
 * With `grads` false, no backward pass: the same forward's loss, logits and sites, `grads` empty.
 */
function tfReference(
  c: ModelConfig,
  params: Params,
  batch: FastBatch,
  fwd: TfForward,
  record: boolean | ReadonlySet<string>,
  what: string,
  grads = true,
): Ref {
  const key = contentKey([
    tf.getBackend(),
    JSON.stringify(c),
    what,
    grads ? 'grads' : 'forward only',
    JSON.stringify(record === true || record === false ? record : [...record]),
    ...paramSpecs(c).map((s) => params[s.name]),
    batch.exemplars,
    batch.labels,
  ]);
  const hit = referenceMemo.get(key);
  if (hit) return hit;
  const ref = tfReferenceUncached(c, params, batch, fwd, record, grads);
  referenceMemo.set(key, ref);
  return ref;
}

function tfReferenceUncached(
  c: ModelConfig,
  params: Params,
  batch: FastBatch,
  fwd: TfForward,
  record: boolean | ReadonlySet<string>,
  grads: boolean,
): Ref {
  const w = new TfWeights(c, params);
  const nameOf = new Map(Object.entries(w.vars).map(([k, v]) => [v.name, k]));
  const C1 = c.contextLen + 1,
    B = batch.size;
  let out: Ref | null = null;
  try {
    tf.tidy(() => {
      const inputs = {
        exemplars: tf.tensor3d(batch.exemplars, [B, C1, c.inputDim]),
        labels: tf.tensor2d(batch.labels, [B, C1], 'int32'),
      };
      const targets = tf.tensor1d(
        Int32Array.from({ length: B }, (_, b) => batch.labels[b * C1 + c.contextLen]),
        'int32',
      );
      // One pass: the recorded sites and logits are read inside the pass the gradients are taken of.
      const acts = new Map<string, Float32Array>();
      let logits: Float32Array = new Float32Array(0);
      const pass = () => {
        const fr = fwd(w.weights, inputs, record);
        for (const [k, t] of fr.acts) acts.set(k, t.dataSync() as Float32Array);
        logits = fr.logits.dataSync() as Float32Array;
        return crossEntropy(fr.logits, targets);
      };
      if (!grads) {
        out = { loss: pass().dataSync()[0], logits, grads: {}, acts };
        return;
      }
      const { value, grads: gt } = tf.variableGrads(pass, Object.values(w.vars));
      const g: Params = {};
      for (const [n, t] of Object.entries(gt)) g[nameOf.get(n)!] = t.dataSync() as Float32Array;
      out = { loss: value.dataSync()[0], logits, grads: g, acts };
    });
  } finally {
    w.dispose();
  }
  return out!;
}

/** The TensorFlow.js model on the same params, batch and overrides, every site recorded (`grads`: as tfReference). */
function reference(
  c: ModelConfig,
  params: Params,
  batch: FastBatch,
  ovr?: Map<string, HostOverride>,
  grads = true,
): Ref {
  const what = contentKey(['overrides', ...[...(ovr ?? [])].flatMap(([k, o]) => [k, o.value, o.mask])]);
  return tfReference(
    c,
    params,
    batch,
    (w, inputs, record) => {
      const overrides: Overrides = new Map();
      for (const [k, o] of ovr ?? [])
        overrides.set(k, { value: tf.tensor(o.value, o.shape), mask: tf.tensor(o.mask, o.shape, 'bool') });
      return forward(c, w, inputs, { overrides, record });
    },
    true,
    what,
    grads,
  );
}

/**
 * |a − b| ≤ rtol·|b| + atol·max|b|: 1e-5 relative, with an absolute floor scaled to the tensor (float32
 * sums of terms of mixed sign leave an error relative to the terms, not to a near-zero total).
 */
function close(name: string, a: ArrayLike<number>, b: ArrayLike<number>, rtol = 1e-5, atol = 2e-6): number {
  assert.equal(a.length, b.length, `${name}: length ${a.length} vs ${b.length}`);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    const err = Math.abs(a[i] - b[i]),
      tol = rtol * Math.abs(b[i]) + atol * scale;
    if (!(err <= tol))
      assert.fail(
        `${name}[${i}]: fast ${a[i]} vs tfjs ${b[i]} (|Δ| ${err.toExponential(2)} > ${tol.toExponential(2)}; tensor max ${scale.toExponential(2)})`,
      );
    if (scale > 0) worst = Math.max(worst, err / (Math.abs(b[i]) + scale * 1e-3));
  }
  return worst;
}

function compareAll(c: ModelConfig, fast: FastResult, ref: Ref, sites: Iterable<string> | null): void {
  close('loss', [fast.loss], [ref.loss]);
  close('logits', fast.logits, ref.logits);
  for (const s of paramSpecs(c)) close(`grad ${s.name}`, fast.grads![s.name], ref.grads[s.name]);
  if (sites)
    for (const s of sites) {
      const a = fast.acts.get(s),
        b = ref.acts.get(s);
      assert.ok(a && b, `site ${s} recorded by both engines (fast: ${!!a}, tfjs: ${!!b})`);
      close(`site ${s}`, a, b);
    }
}

// Both WebAssembly builds are tested: relaxed SIMD needs this flag on Node 20 (it is on by default from Node 22).
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const variants: WasmVariant[] = (['simd', 'relaxed'] as WasmVariant[]).filter(wasmVariantSupported);

describe('fast path: configuration', () => {
  test('supports attention-only models, refuses MLP models with a clear error', () => {
    assert.equal(supports(DEFAULT_MODEL_CONFIG), true);
    const mlp = { ...DEFAULT_MODEL_CONFIG, mlpRatio: 4 };
    assert.equal(supports(mlp), false);
    assert.match(unsupportedReason(mlp)!, /not supported by the fast path/);
    assert.throws(() => new FastModel(mlp), /not supported by the fast path/);
  });

  test('checks batch, params and override shapes', () => {
    const m = new FastModel(SMALL);
    const p = initParams(SMALL, 1),
      b = makeBatch(SMALL, 2, 1);
    assert.throws(() => m.run(p, { ...b, size: 3 }, { backward: false }), /exemplars has/);
    assert.throws(() => m.run({ ...p, 'unembed.bias': new Float32Array(2) }, b, { backward: false }), /unembed\.bias/);
    const bad = newHostOverride(site.v(0), [2, 2, 5, 8]);
    assert.throws(
      () => m.run(p, b, { backward: false, overrides: new Map([[bad.site, bad]]) }),
      /expected \[2, 5, 2, 8\]/,
    );
    const unknown = newHostOverride('blocks.9.attn.hook_v', [1]);
    assert.throws(
      () => m.run(p, b, { backward: false, overrides: new Map([[unknown.site, unknown]]) }),
      /unknown site/,
    );
    const lab = { ...b, labels: b.labels.slice() };
    lab.labels[0] = 99;
    assert.throws(() => m.run(p, lab, { backward: false }), /outside \[0, 5\)/);
  });
});

for (const variant of variants) {
  describe(`fast path (${variant}) vs TensorFlow.js (wasm backend)`, () => {
    before(async () => {
      await initBackend('wasm');
    });
    for (const [label, c, B] of [
      ['small', SMALL, 5],
      ['odd sizes', ODD, 6],
      ['default', DEFAULT_MODEL_CONFIG, 8],
    ] as const) {
      test(`${label}: no overrides, every site recorded, every gradient`, () => {
        const params = initParams(c, 11),
          batch = makeBatch(c, B, 3);
        const ref = reference(c, params, batch);
        const m = new FastModel(c, { wasm: variant });
        const all = m.run(params, batch, { backward: true, record: true });
        compareAll(c, all, ref, Object.keys(siteShapes(c, B)));
        // Query-only forward (nothing recorded) and the dedup switch give the same numbers.
        const fastOnly = m.run(params, batch, { backward: true });
        compareAll(c, fastOnly, ref, null);
        assert.equal(fastOnly.acts.size, 0);
        const noDedup = new FastModel(c, { wasm: variant, dedup: false }).run(params, batch, {
          backward: true,
          record: true,
        });
        compareAll(c, noDedup, ref, Object.keys(siteShapes(c, B)));
        // Recording only sites the query-only path still forms everywhere (the last block's k and v).
        const lastL = c.depth - 1,
          some = new Set([site.v(lastL), site.k(lastL), site.rotK(lastL), site.residPre(lastL)]);
        const partial = m.run(params, batch, { backward: true, record: some });
        compareAll(c, partial, ref, some);
        assert.equal(partial.acts.size, some.size);
        // All-distinct exemplars.
        const distinct = makeBatch(c, B, 4, true);
        compareAll(c, m.run(params, distinct, { backward: true }), reference(c, params, distinct), null);
      });
    }

    test('default config: ablation of L2H1 and L2H2 (hook_v override from clamps/apply.ts)', () => {
      const c = DEFAULT_MODEL_CONFIG,
        B = 8;
      const params = initParams(c, 5),
        batch = makeBatch(c, B, 9);
      const ovr = hostOverrides(c, { labels: batch.labels, size: B }, [{ kind: 'ablate', heads: ['L2H1', 'L2H2'] }], 0);
      assert.deepEqual([...ovr.keys()], [site.v(1)]);
      const ref = reference(c, params, batch, ovr);
      const m = new FastModel(c, { wasm: variant });
      compareAll(
        c,
        m.run(params, batch, { backward: true, record: true, overrides: ovr }),
        ref,
        Object.keys(siteShapes(c, B)),
      );
      compareAll(c, m.run(params, batch, { backward: true, overrides: ovr }), ref, null);
      // The ablated heads' values are exactly zero and their output projection columns get no gradient.
      const gProj = m.run(params, batch, { backward: true, overrides: ovr }).grads!['blocks.1.attn.proj.weight'];
      for (let o = 0; o < c.dModel; o++)
        for (const h of [1, 2]) for (let e = 0; e < 8; e++) assert.equal(gProj[o * c.dModel + h * 8 + e], 0);
    });

    test('forward only with last-block heads zero-ablated: only the other heads run, the reference numbers', () => {
      const c = DEFAULT_MODEL_CONFIG,
        B = 8,
        last = c.depth - 1;
      const params = initParams(c, 5),
        batch = makeBatch(c, B, 11);
      // Non-adjacent survivors (runs [0, 1), [3, 5), [6, 8)), one survivor (Fig 5b), none; the survivor's
      // query-row pattern clamped (perfect match, §4.4) and a first-layer pattern clamp (§4.3).
      const none = Array.from({ length: 8 }, (_, h) => `L2H${h}`);
      const configs: ClampSpec[][] = [
        ...[['L2H1', 'L2H2', 'L2H5'], REST_HEADS, none].map((heads): ClampSpec[] => [{ kind: 'ablate', heads }]),
        [
          { kind: 'ablate', heads: REST_HEADS },
          { kind: 'induction', heads: ['L2H3'], strength: 1 },
        ],
        [
          { kind: 'ablate', heads: REST_HEADS },
          { kind: 'prev-token', heads: ['L1H2'], strength: 1, labelRowsOnly: false },
        ],
      ];
      for (const clamps of configs) {
        const heads = clamps.map((k) => JSON.stringify(k)).join(' ');
        const ovr = hostOverrides(c, { labels: batch.labels, size: B }, clamps, 0);
        const ref = reference(c, params, batch, ovr, false); // loss and logits are all this test compares
        const m = new FastModel(c, { wasm: variant });
        const before = m.stats.headRuns;
        const r = m.run(params, batch, { backward: false, overrides: ovr });
        assert.ok(m.stats.headRuns > before, `the pooled last block ran by head runs (${heads})`);
        close('loss', [r.loss], [ref.loss]);
        close('logits', r.logits, ref.logits);
        // Recording the last block's query-row pattern needs every head: the full pooled path, same logits.
        const withRows = m.run(params, batch, {
          backward: false,
          overrides: ovr,
          recordQuery: new Set([site.pattern(last)]),
        });
        assert.equal(m.stats.headRuns, before + 1);
        close('logits (all heads)', withRows.logits, ref.logits);
      }
    });

    test('default config: fixed pattern override on blocks.0.attn.hook_pattern (some heads, some rows)', () => {
      const c = DEFAULT_MODEL_CONFIG,
        B = 6,
        T = seqLen(c),
        H = c.numHeads;
      const params = initParams(c, 6),
        batch = makeBatch(c, B, 10);
      const o = newHostOverride(site.pattern(0), [B, H, T, T]);
      // Heads 2 and 5: previous-token pattern on rows 1..T−1 (row 0 computed); head 7: row 3 uniform over all keys (even future ones).
      for (let b = 0; b < B; b++) {
        for (const h of [2, 5])
          for (let i = 1; i < T; i++)
            for (let j = 0; j < T; j++) {
              const at = ((b * H + h) * T + i) * T + j;
              o.mask[at] = 1;
              o.value[at] = j === i - 1 ? 1 : 0;
            }
        for (let j = 0; j < T; j++) {
          const at = ((b * H + 7) * T + 3) * T + j;
          o.mask[at] = 1;
          o.value[at] = 1 / T;
        }
      }
      const ovr = new Map([[o.site, o]]);
      const ref = reference(c, params, batch, ovr);
      const m = new FastModel(c, { wasm: variant });
      compareAll(
        c,
        m.run(params, batch, { backward: true, record: true, overrides: ovr }),
        ref,
        Object.keys(siteShapes(c, B)),
      );
      compareAll(c, m.run(params, batch, { backward: true, overrides: ovr }), ref, null);
    });

    test("default config: induction-style override of the last layer's query row (query-only path)", () => {
      const c = DEFAULT_MODEL_CONFIG,
        B = 6,
        T = seqLen(c),
        H = c.numHeads;
      const params = initParams(c, 7),
        batch = makeBatch(c, B, 11);
      const o = newHostOverride(site.pattern(1), [B, H, T, T]);
      for (let b = 0; b < B; b++) {
        const yq = batch.labels[b * 3 + 2];
        const a1 = batch.labels[b * 3] === yq ? 1 : 0;
        const row = [0, a1, 0, 1 - a1, 0];
        for (let j = 0; j < T; j++) {
          const at = ((b * H + 3) * T + 4) * T + j;
          o.mask[at] = 1;
          o.value[at] = row[j];
        }
      }
      const ovr = new Map([[o.site, o]]);
      const ref = reference(c, params, batch, ovr);
      compareAll(
        c,
        new FastModel(c, { wasm: variant }).run(params, batch, { backward: true, overrides: ovr }),
        ref,
        null,
      );
    });

    for (const [label, c] of [
      ['small', SMALL],
      ['odd sizes', ODD],
    ] as const) {
      test(`${label}: random elementwise overrides on every site at once`, () => {
        const B = 4,
          shapes = siteShapes(c, B);
        const params = initParams(c, 12),
          batch = makeBatch(c, B, 13);
        const rng = new Rng(99, 1);
        const ovr = new Map<string, HostOverride>();
        for (const [name, shape] of Object.entries(shapes)) {
          const o = newHostOverride(name, shape);
          const density = name.includes('resid') || name.includes('embed') ? 0.05 : 0.15;
          for (let i = 0; i < o.mask.length; i++)
            if (rng.uniform() < density) {
              o.mask[i] = 1;
              o.value[i] = name.endsWith('hook_pattern')
                ? rng.uniform()
                : name.endsWith('hook_attn_scores')
                  ? rng.normal() * 3
                  : rng.normal();
            }
          ovr.set(name, o);
        }
        const ref = reference(c, params, batch, ovr);
        const m = new FastModel(c, { wasm: variant });
        compareAll(c, m.run(params, batch, { backward: true, record: true, overrides: ovr }), ref, Object.keys(shapes));
        compareAll(c, m.run(params, batch, { backward: true, overrides: ovr }), ref, null);
        // One site at a time (each mode switch: token-by-token layer 0, no dedup, query-only last layer).
        for (const name of Object.keys(shapes)) {
          const one = new Map([[name, ovr.get(name)!]]);
          compareAll(
            c,
            m.run(params, batch, { backward: true, overrides: one }),
            reference(c, params, batch, one),
            null,
          );
        }
      });
    }

    test('batch sizes change freely (buffers per batch size, memory growth); paramViews() stays valid', () => {
      const c = SMALL,
        params = initParams(c, 2);
      const m = new FastModel(c, { wasm: variant });
      const pv = m.paramViews();
      for (const k of Object.keys(params)) pv[k].set(params[k]);
      for (const B of [3, 40, 1, 40, 3, 257, 600]) {
        const batch = makeBatch(c, B, B);
        const ref = reference(c, params, batch);
        compareAll(c, m.run(params, batch, { backward: true }), ref, null);
        compareAll(c, m.run(pv, batch, { backward: true }), ref, null); // the model's own buffers, across growth
        for (const k of Object.keys(params)) assert.deepEqual(pv[k], params[k]);
      }
    });

    test("fastBatch writes into the model's input buffers; a first override at that size (memory growth) keeps them valid", () => {
      const c = SMALL,
        B = 300,
        rng = new Rng(4, 4);
      const bank = {
        classes: 7,
        exemplars: 2,
        dim: c.inputDim,
        source: 'test',
        data: Float32Array.from({ length: 7 * 2 * c.inputDim }, () => Math.abs(rng.normal())),
      };
      const classes = Int32Array.from({ length: B * 3 }, () => rng.int(7)),
        exemplarIdx = Int32Array.from({ length: B * 3 }, () => rng.int(2));
      const labels = Int32Array.from({ length: B * 3 }, () => rng.int(c.numLabels));
      const hb = { size: B, classes, exemplarIdx, labels, correct: new Uint8Array(B) };
      const params = initParams(c, 9);
      const m = new FastModel(c, { wasm: variant });
      const fb = fastBatch(bank, hb, m);
      assert.equal(fb.exemplars, m.batchViews(B).exemplars);
      const copy = { size: B, exemplars: fb.exemplars.slice(), labels: fb.labels.slice() };
      const o = newHostOverride(site.pattern(0), [B, c.numHeads, 5, 5]);
      for (let i = 0; i < o.mask.length; i += 7) {
        o.mask[i] = 1;
        o.value[i] = 0.5;
      }
      const ovr = new Map([[o.site, o]]);
      compareAll(c, m.run(params, fb, { backward: true, overrides: ovr }), reference(c, params, copy, ovr), null);
    });

    test('exemplar ids (fastBatch) give the same results as hashing the vectors', () => {
      const c = DEFAULT_MODEL_CONFIG,
        B = 8;
      const params = initParams(c, 3),
        batch = makeBatch(c, B, 30);
      // Ids from the vectors' bits (equal vectors ⇔ equal ids).
      const seen = new Map<string, number>(),
        C1 = c.contextLen + 1;
      const exemplarIds = Int32Array.from({ length: B * C1 }, (_, r) => {
        const key = Buffer.from(batch.exemplars.buffer, r * c.inputDim * 4, c.inputDim * 4).toString('base64');
        if (!seen.has(key)) seen.set(key, seen.size);
        return seen.get(key)!;
      });
      assert.ok(seen.size < B * C1, 'the batch has repeated exemplars');
      const ref = reference(c, params, batch);
      const m = new FastModel(c, { wasm: variant });
      compareAll(
        c,
        m.run(params, { ...batch, exemplarIds }, { backward: true, record: true }),
        ref,
        Object.keys(siteShapes(c, B)),
      );
    });

    test('a HostBatch (distinct vectors in any order, plus an index) gives the same results as the full arrays', () => {
      const c = DEFAULT_MODEL_CONFIG,
        B = 8,
        I = c.inputDim,
        C1 = c.contextLen + 1;
      const params = initParams(c, 3),
        batch = makeBatch(c, B, 31);
      // Distinct rows, reversed, after one unused row; the index points each item at its row.
      const keys: string[] = [],
        rowOf = new Map<string, number>();
      for (let r = 0; r < B * C1; r++) {
        const key = Buffer.from(batch.exemplars.buffer, r * I * 4, I * 4).toString('base64');
        if (!rowOf.has(key)) {
          rowOf.set(key, -1);
          keys.push(key);
        }
      }
      const U = keys.length,
        vectors = new Float32Array((U + 1) * I).fill(7);
      keys.forEach((key, u) => {
        rowOf.set(key, U - u);
        vectors.set(new Float32Array(Uint8Array.from(Buffer.from(key, 'base64')).buffer), (U - u) * I);
      });
      const index = Int32Array.from({ length: B * C1 }, (_, r) =>
        rowOf.get(Buffer.from(batch.exemplars.buffer, r * I * 4, I * 4).toString('base64'))!,
      );
      const hb = { size: B, labels: batch.labels, vectors, index };
      const ref = reference(c, params, batch);
      for (const dedup of [true, false]) {
        const m = new FastModel(c, { wasm: variant, dedup });
        compareAll(c, m.run(params, hb, { backward: true, record: true }), ref, Object.keys(siteShapes(c, B)));
      }
      assert.throws(
        () =>
          new FastModel(c, { wasm: variant }).run(
            params,
            { ...hb, index: index.map(() => U + 1) },
            { backward: false },
          ),
        /not a row of batch\.vectors/,
      );
    });
  });
}

// The multi-pass clamps (spec §4.6, §4.7) folded into one fast pass, against clampedForward on TF.js.
/** clampedForward (the TF.js engine's clamps) on the same params and batch, recording `record`. */
function clampReference(
  c: ModelConfig,
  params: Params,
  batch: FastBatch,
  clamps: ClampSpec[],
  record: ReadonlySet<string>,
): Ref {
  const host = { labels: batch.labels, size: batch.size, exemplars: batch.exemplars };
  return tfReference(
    c,
    params,
    batch,
    (w, inputs, rec) => clampedForward(c, w, inputs, host, clamps, 0, { record: rec }),
    record,
    `clamps ${JSON.stringify(clamps)}`,
  );
}

/** Copy logits hold −1e9 sentinels: those must match exactly, the rest within the usual tolerance. */
function closeLogits(a: Float32Array, b: Float32Array): void {
  assert.equal(a.length, b.length);
  const fa: number[] = [],
    fb: number[] = [];
  for (let i = 0; i < b.length; i++) {
    if (Math.abs(b[i]) >= 1e8)
      assert.ok(Math.abs(a[i] - b[i]) <= 1e-7 * Math.abs(b[i]), `logit ${i}: fast ${a[i]} vs tfjs ${b[i]}`);
    else {
      fa.push(a[i]);
      fb.push(b[i]);
    }
  }
  close('finite logits', fa, fb);
}

const isZero = (a: Float32Array) => a.every((v) => v === 0);

for (const variant of variants) {
  describe(`fast path (${variant}): multi-pass clamps vs clampedForward on TensorFlow.js cpu`, () => {
    before(async () => {
      await initBackend('cpu');
    });
    const c = DEFAULT_MODEL_CONFIG,
      B = 12;
    const rest: ClampSpec = { kind: 'ablate', heads: REST_HEADS };
    const patterns = new Set([site.pattern(0), site.pattern(1)]);
    const cases: { name: string; clamps: ClampSpec[]; zero: string[] }[] = [
      {
        name: 'layer1 + REST_HEADS ablated',
        clamps: [rest, { kind: 'layer1' }],
        zero: ['blocks.0.attn.qkv.weight', 'blocks.0.attn.proj.weight', 'blocks.0.ln.weight', 'blocks.0.ln.bias'],
      },
      {
        name: 'perfect copy from L2H3',
        clamps: [{ kind: 'copy', head: 'L2H3' }],
        zero: ['unembed.weight', 'unembed.bias', 'ln_final.weight', 'ln_final.bias', 'blocks.1.attn.proj.weight'],
      },
      {
        name: 'layer1 + perfect copy from L2H3',
        clamps: [{ kind: 'layer1' }, { kind: 'copy', head: 'L2H3' }],
        zero: [
          'unembed.weight',
          'unembed.bias',
          'ln_final.weight',
          'blocks.1.attn.proj.weight',
          'blocks.0.attn.qkv.weight',
          'blocks.0.attn.proj.weight',
          'embed.label.weight',
        ],
      },
      {
        name: 'layer1 + induction clamp on L2H3 + REST_HEADS',
        clamps: [rest, { kind: 'layer1' }, { kind: 'induction', heads: ['L2H3'], strength: 0.9 }],
        zero: ['blocks.0.attn.qkv.weight'],
      },
    ];
    for (const cs of cases) {
      test(`${cs.name}: loss, logits, every gradient; recorded patterns as the engine's evaluation reads them`, () => {
        const params = initParams(c, 31),
          batch = makeBatch(c, B, 32);
        // Trained-looking weights: larger than init so every path carries gradient well above float32 noise.
        for (const k of Object.keys(params))
          if (k.endsWith('weight') && !k.includes('ln')) for (let i = 0; i < params[k].length; i++) params[k][i] *= 3;
        const ref = clampReference(c, params, batch, cs.clamps, patterns);
        const m = new FastModel(c, { wasm: variant });
        const layer1 = cs.clamps.some((k) => k.kind === 'layer1');
        const copy = cs.clamps.find((k) => k.kind === 'copy');
        const copyHead = copy ? 3 : undefined;
        const ovr = hostOverrides(c, { labels: batch.labels, size: B }, cs.clamps, 0);
        const r = m.run(params, batch, { backward: true, layer1, copyHead, overrides: copy ? undefined : ovr });
        close('loss', [r.loss], [ref.loss]);
        closeLogits(r.logits, ref.logits);
        // Forward only (evaluation): without layer 1 the copy pass computes the copied head alone.
        const fwd = m.run(params, batch, { backward: false, layer1, copyHead, overrides: copy ? undefined : ovr });
        close('loss (forward only)', [fwd.loss], [ref.loss]);
        closeLogits(fwd.logits, ref.logits);
        for (const s of paramSpecs(c)) close(`grad ${s.name}`, r.grads![s.name], ref.grads[s.name]);
        for (const z of cs.zero) assert.ok(isZero(r.grads![z]), `${z} gets no gradient under ${cs.name}`);
        assert.ok(!isZero(r.grads!['blocks.1.attn.qkv.weight']), 'the induction head still learns');
        // Evaluation: the patterns of the reference's final pass (the copy clamp's logits come from a clean pass).
        const ev = m.run(params, batch, { backward: false, layer1, record: patterns, overrides: ovr });
        // Probabilities in [0, 1] after two blocks of 3×-scaled weights: 1e-5 absolute (float32 rounding amplified by the softmax).
        for (const s of patterns) close(`site ${s}`, ev.acts.get(s)!, ref.acts.get(s)!, 1e-5, 1e-5);
        if (!copy) closeLogits(ev.logits, ref.logits);
        // The query-only forward and the recording forward agree on the loss.
        const rec = m.run(params, batch, {
          backward: true,
          layer1,
          copyHead,
          record: patterns,
          overrides: copy ? undefined : ovr,
        });
        close('loss (recording)', [rec.loss], [ref.loss]);
        for (const s of paramSpecs(c)) close(`grad ${s.name} (recording)`, rec.grads![s.name], ref.grads[s.name]);
      });
    }

    test('refuses what it cannot fold: copy with overrides, layer1 over the embedding, copy from a bad head', () => {
      const m = new FastModel(c, { wasm: variant }),
        params = initParams(c, 1),
        batch = makeBatch(c, 4, 2);
      const abl = hostOverrides(c, { labels: batch.labels, size: 4 }, [rest], 0);
      assert.throws(
        () => m.run(params, batch, { backward: true, copyHead: 3, overrides: abl }),
        /perfect-copy clamp reads a clean pass/,
      );
      const emb = hostOverrides(c, { labels: batch.labels, size: 4 }, [{ kind: 'ablate-embedding' }], 0);
      assert.throws(
        () => m.run(params, batch, { backward: true, layer1: true, overrides: emb }),
        /cannot override hook_embed/,
      );
      assert.throws(
        () => m.run(params, batch, { backward: true, copyHead: 8 }),
        /copyHead 8 is not a head of the last block/,
      );
      assert.throws(
        () =>
          new FastModel(ODD, { wasm: variant }).run(initParams(ODD, 1), makeBatch(ODD, 2, 1), {
            backward: true,
            layer1: true,
          }),
        /two-layer model/,
      );
    });
  });
}

describe('fast path: finite differences (float32 central differences)', () => {
  test('a few entries of every parameter, with a pattern override active', () => {
    const c = SMALL,
      B = 4,
      T = seqLen(c),
      H = c.numHeads;
    const params = initParams(c, 21),
      batch = makeBatch(c, B, 22);
    // Larger weights than init so that every path carries gradient well above float32 noise.
    for (const k of Object.keys(params))
      if (k.endsWith('weight') && !k.includes('ln')) for (let i = 0; i < params[k].length; i++) params[k][i] *= 2;
    const o = newHostOverride(site.pattern(0), [B, H, T, T]);
    for (let b = 0; b < B; b++)
      for (let i = 1; i < T; i++)
        for (let j = 0; j < T; j++) {
          const at = ((b * H + 1) * T + i) * T + j;
          o.mask[at] = 1;
          o.value[at] = j === i - 1 ? 1 : 0;
        }
    const opts = { backward: true, overrides: new Map([[o.site, o]]) };
    const m = new FastModel(c);
    const g = cloneParams(m.run(params, batch, opts).grads!);
    const rng = new Rng(5, 5);
    const eps = 2e-3;
    let significant = 0;
    for (const s of paramSpecs(c)) {
      const n = params[s.name].length;
      for (let t = 0; t < 4; t++) {
        const i = rng.int(n);
        const p2 = cloneParams(params);
        const x0 = p2[s.name][i];
        p2[s.name][i] = x0 + eps;
        const lp = m.run(p2, batch, { backward: false, overrides: opts.overrides }).loss;
        p2[s.name][i] = x0 - eps;
        const lm = m.run(p2, batch, { backward: false, overrides: opts.overrides }).loss;
        const fd = (lp - lm) / (2 * eps);
        const tol = 2e-2 * Math.abs(fd) + 3e-4;
        assert.ok(
          Math.abs(fd - g[s.name][i]) <= tol,
          `${s.name}[${i}]: analytic ${g[s.name][i]} vs central difference ${fd}`,
        );
        if (Math.abs(fd) > 10 * 3e-4) significant++;
      }
    }
    // The comparison is not vacuous: many checked entries carry a gradient well above the tolerance floor.
    assert.ok(significant >= paramSpecs(c).length, `${significant} checked entries have |gradient| > 3e-3`);
  });
});

describe('fast path: finite differences through the folded layer-1 / copy passes', () => {
  for (const [label, opts] of [
    ['layer1', { layer1: true }],
    ['copy', { copyHead: 1 }],
    ['layer1 + copy', { layer1: true, copyHead: 0 }],
  ] as const) {
    test(`${label}: a few entries of every parameter with a gradient`, () => {
      const c = { ...SMALL, contextLen: 2 },
        B = 4;
      const params = initParams(c, 23),
        batch = makeBatch(c, B, 24);
      for (const k of Object.keys(params))
        if (k.endsWith('weight') && !k.includes('ln')) for (let i = 0; i < params[k].length; i++) params[k][i] *= 2;
      const m = new FastModel(c);
      const g = cloneParams(m.run(params, batch, { backward: true, ...opts }).grads!);
      const rng = new Rng(6, 6),
        eps = 2e-3;
      let nonzero = 0;
      for (const s of paramSpecs(c))
        for (let t = 0; t < 3; t++) {
          const i = rng.int(params[s.name].length),
            p2 = cloneParams(params),
            x0 = p2[s.name][i];
          p2[s.name][i] = x0 + eps;
          const lp = m.run(p2, batch, { backward: false, ...opts }).loss;
          p2[s.name][i] = x0 - eps;
          const lm = m.run(p2, batch, { backward: false, ...opts }).loss;
          const fd = (lp - lm) / (2 * eps);
          assert.ok(
            Math.abs(fd - g[s.name][i]) <= 2e-2 * Math.abs(fd) + 3e-4,
            `${s.name}[${i}]: analytic ${g[s.name][i]} vs central difference ${fd}`,
          );
          if (Math.abs(g[s.name][i]) > 1e-3) nonzero++;
        }
      assert.ok(nonzero >= 5, `some checked gradients are well above noise (${nonzero})`);
    });
  }
});

describe('fast Adam', () => {
  test("bit-identical to train/adam.ts over several steps, on the model's own buffers", () => {
    const c = DEFAULT_MODEL_CONFIG;
    const m = new FastModel(c);
    const adam = new FastAdam(m, { exact: true });
    const p0 = initParams(c, 5);
    const ref = cloneParams(p0),
      refState = adamInit(ref);
    const views = m.paramViews();
    for (const k of Object.keys(p0)) views[k].set(p0[k]);
    for (let step = 0; step < 4; step++) {
      const batch = makeBatch(c, 8, 100 + step);
      const r = m.run(m.paramViews(), batch, { backward: true });
      const g = cloneParams(r.grads!);
      adamStep(DEFAULT_ADAM, refState, ref, g);
      adam.step(DEFAULT_ADAM);
      const cur = m.paramViews();
      for (const k of Object.keys(ref)) assert.deepEqual(cur[k], ref[k], `param ${k} after step ${step + 1}`);
      const st = adam.state();
      assert.equal(st.step, refState.step);
      for (const k of Object.keys(ref)) {
        assert.deepEqual(st.m[k], refState.m[k]);
        assert.deepEqual(st.v[k], refState.v[k]);
      }
    }
  });

  test('float32 arithmetic (the default) stays within float32 rounding of train/adam.ts', () => {
    const c = SMALL;
    const m = new FastModel(c);
    const adam = new FastAdam(m);
    const p0 = initParams(c, 8);
    const ref = cloneParams(p0),
      refState = adamInit(ref);
    for (const k of Object.keys(p0)) m.paramViews()[k].set(p0[k]);
    for (let step = 0; step < 20; step++) {
      const r = m.run(m.paramViews(), makeBatch(c, 4, 200 + step), { backward: true });
      adamStep(DEFAULT_ADAM, refState, ref, cloneParams(r.grads!));
      adam.step(DEFAULT_ADAM);
    }
    // After 20 steps of lr 1e-5 every parameter moved by up to 2e-4; the two agree to ~1e-7 of the value.
    for (const k of Object.keys(ref)) close(`param ${k}`, m.paramViews()[k], ref[k], 1e-6, 1e-7);
  });
});
