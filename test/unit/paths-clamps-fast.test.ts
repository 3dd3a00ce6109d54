/**
 * The path clamps on the fast engine (fast/pathFold.ts) against the TensorFlow.js reference (clamps/pathApply.ts)
 * and finite differences: for path-patch with zero and mean and for stop-gradient, into each receiver input
 * (Q, K, V), the loss, the query logits and every gradient match the reference within float32 rounding (query-only
 * and recording forwards), two edges into one input compose, the run's ablations and windows apply as on TF.js;
 * every gradient also equals central differences of a plain double-precision forward (./pathsOracle.ts) with the
 * receiver's input edited literally (stop-gradient: the sender's output along the edge frozen at θ0).
 * Run: node --import tsx --test test/unit/paths-clamps-fast.test.ts
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/model/tf';
import { ModelConfig, DEFAULT_MODEL_CONFIG } from '../../src/engine/model/config';
import { initParams, Params, cloneParams, paramSpecs } from '../../src/engine/model/params';
import { TfWeights } from '../../src/engine/model/tfModel';
import { crossEntropy } from '../../src/engine/model/forward';
import { site } from '../../src/engine/model/sites';
import { clampedForward, hostOverrides } from '../../src/engine/clamps/apply';
import { ClampSpec, parseClampFlag } from '../../src/engine/clamps/spec';
import { REST_HEADS } from '../../src/engine/science/conditions';
import { FastModel } from '../../src/engine/fast/model';
import { foldedClampOptions } from '../../src/engine/fast/foldedClamps';
import { Corruption, corruptionMap } from '../../src/engine/clamps/corruptions';
import { TINY, randomInputs, toInputs } from './helpers';
import { Edit, Vec, block, checkFd, embed, plainForward } from './pathsOracle';

type Data = ReturnType<typeof randomInputs> & { ids: Int32Array };

/** Inputs with item ids for the class corruption: the query shares its matching context item's id. */
function inputs(c: ModelConfig, B: number, seed: number): Data {
  const d = randomInputs(c, B, seed);
  const ids = Int32Array.from({ length: 3 * B }, (_, i) => (i % 3 === 2 ? i - 2 + d.correct[Math.floor(i / 3)] : i));
  return { ...d, ids };
}
interface Out {
  loss: number;
  logits: Float32Array;
  grads: Params;
  acts: Map<string, Float32Array>;
}

before(async () => {
  await initBackend('wasm');
});

/** Trained-looking weights (larger than init, so every path carries gradient well above float32 noise). */
function trainedParams(c: ModelConfig, seed: number): Params {
  const p = initParams(c, seed);
  for (const k of Object.keys(p))
    if (!k.includes('ln')) p[k] = p[k].map((v, i) => v * 3 + 0.05 * Math.sin(i + k.length));
  return p;
}

/** The clamped TF.js forward: loss, logits, every gradient, the recorded sites. */
function reference(c: ModelConfig, p: Params, d: Data, B: number, clamps: ClampSpec[], rec: string[]): Out {
  const w = new TfWeights(c, p);
  const names = new Map(Object.entries(w.vars).map(([k, v]) => [v.name, k]));
  const host = { labels: d.y, size: B, exemplars: d.x, itemIds: d.ids };
  let out: Out | null = null;
  tf.tidy(() => {
    const inputs = toInputs(c, B, d),
      targets = tf.tensor1d(
        d.y.filter((_, i) => i % 3 === 2),
        'int32',
      );
    // One pass: the recorded sites and logits are read inside the pass the gradients are taken of.
    const acts = new Map<string, Float32Array>();
    let logits = new Float32Array(0); // [B, L] query logits
    const { value, grads } = tf.variableGrads(() => {
      const fr = clampedForward(c, w.weights, inputs, host, clamps, 0, { record: new Set(rec) });
      for (const s of rec) acts.set(s, Float32Array.from(fr.acts.get(s)!.dataSync()));
      logits = Float32Array.from(fr.logits.dataSync());
      return crossEntropy(fr.logits, targets);
    }, Object.values(w.vars));
    const g: Params = {};
    for (const [n, t] of Object.entries(grads)) g[names.get(n)!] = Float32Array.from(t.dataSync());
    out = { loss: value.dataSync()[0], logits, grads: g, acts };
  });
  w.dispose();
  return out!;
}

/** The fast engine with the same clamps: overrides for the constant ones, the path clamps folded. */
function fast(m: FastModel, p: Params, d: Data, B: number, clamps: ClampSpec[], rec: string[] = []): Out {
  const ovr = hostOverrides(m.config, { labels: d.y, size: B, exemplars: d.x }, clamps, 0);
  const r = m.run(
    p,
    { size: B, exemplars: d.x, labels: d.y },
    {
      backward: true,
      overrides: ovr.size ? ovr : undefined,
      record: rec.length ? new Set(rec) : false,
      ...foldedClampOptions(m.config, clamps, 0),
      itemIds: d.ids,
    },
  );
  return { loss: r.loss, logits: r.logits.slice(), grads: cloneParams(r.grads!), acts: r.acts };
}

