/** Head marks (src/shared/headMarks.ts): ablated / clamped / replaced at a point of training; the strongest free head. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headMarks, strongestFreeHead } from '../../src/shared/headMarks';
import { resolvePreset } from '../../src/engine/science/presets';

test('demo: seven Layer-2 heads ablated, L2H3 free; an induction clamp marks its head clamped', () => {
  const demo = resolvePreset('demo', 'fast').clamps;
  const m = headMarks(demo);
  assert.deepEqual([...m.keys()].sort(), ['L2H0', 'L2H1', 'L2H2', 'L2H4', 'L2H5', 'L2H6', 'L2H7']);
  assert.ok([...m.values()].every((v) => v === 'ablated'));
  const m2 = headMarks([...demo, { kind: 'induction', heads: ['L2H3'], strength: 1 }, { kind: 'copy', head: '1:5' }]);
  assert.equal(m2.get('L2H3'), 'clamped');
  assert.equal(m2.get('L2H5'), 'ablated', 'ablated wins over clamped');
});

test('windows: a clamp marks a head only while active; layer1 and graft-in replace whole layers', () => {
  const clamps = [
    { kind: 'prev-token', heads: ['L1H2'], from: 1000, until: 5000 },
    { kind: 'layer1', from: 8000 },
  ];
  assert.equal(headMarks(clamps, { sequences: 500 }).size, 0);
  assert.equal(headMarks(clamps, { sequences: 1000 }).get('L1H2'), 'clamped');
  assert.equal(headMarks(clamps, { sequences: 5000 }).size, 0);
  const late = headMarks(clamps, { sequences: 9000 });
  assert.equal(late.size, 8);
  assert.equal(late.get('L1H7'), 'replaced');
  assert.equal(headMarks([{ kind: 'graft-in', checkpoint: 'x', tillLayer: 1 }]).size, 16);
});

test('the strongest induction head skips clamped, ablated and replaced heads', () => {
  const is = [0.1, 0.2, 0.05, 0.95, 0.3, 0.4, 0.1, 0.0];
  assert.deepEqual(strongestFreeHead(is, new Map()), { head: 3, score: 0.95 });
  assert.deepEqual(strongestFreeHead(is, headMarks([{ kind: 'induction', heads: ['L2H3'] }])), { head: 5, score: 0.4 });
  const all = headMarks([{ kind: 'ablate', heads: Array.from({ length: 8 }, (_, h) => `L2H${h}`) }]);
  assert.equal(strongestFreeHead(is, all), undefined);
});
