/**
 * The one forward interface (src/engine/forward) on both engines: every clamp the fast engine runs
 * forward-only gives the TensorFlow.js numbers (logits and every recorded site within float32 rounding),
 * and every measure of spec §5 computed on the fast engine agrees with the same measure on TF.js.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/model/tf';
import { DEFAULT_MODEL_CONFIG } from '../../src/engine/model/config';
import { initParams, Params } from '../../src/engine/model/params';
import { hostBatchOf, hostBatch } from '../../src/engine/model/hostBatch';
import { site, siteShapes } from '../../src/engine/model/sites';
import { encodeCheckpoint } from '../../src/engine/model/checkpoint';
import { ClampSpec, normalizeClamps } from '../../src/engine/clamps/spec';
import { Forward, fastForwardUnsupported } from '../../src/engine/forward';
import { RunDir } from '../../src/engine/io';
import { resolveRunConfig, RunConfig } from '../../src/engine/train/runConfig';
import { REST_HEADS } from '../../src/engine/science/conditions';
import {
  MeasureContext,
  denseEval,
  denseSummary,
  disposeContext,
  makeMeasureContext,
  openMeasureContext,
} from '../../src/engine/measures/dense';
import { additivity, complementarity, headAblations } from '../../src/engine/measures/ablations';
import { influenceMatrix, table1 } from '../../src/engine/measures/influence';
import { pathsAt } from '../../src/engine/measures/paths';
import { posthocProgress } from '../../src/engine/measures/posthoc';
import { randomInputs } from './helpers';

const C = DEFAULT_MODEL_CONFIG;

/**
 * |a − b| ≤ rtol·|b| + atol·max|b| elementwise; ±1e8-sized sentinels (−1e9, −1e20 masks) must match to
 * 1e-7 relative. The defaults are float32 rounding for these inputs: the two engines sum the 512-term
 * exemplar projection and every GEMM in different orders (the TF.js wasm backend runs XNNPACK), which
 * already leaves ≈ 1e-4 of the terms on hook_embed_exemplar and grows mildly through two blocks.
 */
function close(name: string, a: ArrayLike<number>, b: ArrayLike<number>, rtol = 2e-4, atol = 2e-5): void {
  assert.equal(a.length, b.length, `${name}: length ${a.length} vs ${b.length}`);
  let scale = 0;
  for (let i = 0; i < b.length; i++) if (Math.abs(b[i]) < 1e8) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) {
    const tol = Math.abs(b[i]) >= 1e8 ? 1e-7 * Math.abs(b[i]) : rtol * Math.abs(b[i]) + atol * scale;
    if (!(Math.abs(a[i] - b[i]) <= tol))
      assert.fail(`${name}[${i}]: fast ${a[i]} vs tfjs ${b[i]} (tolerance ${tol.toExponential(2)})`);
  }
}

/** Larger weights than init (×3), so that every path carries signal well above float32 noise. */
function trainedLooking(seed: number): Params {
  const p = initParams(C, seed);
  for (const k of Object.keys(p))
    if (k.endsWith('weight') && !k.includes('ln')) for (let i = 0; i < p[k].length; i++) p[k][i] *= 3;
  return p;
}

before(async () => {
  await initBackend('wasm');
});

// ---------------------------------------------------------------------------------------- the forward

const rest: ClampSpec = { kind: 'ablate', heads: REST_HEADS };
const CASES: Array<[string, unknown[]]> = [
  ['no clamp', []],
  ['preserve values', [{ kind: 'preserve', what: ['values'] }]],
  [
    'preserve patterns, L1H2 ablated (ablation overrides the preserved values)',
    [
      { kind: 'preserve', what: ['patterns'] },
      { kind: 'ablate', heads: ['L1H2'] },
    ],
  ],
  [
    'preserve queries + keys, L1H0 and L1H5 ablated',
    [
      { kind: 'preserve', what: ['queries', 'keys'] },
      { kind: 'ablate', heads: ['L1H0', 'L1H5'] },
    ],
  ],
  [
    'all L1 ablated, patterns + values preserved (no direct L1 path)',
    [
      { kind: 'ablate', heads: Array.from({ length: 8 }, (_, h) => `L1H${h}`) },
      { kind: 'preserve', what: ['patterns', 'values'] },
    ],
  ],
  [
    'only L2H3, L1H4 ablated, values preserved',
    [rest, { kind: 'ablate', heads: ['L1H4'] }, { kind: 'preserve', what: ['values'] }],
  ],
  [
    'temperature on L1H4 (T = 2) and L2H1 (T = 0.5)',
    [
      { kind: 'temperature', heads: ['L1H4'], temperature: 2 },
      { kind: 'temperature', heads: ['L2H1'], temperature: 0.5 },
    ],
  ],
  [
    'temperature + induction on the same layer (the pattern clamp wins on its row)',
    [
      { kind: 'temperature', heads: ['L2H3'], temperature: 3 },
      { kind: 'induction', heads: ['L2H3'], strength: 0.8 },
    ],
  ],
  [
    'perfect copy from L2H3, L1H1 ablated',
    [
      { kind: 'copy', head: 'L2H3' },
      { kind: 'ablate', heads: ['L1H1'] },
    ],
  ],
  ['perfect copy from a first-layer head (L1H6)', [{ kind: 'copy', head: 'L1H6' }]],
  ['layer1 + perfect copy from L2H3, REST ablated', [{ kind: 'layer1' }, { kind: 'copy', head: 'L2H3' }, rest]],
  [
    'layer1 + induction on L2H3 + REST',
    [rest, { kind: 'layer1' }, { kind: 'induction', heads: ['L2H3'], strength: 0.9 }],
  ],
  [
    'prev-token on L1H2 (label rows) + match on L2H5 + disallow on L1H0 + silence on L2H2',
    [
      { kind: 'prev-token', heads: ['L1H2'], strength: 0.9, labelRowsOnly: true },
      { kind: 'match', heads: ['L2H5'], temperature: 0.3 },
      { kind: 'disallow-prev-token', heads: ['L1H0'] },
      { kind: 'silence-non-label', heads: ['L2H2'] },
    ],
  ],
  ['ablate-embedding + preserve values', [{ kind: 'ablate-embedding' }, { kind: 'preserve', what: ['values'] }]],
];