/**
 * Within float32 rounding of the reference: |a − b| ≤ rtol·|b| + atol·max|b|. The ×3 weights put softmaxes near
 * saturation, which amplifies float32 rounding to ≈ 1e-5 of a tensor's largest entry (a wrong term is ≥ 1e-3).
 */
function close(name: string, a: ArrayLike<number>, b: ArrayLike<number>, rtol = 1e-5, atol = 1e-5): void {
  assert.equal(a.length, b.length, name);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) {
    const err = Math.abs(a[i] - b[i]);
    if (!(err <= rtol * Math.abs(b[i]) + atol * scale))
      assert.fail(`${name}[${i}]: fast ${a[i]} vs tfjs ${b[i]} (tensor max ${scale.toExponential(2)})`);
  }
}

function compare(what: string, got: Out, ref: Out, c: ModelConfig): void {
  close(`${what}: loss`, [got.loss], [ref.loss]);
  close(`${what}: logits`, got.logits, ref.logits);
  for (const s of paramSpecs(c)) close(`${what}: grad ${s.name}`, got.grads[s.name], ref.grads[s.name]);
}

const KINDS = [
  'with=zero',
  'with=mean',
  'stop',
  'with=corrupt,corruption=prev-token',
  'with=corrupt,corruption=labels',
  'with=corrupt,corruption=class',
] as const;
const INPUTS = ['q', 'k', 'v'] as const;
const clampText = (edge: string, input: string, kind: string) =>
  kind === 'stop' ? `stop-gradient:${edge},input=${input}` : `path-patch:${edge},input=${input},${kind}`;

test('fast vs TF.js (tiny model): each kind into Q, K and V; loss, logits, every gradient; recorded inputs', () => {
  const c = TINY,
    B = 5,
    p = trainedParams(c, 3),
    d = inputs(c, B, 11),
    m = new FastModel(c);
  const plain = fast(m, p, d, B, []);
  for (const kind of KINDS)
    for (const input of INPUTS) {
      const spec = parseClampFlag(clampText('L1H1>L2H0', input, kind), c);
      const name = { q: site.q(1), k: site.k(1), v: site.v(1) }[input];
      const ref = reference(c, p, d, B, [spec], [name]);
      compare(`${kind} ${input}`, fast(m, p, d, B, [spec]), ref, c);
      // The recording forward (every position of the last block) gives the same loss, gradients and input.
      const rec = fast(m, p, d, B, [spec], [name]);
      compare(`${kind} ${input} (recording)`, rec, ref, c);
      close(`${kind} ${input}: ${name}`, rec.acts.get(name)!, ref.acts.get(name)!);
      // Not vacuous: the clamp moves the gradient of the sender's weights.
      const g = rec.grads['blocks.0.attn.qkv.weight'],
        g0 = plain.grads['blocks.0.attn.qkv.weight'];
      assert.ok(Math.max(...g.map((v, i) => Math.abs(v - g0[i]))) > 1e-3, `${kind} ${input} changes the gradient`);
    }
});

test('fast vs TF.js (default model, the single-IH run): edges into L2H3 with the other heads ablated; compositions', () => {
  const c = DEFAULT_MODEL_CONFIG,
    B = 12,
    p = trainedParams(c, 31),
    d = inputs(c, B, 32),
    m = new FastModel(c);
  const rest: ClampSpec = { kind: 'ablate', heads: REST_HEADS };
  const cases: string[][] = [
    ['path-patch:L1H1>L2H3,input=k,with=zero'],
    ['stop-gradient:L1H1>L2H3,input=k'],
    ['path-patch:L1H4>L2H3,input=v,with=mean'],
    ['path-patch:L1H2>L2H3,input=q,with=zero'],
    ['path-patch:L1H1>L2H3,input=k,with=corrupt,corruption=prev-token'],
    // Two edges into one input (one cut, one stopped), an edge into another input, a shared sender.
    ['path-patch:L1H1>L2H3,input=k,with=zero', 'stop-gradient:L1H4>L2H3,input=k', 'path-patch:L1H1>L2H3,input=q'],
    // Two corruptions (two corrupted passes), one sender on both, plus a cut.
    [
      'path-patch:L1H1>L2H3,input=k,with=corrupt,corruption=prev-token',
      'path-patch:L1H1>L2H3,input=v,with=corrupt,corruption=labels',
      'path-patch:L1H6>L2H3,input=v,with=corrupt,corruption=labels',
      'path-patch:L1H4>L2H3,input=k,with=zero',
    ],
  ];
  const noDedup = new FastModel(c, { dedup: false }); // the corrupted pass then embeds its own rows
  const other = inputs(c, B, 33);
  for (const texts of cases) {
    const clamps = [rest, ...texts.map((t) => parseClampFlag(t, c))],
      ref = reference(c, p, d, B, clamps, []);
    // A step on another batch first: nothing of it may reach this one (the corrupted passes share the clean rows).
    fast(m, p, other, B, clamps);
    compare(texts.join(' + '), fast(m, p, d, B, clamps), ref, c);
    if (texts.some((t) => t.includes('corrupt')))
      compare(`${texts.join(' + ')} (no dedup)`, fast(noDedup, p, d, B, clamps), ref, c);
  }
  // Windows: outside its window the clamp is not folded (the step is the plain one).
  const windowed = { ...parseClampFlag('path-patch:L1H1>L2H3,input=k,with=zero', c), from: 100 };
  assert.equal(foldedClampOptions(c, [windowed], 50).paths, undefined);
  assert.equal(foldedClampOptions(c, [windowed], 100).paths?.length, 1);
});

