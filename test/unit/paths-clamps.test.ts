/**
 * Path clamps during training (issue 18) on the TensorFlow.js reference: path-patch changes exactly the one
 * receiver input it names, to exactly LN(resid − out_sender + r) (checked against the plain double-precision
 * forward of ./pathsOracle.ts for zero, mean and corrupted r), several edges into one input compose, an
 * ablated receiver stays ablated; stop-gradient leaves the forward bit-identical and its gradient equals the
 * finite differences of the forward with the sender's output along the edge frozen; path-patch's gradient
 * equals the finite differences of its own forward; bad edges are one line before any run folder exists.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tf, initBackend } from '../../src/engine/model/tf';
import { ModelConfig, headDim } from '../../src/engine/model/config';
import { initParams, Params } from '../../src/engine/model/params';
import { TfWeights } from '../../src/engine/model/tfModel';
import { crossEntropy } from '../../src/engine/model/forward';
import { site } from '../../src/engine/model/sites';
import { clampedForward } from '../../src/engine/clamps/apply';
import { ClampSpec, normalizeClamps, parseClampFlag } from '../../src/engine/clamps/spec';
import { corruptionMap, Corruption } from '../../src/engine/clamps/corruptions';
import { fastTrainingUnsupported } from '../../src/engine/clamps/support';
import { TINY, randomInputs, toInputs } from './helpers';
import { Edit, Vec, block, checkFd, embed, plainForward } from './pathsOracle';

const C: ModelConfig = TINY,
  B = 5,
  ROOT = path.join(__dirname, '..', '..');
let params: Params, data: ReturnType<typeof randomInputs>;
/** Item ids for the class corruption: the query shares its matching context item's id. */
let ids: Int32Array;

before(async () => {
  await initBackend('wasm');
  params = initParams(C, 3);
  for (const k of Object.keys(params))
    if (!k.includes('ln')) params[k] = params[k].map((v, i) => v * 3 + 0.05 * Math.sin(i + k.length));
  data = randomInputs(C, B, 11);
  ids = Int32Array.from({ length: 3 * B }, (_, i) => (i % 3 === 2 ? i - 2 + data.correct[Math.floor(i / 3)] : i));
});

const host = () => ({ labels: data.y, size: B, exemplars: data.x, itemIds: ids });

/** The clamped TF.js forward: every site, and the query logits. */
function run(clamps: ClampSpec[], p = params) {
  const w = new TfWeights(C, p, false);
  const acts = new Map<string, Float32Array>();
  tf.tidy(() => {
    const r = clampedForward(C, w.weights, toInputs(C, B, data), host(), clamps, 0, { record: true });
    for (const [k, v] of r.acts) acts.set(k, Float32Array.from(v.dataSync()));
    acts.set('logits', Float32Array.from(r.logits.dataSync()));
  });
  w.dispose();
  return acts;
}

/** Sequence s as the oracle reads it, optionally corrupted (the corruption's item map applied literally). */
function sequence(s: number, kind?: Corruption, p: Params = params): { h0: Vec[] } {
  const I = C.inputDim,
    m = kind ? corruptionMap(kind, B, data.y, ids) : null;
  const item = (i: number) => (m ? m.exemplarFrom[3 * s + i] : 3 * s + i),
    lab = (i: number) => (m ? m.labelFrom[3 * s + i] : 3 * s + i);
  const ex = [0, 1, 2].map((i) => Array.from(data.x.subarray(item(i) * I, (item(i) + 1) * I)));
  return { h0: embed(C, p, ex, [data.y[lab(0)], data.y[lab(1)]]) };
}

