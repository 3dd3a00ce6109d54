/** The end-of-run notifications' words (src/extension/runFeedback.ts) on hand-made metrics. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completionFacts, completionMessage, duration, stopMessage } from '../../src/extension/runFeedback';
import type { MetricsRecord } from '../../src/shared/protocol';

const rec = (sequences: number, loss: number, is: number[]): MetricsRecord => ({
  sequences,
  step: sequences / 32,
  wallTime: 0,
  trainLoss: loss,
  eval: Object.fromEntries(
    ['fsl_train', 'fsl_val_rl'].map((k) => [
      k,
      { loss, acc: 0.5, inContextAcc: 0.5, inContextProb: 0.5, prob: 0.5, useContextProb: 0.5 },
    ]),
  ),
  inductionStrength: is,
  prevTokenScore: [],
});

test('completion: final losses, the first eval under 0.4·ln 2, the strongest head that learnt freely', () => {
  const is = [0.1, 0.2, 0.0, 0.9, 0.3, 0.4, 0.0, 0.05];
  const rows = [rec(0, 1.6, is), rec(2000, 0.69, is), rec(4000, 0.2, is), rec(6000, 0.05, is)];
  const f = completionFacts(rows, []);
  assert.deepEqual(f.finalLosses, [
    ['train', 0.05],
    ['test (relabel)', 0.05],
  ]);
  assert.deepEqual(f.learning, { sequences: 4000, reached: true });
  assert.deepEqual(f.strongest, { head: 'L2H3', score: 0.9 });
  assert.equal(
    completionMessage('demo · only L2H3 · #ab12', f, 75),
    'demo · only L2H3 · #ab12 completed in 1 min 15 s · final loss train 0.050, test (relabel) 0.050 · ' +
      'learnt at 4,000 sequences (loss < 0.4·ln 2) · strongest induction head L2H3 (IS 0.90)',
  );
  // L2H3 clamped by an induction pattern: its IS is the clamp's, not learnt — name the next free head.
  assert.deepEqual(completionFacts(rows, [{ kind: 'induction', heads: ['L2H3'] }]).strongest, {
    head: 'L2H5',
    score: 0.4,
  });
  const all = completionFacts(rows, [
    { kind: 'ablate', heads: ['L2H0', 'L2H1', 'L2H2', 'L2H4', 'L2H5', 'L2H6', 'L2H7'] },
    { kind: 'copy', head: 'L2H3' },
  ]);
  assert.equal(all.strongest, undefined);
  assert.match(completionMessage('x', all, 1), /every Layer-2 head is clamped or ablated/);
});

test('never learnt: censored learning time is not claimed', () => {
  const f = completionFacts([rec(0, 1.6, []), rec(2000, 0.69, [])], []);
  assert.deepEqual(f.learning, { sequences: 2000, reached: false });
  assert.match(completionMessage('x', f, 5), /never below 0\.4·ln 2/);
  assert.equal(f.strongest, undefined);
});

test('stop message and durations', () => {
  assert.equal(
    stopMessage('paper · no clamps · #0f0f', 340000, 1000000, true),
    'paper · no clamps · #0f0f stopped at 340,000 / 1,000,000 sequences; its checkpoint is saved, so Resume continues exactly where it stopped.',
  );
  assert.match(stopMessage('x', 10, undefined, false), /no checkpoint yet/);
  assert.equal(duration(59.6), '1 min');
  assert.equal(duration(3725), '1 h 2 min');
});
