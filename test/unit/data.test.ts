import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/data/rng';
import {
  Batch,
  DataConfig,
  TaskData,
  gatherExemplars,
  loadTaskData,
  makeLabelScheme,
  makeStandIn,
  makeSyntheticFeatures,
  splitRanges,
} from '../../src/engine/data';

const DEF = TaskData.DEFAULT_DATA_CONFIG;
const bank = makeSyntheticFeatures({ seed: 0 });
const labels = makeLabelScheme(DEF.numLabels, DEF.labelSplit, DEF.labelSplitSeed);
const task = new TaskData(bank, DEF, labels);

function vec(c: number, e: number): Float32Array {
  const o = (c * bank.exemplars + e) * bank.dim;
  return bank.data.subarray(o, o + bank.dim);
}
function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0,
    na = 0,
    nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}
const inRange = (x: number, r: [number, number]) => x >= r[0] && x < r[1];
const pairKey = (a: number, b: number) => `${Math.min(a, b)},${Math.max(a, b)}`;

/** The per-sequence invariants of spec §1.1 for every sequence of a batch. */
function checkInvariants(b: Batch): void {
  for (let i = 0; i < b.size; i++) {
    const o = i * 3,
      q = b.classes[o + 2],
      k = b.correct[i];
    assert.ok(k === 0 || k === 1);
    assert.equal(b.classes[o + k], q, 'matching context item has the query class');
    assert.notEqual(b.classes[o + 1 - k], q, 'distractor has another class');
    assert.equal(b.labels[o + 2], b.labels[o + k], 'query label = matching context label');
    assert.notEqual(b.labels[o], b.labels[o + 1], 'the two context labels differ');
  }
}

test('synthetic features match spec §1.5 statistics', () => {
  assert.deepEqual([bank.classes, bank.exemplars, bank.dim], [1623, 5, 512]);
  assert.equal(bank.data.length, 1623 * 5 * 512);
  let min = Infinity,
    sum = 0,
    normSum = 0;
  for (let c = 0; c < bank.classes; c++) {
    const v = vec(c, 0);
    let n = 0;
    for (const x of v) {
      sum += x;
      n += x * x;
    }
    normSum += Math.sqrt(n);
  }
  for (const x of bank.data) min = Math.min(min, x);
  assert.ok(min >= 0, 'features are non-negative');
  const mean = sum / (bank.classes * bank.dim),
    norm = normSum / bank.classes;
  assert.ok(Math.abs(mean - 0.82) < 0.02, `mean feature ${mean}`);
  assert.ok(Math.abs(norm - 24) < 1, `mean norm ${norm}`);
  let cos = 0,
    n = 0;
  for (let i = 0; i < 150; i++)
    for (let j = i + 1; j < 150; j++) {
      cos += cosine(vec(i, 0), vec(j, 0));
      n++;
    }
  assert.ok(Math.abs(cos / n - 0.83) < 0.02, `mean inter-class cosine ${cos / n}`);
});

test('synthetic exemplar 0 is the noise-free prototype; others are noisy copies', () => {
  // Exemplar 0 must not depend on the noise level; exemplars 1.. must.
  const noiseless = makeSyntheticFeatures({ classes: 20, seed: 0, exemplarNoise: 0 });
  const small = makeSyntheticFeatures({ classes: 20, seed: 0 });
  for (let c = 0; c < 20; c++) {
    const o = c * 5 * 512;
    assert.deepEqual(small.data.subarray(o, o + 512), noiseless.data.subarray(o, o + 512));
    for (let e = 1; e < 5; e++) {
      assert.deepEqual(noiseless.data.subarray(o + e * 512, o + (e + 1) * 512), noiseless.data.subarray(o, o + 512));
    }
    assert.notDeepEqual(small.data.subarray(o + 512, o + 1024), small.data.subarray(o, o + 512));
  }
  // The first 20 classes of the full bank are the same prototypes.
  assert.deepEqual(bank.data.subarray(0, 20 * 5 * 512), small.data);
  // Held-out exemplars stay close to their class: cosine to own prototype > to another class's.
  assert.ok(cosine(vec(3, 2), vec(3, 0)) > cosine(vec(3, 2), vec(4, 0)));
});

test('synthetic features are deterministic in the seed', () => {
  const a = makeSyntheticFeatures({ classes: 30, seed: 7 });
  const b = makeSyntheticFeatures({ classes: 30, seed: 7 });
  const c = makeSyntheticFeatures({ classes: 30, seed: 8 });
  assert.deepEqual(a.data, b.data);
  assert.notDeepEqual(a.data, c.data);
  assert.match(a.source, /synthetic/);
});

