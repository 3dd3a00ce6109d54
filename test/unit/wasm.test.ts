/**
 * The embedded WebAssembly (src/engine/fast/wasm/binary.ts) is a build of the committed kernels.c with the
 * pinned compiler, and both builds export exactly the kernels src/engine/fast/kernels.ts declares, with the
 * declared number of arguments. (`npm run build:wasm -- --check` rebuilds and compares byte for byte.)
 */
import * as v8 from 'node:v8';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { KERNELS_SHA256, SIMD_WASM, RELAXED_WASM } from '../../src/engine/fast/wasm/binary';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const DIR = path.join(__dirname, '..', '..', 'src', 'engine', 'fast');

/** The KernelExports interface of kernels.ts: each member's name and parameter count. */
function declaredKernels(): Map<string, number> {
  const src = fs.readFileSync(path.join(DIR, 'kernels.ts'), 'utf8');
  const body = /export interface KernelExports \{([\s\S]*?)\n\}/.exec(src)![1];
  const out = new Map<string, number>();
  for (const m of body.matchAll(/^\s*(\w+)\(([^)]*)\):/gm))
    out.set(m[1], m[2].split(',').filter((a) => a.trim()).length); // a trailing comma is no argument
  return out;
}

test('binary.ts was built from this kernels.c, with the pinned compiler', () => {
  const c = fs.readFileSync(path.join(DIR, 'wasm', 'kernels.c'));
  assert.equal(
    createHash('sha256').update(c).digest('hex'),
    KERNELS_SHA256,
    'kernels.c changed without `npm run build:wasm`',
  );
  const first = fs.readFileSync(path.join(DIR, 'wasm', 'binary.ts'), 'utf8').split('\n')[0];
  const pinned = /PINNED="([^"]+)"/.exec(
    fs.readFileSync(path.join(DIR, '..', '..', '..', 'scripts', 'build-wasm.sh'), 'utf8'),
  )![1];
  assert.ok(first.includes(pinned), `binary.ts names its compiler (${first}); build-wasm.sh pins ${pinned}`);
});

for (const [variant, b64] of [
  ['simd', SIMD_WASM],
  ['relaxed', RELAXED_WASM],
] as const) {
  test(`the ${variant} build exports every declared kernel with its declared arity, and nothing else`, () => {
    const mod = new WebAssembly.Module(Buffer.from(b64, 'base64'));
    const memory = new WebAssembly.Memory({ initial: 64 });
    const ex = new WebAssembly.Instance(mod, { env: { memory } }).exports as Record<string, unknown>;
    const declared = declaredKernels();
    assert.ok(declared.size > 30, `parsed ${declared.size} declarations`);
    const exported = Object.keys(ex)
      .filter((k) => k !== '__heap_base')
      .sort();
    assert.deepEqual(exported, [...declared.keys()].sort());
    for (const [name, arity] of declared)
      assert.equal((ex[name] as (...a: number[]) => unknown).length, arity, `${name}: arguments`);
    assert.equal((ex.variant as () => number)(), variant === 'relaxed' ? 1 : 0);
  });
}
