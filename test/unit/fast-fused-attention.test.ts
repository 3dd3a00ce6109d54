/**
 * The forward-only attention kernel (attn_fused: qkv rows → merged in one pass, fast/model.ts LayerPlan.fused)
 * against the head-by-head passes it replaces (to_heads_rope → attn_scores → softmax → attn_z → from_heads):
 * the same run with block 0's hook_z also recorded takes the head-by-head passes, so the two are the old and the
 * new computation of the same numbers, and they must agree bit for bit (logits, recorded pattern). Both builds,
 * batch sizes with every SIMD tail, rows and token mode, 5 and 7 tokens, a three-block model, clamps beside it.
 * Run: node --import tsx --test test/unit/fast-fused-attention.test.ts
 */
import * as v8 from 'node:v8';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MODEL_CONFIG, ModelConfig } from '../../src/engine/model/config';
import { initParams, Params } from '../../src/engine/model/params';
import { site, siteShapes } from '../../src/engine/model/sites';
import { HostOverride, newHostOverride } from '../../src/engine/model/hostOverride';
import { hostOverrides } from '../../src/engine/clamps/apply';
import { ClampSpec } from '../../src/engine/clamps/spec';
import { REST_HEADS } from '../../src/engine/science/conditions';
import { FastModel } from '../../src/engine/fast/model';
import { KernelExports, WasmVariant, wasmVariantSupported } from '../../src/engine/fast/kernels';
import { randomInputs } from './helpers';

// Both builds: relaxed SIMD needs this flag on Node 20 (on by default from Node 22).
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const variants = (['simd', 'relaxed'] as WasmVariant[]).filter(wasmVariantSupported);

/** Counts the model's calls of each kernel (the wrapper replaces its kernel table, as bench/fast-prof.ts does). */
function countKernels(m: FastModel): Map<string, number> {
  const holder = m as unknown as { k: KernelExports };
  const calls = new Map<string, number>();
  const wrapped: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(holder.k)) {
    if (typeof f !== 'function') wrapped[name] = f;
    else
      wrapped[name] = (...a: number[]) => {
        calls.set(name, (calls.get(name) ?? 0) + 1);
        return (f as (...x: number[]) => unknown)(...a);
      };
  }
  holder.k = wrapped as unknown as KernelExports;
  return calls;
}

function params(c: ModelConfig, seed: number): Params {
  const p = initParams(c, seed);
  // Sharper attention than at initialisation, so that the softmax rows are far from uniform.
  for (const k of Object.keys(p)) if (k.includes('qkv')) p[k] = p[k].map((v) => v * 4);
  return p;
}

