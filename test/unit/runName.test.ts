/** Unique, descriptive run names (src/shared/runName.ts): title · clamp summary · short id. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clampSummary, compactCount, runName, shortClamp, shortRunId } from '../../src/shared/runName';
import { resolvePreset } from '../../src/engine/science/presets';
import { makeRunId } from '../../src/engine/io';
import { parseClampFlag } from '../../src/engine/clamps/spec';

test('two runs of one preset with different clamps, or started in the same second, get different names', () => {
  const demo = resolvePreset('demo', 'fast').clamps;
  const now = new Date('2026-12-01T10:00:00Z');
  const a = runName({ id: makeRunId('demo', now), preset: 'demo', clamps: demo });
  const b = runName({ id: makeRunId('demo', now), preset: 'demo', clamps: demo });
  const c = runName({
    id: 'x-demo-00aa',
    preset: 'demo',
    clamps: [...demo, { kind: 'induction', heads: ['L2H3'], strength: 1 }],
  });
  assert.match(a.full, /^demo · only L2H3 · #[0-9a-f]{4}$/);
  assert.equal(c.full, 'demo · only L2H3 · IH L2H3 · #00aa');
  // makeRunId's random tail: equal only with probability 1/65536; retry once to keep the test exact.
  const b2 = a.shortId === b.shortId ? runName({ id: makeRunId('demo', now), preset: 'demo', clamps: demo }) : b;
  assert.notEqual(a.full, b2.full);
});

test('the title: displayName (Rename), else the preset without @fast, else the config name, else the folder', () => {
  assert.equal(
    runName({ id: 'r-1a2b', displayName: 'my IH ablation', preset: 'demo', clamps: [] }).full,
    'my IH ablation · #1a2b',
  );
  assert.equal(runName({ id: 'r-1a2b', preset: 'fig5b.perfect_match@fast', clamps: [] }).title, 'fig5b.perfect_match');
  assert.equal(
    runName({ id: 'r-1a2b', preset: 'fig5b.noclamp@paper', clamps: [] }).title,
    'fig5b.noclamp (paper scale)',
  );
  assert.equal(runName({ id: 'r-1a2b', name: 'sweep-3', clamps: [] }).full, 'sweep-3 · no clamps · #1a2b');
  assert.equal(runName({ id: 'unnamed-run' }).title, 'unnamed-run');
  assert.match(shortRunId('unnamed-run'), /^[0-9a-f]{4}$/);
  assert.notEqual(shortRunId('fixture-a'), shortRunId('fixture-b'));
});

test('clamp summaries: compact, with windows', () => {
  assert.equal(
    shortClamp({ kind: 'ablate', heads: ['L2H0', 'L2H1', 'L2H2', 'L2H4', 'L2H5', 'L2H6', 'L2H7'] }),
    'only L2H3',
  );
  assert.equal(shortClamp({ kind: 'ablate', heads: ['L2H1', 'L2H2'] }), 'ablate L2H1,L2H2');
  assert.equal(shortClamp({ kind: 'ablate', heads: ['L1H0', 'L1H1', 'L2H2', 'L2H4'] }), 'ablate 4 heads');
  assert.equal(
    shortClamp({ kind: 'prev-token', heads: ['L1H2'], strength: 0.9, labelRowsOnly: true, until: 60000 }),
    'PT L1H2@0.9 (labels) [0–60k)',
  );
  assert.equal(shortClamp({ kind: 'copy', head: 'L2H3' }), 'copy L2H3');
  assert.equal(shortClamp({ kind: 'layer1', from: 1500000 }), 'layer 1 [1.5M–∞)');
  assert.equal(clampSummary(undefined), 'no clamps');
  assert.equal(compactCount(1234), '1234');
});

test('path clamps are named by their edge, from the canonical form run.json stores (parsed from the short form)', () => {
  const m = { depth: 2, numHeads: 8, contextLen: 2 };
  const name = (t: string) => shortClamp(parseClampFlag(t, m));
  assert.equal(name('path-patch:L1H1>L2H3'), 'cut K L1H1→L2H3');
  assert.equal(name('path-patch:0:1>1:3,input=v,with=mean'), 'mean V L1H1→L2H3');
  assert.equal(
    name('path-patch:L1H4>L2H3,input=q,with=corrupt,corruption=class,from=32000,until=64000'),
    'patch Q L1H4→L2H3 (class) [32k–64k)',
  );
  assert.equal(name('stop-gradient:L1H2>L2H3'), 'stop-grad K L1H2→L2H3');
  const a = runName({ id: 'r-1a2b', preset: 'demo', clamps: [parseClampFlag('path-patch:L1H1>L2H3', m)] });
  const b = runName({ id: 'r-3c4d', preset: 'demo', clamps: [parseClampFlag('stop-gradient:L1H1>L2H3', m)] });
  assert.equal(a.full, 'demo · cut K L1H1→L2H3 · #1a2b');
  assert.equal(b.clamps, 'stop-grad K L1H1→L2H3');
});