/** The replacement r of a path-patch for every sequence ([B][T][d]), from the oracle's first block. */
function replacement(spec: ClampSpec & { kind: 'path-patch' }, p: Params = params): Vec[][] {
  const j = Number(spec.sender.slice(3)),
    none = [[], []];
  const senderOuts = (kind?: Corruption) =>
    Array.from({ length: B }, (_, s) => block(C, p, 0, sequence(s, kind, p).h0, none, null).heads[j]);
  if (spec.with === 'corrupt') return senderOuts(spec.corruption);
  const outs = senderOuts();
  if (spec.with === 'zero') return outs.map((o) => o.map((r) => r.map(() => 0)));
  return outs.map(() => outs[0].map((r, t) => r.map((_, k) => outs.reduce((a, o) => a + o[t][k], 0) / B)));
}

const edit = (spec: ClampSpec & { sender: string; receiver: string; input: 'q' | 'k' | 'v' }, rep: Vec[]): Edit => ({
  sender: Number(spec.sender.slice(3)),
  receiver: Number(spec.receiver.slice(3)),
  input: ({ q: 0, k: 1, v: 2 } as const)[spec.input],
  replacement: rep,
});

test('path-patch changes exactly the receiver input it names, to LN(resid − out_sender + r)', () => {
  const clean = run([]),
    H = C.numHeads,
    D = headDim(C);
  const specs = [
    'path-patch:L1H1>L2H0,input=k,with=zero',
    'path-patch:L1H0>L2H1,input=q,with=mean',
    'path-patch:L1H1>L2H1,input=v,with=corrupt,corruption=prev-token',
    'path-patch:L1H0>L2H0,input=k,with=corrupt,corruption=labels',
    'path-patch:L1H1>L2H0,input=q,with=corrupt,corruption=class',
  ].map((s) => parseClampFlag(s, C) as ClampSpec & { kind: 'path-patch' });
  for (const spec of specs) {
    const got = run([spec]),
      rep = replacement(spec);
    const name = { q: site.q(1), k: site.k(1), v: site.v(1) }[spec.input],
      r = Number(spec.receiver.slice(3));
    // Upstream of the receiver and every other input: bit-identical to the clean forward.
    for (const s of [
      site.embed,
      site.residPost(0),
      site.pattern(0),
      site.z(0),
      site.residPre(1),
      site.lnNormalized(1),
    ]) {
      assert.deepEqual(got.get(s), clean.get(s), `${spec.input}: ${s} unchanged`);
    }
    for (const s of [site.q(1), site.k(1), site.v(1)]) {
      const a = got.get(s)!,
        b = clean.get(s)!;
      let moved = 0;
      for (let i = 0; i < a.length; i++) {
        const head = Math.floor(i / D) % H;
        if (s === name && head === r) moved = Math.max(moved, Math.abs(a[i] - b[i]));
        else assert.equal(a[i], b[i], `${s}[${i}] (head ${head}) unchanged by ${JSON.stringify(spec)}`);
      }
      if (s === name) assert.ok(moved > 1e-4, `${s} of the receiver moves`);
    }
    // The logits equal the plain forward with the receiver's input edited literally.
    for (let s = 0; s < B; s++) {
      const want = plainForward(C, params, sequence(s).h0, [[], []], edit(spec, rep[s])).logits;
      for (let l = 0; l < C.numLabels; l++) {
        assert.ok(
          Math.abs(got.get('logits')![s * C.numLabels + l] - want[l]) < 1e-4,
          `${spec.with} ${spec.corruption ?? ''} logit`,
        );
      }
    }
  }
});