for (const [name, raw] of CASES) {
  test(`forward, fast vs TF.js: ${name}`, () => {
    const clamps = normalizeClamps(raw, C);
    assert.equal(fastForwardUnsupported(C, clamps), null, 'the fast engine runs it');
    const B = 12,
      d = randomInputs(C, B, 41),
      params = trainedLooking(40);
    const batch = hostBatchOf(B, d.x, d.y);
    const layer1 = clamps.some((k) => k.kind === 'layer1');
    // Under layer 1 the fast engine records the last block's q, k and scores of the clamp's pattern pass
    // (which its copy reads); the reference records its final pass's, which the pattern override discards.
    const skip = layer1
      ? new Set([site.q(1), site.k(1), site.rotQ(1), site.rotK(1), site.attnScores(1)])
      : new Set<string>();
    const record = new Set(Object.keys(siteShapes(C, B)).filter((s) => !skip.has(s)));
    const fast = new Forward(C, { params }, { engine: 'fast' }),
      ref = new Forward(C, { params }, { engine: 'tfjs' });
    const a = fast.run(batch, clamps, { record }),
      b = ref.run(batch, clamps, { record });
    assert.equal(a.engine, 'fast');
    assert.equal(b.engine, 'tfjs');
    close('logits', a.logits, b.logits);
    for (const s of record) close(s, a.acts.get(s)!, b.acts.get(s)!);
    // The query-position slices agree with the full sites; a second configuration reuses the clean pass.
    const q = fast.run(batch, clamps, { recordQuery: new Set([site.pattern(1), site.residPost(1)]) });
    close('logits (query-only last block)', q.logits, b.logits);
    const fullP = b.acts.get(site.pattern(1))!,
      rowsP = q.queryActs.get(site.pattern(1))!;
    for (let bh = 0; bh < B * 8; bh++)
      close(`pattern query row ${bh}`, rowsP.subarray(bh * 5, bh * 5 + 5), fullP.subarray(bh * 25 + 20, bh * 25 + 25));
    // One clean pass for preserve, temperature and a copy from a first-layer head (a last-layer head's copy
    // runs the fast model's folded copy pass instead), however many configurations read it.
    const readsClean = clamps.some(
      (k) => k.kind === 'preserve' || k.kind === 'temperature' || (k.kind === 'copy' && k.head.startsWith('L1')),
    );
    assert.equal(fast.stats.cleanPasses, readsClean ? 1 : 0);
    fast.dispose();
    ref.dispose();
  });
}

