/**
 * The synthetic stand-ins (spec §1.5): the structured generator's stated properties — scale, non-negativity,
 * inter-class cosine, effective rank, transfer to unseen classes, exemplar noise off the class subspace,
 * determinism — against the independent generator, and their selection through `data.standIn`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../src/engine/data/rng';
import {
  RandomRotation,
  TaskData,
  featureProperties,
  loadFeatureBank,
  makeStandIn,
  makeStructuredFeatures,
  makeSyntheticFeatures,
} from '../../src/engine/data';
import { resolveRunConfig, resolveStoredRunConfig } from '../../src/engine/train/runConfig';
import { presetConfig } from '../../src/engine/science/presets';
import { sweepStatus } from '../../src/engine/train/sweep';

const N = 400; // classes: enough for the statistics, a fraction of the 1,623 for speed
const structured = makeStructuredFeatures({ classes: N, seed: 0 });
const independent = makeSyntheticFeatures({ classes: N, seed: 0 });
const ps = featureProperties(structured),
  pi = featureProperties(independent);

test('structured stand-in: ResNet-scale, non-negative, as similar across classes as the independent one', () => {
  assert.deepEqual([structured.classes, structured.exemplars, structured.dim], [N, 5, 512]);
  assert.equal(ps.minValue, 0, 'non-negative, with exact zeros from the clip');
  assert.ok(ps.zeroFraction > 0.05 && ps.zeroFraction < 0.25, `zero fraction ${ps.zeroFraction}`);
  assert.ok(Math.abs(ps.meanNorm - 24) < 1, `mean norm ${ps.meanNorm}`);
  assert.ok(Math.abs(ps.meanValue - 0.82) < 0.03, `mean entry ${ps.meanValue} (the shared |N(0,1)| offset)`);
  assert.ok(Math.abs(ps.meanInterClassCosine - 0.83) < 0.02, `mean inter-class cosine ${ps.meanInterClassCosine}`);
  assert.ok(
    Math.abs(ps.meanInterClassCosine - pi.meanInterClassCosine) < 0.02,
    'same similarity as the independent generator',
  );
  assert.ok(Math.abs(ps.meanNorm - pi.meanNorm) < 0.5);
});

test("structured stand-in: class differences span few directions (power law 1/k), the independent one's all", () => {
  // Participation ratio of λ_k ∝ 1/k over 512 directions: (Σ 1/k)² / Σ 1/k² ≈ 6.79² / 1.64 ≈ 28
  // (plus sampling and clip).
  assert.ok(ps.effectiveRank > 20 && ps.effectiveRank < 45, `structured effective rank ${ps.effectiveRank}`);
  assert.ok(pi.effectiveRank > 200, `independent effective rank ${pi.effectiveRank}`);
  // Top 32 of 512 power-law directions carry Σ_{k≤32} 1/k / Σ_{k≤512} 1/k ≈ 0.60 of the variance;
  // isotropic ≈ 32/400·(…) ≈ 0.1–0.2.
  assert.ok(Math.abs(ps.top32VarianceFraction - 0.6) < 0.07, `top-32 fraction ${ps.top32VarianceFraction}`);
  assert.ok(pi.top32VarianceFraction < 0.25, `independent top-32 fraction ${pi.top32VarianceFraction}`);
});

test('structured stand-in: a new class lies largely where the 50 training classes vary', () => {
  // Independent: 49 centred training directions of 512 → ≈ 49/512 ≈ 0.1 of a new class;
  // structured: several times more.
  assert.ok(pi.testInTrainSpan > 0.07 && pi.testInTrainSpan < 0.14, `independent ${pi.testInTrainSpan}`);
  assert.ok(ps.testInTrainSpan > 0.35, `structured ${ps.testInTrainSpan}`);
});

test('RandomRotation is orthogonal: norms and inner products are kept, outputs are not axis-aligned', () => {
  const rot = new RandomRotation(new Rng(3, 2), 64);
  const rng = new Rng(1);
  const a = Float64Array.from({ length: 64 }, () => rng.normal()),
    b = Float64Array.from({ length: 64 }, () => rng.normal());
  const dot = (x: Float64Array, y: Float64Array) => x.reduce((s, v, i) => s + v * y[i], 0);
  const [da, db, dab] = [dot(a, a), dot(b, b), dot(a, b)];
  rot.apply(a);
  rot.apply(b);
  assert.ok(Math.abs(dot(a, a) - da) < 1e-9 && Math.abs(dot(b, b) - db) < 1e-9 && Math.abs(dot(a, b) - dab) < 1e-9);
  const e = new Float64Array(64);
  e[0] = 1;
  rot.apply(e);
  assert.ok(Math.max(...e.map(Math.abs)) < 0.6, 'a basis vector is spread over many coordinates');
  assert.throws(() => new RandomRotation(new Rng(0), 48), /power of two/);
});

test('structured stand-in: held-out exemplars vary only off the top 32 class directions', () => {
  // Tiny noise keeps the clip out of the way; project x_e − x_0 on u_k = T e_k, k < 32 (same rotation stream).
  const b = makeStructuredFeatures({ classes: 20, seed: 4, exemplarNoise: 0.01 });
  const rot = new RandomRotation(new Rng(4, 2), 512);
  const top = Array.from({ length: 32 }, (_, k) => {
    const u = new Float64Array(512);
    u[k] = 1;
    rot.apply(u);
    return u;
  });
  const beyond = Array.from({ length: 32 }, (_, k) => {
    const u = new Float64Array(512);
    u[200 + k] = 1;
    rot.apply(u);
    return u;
  });
  let onTop = 0,
    onBeyond = 0,
    total = 0;
  for (let c = 0; c < 20; c++) {
    for (let e = 1; e < 5; e++) {
      const d = Array.from({ length: 512 }, (_, i) => b.data[(c * 5 + e) * 512 + i] - b.data[c * 5 * 512 + i]);
      total += d.reduce((s, v) => s + v * v, 0);
      for (const u of top) onTop += d.reduce((s, v, i) => s + v * u[i], 0) ** 2;
      for (const u of beyond) onBeyond += d.reduce((s, v, i) => s + v * u[i], 0) ** 2;
    }
  }
  assert.ok(onTop / total < 0.01, `noise energy on the top 32 directions: ${onTop / total}`);
  assert.ok(Math.abs(onBeyond / total - 32 / 480) < 0.02, `on 32 other directions ≈ 32/480: ${onBeyond / total}`);
  assert.ok(
    ps.exemplarToPrototypeCosine > 0.95 && Math.abs(ps.exemplarToPrototypeCosine - pi.exemplarToPrototypeCosine) < 0.01,
  );
});

test('structured stand-in: deterministic per seed; training exemplars independent of class count and noise', () => {
  const a = makeStructuredFeatures({ classes: 30, seed: 7 });
  assert.deepEqual(a.data, makeStructuredFeatures({ classes: 30, seed: 7 }).data);
  assert.notDeepEqual(a.data.subarray(0, 512), makeStructuredFeatures({ classes: 30, seed: 8 }).data.subarray(0, 512));
  const b = makeStructuredFeatures({ classes: 60, exemplars: 2, seed: 7, exemplarNoise: 0.5 });
  for (let c = 0; c < 30; c++) {
    assert.deepEqual(
      a.data.subarray(c * 5 * 512, c * 5 * 512 + 512),
      b.data.subarray(c * 2 * 512, c * 2 * 512 + 512),
      `class ${c}`,
    );
  }
  assert.match(a.source, /structured stand-in .*seed 7/);
  assert.throws(() => makeStructuredFeatures({ seed: 0, dim: 500 }), /power of two/);
  assert.throws(() => makeStructuredFeatures({ seed: 0, noiseFreeRank: 512 }), /noiseFreeRank/);
});

test('data.standIn selects the generator; stored runs without it meant the independent one', async () => {
  const base = { ...TaskData.DEFAULT_DATA_CONFIG, classSplit: [50, 20, 30] as [number, number, number] };
  const s = await loadFeatureBank({ ...base, standIn: 'structured' });
  const i = await loadFeatureBank({ ...base, standIn: 'independent' });
  assert.match(s.source, /^structured/);
  assert.match(i.source, /^synthetic stand-in/);
  assert.deepEqual(
    i.data.subarray(0, 512),
    makeStandIn('independent', {
      classes: 1623,
      exemplars: 5,
      dim: 512,
      seed: 0,
      classScale: 0.5,
      exemplarNoise: 0.25,
    }).data.subarray(0, 512),
  );
  assert.throws(
    () => resolveRunConfig({ data: { standIn: 'gaussian' } }),
    /data\.standIn must be structured or independent, got "gaussian"/,
  );
  const stored = JSON.parse(JSON.stringify(presetConfig('smoke'))) as { data: Record<string, unknown> };
  delete stored.data.standIn;
  assert.equal(resolveStoredRunConfig(stored).data.standIn, 'independent');
  assert.equal(resolveRunConfig({}).data.standIn, TaskData.DEFAULT_DATA_CONFIG.standIn);
});

test('a sweep reuses a finished run whose run.json predates data.standIn only as the independent one', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-legacy-'));
  const job = (standIn: 'structured' | 'independent') => {
    const config = presetConfig('smoke');
    config.data.standIn = standIn;
    return { key: 'old-run', config };
  };
  // As written before the key existed (and before train.tensorboard): both absent.
  const stored = JSON.parse(JSON.stringify(job('independent').config));
  delete stored.data.standIn;
  delete stored.train.tensorboard;
  fs.mkdirSync(path.join(root, 'old-run'));
  fs.writeFileSync(path.join(root, 'old-run', 'run.json'), JSON.stringify({ status: 'completed', config: stored }));
  assert.deepEqual(
    sweepStatus([job('independent')], root).results.map((r) => r.key),
    ['old-run'],
  );
  assert.deepEqual(
    sweepStatus([job('structured')], root).missing.map((m) => m.why),
    ['another config'],
  );
});