function compare(c: ModelConfig, variant: WasmVariant, B: number, clamps: ClampSpec[], tokenMode: boolean) {
  const m = new FastModel(c, { wasm: variant });
  const calls = countKernels(m);
  const p = params(c, 3 + B);
  const d = randomInputs(c, B, 11 + B);
  const shapes = siteShapes(c, B);
  const ov = hostOverrides(c, { labels: d.y, size: B, exemplars: d.x }, clamps, 0);
  // A no-op override of block 0's input (mask all 0) runs block 0 token by token instead of by distinct rows.
  if (tokenMode) ov.set(site.residPre(0), newHostOverride(site.residPre(0), shapes[site.residPre(0)]));
  const what = `${variant}, B = ${B}, T = ${2 * c.contextLen + 1}, depth ${c.depth}, ${clamps.map((k) => k.kind)}${tokenMode ? ', tokens' : ''}`;
  const run = (record: string[]) => {
    const r = m.run(
      p,
      { size: B, exemplars: d.x, labels: d.y },
      {
        backward: false,
        loss: false,
        overrides: ov.size ? (ov as Map<string, HostOverride>) : undefined,
        record: new Set(record),
      },
    );
    return { logits: r.logits.slice(), acts: r.acts };
  };
  const inner = Array.from({ length: c.depth - 1 }, (_, l) => l);
  calls.clear();
  const fused = run(inner.map((l) => site.pattern(l)));
  assert.equal(calls.get('attn_fused'), inner.length, `${what}: every inner block fused`);
  const plain = run([...inner.map((l) => site.pattern(l)), ...inner.map((l) => site.z(l))]);
  assert.equal(calls.get('attn_fused'), inner.length, `${what}: recording hook_z takes the head-by-head passes`);
  assert.deepEqual(fused.logits, plain.logits, `${what}: logits`);
  for (const l of inner)
    assert.deepEqual(fused.acts.get(site.pattern(l)), plain.acts.get(site.pattern(l)), `${what}: pattern ${l}`);
  // Without the pattern recorded the kernel writes no pattern; the logits stay the same.
  const bare = run([]);
  assert.deepEqual(bare.logits, plain.logits, `${what}: logits, nothing recorded`);
  // Recording the embedding keeps block 0 fused but its output rows no longer start as the embedding
  // (embedIntoResidual): the separate x + attn_out pass runs instead of the accumulating projection.
  calls.clear();
  const sep = run([site.embed]);
  assert.equal(calls.get('attn_fused'), inner.length, `${what}: fused with the embedding recorded`);
  assert.equal(calls.get('add_rows'), 1 + inner.length, `${what}: add_rows`);
  assert.deepEqual(sep.logits, plain.logits, `${what}: logits, the embedding recorded`);
  calls.clear();
  run([]);
  // (block 0 only: the one that reads the embedding; the last block's query row always has its own pass)
  assert.equal(
    calls.get('add_rows'),
    tokenMode ? 1 + inner.length : inner.length,
    `${what}: add_rows, nothing recorded`,
  );
}

test('attn_fused gives the head-by-head passes’ bits (both builds, every batch tail, rows and tokens, clamps)', () => {
  const c = DEFAULT_MODEL_CONFIG;
  const rest: ClampSpec = { kind: 'ablate', heads: REST_HEADS };
  const induction: ClampSpec = { kind: 'induction', heads: ['L2H3'], strength: 0.7 };
  for (const variant of variants)
    for (const B of [1, 2, 3, 4, 7])
      for (const clamps of [[], [rest], [rest, induction]])
        for (const tokenMode of [false, true]) compare(c, variant, B, clamps, tokenMode);
});

test('attn_fused at 7 tokens and in a three-block model', () => {
  compare({ ...DEFAULT_MODEL_CONFIG, contextLen: 3 }, 'relaxed', 5, [], false);
  compare({ ...DEFAULT_MODEL_CONFIG, depth: 3 }, 'relaxed', 5, [], false);
  compare({ ...DEFAULT_MODEL_CONFIG, depth: 3 }, 'simd', 3, [], true);
});

test('attn_fused is not taken where its head sites are read or replaced, nor with gradients', () => {
  const c = DEFAULT_MODEL_CONFIG,
    B = 4;
  const m = new FastModel(c);
  const calls = countKernels(m);
  const p = params(c, 1);
  const d = randomInputs(c, B, 2);
  const batch = { size: B, exemplars: d.x, labels: d.y };
  const shapes = siteShapes(c, B);
  const fusedCalls = (opts: Parameters<FastModel['run']>[2]) => {
    calls.clear();
    m.run(p, batch, opts);
    return calls.get('attn_fused') ?? 0;
  };
  assert.equal(fusedCalls({ backward: false }), 1);
  assert.equal(fusedCalls({ backward: true }), 0, 'the backward pass reads the head-major buffers');
  for (const s of [site.q(0), site.k(0), site.v(0), site.rotQ(0), site.rotK(0), site.attnScores(0), site.z(0)])
    assert.equal(fusedCalls({ backward: false, record: new Set([s]) }), 0, `recording ${s}`);
  const patt = new Map([[site.pattern(0), newHostOverride(site.pattern(0), shapes[site.pattern(0)])]]);
  assert.equal(fusedCalls({ backward: false, overrides: patt }), 0, 'a pattern override');
});