test('forward: clamp windows, what stays on TF.js, and the engine choice', () => {
  const params = trainedLooking(42),
    B = 6,
    d = randomInputs(C, B, 43),
    batch = hostBatchOf(B, d.x, d.y);
  const fwd = new Forward(C, { params });
  const windowed = normalizeClamps(
    [
      { kind: 'preserve', what: ['values'], from: 100 },
      { kind: 'ablate', heads: ['L1H3'] },
    ],
    C,
  );
  const off = fwd.run(batch, windowed, { sequences: 50 }),
    plain = fwd.run(batch, normalizeClamps([{ kind: 'ablate', heads: ['L1H3'] }], C));
  assert.deepEqual(off.logits, plain.logits, 'a clamp outside its window does nothing');
  assert.notDeepEqual(fwd.run(batch, windowed, { sequences: 150 }).logits, plain.logits);
  assert.match(
    fastForwardUnsupported(C, normalizeClamps([{ kind: 'layer1' }, { kind: 'preserve', what: ['values'] }], C))!,
    /preserve clamp with the layer1 clamp/,
  );
  assert.match(fastForwardUnsupported({ ...C, mlpRatio: 4 }, [])!, /MLP/);
  // The answers are kept per clamp list (forward.ts whyNotFast): asked again, in any order, they stay right.
  const clash = normalizeClamps([{ kind: 'layer1' }, { kind: 'temperature', heads: ['L2H1'], temperature: 2 }], C);
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(fwd.choose(clash).engine, 'tfjs');
    assert.deepEqual(fwd.choose(clash.slice(1)).engine, 'fast');
    assert.deepEqual(fwd.choose(windowed, 50).engine, 'fast');
  }
  const fastOnly = new Forward(C, { params }, { engine: 'fast' }),
    keys = normalizeClamps([{ kind: 'layer1' }, { kind: 'preserve', what: ['keys'] }], C);
  for (let i = 0; i < 2; i++) assert.throws(() => fastOnly.choose(keys), /the engine is "fast" but/);
});

// ------------------------------------------------------------------------------------- every measure

let root: string, run: RunConfig, fastCtx: MeasureContext, tfCtx: MeasureContext;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-engines-'));
  run = resolveRunConfig({ name: 'e', data: { evalSize: 20 } });
  const rd = RunDir.create(root, 'run');
  rd.writeRunJson({ id: rd.id, name: run.name, status: 'completed', config: run, sequences: 320 });
  rd.writeCheckpoint(320, encodeCheckpoint({ config: run.model, sequences: 320, params: trainedLooking(44) }));
  fastCtx = await openMeasureContext(rd, undefined, 96, { engine: 'fast' });
  tfCtx = makeMeasureContext({
    run,
    params: fastCtx.params,
    task: fastCtx.task,
    sequences: 320,
    engine: 'tfjs',
    batch: { batch: fastCtx.batch, denseSize: fastCtx.denseSize, subsample: fastCtx.subsample },
  });
});
after(() => {
  disposeContext(fastCtx);
  disposeContext(tfCtx);
  fs.rmSync(root, { recursive: true, force: true });
});

/** Numbers of two measure results, walked together: equal structure, numbers within float32 rounding. */
function sameNumbers(name: string, a: unknown, b: unknown, tol = 2e-5): void {
  if (typeof b === 'number') {
    assert.equal(typeof a, 'number', name);
    assert.ok(Math.abs((a as number) - b) <= tol * Math.max(1, Math.abs(b)), `${name}: fast ${a} vs tfjs ${b}`);
  } else if (Array.isArray(b) || (b && typeof b === 'object')) {
    for (const k of Object.keys(b as object))
      sameNumbers(`${name}.${k}`, (a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], tol);
  } else assert.deepEqual(a, b, name);
}

test('every measure on the fast engine equals the same measure on TF.js', () => {
  const ds = denseEval(fastCtx, []),
    dt = denseEval(tfCtx, []);
  assert.equal(ds.engine, 'fast');
  assert.equal(dt.engine, 'tfjs');
  close('per-sequence loss', ds.loss, dt.loss);
  assert.deepEqual(ds.correct, dt.correct);
  sameNumbers('dense', denseSummary(fastCtx), denseSummary(tfCtx));
  sameNumbers('ablations', headAblations(fastCtx), headAblations(tfCtx));
  sameNumbers('additivity', additivity(fastCtx), additivity(tfCtx));
  sameNumbers('complementarity', complementarity(fastCtx), complementarity(tfCtx));
  const sub = { l2: [3, 6], l1: [1, 2, 5] };
  sameNumbers('influence', influenceMatrix(fastCtx, sub), influenceMatrix(tfCtx, sub));
  sameNumbers('table1', table1(fastCtx), table1(tfCtx));
  const curve = { xs: [0, 320], ys: [2, 1] };
  sameNumbers('paths', pathsAt(fastCtx, curve), pathsAt(tfCtx, curve));
  const refs = fastCtx.runDir!.listCheckpoints();
  sameNumbers('posthoc', posthocProgress(fastCtx, refs), posthocProgress(tfCtx, refs));
  // Nothing of the fast context ran on TF.js.
  assert.equal(fastCtx.forward.stats.tfjs, 0);
  assert.ok(fastCtx.forward.stats.fast > 50);
  // The chunks are made once and reused (so are their clean passes).
  assert.equal(fastCtx.chunks, fastCtx.chunks);
  assert.deepEqual(
    fastCtx.chunks[0].labels,
    hostBatch(fastCtx.task.bank, fastCtx.batch).labels.subarray(0, fastCtx.chunks[0].labels.length),
  );
});
