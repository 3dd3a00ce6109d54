/**
 * Every clamp of spec §4 on hand-built inputs: the overridden activations hold exactly the values the
 * spec defines, the rest is computed normally, and gradients stop where the spec says they stop.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tf, initBackend } from '../../src/engine/model/tf';
import { DEFAULT_MODEL_CONFIG, ModelConfig } from '../../src/engine/model/config';
import { initParams, Params } from '../../src/engine/model/params';
import { crossEntropy, forward } from '../../src/engine/model/forward';
import { TfWeights } from '../../src/engine/model/tfModel';
import { site } from '../../src/engine/model/sites';
import { encodeCheckpoint } from '../../src/engine/model/checkpoint';
import { clampedForward } from '../../src/engine/clamps/apply';
import { ClampSpec, normalizeClamps, parseClampFlag } from '../../src/engine/clamps/spec';
import { randomInputs, toInputs, maxAbsDiff } from './helpers';

before(async () => {
  await initBackend('wasm');
});

const C = DEFAULT_MODEL_CONFIG,
  B = 4;
const norm = (raw: unknown[]) => normalizeClamps(raw, C);

function run(clamps: ClampSpec[], params: Params = initParams(C, 5), seed = 1) {
  const d = randomInputs(C, B, seed);
  const w = new TfWeights(C, params, false);
  const acts = new Map<string, number[]>();
  tf.tidy(() => {
    const r = clampedForward(C, w.weights, toInputs(C, B, d), { labels: d.y, size: B, exemplars: d.x }, clamps, 0, {
      record: true,
    });
    for (const [k, v] of r.acts) acts.set(k, Array.from(v.dataSync()));
    acts.set('logits', Array.from(r.logits.dataSync()));
  });
  w.dispose();
  return { acts, d };
}
const P = (a: number[], b: number, h: number, i: number, j: number) => a[((b * 8 + h) * 5 + i) * 5 + j];

test('previous-token pattern clamp writes the §4.3 matrix (all rows or label rows only)', () => {
  const { acts } = run(norm([{ kind: 'prev-token', heads: ['L1H2'], strength: 0.9 }]));
  const p = acts.get(site.pattern(0))!;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 5; j++) {
        const want = i === 0 ? (j === 0 ? 1 : 0) : j === i - 1 ? 0.9 : j === i ? 0.1 : 0;
        assert.ok(Math.abs(P(p, b, 2, i, j) - want) < 1e-7, `P[${i},${j}]`);
      }
  const clean = run([]).acts.get(site.pattern(0))!;
  const labelsOnly = run(norm([{ kind: 'prev-token', heads: ['0:2'], labelRowsOnly: true }])).acts.get(
    site.pattern(0),
  )!;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 5; j++) {
        const want = i === 1 || i === 3 ? (j === i - 1 ? 1 : 0) : P(clean, b, 2, i, j);
        assert.ok(Math.abs(P(labelsOnly, b, 2, i, j) - want) < 1e-7, `label rows only, P[${i},${j}]`);
        assert.equal(P(labelsOnly, b, 3, i, j), P(clean, b, 3, i, j), 'other heads untouched');
      }
});

test('induction pattern clamp writes the §4.4 query row and leaves rows 0–3 computed', () => {
  const { acts, d } = run(norm([{ kind: 'induction', heads: ['L2H3'], strength: 0.8 }]));
  const clean = run([]).acts.get(site.pattern(1))!;
  const p = acts.get(site.pattern(1))!;
  for (let b = 0; b < B; b++) {
    const y = d.y.subarray(b * 3, b * 3 + 3);
    const want = [0, y[0] === y[2] ? 0.8 : 0.2, 0, y[1] === y[2] ? 0.8 : 0.2, 0];
    for (let j = 0; j < 5; j++) assert.ok(Math.abs(P(p, b, 3, 4, j) - want[j]) < 1e-7);
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 5; j++) assert.ok(Math.abs(P(p, b, 3, i, j) - P(clean, b, 3, i, j)) < 1e-6);
  }
});

test("perfect copy: query logits are the head's pre-softmax scores at the two label keys, the rest −1e9", () => {
  const { acts, d } = run(norm([{ kind: 'copy', head: 'L2H3' }]));
  const S = run([]).acts.get(site.attnScores(1))!;
  const logits = acts.get('logits')!;
  for (let b = 0; b < B; b++) {
    const y = d.y.subarray(b * 3, b * 3 + 3);
    for (let l = 0; l < 5; l++) {
      const want = l === y[0] ? P(S, b, 3, 4, 1) : l === y[1] ? P(S, b, 3, 4, 3) : -1e9;
      assert.ok(
        Math.abs(logits[b * 5 + l] - want) < 1e-5 * Math.max(1, Math.abs(want)),
        `b ${b} logit ${l}: ${logits[b * 5 + l]} vs ${want}`,
      );
    }
  }
});

function gradNorms(clamps: ClampSpec[], params = initParams(C, 5)): Record<string, number> {
  const d = randomInputs(C, 8, 3);
  const w = new TfWeights(C, params);
  const names = new Map(Object.entries(w.vars).map(([k, v]) => [v.name, k]));
  const out: Record<string, number> = {};
  tf.tidy(() => {
    const inputs = toInputs(C, 8, d);
    const { grads } = tf.variableGrads(
      () =>
        crossEntropy(
          clampedForward(C, w.weights, inputs, { labels: d.y, size: 8, exemplars: d.x }, clamps, 0).logits,
          tf.tensor1d(
            d.y.filter((_, i) => i % 3 === 2),
            'int32',
          ),
        ),
      Object.values(w.vars),
    );
    for (const k of Object.keys(w.vars)) out[k] = 0;
    for (const [n, g] of Object.entries(grads)) out[names.get(n)!] = Math.hypot(...g.dataSync());
  });
  w.dispose();
  return out;
}

test('layer-1 clamp: Layer-1 parameters get zero gradient; Layer-2 QK, OV and the embeddings learn', () => {
  const g = gradNorms(norm([{ kind: 'layer1' }, { kind: 'ablate', heads: ['L2H0', 'L2H1'] }]));
  for (const k of ['blocks.0.ln.weight', 'blocks.0.ln.bias', 'blocks.0.attn.qkv.weight', 'blocks.0.attn.proj.weight'])
    assert.equal(g[k], 0, k);
  for (const k of [
    'blocks.1.attn.qkv.weight',
    'blocks.1.attn.proj.weight',
    'embed.exemplar.weight',
    'embed.label.weight',
    'unembed.weight',
  ])
    assert.ok(g[k] > 0, k);
});

test('layer-1 clamp: Layer-2 values read the unshifted embedding, patterns come from the shifted pass', () => {
  const params = initParams(C, 5);
  const { acts } = run(norm([{ kind: 'layer1' }]), params);
  const E = Float32Array.from(acts.get(site.embed)!);
  assert.deepEqual(acts.get(site.residPost(0)), Array.from(E), 'block-1 output = E in the final pass');
  // The pattern pass by the reference's index rule, opto.py's emb.at[1:-1].set(emb[:-2]): positions
  // 1 … T−2 take the embedding of the position before them, the first and last keep their own.
  const d = randomInputs(C, B, 1);
  const w = new TfWeights(C, params, false);
  const T = 5,
    dm = C.dModel;
  const shifted = new Float32Array(B * T * dm);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const from = t >= 1 && t <= T - 2 ? t - 1 : t;
      shifted.set(E.subarray((b * T + from) * dm, (b * T + from + 1) * dm), (b * T + t) * dm);
    }
  const want = tf.tidy(() => {
    const inputs = toInputs(C, B, d);
    const value = tf.tensor3d(shifted, [B, T, dm]),
      mask = tf.ones([B, T, dm], 'bool');
    return Array.from(
      forward(C, w.weights, inputs, { overrides: new Map([[site.residPost(0), { value, mask }]]), record: true })
        .acts.get(site.pattern(1))!
        .dataSync(),
    );
  });
  w.dispose();
  assert.ok(maxAbsDiff(acts.get(site.pattern(1))!, want) < 1e-6);
});

test("layer-1 + copy: only the IH's QK path, Layer-2 LN and the exemplar embedding learn (subcircuit B)", () => {
  const g = gradNorms(norm([{ kind: 'layer1' }, { kind: 'copy', head: 'L2H3' }]));
  for (const k of [
    'blocks.0.attn.qkv.weight',
    'blocks.0.attn.proj.weight',
    'blocks.1.attn.proj.weight',
    'unembed.weight',
    'unembed.bias',
    'ln_final.weight',
    'embed.label.weight',
  ])
    assert.equal(g[k], 0, k);
  for (const k of ['blocks.1.attn.qkv.weight', 'blocks.1.ln.weight', 'embed.exemplar.weight']) assert.ok(g[k] > 0, k);
});

test('preserve values: ablating a Layer-1 head leaves Layer-2 values equal to the clean pass; preserve patterns leaves patterns', () => {
  const clean = run([]).acts;
  const pv = run(
    norm([
      { kind: 'preserve', what: ['values'] },
      { kind: 'ablate', heads: ['L1H1'] },
    ]),
  ).acts;
  assert.deepEqual(pv.get(site.v(1)), clean.get(site.v(1)));
  assert.ok(
    maxAbsDiff(pv.get(site.pattern(1))!, clean.get(site.pattern(1))!) > 1e-4,
    'patterns still feel the ablation',
  );
  const pp = run(
    norm([
      { kind: 'preserve', what: ['patterns'] },
      { kind: 'ablate', heads: ['L1H1'] },
    ]),
  ).acts;
  assert.deepEqual(pp.get(site.pattern(1)), clean.get(site.pattern(1)));
  assert.ok(maxAbsDiff(pp.get(site.v(1))!, clean.get(site.v(1))!) > 1e-4, 'values still feel the ablation');
  // Ablation overrides preserved values (composition order): the ablated head's values are zero.
  const both = run(
    norm([
      { kind: 'ablate', heads: ['L1H1'] },
      { kind: 'preserve', what: ['values'] },
    ]),
  ).acts.get(site.v(0))!;
  // hook_v is position-major [B, T, H, D]: head 1 is entries (b·5 + t)·64 + 8 … + 15.
  for (let b = 0; b < B; b++)
    for (let t = 0; t < 5; t++) for (let e = 0; e < 8; e++) assert.equal(both[(b * 5 + t) * 64 + 8 + e], 0);
});

test('match, temperature, disallow-prev-token, silence-non-label and ablate-embedding do what §4.5–4.10 say', () => {
  const { acts, d } = run(norm([{ kind: 'match', heads: ['L2H5'] }]));
  const p = acts.get(site.pattern(1))!;
  for (let b = 0; b < B; b++) {
    // randomInputs makes the query equal to the matching context exemplar: cosine 1 picks it.
    const m = d.y[b * 3] === d.y[b * 3 + 2] ? 0 : 1;
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((j) => P(p, b, 5, 4, j)),
      m === 0 ? [0, 1, 0, 0, 0] : [0, 0, 0, 1, 0],
    );
  }
  const clean = run([]).acts;
  const t = run(norm([{ kind: 'temperature', heads: ['L1H4'], temperature: 2 }])).acts.get(site.pattern(0))!;
  const S = clean.get(site.attnScores(0))!;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < 5; i++) {
      const row = [0, 1, 2, 3, 4].map((j) => (j <= i ? Math.exp(P(S, b, 4, i, j) / 2) : 0));
      const z = row.reduce((a, x) => a + x, 0);
      for (let j = 0; j < 5; j++) assert.ok(Math.abs(P(t, b, 4, i, j) - row[j] / z) < 1e-5);
    }
  const dp = run(norm([{ kind: 'disallow-prev-token', heads: ['L1H0'] }])).acts.get(site.pattern(0))!;
  for (let b = 0; b < B; b++) for (let i = 1; i < 5; i++) assert.ok(P(dp, b, 0, i, i - 1) < 1e-12, `row ${i}`);
  const sl = run(norm([{ kind: 'silence-non-label', heads: ['L2H2'] }])).acts.get(site.pattern(1))!;
  for (let b = 0; b < B; b++) {
    for (const k of [0, 2, 4]) assert.ok(P(sl, b, 2, 4, k) < 1e-12);
    assert.ok(Math.abs(P(sl, b, 2, 4, 1) + P(sl, b, 2, 4, 3) - 1) < 1e-6);
  }
  const ae = run(norm([{ kind: 'ablate-embedding' }])).acts.get(site.embed)!;
  assert.ok(ae.every((v) => v === 0));
});

test("graft-in: block-1 output equals the donor's; Layer-1 of the current model gets no gradient; shape mismatches are refused", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'il-graft-'));
  const donorPath = path.join(dir, 'donor.safetensors');
  const donor = initParams(C, 9);
  fs.writeFileSync(donorPath, encodeCheckpoint({ config: C, sequences: 1000, params: donor }));
  const grafted = run(norm([{ kind: 'graft-in', checkpoint: donorPath, tillLayer: 0 }])).acts.get(site.residPost(0))!;
  const donorOut = run([], donor).acts.get(site.residPost(0))!;
  assert.ok(maxAbsDiff(grafted, donorOut) < 1e-6);
  const g = gradNorms(norm([{ kind: 'graft-in', checkpoint: donorPath, tillLayer: 0 }]));
  assert.equal(g['blocks.0.attn.qkv.weight'], 0);
  assert.equal(g['embed.exemplar.weight'], 0);
  assert.ok(g['blocks.1.attn.qkv.weight'] > 0);
  const other: ModelConfig = { ...C, numLabels: 10 };
  const badPath = path.join(dir, 'bad.safetensors');
  fs.writeFileSync(badPath, encodeCheckpoint({ config: other, sequences: 0, params: initParams(other, 1) }));
  assert.throws(
    () => run(norm([{ kind: 'graft-in', checkpoint: badPath, tillLayer: 0 }])),
    /graft checkpoint .*bad\.safetensors has model\.numLabels = 10, this model has 5/,
  );
});

test('a clamp window switches the clamp on and off by sequences seen', () => {
  const d = randomInputs(C, B, 2);
  const w = new TfWeights(C, initParams(C, 5), false);
  const clamps = norm([{ kind: 'ablate', heads: ['L2H3'], from: 100, until: 200 }]);
  const v = (seq: number) =>
    tf.tidy(() =>
      Array.from(
        clampedForward(C, w.weights, toInputs(C, B, d), { labels: d.y, size: B }, clamps, seq, { record: true })
          .acts.get(site.v(1))!
          .dataSync(),
      ),
    );
  // Head 3 of sequence 0 in position-major [B, T, H, D]: entries t·64 + 24 … t·64 + 31.
  const head3Zero = (a: number[]) =>
    Array.from({ length: 5 }, (_, t) => a.slice(t * 64 + 24, t * 64 + 32))
      .flat()
      .every((x) => x === 0);
  assert.equal(head3Zero(v(99)), false);
  assert.equal(head3Zero(v(100)), true);
  assert.equal(head3Zero(v(199)), true);
  assert.equal(head3Zero(v(200)), false);
  w.dispose();
});

test('clamp specs: short forms, canonical heads and up-front consistency errors', () => {
  const m = C;
  assert.deepEqual(parseClampFlag('ablate:L2H1,1:2', m), { kind: 'ablate', heads: ['L2H1', 'L2H2'] });
  assert.deepEqual(parseClampFlag('prev-token:L1H2@0.9', m), {
    kind: 'prev-token',
    heads: ['L1H2'],
    strength: 0.9,
    labelRowsOnly: false,
  });
  assert.deepEqual(parseClampFlag('prev-token:L1H2,rows=labels', m), {
    kind: 'prev-token',
    heads: ['L1H2'],
    strength: 1,
    labelRowsOnly: true,
  });
  assert.deepEqual(parseClampFlag('induction:L2H3,from=1000,until=5000', m), {
    kind: 'induction',
    heads: ['L2H3'],
    strength: 1,
    from: 1000,
    until: 5000,
  });
  assert.deepEqual(parseClampFlag('layer1', m), { kind: 'layer1' });
  assert.deepEqual(parseClampFlag('copy:L2H3', m), { kind: 'copy', head: 'L2H3' });
  assert.deepEqual(parseClampFlag('match:L2H3@0.5', m), { kind: 'match', heads: ['L2H3'], temperature: 0.5 });
  assert.deepEqual(parseClampFlag('preserve:values,patterns', m), { kind: 'preserve', what: ['patterns', 'values'] });
  assert.deepEqual(parseClampFlag('graft-in:/x/seq-1.safetensors,till=0', m), {
    kind: 'graft-in',
    checkpoint: '/x/seq-1.safetensors',
    tillLayer: 0,
  });
  assert.throws(() => parseClampFlag('ablate:2:9', m), /unknown head "2:9"/);
  assert.throws(() => parseClampFlag('prev-token:L1H2@1.5', m), /strength must be a number in \[0, 1\]/);
  assert.throws(
    () =>
      norm([
        { kind: 'prev-token', heads: ['L2H3'] },
        { kind: 'induction', heads: ['1:3'] },
      ]),
    /L2H3 cannot be both a previous-token and an induction head/,
  );
  assert.throws(
    () => normalizeClamps([{ kind: 'induction', heads: ['L2H3'] }], { ...m, contextLen: 3 }),
    /defined for 2 context pairs .* contextLen 3/,
  );
  assert.throws(
    () => norm([{ kind: 'layer1' }, { kind: 'ablate', heads: ['L1H2'] }]),
    /only Layer 2 heads can be ablated/,
  );
  assert.throws(
    () => norm([{ kind: 'ablate', heads: ['L2H3'], strength: 1 }]),
    /unknown field "strength" for a ablate clamp/,
  );
  assert.throws(() => norm([{ kind: 'silence-non-label', heads: ['L1H3'] }]), /apply to Layer 2 heads/);
});