test('label scheme counts and coverage (spec §1.3)', () => {
  for (const [L, w, nTrain, nVal] of [
    [5, [8, 2, 0], 8, 2],
    [10, [36, 9, 0], 36, 9],
    [15, [84, 21, 0], 84, 21],
  ] as const) {
    const s = makeLabelScheme(L, [...w] as [number, number, number], 20);
    assert.equal(s.train.length, nTrain);
    assert.equal(s.val.length, nVal);
    assert.equal(s.test.length, 0);
    const all = [...s.train, ...s.val].map(([a, b]) => {
      assert.ok(a < b && b < L);
      return pairKey(a, b);
    });
    assert.equal(new Set(all).size, (L * (L - 1)) / 2, 'every unordered pair exactly once');
    assert.equal(new Set(s.train.flat()).size, L, 'every label appears in a train pair');
  }
  assert.deepEqual(makeLabelScheme(5, [8, 2, 0], 20), labels, 'deterministic');
  const t = makeLabelScheme(5, [6, 2, 2], 3);
  assert.deepEqual([t.train.length, t.val.length, t.test.length], [6, 2, 2]);
  // 3 labels, 1 train pair can never cover all labels.
  assert.throws(() => makeLabelScheme(3, [1, 2, 0], 0), /covers every label.*100 seeds/);
  assert.throws(() => makeLabelScheme(1, [8, 2, 0], 0), /numLabels/);
});

test('splitRanges: contiguous, train first, validated', () => {
  assert.deepEqual(splitRanges([50, 1473, 100]), { train: [0, 50], val: [50, 1523], test: [1523, 1623] });
  assert.deepEqual(splitRanges([1, 4, 0]), { train: [0, 1], val: [1, 5], test: [5, 5] });
  assert.throws(() => splitRanges([50, -1, 100]), /non-negative integers.*-1/);
  assert.throws(() => splitRanges([1.5, 0, 0]), /non-negative integers/);
  assert.throws(() => splitRanges([1, 2] as unknown as [number, number, number]), /exactly 3/);
});

test('train batches satisfy the §1.1 invariants and stay in the train splits', () => {
  const rng = new Rng(123);
  const trainPairs = new Set(labels.train.map(([a, b]) => pairKey(a, b)));
  let first = 0,
    total = 0;
  const seenClasses = new Set<number>();
  for (let step = 0; step < 20; step++) {
    const b = task.sampleBatch(rng, 500);
    checkInvariants(b);
    for (let i = 0; i < b.size; i++) {
      for (let k = 0; k < 3; k++) {
        assert.ok(inRange(b.classes[i * 3 + k], task.classSplit.train));
        assert.equal(b.exemplarIdx[i * 3 + k], 0);
        seenClasses.add(b.classes[i * 3 + k]);
      }
      assert.ok(trainPairs.has(pairKey(b.labels[i * 3], b.labels[i * 3 + 1])));
      first += b.correct[i] === 0 ? 1 : 0;
      total++;
    }
  }
  assert.ok(Math.abs(first / total - 0.5) < 0.03, `match first ${first / total}`);
  assert.equal(seenClasses.size, 50);
  // Training query is bit-identical to the matching context exemplar.
  const b = task.sampleBatch(new Rng(1), 4);
  const x = gatherExemplars(bank, b);
  assert.equal(x.length, 4 * 3 * 512);
  for (let i = 0; i < 4; i++) {
    const k = b.correct[i];
    assert.deepEqual(
      x.subarray((i * 3 + 2) * 512, (i * 3 + 3) * 512),
      x.subarray((i * 3 + k) * 512, (i * 3 + k + 1) * 512),
    );
    assert.deepEqual(x.subarray((i * 3 + 2) * 512, (i * 3 + 3) * 512), vec(b.classes[i * 3 + 2], 0));
  }
});

/**
 * xoshiro128** seeded by the splitmix32-style mix of rng.ts, written the plain way in BigInt arithmetic modulo
 * 2^32 (the engine's Rng keeps its state in a Uint32Array and int32 operations).
 */