test('several edges into one input compose; an ablated receiver stays ablated', () => {
  const a = parseClampFlag('path-patch:L1H0>L2H0,input=k,with=zero', C),
    b = parseClampFlag('path-patch:L1H1>L2H0,input=k,with=zero', C);
  const got = run([a, b]);
  for (let s = 0; s < B; s++) {
    // resid − out_0 − out_1 = resid − out_0 + r with r = −out_1.
    const out1 = block(C, params, 0, sequence(s).h0, [[], []], null).heads[1].map((r) => r.map((v) => -v));
    const want = plainForward(C, params, sequence(s).h0, [[], []], edit(a as never, out1)).logits;
    for (let l = 0; l < C.numLabels; l++) assert.ok(Math.abs(got.get('logits')![s * C.numLabels + l] - want[l]) < 1e-4);
  }
  // normalizeClamps refuses this combination (it would change nothing); applied anyway, the zeros win.
  const abl: ClampSpec = { kind: 'ablate', heads: ['L2H1'] },
    pv = parseClampFlag('path-patch:L1H0>L2H1,input=v,with=zero', C);
  assert.throws(() => normalizeClamps([abl, pv], C), /zero-ablated by "ablate L2H1".*change nothing/);
  const both = run([abl, pv]),
    only = run([abl]);
  assert.deepEqual(both.get(site.v(1)), only.get(site.v(1)));
  assert.deepEqual(both.get('logits'), only.get('logits'));
});

/** Loss and gradients of the clamped TF.js forward. */
function gradients(clamps: ClampSpec[]): { loss: number; grads: Params } {
  const w = new TfWeights(C, params);
  const names = new Map(Object.entries(w.vars).map(([k, v]) => [v.name, k]));
  const targets = tf.tensor1d(
    data.y.filter((_, i) => i % 3 === 2),
    'int32',
  );
  const out = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(
      () => crossEntropy(clampedForward(C, w.weights, toInputs(C, B, data), host(), clamps, 0).logits, targets),
      Object.values(w.vars),
    );
    const g: Params = {};
    for (const [n, t] of Object.entries(grads)) g[names.get(n)!] = Float32Array.from(t.dataSync());
    return { loss: value.dataSync()[0], grads: g };
  });
  targets.dispose();
  w.dispose();
  return out;
}

/** Mean CE of the plain forward, with `editOf(p, s)` editing sequence s (double precision, params as float64). */
function plainLoss(p: Params, editOf?: (p: Params, s: number) => Edit): number {
  let sum = 0;
  for (let s = 0; s < B; s++) {
    const z = plainForward(C, p, sequence(s, undefined, p).h0, [[], []], editOf?.(p, s)).logits;
    const m = Math.max(...z),
      y = data.y[3 * s + 2];
    sum += m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0)) - z[y];
  }
  return sum / B;
}

const SENDER_SIDE = [
  'blocks.0.attn.qkv.weight',
  'blocks.0.attn.proj.weight',
  'embed.exemplar.weight',
  'embed.label.weight',
];
const ALL_SIDES = [...SENDER_SIDE, 'blocks.1.attn.qkv.weight', 'blocks.1.ln.weight', 'unembed.weight'];

test('stop-gradient: the forward is bit-identical, the gradient is that of the forward with the edge frozen', () => {
  const spec = parseClampFlag('stop-gradient:L1H1>L2H0,input=k', C) as ClampSpec & { kind: 'stop-gradient' };
  const clean = run([]),
    sg = run([spec]);
  for (const [k, v] of clean) assert.deepEqual(sg.get(k), v, `${k} unchanged`);
  const { grads } = gradients([spec]),
    plain = gradients([]).grads;
  // The frozen function: along the edge the receiver reads the sender's output at θ0, a constant.
  const frozen = Array.from({ length: B }, (_, s) => block(C, params, 0, sequence(s).h0, [[], []], null).heads[1]);
  checkFd(params, grads, (p) => plainLoss(p, (_p, s) => edit(spec, frozen[s])), ALL_SIDES, 'stop-gradient', 'autodiff');
  // The cut is real: the sender's weights lose the gradient the edge carried; the unembedding does not.
  const diff = (n: string) => Math.max(...grads[n].map((v, i) => Math.abs(v - plain[n][i])));
  assert.ok(diff('blocks.0.attn.qkv.weight') > 1e-3, "the sender's gradient changes");
  assert.ok(diff('unembed.weight') < 1e-6 && diff('blocks.1.attn.proj.weight') < 1e-6, 'downstream gradients do not');
});

