/**
 * The TensorFlow.js reference model: parameter count, gradients against finite differences, the causal
 * mask, RoPE's relative-position property, and the override mechanism's value and gradient semantics.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend, tidyToHost } from '../../src/engine/model/tf';
import { DEFAULT_MODEL_CONFIG, ModelConfig } from '../../src/engine/model/config';
import { initParams, countParams, Params } from '../../src/engine/model/params';
import { forward, crossEntropy, Overrides } from '../../src/engine/model/forward';
import { TfWeights } from '../../src/engine/model/tfModel';
import { site } from '../../src/engine/model/sites';
import { clampedForward } from '../../src/engine/clamps/apply';
import { TINY, randomInputs, toInputs, maxAbsDiff } from './helpers';

before(async () => {
  await initBackend('wasm');
});

test('tidyToHost returns what its function made on the host and disposes the tensors made inside it', () => {
  const before = tf.memory().numTensors;
  const out = tidyToHost(() => {
    const x = tf.tensor1d([1, 2, 3]);
    return { sum: tf.sum(x).dataSync()[0], doubled: tf.mul(x, 2).dataSync() as Float32Array };
  });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(out.sum, 6);
  assert.deepEqual([...out.doubled], [2, 4, 6]);
});

test('parameter count matches the paper (66,629 for L = 5; 67,274 for L = 10)', () => {
  assert.equal(countParams(DEFAULT_MODEL_CONFIG), 66_629);
  assert.equal(countParams({ ...DEFAULT_MODEL_CONFIG, numLabels: 10 }), 67_274);
  assert.equal(countParams({ ...DEFAULT_MODEL_CONFIG, numLabels: 15 }), 67_919);
});

test('initialisation: LeCun-normal truncated std sqrt(1/fan_in), label embedding std ≈ 0.0176, LN ones/zeros', () => {
  const p = initParams(DEFAULT_MODEL_CONFIG, 5);
  const std = (a: Float32Array) => {
    const m = a.reduce((s, x) => s + x, 0) / a.length;
    return Math.sqrt(a.reduce((s, x) => s + (x - m) ** 2, 0) / a.length);
  };
  assert.ok(Math.abs(std(p['embed.exemplar.weight']) - Math.sqrt(1 / 512)) < 0.002);
  assert.ok(Math.abs(std(p['blocks.0.attn.qkv.weight']) - Math.sqrt(1 / 64)) < 0.005);
  assert.ok(Math.abs(std(p['embed.label.weight']) - 0.0176) < 0.003);
  const sigma = Math.sqrt(1 / 512) / 0.87962566;
  assert.ok(
    p['embed.exemplar.weight'].every((v) => Math.abs(v) <= 2 * sigma + 1e-7),
    'truncated at 2σ',
  );
  assert.ok(p['blocks.1.ln.weight'].every((v) => v === 1) && p['blocks.1.ln.bias'].every((v) => v === 0));
  assert.ok(p['unembed.bias'].every((v) => v === 0) && p['embed.exemplar.bias'].every((v) => v === 0));
  assert.deepEqual(initParams(DEFAULT_MODEL_CONFIG, 5)['unembed.weight'], p['unembed.weight'], 'same seed, same init');
  assert.notDeepEqual(initParams(DEFAULT_MODEL_CONFIG, 6)['unembed.weight'], p['unembed.weight']);
});

function lossOf(c: ModelConfig, params: Params, d: ReturnType<typeof randomInputs>, B: number): number {
  const w = new TfWeights(c, params, false);
  const v = tf.tidy(
    () =>
      crossEntropy(
        forward(c, w.weights, toInputs(c, B, d)).logits,
        tf.tensor1d(
          d.y.filter((_, i) => i % 3 === 2),
          'int32',
        ),
      ).dataSync()[0],
  );
  w.dispose();
  return v;
}

test('gradients match central finite differences on a tiny model', () => {
  const c = TINY,
    B = 4;
  const params = initParams(c, 3);
  // Larger weights than init so every path carries signal.
  for (const k of Object.keys(params))
    if (!k.includes('ln')) params[k] = params[k].map((v, i) => v * 3 + 0.05 * Math.sin(i + k.length));
  const d = randomInputs(c, B, 11);
  const w = new TfWeights(c, params);
  const vars = Object.values(w.vars);
  const names = new Map(Object.entries(w.vars).map(([k, v]) => [v.name, k]));
  const grads = tf.tidy(() => {
    const { grads } = tf.variableGrads(
      () =>
        crossEntropy(
          forward(c, w.weights, toInputs(c, B, d)).logits,
          tf.tensor1d(
            d.y.filter((_, i) => i % 3 === 2),
            'int32',
          ),
        ),
      vars,
    );
    const out: Params = {};
    for (const [n, g] of Object.entries(grads)) out[names.get(n)!] = g.dataSync() as Float32Array;
    return out;
  });
  w.dispose();
  for (const name of Object.keys(params)) {
    const g = grads[name];
    assert.ok(g, `gradient for ${name}`);
    // The entries with the largest gradients, where float32 differences are meaningful — and large enough
    // that agreeing with the finite difference says something (a zero gradient would agree with a zero one).
    const idx = Array.from(g.keys())
      .sort((a, b) => Math.abs(g[b]) - Math.abs(g[a]))
      .slice(0, 3);
    assert.ok(
      Math.abs(g[idx[0]]) > 1e-2,
      `${name}: the largest gradient ${g[idx[0]]} is far above the tolerance floor`,
    );
    for (const i of idx) {
      const h = 1e-3;
      const plus = { ...params, [name]: params[name].slice() };
      plus[name][i] += h;
      const minus = { ...params, [name]: params[name].slice() };
      minus[name][i] -= h;
      const fd = (lossOf(c, plus, d, B) - lossOf(c, minus, d, B)) / (2 * h);
      const tol = 0.03 * Math.abs(fd) + 5e-3;
      assert.ok(Math.abs(fd - g[i]) < tol, `${name}[${i}]: autodiff ${g[i]} vs finite difference ${fd}`);
    }
  }
});

test('causal mask: changing a later token leaves every earlier position unchanged', () => {
  const c = TINY,
    B = 2;
  const params = initParams(c, 1);
  const w = new TfWeights(c, params, false);
  const d1 = randomInputs(c, B, 1);
  const d2 = { ...d1, x: d1.x.slice() };
  // Change the query exemplar (token 4) only.
  for (let b = 0; b < B; b++) for (let i = 0; i < c.inputDim; i++) d2.x[(b * 3 + 2) * c.inputDim + i] += 1 + i;
  const post = (d: typeof d1) =>
    tf.tidy(
      () =>
        forward(c, w.weights, toInputs(c, B, d), { record: true })
          .acts.get(site.residPost(1))!
          .arraySync() as number[][][],
    );
  const a = post(d1),
    b = post(d2);
  for (let s = 0; s < B; s++) {
    for (let t = 0; t < 4; t++) assert.ok(maxAbsDiff(a[s][t], b[s][t]) === 0, `position ${t} changed`);
    assert.ok(maxAbsDiff(a[s][4], b[s][4]) > 1e-3, 'the query position itself changes');
  }
  const pat = tf.tidy(
    () =>
      forward(c, w.weights, toInputs(c, B, d1), { record: true })
        .acts.get(site.pattern(0))!
        .arraySync() as number[][][][],
  );
  for (let i = 0; i < 5; i++)
    for (let j = i + 1; j < 5; j++) assert.equal(pat[0][1][i][j], 0, `attention to the future at (${i},${j})`);
  w.dispose();
});

test('RoPE: with the same query and key vector at every position, scores depend only on the offset', () => {
  const c = TINY,
    B = 1,
    H = c.numHeads,
    T = 5,
    D = c.dModel / c.numHeads;
  const w = new TfWeights(c, initParams(c, 2), false);
  const qv = Array.from({ length: D }, (_, i) => Math.cos(i + 1)),
    kv = Array.from({ length: D }, (_, i) => Math.sin(2 * i + 1));
  const full = (vec: number[]) =>
    tf.tensor4d(
      Array.from({ length: B * H * T * D }, (_, i) => vec[i % D]),
      [B, T, H, D],
    );
  const ones = tf.ones([B, T, H, D], 'bool');
  const overrides: Overrides = new Map([
    [site.q(0), { value: full(qv), mask: ones }],
    [site.k(0), { value: full(kv), mask: ones }],
  ]);
  const s = tf.tidy(
    () =>
      forward(c, w.weights, toInputs(c, B, randomInputs(c, B, 3)), { overrides, record: true })
        .acts.get(site.attnScores(0))!
        .arraySync() as number[][][][],
  );
  for (let off = 0; off < T; off++) {
    const vals = [] as number[];
    for (let i = off; i < T; i++) vals.push(s[0][0][i][i - off]);
    for (const v of vals) assert.ok(Math.abs(v - vals[0]) < 1e-5, `offset ${off}: ${vals.join(', ')}`);
  }
  assert.ok(Math.abs(s[0][0][1][0] - s[0][0][0][0]) > 1e-3, 'different offsets give different scores');
  w.dispose();
});

test("ablation removes exactly one head's contribution and gives its value weights zero gradient", () => {
  const c = { ...DEFAULT_MODEL_CONFIG },
    B = 3,
    L2 = 1,
    h = 3,
    D = 8;
  const params = initParams(c, 5);
  const w = new TfWeights(c, params);
  const d = randomInputs(c, B, 4);
  const host = { labels: d.y, size: B };
  const clean = tf.tidy(() => {
    const r = forward(c, w.weights, toInputs(c, B, d), { record: true });
    return {
      z: r.acts.get(site.z(L2))!.arraySync() as number[][][][],
      out: r.acts.get(site.attnOut(L2))!.arraySync() as number[][][],
    };
  });
  const abl = tf.tidy(
    () =>
      clampedForward(c, w.weights, toInputs(c, B, d), host, [{ kind: 'ablate', heads: ['L2H3'] }], 0, { record: true })
        .acts.get(site.attnOut(L2))!
        .arraySync() as number[][][],
  );
  // Expected: clean output minus z_h · W_proj[:, hD:(h+1)D]ᵀ.
  const Wp = params[`blocks.${L2}.attn.proj.weight`];
  for (let b = 0; b < B; b++)
    for (let t = 0; t < 5; t++)
      for (let o = 0; o < 64; o++) {
        let contrib = 0;
        for (let k = 0; k < D; k++) contrib += clean.z[b][t][h][k] * Wp[o * 64 + h * D + k]; // hook_z is [B, T, H, D]
        assert.ok(Math.abs(clean.out[b][t][o] - contrib - abl[b][t][o]) < 1e-5);
      }
  const grads = tf.tidy(() => {
    const { grads } = tf.variableGrads(
      () =>
        crossEntropy(
          clampedForward(c, w.weights, toInputs(c, B, d), host, [{ kind: 'ablate', heads: ['L2H3'] }], 0).logits,
          tf.tensor1d(
            d.y.filter((_, i) => i % 3 === 2),
            'int32',
          ),
        ),
      [w.vars[`blocks.${L2}.attn.qkv.weight`]],
    );
    return Object.values(grads)[0].arraySync() as number[][];
  });
  for (let r = 0; r < 192; r++) {
    const isV = r >= 128 + h * D && r < 128 + (h + 1) * D;
    const norm = Math.hypot(...grads[r]);
    if (isV) assert.equal(norm, 0, `row ${r} (the ablated head's value weights) gets no gradient`);
    else if (r >= 128) assert.ok(norm > 0, `row ${r} (another head's value weights) still learns`);
  }
  w.dispose();
});

test('override semantics: a fully overridden layer-1 pattern blocks gradient into layer-1 queries and keys', () => {
  const c = TINY,
    B = 2;
  const w = new TfWeights(c, initParams(c, 9));
  const d = randomInputs(c, B, 5);
  const grads = tf.tidy(() => {
    const pattern = tf.tidy(() =>
      forward(c, w.weights, toInputs(c, B, d), { record: true }).acts.get(site.pattern(0))!,
    );
    const overrides: Overrides = new Map([[site.pattern(0), { value: pattern, mask: tf.ones(pattern.shape, 'bool') }]]);
    const { grads } = tf.variableGrads(
      () =>
        crossEntropy(
          forward(c, w.weights, toInputs(c, B, d), { overrides }).logits,
          tf.tensor1d(
            d.y.filter((_, i) => i % 3 === 2),
            'int32',
          ),
        ),
      [w.vars['blocks.0.attn.qkv.weight']],
    );
    return Object.values(grads)[0].arraySync() as number[][];
  });
  const dq = c.dModel,
    nq = 2 * dq; // rows 0..2d-1 are q and k
  for (let r = 0; r < nq; r++) assert.equal(Math.hypot(...grads[r]), 0, `q/k row ${r}`);
  assert.ok(
    grads.slice(nq).some((row) => Math.hypot(...row) > 0),
    'value rows still get gradient',
  );
  w.dispose();
});