function referenceU32(seed: number, stream: number, n: number): bigint[] {
  const M = 0xffffffffn;
  const mul = (a: bigint, b: bigint) => (a * b) & M;
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M;
  let x = mul(BigInt.asUintN(32, BigInt(seed)), 0x9e3779b1n) ^ mul(BigInt.asUintN(32, BigInt(stream)), 0x85ebca6bn);
  x ^= 0x6a09e667n;
  const next = () => {
    x = (x + 0x9e3779b9n) & M;
    let z = mul(x ^ (x >> 16n), 0x85ebca6bn);
    z = mul(z ^ (z >> 13n), 0xc2b2ae35n);
    return z ^ (z >> 16n);
  };
  let [s0, s1, s2, s3] = [next(), next(), next(), next()];
  if ((s0 | s1 | s2 | s3) === 0n) s0 = 1n;
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    out.push(mul(rotl(mul(s1, 5n), 7n), 9n));
    const t = (s1 << 9n) & M;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11n);
  }
  return out;
}

test('Rng: xoshiro128** words as the plain BigInt reference; uniform and normal built from them', () => {
  for (const [seed, stream] of [
    [0, 0],
    [1, 7],
    [-5, 3],
    [2 ** 31 + 12345, 0xfffffff0],
  ]) {
    const want = referenceU32(seed, stream, 2000);
    const r = new Rng(seed, stream);
    assert.deepEqual(
      want.map(() => BigInt(r.nextU32())),
      want,
      `seed ${seed}, stream ${stream}`,
    );
    // uniform: 27 + 26 bits of two words; normal: Box–Muller on two uniforms, the sine value kept for the next call.
    const [a, b, c, d] = referenceU32(seed, stream, 4).map(Number);
    const u = ((a >>> 5) * 2 ** 26 + (b >>> 6)) / 2 ** 53,
      v = ((c >>> 5) * 2 ** 26 + (d >>> 6)) / 2 ** 53;
    const g = new Rng(seed, stream);
    assert.equal(new Rng(seed, stream).uniform(), u);
    const radius = Math.sqrt(-2 * Math.log(u));
    assert.equal(g.normal(), radius * Math.cos(2 * Math.PI * v));
    assert.equal(g.normal(), radius * Math.sin(2 * Math.PI * v));
  }
});

test('sampleBatch is deterministic given the rng', () => {
  assert.deepEqual(task.sampleBatch(new Rng(5), 100), task.sampleBatch(new Rng(5), 100));
  assert.notDeepEqual(task.sampleBatch(new Rng(5), 100), task.sampleBatch(new Rng(6), 100));
});

test('eval sets use their splits (spec §1.4)', () => {
  const sets = task.evalSets(1);
  assert.deepEqual(
    sets.map((s) => s.spec.name),
    ['fsl_train', 'fsl_val_rl', 'fsl_train_valex', 'fsl_test_class'],
  );
  assert.deepEqual(
    sets.map((s) => s.spec.legend),
    ['train', 'test (relabel)', 'train (new exemplars)', 'test (exemplars)'],
  );
  const pairsOf = (split: 'train' | 'val') => new Set(labels[split].map(([a, b]) => pairKey(a, b)));
  for (const { spec, batch } of sets) {
    assert.equal(batch.size, 1000);
    checkInvariants(batch);
    const pairs = pairsOf(spec.labelPairs as 'train' | 'val');
    const exemplarsSeen = new Set<number>();
    for (let i = 0; i < batch.size; i++) {
      assert.ok(pairs.has(pairKey(batch.labels[i * 3], batch.labels[i * 3 + 1])), `${spec.name} label pair`);
      for (let k = 0; k < 3; k++) {
        assert.ok(inRange(batch.classes[i * 3 + k], task.classSplit[spec.classes]), `${spec.name} class`);
        assert.ok(inRange(batch.exemplarIdx[i * 3 + k], task.exemplarSplit[spec.exemplars]), `${spec.name} exemplar`);
        exemplarsSeen.add(batch.exemplarIdx[i * 3 + k]);
      }
    }
    if (spec.name === 'fsl_train_valex') assert.deepEqual([...exemplarsSeen].sort(), [1, 2, 3, 4]);
  }
  const valex = sets[2].batch;
  let differ = 0;
  for (let i = 0; i < valex.size; i++)
    differ += valex.exemplarIdx[i * 3 + 2] !== valex.exemplarIdx[i * 3 + valex.correct[i]] ? 1 : 0;
  assert.ok(Math.abs(differ / valex.size - 0.75) < 0.05, `query ≠ context image w.p. 3/4: ${differ / valex.size}`);
  // Every sequence of fsl_val_rl uses a pairing never seen in training.
  assert.equal(sets[1].spec.labelPairs, 'val');
  assert.equal(sets[3].spec.classes, 'test');
});