test('path-patch: gradients equal central finite differences of its own forward (zero, mean, corrupted)', () => {
  for (const text of [
    'path-patch:L1H0>L2H1,input=v,with=zero',
    'path-patch:L1H1>L2H0,input=k,with=mean',
    'path-patch:L1H1>L2H0,input=q,with=corrupt,corruption=prev-token',
  ]) {
    const spec = parseClampFlag(text, C) as ClampSpec & { kind: 'path-patch' };
    const { grads } = gradients([spec]);
    // zero: r = 0; mean: the batch mean at θ0, held constant (no gradient through it); corrupt: recomputed at θ.
    const fixed = spec.with === 'corrupt' ? null : replacement(spec);
    // Every sequence's r at p, computed once per loss rather than once per sequence.
    const loss = (p: Params) => {
      const r = fixed ?? replacement(spec, p);
      return plainLoss(p, (_p, s) => edit(spec, r[s]));
    };
    checkFd(params, grads, loss, ALL_SIDES, text, 'autodiff');
  }
});

test('the registry: path clamps on the fast engine, with layer1 / copy on TF.js; bad edges are one line, exit 2, no run folder', () => {
  const m = { depth: 2, numHeads: 8, contextLen: 2 },
    why = (...t: string[]) =>
      fastTrainingUnsupported(
        m,
        t.map((x) => parseClampFlag(x, m)),
      );
  assert.equal(why('path-patch:L1H2>L2H3,input=k,with=zero', 'stop-gradient:L1H2>L2H3', 'ablate:L2H1'), null);
  assert.equal(why('path-patch:L1H2>L2H3,input=v,with=mean'), null);
  assert.equal(why('path-patch:L1H2>L2H3,input=k,with=corrupt,corruption=prev-token'), null);
  assert.match(why('stop-gradient:L1H2>L2H3', 'layer1') ?? '', /stop-gradient clamp with the layer1 clamp runs on/);
  assert.match(why('path-patch:L1H2>L2H0', 'copy:L2H3') ?? '', /path-patch clamp with the copy clamp runs on/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'il-paths-cli-')),
    out = path.join(dir, 'runs');
  const built = path.join(ROOT, 'out', 'cli.js');
  const cases: Array<[string, RegExp]> = [
    [
      'path-patch:L1H2>L1H3',
      /^induction-lab: --clamp "path-patch:L1H2>L1H3": a path-patch edge's receiver must sit in a later layer than its sender .*L1H2 → L1H3 \(a first-layer head reads only the embedding\)\n$/,
    ],
    [
      'stop-gradient:L1H2>L2H9',
      /^induction-lab: --clamp "stop-gradient:L1H2>L2H9": unknown head "L2H9": each layer has 8 heads \(H0…H7\)\n$/,
    ],
    [
      'path-patch:L1H2>L2H3,with=corrupt,corruption=shuffled',
      /^induction-lab: --clamp "path-patch:L1H2>L2H3,with=corrupt,corruption=shuffled": corruption: unknown corruption "shuffled" \(known: labels, prev-token, class\)\n$/,
    ],
    [
      'path-patch:L1H2L2H3',
      /^induction-lab: --clamp "path-patch:L1H2L2H3": an edge is SENDER>RECEIVER, e.g\. L1H2>L2H3, got "L1H2L2H3"\n$/,
    ],
  ];
  for (const [clamp, re] of cases) {
    const args = ['train', '--preset', 'smoke', '--out', out, '--run-id', 'x', '--clamp', clamp];
    const r = spawnSync(
      process.execPath,
      fs.existsSync(built) ? [built, ...args] : ['--import', 'tsx', path.join(ROOT, 'src/engine/cli.ts'), ...args],
      { cwd: ROOT, encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 2, `${clamp}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.ok(!fs.existsSync(path.join(out, 'x')), `no run folder after ${clamp}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
