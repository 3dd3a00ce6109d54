/**
 * The corrupted path clamp's sender-head pass (fast/corruptHeads.ts) against the full corrupted pass it replaces:
 * the same run with an override on a block-0 site that changes nothing (mask all 0) takes the full pass (a block-0
 * override puts the corrupted pass back in its own pass), so the two are the old and the new computation of the
 * same numbers. Forward bit-identical (loss, logits), gradients equal up to float32 summation order; and the token
 * map and first changed position of each corruption by hand. (Both are compared with TF.js and finite differences
 * in paths-clamps-fast.test.ts.)
 * Run: node --import tsx --test test/unit/paths-corrupt-heads.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MODEL_CONFIG } from '../../src/engine/model/config';
import { initParams, paramSpecs, Params, cloneParams } from '../../src/engine/model/params';
import { site, siteShapes } from '../../src/engine/model/sites';
import { HostOverride, newHostOverride } from '../../src/engine/model/hostOverride';
import { hostOverrides } from '../../src/engine/clamps/apply';
import { ClampSpec, parseClampFlag } from '../../src/engine/clamps/spec';
import { REST_HEADS } from '../../src/engine/science/conditions';
import { FastModel } from '../../src/engine/fast/model';
import { foldedClampOptions } from '../../src/engine/fast/foldedClamps';
import { corruptTokenMap } from '../../src/engine/fast/corruptHeads';
import { corruptionMap } from '../../src/engine/clamps/corruptions';
import { randomInputs } from './helpers';

const c = DEFAULT_MODEL_CONFIG,
  B = 10;

function run(m: FastModel, p: Params, clamps: ClampSpec[], extra: HostOverride | null, seed: number) {
  const d = randomInputs(c, B, seed);
  const ids = Int32Array.from({ length: 3 * B }, (_, i) => (i % 3 === 2 ? i - 2 + d.correct[Math.floor(i / 3)] : i));
  const ovr = hostOverrides(c, { labels: d.y, size: B, exemplars: d.x }, clamps, 0);
  if (extra) ovr.set(extra.site, extra);
  const r = m.run(
    p,
    { size: B, exemplars: d.x, labels: d.y },
    { backward: true, overrides: ovr, ...foldedClampOptions(c, clamps, 0), itemIds: ids },
  );
  return { loss: r.loss, logits: r.logits.slice(), grads: cloneParams(r.grads!) };
}

test('the sender-head pass computes what the full corrupted pass computes (every corruption and input)', () => {
  const p = initParams(c, 41);
  for (const k of Object.keys(p)) if (!k.includes('ln')) p[k] = p[k].map((v) => v * 3);
  const rest: ClampSpec = { kind: 'ablate', heads: REST_HEADS };
  const shapes = siteShapes(c, B);
  // No-op overrides of block 0: the pattern (block 0 by rows, the full pass sharing its rows) and the residual
  // input (block 0 token by token, the full pass embedding its own batch).
  const noOps = [site.pattern(0), site.residPre(0)].map((s) => newHostOverride(s, shapes[s]));
  const heads = new FastModel(c),
    full = new FastModel(c);
  const cases = [
    'path-patch:L1H1>L2H3,input=k,with=corrupt,corruption=prev-token',
    'path-patch:L1H5>L2H3,input=v,with=corrupt,corruption=labels',
    'path-patch:L1H2>L2H3,input=q,with=corrupt,corruption=class',
    // Two senders in one corrupted pass, two corruptions, and a cut beside them.
    'path-patch:L1H1>L2H3,input=k,with=corrupt,corruption=prev-token+path-patch:L1H4>L2H3,input=k,with=corrupt,' +
      'corruption=prev-token+path-patch:L1H6>L2H3,input=v,with=corrupt,corruption=labels+path-patch:L1H3>L2H3,' +
      'input=k,with=zero',
  ];
  for (const text of cases) {
    const clamps = [rest, ...text.split('+').map((t) => parseClampFlag(t, c))];
    run(heads, p, clamps, null, 5); // another batch first: nothing of it may reach the next
    const a = run(heads, p, clamps, null, 6);
    for (const noOp of noOps) {
      const b = run(full, p, clamps, noOp, 6),
        what = `${text} vs the full pass (${noOp.site})`;
      assert.equal(a.loss, b.loss, `${what}: loss`);
      assert.deepEqual(a.logits, b.logits, `${what}: logits`);
      for (const s of paramSpecs(c)) {
        const ga = a.grads[s.name],
          gb = b.grads[s.name];
        const scale = Math.max(...gb.map(Math.abs));
        let worst = 0;
        for (let i = 0; i < ga.length; i++) worst = Math.max(worst, Math.abs(ga[i] - gb[i]));
        assert.ok(worst <= 1e-6 * scale + 1e-9, `${what}: grad ${s.name} differs by ${worst} (max ${scale})`);
      }
    }
    // Not vacuous: the corrupted edge changes the sender block's gradient against the plain step.
    const plain = run(heads, p, [rest], null, 6).grads['blocks.0.attn.qkv.weight'],
      g = a.grads['blocks.0.attn.qkv.weight'];
    assert.ok(Math.max(...g.map((v, i) => Math.abs(v - plain[i]))) > 1e-3, `${text} changes the gradient`);
  }
});

test('corruptTokenMap: each corrupted token reads the clean row of the item it takes, t0 its first change', () => {
  // Two sequences; clean rows: exemplar rows 0…5 (items in order), label rows 10 + label.
  const Bt = 2,
    T = 5,
    labels = Int32Array.from([0, 1, 0, 2, 3, 3]);
  const tokmap = new Int32Array(Bt * T);
  for (let b = 0; b < Bt; b++)
    for (let t = 0; t < T; t++) tokmap[b * T + t] = t % 2 === 0 ? b * 3 + t / 2 : 10 + labels[b * 3 + (t - 1) / 2];
  const out = new Int32Array(Bt * T);
  // labels: x1 ℓ2 x2 ℓ1 xq — position 0 unchanged.
  assert.equal(corruptTokenMap(tokmap, corruptionMap('labels', Bt, labels), Bt, 2, out), 1);
  assert.deepEqual([...out], [0, 11, 1, 10, 2, 3, 13, 4, 12, 5]);
  // prev-token: x2 ℓ1 x1 ℓ2 xq — position 0 changes.
  assert.equal(corruptTokenMap(tokmap, corruptionMap('prev-token', Bt, labels), Bt, 2, out), 0);
  assert.deepEqual([...out], [1, 10, 0, 11, 2, 4, 12, 3, 13, 5]);
  // class: the other sequence's exemplars (classes disjoint; its query matches context 1, ours context 1 too).
  const ids = Int32Array.from([7, 8, 7, 9, 6, 9]);
  assert.equal(corruptTokenMap(tokmap, corruptionMap('class', Bt, labels, ids), Bt, 2, out), 0);
  assert.deepEqual(
    [...out].filter((_, i) => (i % T) % 2 === 0),
    [4, 3, 5, 1, 0, 2],
  );
  assert.deepEqual(
    [...out].filter((_, i) => (i % T) % 2 === 1),
    [10, 11, 12, 13],
  ); // labels kept
});
