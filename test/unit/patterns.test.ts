/**
 * `induction-lab patterns` (src/engine/measures/patterns.ts): the attention view's data on a tiny run folder on
 * disk — clamps active at the checkpoint show as clamped, the aligned mean re-indexes the query row so
 * that its ℓ2 − ℓ1 difference is the induction strength, a typed sequence equals the same eval-set
 * sequence, the nearest checkpoint is reported, and bad input gets one clear line.
 * Run: node --import tsx --test test/unit/patterns.test.ts
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/model/tf';
import { RunDir } from '../../src/engine/io';
import { resolveRunConfig, RunConfig } from '../../src/engine/train/runConfig';
import { initParams } from '../../src/engine/model/params';
import { encodeCheckpoint } from '../../src/engine/model/checkpoint';
import { loadTaskData } from '../../src/engine/data';
import { computePatterns } from '../../src/engine/measures/patterns';
import { formatSequenceSpec } from '../../src/shared/attentionViews';
import { denseHeadScores, makeMeasureContext, disposeContext } from '../../src/engine/measures/dense';

let root: string, runPath: string, run: RunConfig;

before(async () => {
  await initBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-patterns-'));
  // A tiny model; an induction clamp on L2H3 for the whole run, a previous-token clamp released at 100.
  run = resolveRunConfig({
    name: 't',
    model: { dModel: 16 },
    data: { evalSize: 24 },
    clamps: [
      { kind: 'induction', heads: ['L2H3'], strength: 0.9 },
      { kind: 'prev-token', heads: ['L1H2'], strength: 1, until: 100 },
    ],
  });
  runPath = path.join(root, 'run-a');
  const rd = RunDir.create(root, 'run-a');
  rd.writeRunJson({ id: rd.id, name: 't', status: 'completed', config: run, sequences: 320 });
  for (const [i, s] of [0, 160, 320].entries()) {
    rd.writeCheckpoint(s, encodeCheckpoint({ config: run.model, sequences: s, params: initParams(run.model, 5 + i) }));
  }
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

const near = (a: number, b: number, tol = 1e-5) => Math.abs(a - b) <= tol;

test('one sequence: the clamps active at the checkpoint show as clamped, released ones do not', async () => {
  const at0 = await computePatterns({ runDir: runPath, checkpoint: 0, mode: 'single', sequence: 2 });
  const c = at0.sequence!.correct!;
  const q = at0.layers[1][3][4];
  // §4.4: s on the matching label token (position 1 or 3), 1 − s on the other, 0 elsewhere.
  assert.ok(
    near(q[2 * c + 1], 0.9) && near(q[2 * (1 - c) + 1], 0.1) && near(q[0] + q[2] + q[4], 0),
    `L2H3 query row ${q}`,
  );
  // §4.3 at 0: P[i, i−1] = 1 for i ≥ 1 on L1H2; released at 100, so not at checkpoint 160.
  for (let i = 1; i < 5; i++) assert.ok(near(at0.layers[0][2][i][i - 1], 1));
  const at160 = await computePatterns({ runDir: runPath, checkpoint: 160, mode: 'single', sequence: 2 });
  assert.ok(!near(at160.layers[0][2][4][3], 1), 'the previous-token clamp was released at 100');
  assert.deepEqual(at160.clamps, ['induction L2H3 (s = 0.9)']);
  assert.equal(at0.clamps.length, 2);
  for (const l of at160.layers) {
    for (const hd of l)
      hd.forEach((row, i) =>
        row.forEach((v, k) => {
          if (k > i) assert.equal(v, 0, 'causal');
        }),
      );
  }
});

test('aligned mean: the correct label at ℓ2 (ℓ2 − ℓ1 = induction strength); the plain mean mixes them', async () => {
  const aligned = await computePatterns({ runDir: runPath, checkpoint: 320, mode: 'aligned', evalSet: 'fsl_train' });
  const plain = await computePatterns({ runDir: runPath, checkpoint: 320, mode: 'average', evalSet: 'fsl_train' });
  assert.equal(aligned.alignedRow, 4);
  assert.equal(aligned.evalSetSize, 24);
  const qa = aligned.layers[1][3][4],
    qp = plain.layers[1][3][4];
  assert.ok(near(qa[3], 0.9) && near(qa[1], 0.1), `aligned clamped row ${qa}`);
  // The plain mean: 0.9·f + 0.1·(1 − f) on ℓ2, f = share of sequences whose answer is ℓ2.
  const task = await loadTaskData(run.data);
  const batch = task.evalSets(run.train.evalSeed).find((s) => s.spec.name === 'fsl_train')!.batch;
  const f = Array.from(batch.correct).filter((x) => x === 1).length / batch.size;
  assert.ok(near(qp[3], 0.9 * f + 0.1 * (1 - f)) && near(qp[1], 0.1 * f + 0.9 * (1 - f)), `plain row ${qp}, f = ${f}`);
  // Rows other than the query are the same in both; for free heads ℓ2 − ℓ1 aligned = IS of spec §5.3.
  for (let l = 0; l < 2; l++) {
    for (let h = 0; h < 8; h++) assert.deepEqual(aligned.layers[l][h].slice(0, 4), plain.layers[l][h].slice(0, 4));
  }
  const ctx = makeMeasureContext({
    run,
    params: initParams(run.model, 7),
    task,
    sequences: 320,
    batch: { batch, denseSize: batch.size, subsample: null },
    includeRunAblations: false,
  });
  try {
    const is = denseHeadScores(ctx, run.clamps).inductionStrength;
    for (let h = 0; h < 8; h++) {
      const row = aligned.layers[1][h][4];
      assert.ok(near(row[3] - row[1], is[h], 1e-5), `H${h}: aligned ${row[3] - row[1]} vs IS ${is[h]}`);
    }
  } finally {
    disposeContext(ctx);
  }
});

test('a typed sequence equals the same eval-set sequence; the nearest checkpoint is reported', async () => {
  const one = await computePatterns({
    runDir: runPath,
    checkpoint: 150,
    mode: 'single',
    evalSet: 'fsl_val_rl',
    sequence: 5,
  });
  assert.equal(one.sequences, 160);
  assert.equal(one.requested, 150);
  assert.match(one.note, /fsl_val_rl sequence #5 at checkpoint 160/);
  const typed = await computePatterns({ runDir: runPath, checkpoint: 160, mode: 'single', custom: one.sequence!.text });
  assert.equal(typed.requested, undefined);
  assert.equal(formatSequenceSpec(typed.sequence!), one.sequence!.text);
  for (let l = 0; l < 2; l++) {
    for (let h = 0; h < 8; h++) {
      typed.layers[l][h].forEach((row, i) => row.forEach((v, k) => assert.ok(near(v, one.layers[l][h][i][k]))));
    }
  }
  assert.equal(typed.loss !== undefined, one.sequence!.correct !== null);
});

test('bad input: one line naming the problem', async () => {
  const bad = async (a: Parameters<typeof computePatterns>[0], re: RegExp) => assert.rejects(computePatterns(a), re);
  await bad({ runDir: runPath, mode: 'single', evalSet: 'nope' }, /unknown eval set "nope" \(this run has fsl_train/);
  await bad({ runDir: runPath, mode: 'single', sequence: 24 }, /--sequence must be 0…23/);
  await bad({ runDir: runPath, mode: 'single', custom: '1 2 3' }, /--custom: a sequence is 5 tokens/);
  await bad({ runDir: runPath, mode: 'single', custom: '99999 0 1 1 99999' }, /class 99999 is out of range/);
  await bad({ runDir: runPath, mode: 'aligned', custom: '1 0 2 1 1' }, /use it with --mode single/);
  await bad({ runDir: path.join(root, 'missing'), mode: 'single' }, /missing/);
});