test('eval sets are deterministic per seed and generated once', () => {
  const other = new TaskData(bank, DEF, labels);
  const a = task.evalSets(1),
    b = other.evalSets(1);
  assert.deepEqual(a, b);
  assert.equal(task.evalSets(1), a, 'cached');
  assert.notDeepEqual(other.evalSets(2)[0].batch, a[0].batch);
  // Independent streams: the evaluators are not copies of one another.
  assert.notDeepEqual(a[0].batch.correct, a[1].batch.correct);
});

test('eval sets skip evaluators with empty splits', () => {
  const cfg: DataConfig = { ...DEF, exemplarSplit: [1, 0, 0] };
  assert.deepEqual(
    new TaskData(bank, cfg, labels).evalSets(1).map((s) => s.spec.name),
    ['fsl_train', 'fsl_val_rl', 'fsl_test_class'],
  );
});

test('dense training enumeration: 78,400 distinct sequences, each once (spec §5.2)', () => {
  const d = task.denseTrainSequences();
  assert.equal(d.size, 78400);
  checkInvariants(d);
  const trainPairs = new Set(labels.train.map(([a, b]) => pairKey(a, b)));
  const seen = new Set<string>();
  for (let i = 0; i < d.size; i++) {
    const o = i * 3;
    assert.equal(d.correct[i], i < d.size / 2 ? 0 : 1, 'first half queries the first item');
    for (let k = 0; k < 3; k++) {
      assert.ok(inRange(d.classes[o + k], task.classSplit.train));
      assert.equal(d.exemplarIdx[o + k], 0);
    }
    assert.ok(trainPairs.has(pairKey(d.labels[o], d.labels[o + 1])));
    seen.add(`${d.classes[o]},${d.labels[o]},${d.classes[o + 1]},${d.labels[o + 1]},${d.classes[o + 2]}`);
  }
  assert.equal(seen.size, 78400);
  // Every sampled training sequence is one of them.
  const b = task.sampleBatch(new Rng(9), 2000);
  for (let i = 0; i < b.size; i++) {
    const o = i * 3;
    assert.ok(seen.has(`${b.classes[o]},${b.labels[o]},${b.classes[o + 1]},${b.labels[o + 1]},${b.classes[o + 2]}`));
  }
});

test('clear errors for bad configs', () => {
  assert.throws(() => new TaskData(bank, { ...DEF, contextLen: 3 }, labels), /contextLen 3/);
  assert.throws(
    () => new TaskData(bank, { ...DEF, classSplit: [50, 1473, 101] }, labels),
    /classSplit \[50,1473,101\].*1624.*1623/,
  );
  assert.throws(
    () => new TaskData(bank, { ...DEF, exemplarSplit: [1, 4, 1] }, labels),
    /exemplarSplit \[1,4,1\].*6.*5/,
  );
  assert.throws(() => new TaskData(bank, { ...DEF, classSplit: [50, -3, 100] }, labels), /non-negative/);
  assert.throws(() => new TaskData(bank, { ...DEF, numLabels: 10 }, labels), /numLabels is 10/);
  assert.throws(() => task.sampleBatch(new Rng(0), 10, 'train', 'train', 'test'), /test label-pair split is empty/);
  assert.throws(
    () => new TaskData(bank, { ...DEF, classSplit: [1, 1522, 100] }, labels).sampleBatch(new Rng(0), 1),
    /1 classes/,
  );
  assert.ok(Object.isFrozen(DEF) && Object.isFrozen(DEF.classSplit), 'defaults are frozen');
});

test('loadTaskData builds the synthetic default task', async () => {
  const t = await loadTaskData({ ...DEF, classSplit: [50, 10, 100] });
  assert.deepEqual([t.bank.classes, t.bank.exemplars, t.bank.dim], [1623, 5, 512]);
  const expected = makeStandIn(DEF.standIn, {
    classes: 1623,
    exemplars: 5,
    dim: 512,
    seed: DEF.featureSeed,
    classScale: DEF.classScale,
    exemplarNoise: DEF.exemplarNoise,
  });
  assert.deepEqual(t.bank.data.subarray(0, 5 * 512 * 50), expected.data.subarray(0, 5 * 512 * 50));
  assert.deepEqual(t.labels, labels);
  assert.deepEqual(t.classSplit.test, [60, 160]);
});
