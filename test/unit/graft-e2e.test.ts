/**
 * The graft clamps (spec §4.9) end to end, from the CLI and from the training child: the donor is read
 * before training (errors show early, no run folder left) but turned into tensors only once the engine
 * has picked its backend (a donor made earlier failed every run with "backend 'wasm' has not yet been
 * initialized").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolvePreset } from '../../src/engine/science/presets';
import { encodeCheckpoint } from '../../src/engine/model/checkpoint';
import { initParams } from '../../src/engine/model/params';
import { cliSync, ChildRun, tmpDir, rowsOf, runJson } from './procHelpers';

const smokeModel = resolvePreset('smoke').model;

/** A donor with other weights than the run's init (seed 5), so its graft changes the losses. */
function donor(dir: string): string {
  const p = path.join(dir, 'donor.safetensors');
  fs.writeFileSync(p, encodeCheckpoint({ config: smokeModel, sequences: 0, params: initParams(smokeModel, 123) }));
  return p;
}

test(
  'graft-in and graft-out train from the CLI and change the run (donor read before, tensors after the backend)',
  { timeout: 300_000 },
  () => {
    const dir = tmpDir('il-graft-');
    const d = donor(dir);
    const out = path.join(dir, 'runs');
    // Half the smoke preset's evaluation sets: the grafts run on TF.js, where evaluation is most of a short run.
    const cfg = path.join(dir, 'eval50.json');
    fs.writeFileSync(cfg, JSON.stringify({ data: { evalSize: 50 } }));
    const base = ['train', '--preset', 'smoke', '--sequences', '64', '--config', cfg, '--out', out];
    const plain = cliSync([...base, '--run-id', 'plain']);
    assert.equal(plain.code, 0, plain.err);
    for (const [id, clamp] of [
      ['in', `graft-in:${d},till=0`],
      ['out', `graft-out:${d},from-layer=0`],
    ]) {
      const r = cliSync([...base, '--run-id', id, '--clamp', clamp]);
      assert.equal(r.code, 0, r.err);
      const rj = runJson(path.join(out, id));
      assert.equal(rj.status, 'completed');
      assert.match(rj.engine ?? '', /^tfjs/, 'grafts run on the TensorFlow.js engine');
      assert.equal(rj.config.clamps[0].kind, `graft-${id}`);
      const [g0, p0] = [rowsOf(path.join(out, id))[0], rowsOf(path.join(out, 'plain'))[0]];
      assert.ok(
        Math.abs(g0.eval.fsl_train.loss - p0.eval.fsl_train.loss) > 1e-3,
        `graft-${id} changes the loss at sequence 0: ${g0.eval.fsl_train.loss} vs ${p0.eval.fsl_train.loss}`,
      );
    }
    // A donor that is missing or of another shape: one line, exit 2, and no run folder left behind.
    const missing = cliSync([
      ...base,
      '--run-id',
      'missing',
      '--clamp',
      `graft-in:${path.join(dir, 'nope.safetensors')}`,
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /^induction-lab: cannot read checkpoint .*nope\.safetensors: ENOENT\n$/);
    const other = path.join(dir, 'four-heads.safetensors');
    const m4 = { ...smokeModel, numHeads: 4 };
    fs.writeFileSync(other, encodeCheckpoint({ config: m4, sequences: 0, params: initParams(m4, 1) }));
    const shape = cliSync([...base, '--run-id', 'shape', '--clamp', `graft-out:${other}`]);
    assert.equal(shape.code, 2);
    assert.match(shape.err, /graft checkpoint .*four-heads\.safetensors has model\.numHeads = 4, this model has 8/);
    assert.deepEqual(fs.readdirSync(out).sort(), ['in', 'out', 'plain']);
  },
);

test("graft-in trains in the training child (the extension's and the sweeps' path)", { timeout: 300_000 }, async () => {
  const dir = tmpDir('il-graft-child-');
  const d = donor(dir);
  const child = new ChildRun();
  child.send({
    type: 'start',
    preset: 'smoke',
    config: {
      train: { sequences: 64 },
      data: { evalSize: 50 },
      clamps: [{ kind: 'graft-in', checkpoint: d, tillLayer: 0 }],
    },
    runsRoot: dir,
    runId: 'g',
  });
  const end = await child.done;
  assert.equal(end.code, 0, child.err);
  const fin = child.msgs.find((m) => m.type === 'finished');
  assert.equal(
    fin?.type === 'finished' && fin.status,
    'completed',
    JSON.stringify(child.msgs.filter((m) => m.type === 'error')),
  );
  assert.equal(runJson(path.join(dir, 'g')).status, 'completed');
  assert.deepEqual(
    rowsOf(path.join(dir, 'g')).map((r) => r.sequences),
    [0, 64],
  );
});