// ---- finite differences against the plain double-precision forward ----

test('fast gradients equal central differences of the edited plain forward, each kind into Q, K and V', () => {
  const c = TINY,
    B = 4,
    p = trainedParams(c, 5),
    d = inputs(c, B, 13),
    m = new FastModel(c),
    I = c.inputDim,
    none = [[], []];
  // Sequence s, optionally corrupted (the corruption's item map applied literally).
  const seq = (pp: Params, s: number, kind?: Corruption): Vec[] => {
    const cm = kind ? corruptionMap(kind, B, d.y, d.ids) : null;
    const ex = (i: number) => (cm ? cm.exemplarFrom[3 * s + i] : 3 * s + i),
      lab = (i: number) => d.y[cm ? cm.labelFrom[3 * s + i] : 3 * s + i];
    const xs = [0, 1, 2].map((i) => Array.from(d.x.subarray(ex(i) * I, (ex(i) + 1) * I)));
    return embed(c, pp, xs, [lab(0), lab(1)]);
  };
  const senderOut = (pp: Params, s: number, kind?: Corruption) =>
    block(c, pp, 0, seq(pp, s, kind), none, null).heads[1] as Vec[];
  const at0 = Array.from({ length: B }, (_, s) => senderOut(p, s));
  const mean0 = at0[0].map((r, t) => r.map((_, k) => at0.reduce((a, o) => a + o[t][k], 0) / B));
  for (const kind of KINDS)
    for (const input of INPUTS) {
      const spec = parseClampFlag(clampText('L1H1>L2H0', input, kind), c);
      const g = fast(m, p, d, B, [spec]).grads;
      // zero: r = 0; mean: the batch mean at θ0, a constant; stop: the sender's own output at θ0, a constant;
      // corrupt: the sender's output on the corrupted sequence, recomputed at θ (its pass is differentiated).
      const corruption = kind.startsWith('with=corrupt') ? (kind.split('=').at(-1) as Corruption) : undefined;
      const rep = (pp: Params, s: number): Vec[] => {
        if (corruption) return senderOut(pp, s, corruption);
        return kind === 'with=zero' ? at0[s].map((r) => r.map(() => 0)) : kind === 'stop' ? at0[s] : mean0;
      };
      const edit = (pp: Params, s: number): Edit => ({
        sender: 1,
        receiver: 0,
        input: { q: 0, k: 1, v: 2 }[input] as 0 | 1 | 2,
        replacement: rep(pp, s),
      });
      const loss = (pp: Params) => {
        let sum = 0;
        for (let s = 0; s < B; s++) {
          const z = plainForward(c, pp, seq(pp, s), none, edit(pp, s)).logits,
            mx = Math.max(...z);
          sum += mx + Math.log(z.reduce((a, v) => a + Math.exp(v - mx), 0)) - z[d.y[3 * s + 2]];
        }
        return sum / B;
      };
      checkFd(
        p,
        g,
        loss,
        [
          'embed.exemplar.weight',
          'embed.label.weight',
          'blocks.0.attn.qkv.weight',
          'blocks.0.attn.proj.weight',
          'blocks.1.ln.weight',
          'blocks.1.attn.qkv.weight',
          'unembed.weight',
        ],
        `${kind} ${input}`,
        'fast',
      );
    }
});

test('the fast model refuses what it cannot fold: bad edges, path clamps with layer1 or copy', () => {
  const c = DEFAULT_MODEL_CONFIG,
    m = new FastModel(c),
    p = initParams(c, 1),
    d = inputs(c, 2, 1),
    batch = { size: 2, exemplars: d.x, labels: d.y };
  const edge = { senderLayer: 0, sender: 1, receiverLayer: 1, receiver: 3, input: 'k', with: 'zero' } as const;
  assert.throws(() => m.run(p, batch, { backward: true, paths: [{ ...edge, receiverLayer: 0 }] }), /later block/);
  assert.throws(() => m.run(p, batch, { backward: true, paths: [{ ...edge, receiver: 8 }] }), /does not have/);
  assert.throws(() => m.run(p, batch, { backward: true, layer1: true, paths: [edge] }), /layer1 or perfect-copy/);
  assert.throws(() => m.run(p, batch, { backward: true, copyHead: 3, paths: [edge] }), /layer1 or perfect-copy/);
});
