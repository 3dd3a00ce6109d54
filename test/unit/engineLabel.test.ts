/** The one engine label of the UI (contracts.md §1) for new and old run.json fields. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engineLabel } from '../../src/shared/engineLabel';

test('new runs: engine + engineDetail + backend', () => {
  assert.equal(
    engineLabel({ engine: 'fast', engineDetail: 'WebAssembly SIMD (relaxed)', backend: null }),
    'fast engine (WebAssembly SIMD, relaxed)',
  );
  assert.equal(
    engineLabel({ engine: 'fast', engineDetail: 'WebAssembly SIMD', backend: null }),
    'fast engine (WebAssembly SIMD)',
  );
  assert.equal(engineLabel({ engine: 'fast' }), 'fast engine (WebAssembly SIMD)');
  assert.equal(
    engineLabel({ engine: 'tfjs', engineDetail: 'TensorFlow.js, wasm backend', backend: 'wasm' }),
    'TensorFlow.js (wasm backend)',
  );
  assert.equal(engineLabel({ engine: 'tfjs', backend: 'tensorflow' }), 'TensorFlow.js (native TensorFlow backend)');
  assert.equal(engineLabel({ engine: 'tfjs', backend: 'cpu' }), 'TensorFlow.js (cpu backend)');
});

test('old runs: "fast (wasm relaxed)", "tfjs (wasm)", backend only; never a bare "wasm"', () => {
  assert.equal(
    engineLabel({ engine: 'fast (wasm relaxed)', backend: 'wasm' }),
    'fast engine (WebAssembly SIMD, relaxed)',
  );
  assert.equal(engineLabel({ engine: 'fast (wasm simd)', backend: 'wasm' }), 'fast engine (WebAssembly SIMD)');
  assert.equal(engineLabel({ engine: 'tfjs (wasm)', backend: 'wasm' }), 'TensorFlow.js (wasm backend)');
  assert.equal(engineLabel({ backend: 'wasm' }), 'TensorFlow.js (wasm backend)');
  assert.equal(engineLabel({}), 'engine not recorded');
  for (const x of [{ engine: 'fast (wasm relaxed)' }, { backend: 'wasm' }, { engine: 'tfjs', backend: 'wasm' }])
    assert.notEqual(engineLabel(x), 'wasm');
});
