/** The checkpoint hover (thumbnail grid + Markdown) on a hand-made summary. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { patternGridSvg, defaultTokens } from '../../src/extension/thumbnail';
import { checkpointMarkdown } from '../../src/extension/checkpointHover';
import { headMarks } from '../../src/shared/headMarks';
import type { CheckpointSummary } from '../../src/shared/protocol';

const T = 5,
  H = 8;
/** A causal pattern: row i spreads evenly over keys 0…i (the future is 0, as after the mask). */
const pat = () => Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (j <= i ? 1 / (i + 1) : 0)));
const patterns = [Array.from({ length: H }, pat), Array.from({ length: H }, pat)];
const summary: CheckpointSummary = {
  sequences: 20000,
  step: 625,
  tokens: ['x1', 'ℓ1', 'x2', 'ℓ2', 'xq'],
  canonicalLabels: [3, 0, 0],
  patterns,
  meanPatterns: patterns,
  inductionStrength: [0.1, 0.2, 0.0, 0.9, 0.3, 0.45, 0.0, 0.05],
  prevTokenScore: [0.1, 0.2, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1],
  eval: { fsl_train: { loss: 0.1234, acc: 0.97 } },
};

test('thumbnails: only the causal lower triangle is drawn, tokens on both axes of every head', () => {
  const svg = patternGridSvg(patterns, { tokens: summary.tokens });
  const cells = svg.match(/<rect [^>]*fill="#[0-9a-f]{6}"\/>/g) ?? [];
  assert.equal(cells.length, (2 * H * (T * (T + 1))) / 2, 'T(T+1)/2 cells per head, none in the future');
  // Each token twice per head (query axis and key axis).
  assert.equal((svg.match(/>ℓ2</g) ?? []).length, 2 * 2 * H);
  assert.deepEqual(defaultTokens(5), ['x1', 'ℓ1', 'x2', 'ℓ2', 'xq']);
  // No opaque background: the hover's own (theme) shows through; light themes get dark text.
  assert.doesNotMatch(svg, /#1e1e1e/);
  assert.match(patternGridSvg(patterns, { theme: 'light' }), /fill="#333333"/);
  const w = Number(/width="(\d+)"/.exec(svg)![1]);
  assert.ok(w >= 300 && w <= 520, `readable but fits a hover: ${w} px`);
});

test('ablated heads are hatched and labelled, clamped heads outlined and labelled', () => {
  const marks = headMarks([
    { kind: 'ablate', heads: ['L2H0'] },
    { kind: 'induction', heads: ['L2H3'] },
  ]);
  const svg = patternGridSvg(patterns, { marks });
  assert.equal((svg.match(/>ablated</g) ?? []).length, 1);
  assert.equal((svg.match(/>clamped</g) ?? []).length, 1);
  assert.ok((svg.match(/<line /g) ?? []).length > 0, 'hatching');
  assert.equal((patternGridSvg(patterns).match(/<line /g) ?? []).length, 0);
});

test('hover text: active clamps at this checkpoint, and no "strongest" claim for a clamped head', () => {
  const clamps = [
    { kind: 'ablate' as const, heads: ['L2H0', 'L2H1'] },
    { kind: 'induction' as const, heads: ['L2H3'], strength: 1, until: 60000 },
    { kind: 'prev-token' as const, heads: ['L1H2'], strength: 1, labelRowsOnly: false, from: 80000 },
  ];
  const text = checkpointMarkdown('demo · only L2H3 · #ab12', summary, { clamps });
  assert.match(text, /\*\*Clamps active here:\*\* ablate L2H0,L2H1; induction L2H3 \(s = 1\) \\?\[0, 60000\)/);
  assert.match(text, /Not active here: prev-token L1H2 \(s = 1\) \\?\[80000, ∞\)/);
  assert.match(text, /Strongest induction head: \*\*L2H5\*\* \(IS 0\.450\)/);
  assert.match(text, /L2H3 has the highest IS \(0\.900\), set by its clamp/);
  assert.match(text, /checkpoint at \*\*20,000\*\* sequences/);
  // Without clamps, L2H3 is simply the strongest.
  assert.match(checkpointMarkdown('x', summary), /Strongest induction head: \*\*L2H3\*\* \(IS 0\.900\)/);
  assert.match(checkpointMarkdown('x', summary), /No clamp active here/);
});
