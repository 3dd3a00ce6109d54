/**
 * The clamp registry (src/engine/clamps/kinds.ts) is the single source of truth, and every kind in it is
 * exercised: its short form parses to its canonical form; on the TensorFlow.js engine it writes exactly the
 * sites it says it writes (a constant clamp: exactly its host values where its masks are set); the fast
 * engine runs it forward-only where the registry says so, with TF.js's numbers; and it trains end to end on
 * the engine the registry predicts (the CLI process itself, its --clamp short forms into run.json, is run for
 * one kind of each engine). README's clamp table and the CLI help are the registry's. A new kind is tested by
 * being added.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tf, initBackend } from '../../src/engine/model/tf';
import { DEFAULT_MODEL_CONFIG } from '../../src/engine/model/config';
import { initParams } from '../../src/engine/model/params';
import { encodeCheckpoint } from '../../src/engine/model/checkpoint';
import { TfWeights } from '../../src/engine/model/tfModel';
import { site, siteShapes } from '../../src/engine/model/sites';
import { hostBatchOf } from '../../src/engine/model/hostBatch';
import { clampedForward, hostOverrides } from '../../src/engine/clamps/apply';
import { CLAMP_KIND_DEFS, clampReadmeTable, clampHelpLines, clampKinds, defOf } from '../../src/engine/clamps/kinds';
import { describeClamp, normalizeClamps, parseClampFlag, ClampSpec } from '../../src/engine/clamps/spec';
import {
  batchFree,
  fastForwardClampsUnsupported,
  fastTrainingUnsupported,
  readsExemplars,
} from '../../src/engine/clamps/support';
import { Forward } from '../../src/engine/forward';
import { randomInputs, toInputs, maxAbsDiff } from './helpers';
import { resolveRunConfig } from '../../src/engine/train/runConfig';
import { resolvePreset } from '../../src/engine/science/presets';
import { runTraining } from '../../src/engine/train/trainer';
import { RunDir } from '../../src/engine/io';
import { cliArgv } from './procHelpers';
import { HEAD_PATTERN_KINDS } from '../../src/shared/headMarks';

const ROOT = path.join(__dirname, '..', '..');
const C = DEFAULT_MODEL_CONFIG,
  B = 6;
let dir: string, donor: string;

before(async () => {
  await initBackend('wasm');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'il-registry-'));
  donor = path.join(dir, 'donor.safetensors');
  fs.writeFileSync(donor, encodeCheckpoint({ config: C, sequences: 1000, params: initParams(C, 9) }));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A kind's short-form example with a real checkpoint for the graft clamps. */
const example = (k: string) => CLAMP_KIND_DEFS.find((d) => d.kind === k)!.example.replace('CKPT', donor);

test("README's clamp table and the CLI help are generated from the registry", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  assert.ok(
    readme.includes(clampReadmeTable()),
    'README.md holds clampReadmeTable() verbatim (regenerate the table after changing kinds.ts)',
  );
  const help = spawnSync(process.execPath, cliArgv(['--help']), { encoding: 'utf8' }).stdout;
  const squash = (t: string) => t.replace(/\s+/g, ' ');
  for (const line of clampHelpLines('')) assert.ok(squash(help).includes(squash(line)), `--help lists: ${line}`);
  assert.deepEqual(
    clampKinds().map((k) => k.kind),
    CLAMP_KIND_DEFS.map((d) => d.kind),
  );
  // Spec §4's kinds cite their section; the path clamps, which the spec does not have, their issue.
  for (const k of clampKinds()) assert.ok(k.summary && k.effect && /^(§4\.\d+|issue \d+)$/.test(k.section), k.kind);
});

for (const d of CLAMP_KIND_DEFS) {
  test(`${d.kind}: short form, canonical form, what it writes, both engines`, () => {
    const spec = parseClampFlag(example(d.kind), C);
    assert.equal(spec.kind, d.kind);
    assert.deepEqual(normalizeClamps([spec], C), [spec], 'the canonical form normalises to itself');
    assert.ok(describeClamp(spec).startsWith(d.kind === 'copy' ? 'copy from' : d.kind), describeClamp(spec));
    const x = randomInputs(C, B, 7),
      params = initParams(C, 5);
    const w = new TfWeights(C, params, false);
    const all = new Set(Object.keys(siteShapes(C, B)));
    const run = (clamps: ClampSpec[]) => {
      const acts = new Map<string, Float32Array>();
      tf.tidy(() => {
        const r = clampedForward(C, w.weights, toInputs(C, B, x), { labels: x.y, size: B, exemplars: x.x }, clamps, 0, {
          record: true,
        });
        for (const [k, v] of r.acts) acts.set(k, Float32Array.from(v.dataSync()));
        acts.set(site.logits + '@query', Float32Array.from(r.logits.dataSync()));
      });
      return acts;
    };
    const clean = run([]),
      clamped = run([spec]);
    const writes = defOf(spec).writes(spec, C);
    for (const s of writes) assert.ok(all.has(s), `${s} is a site`);
    if (d.kind === 'preserve') {
      // Preserving alone copies the clean pass into itself; with Layer 1's head 1 ablated, the preserved
      // sites of the last layer keep their clean values where an unpreserved run's move.
      const abl = normalizeClamps([{ kind: 'ablate', heads: ['L1H1'] }], C);
      const moved = run(abl),
        kept = run([...abl, spec]);
      for (const s of writes.filter((s) => s.startsWith('blocks.1.'))) {
        assert.deepEqual(kept.get(s), clean.get(s), `${s} preserved`);
        assert.ok(maxAbsDiff(moved.get(s)!, clean.get(s)!) > 1e-6, `${s} moves without preserve`);
      }
    } else if (d.kind === 'stop-gradient') {
      // Only gradients change: the forward is the clean one (test/unit/paths-clamps.test.ts checks the gradient).
      for (const s of writes) assert.ok(maxAbsDiff(clamped.get(s)!, clean.get(s)!) === 0, `${s} unchanged`);
    } else {
      // The first site it writes changes (graft-out changes only the output: the donor's logits).
      const first = writes[0] === site.logits ? site.logits + '@query' : writes[0];
      assert.ok(maxAbsDiff(clamped.get(first)!, clean.get(first)!) > 1e-6, `${d.kind} changes ${first}`);
    }
    if (d.application === 'host') {
      // A constant clamp: exactly its host values where its masks are set.
      for (const o of hostOverrides(C, { labels: x.y, size: B, exemplars: x.x }, [spec], 0).values()) {
        assert.ok(writes.includes(o.site), `${o.site} is declared in writes`);
        const got = clamped.get(o.site)!;
        for (let i = 0; i < o.mask.length; i++)
          if (o.mask[i]) assert.equal(got[i], Math.fround(o.value[i]), `${o.site}[${i}]`);
      }
    }
    // The fast engine forward-only, where the registry says it runs it, gives TF.js's logits.
    const why = fastForwardClampsUnsupported(C, [spec]);
    const fwd = new Forward(C, { params }, { engine: why ? 'tfjs' : 'fast' });
    const out = fwd.run(hostBatchOf(B, x.x, x.y), [spec]);
    assert.equal(out.engine, why ? 'tfjs' : 'fast');
    const ref = clamped.get(site.logits + '@query')!;
    for (let i = 0; i < ref.length; i++) {
      const tol = Math.abs(ref[i]) >= 1e8 ? 1e-7 * Math.abs(ref[i]) : 2e-4 * Math.max(1, Math.abs(ref[i]));
      assert.ok(Math.abs(out.logits[i] - ref[i]) <= tol, `logit ${i}: ${out.logits[i]} vs ${ref[i]}`);
    }
    fwd.dispose();
    w.dispose();
  });
}

test('every kind declares whether its host overrides read the batch, and they do exactly as declared', () => {
  // Two batches of one size with different labels and exemplars (randomInputs: seeds 7 and 8).
  const a = randomInputs(C, B, 7),
    b = randomInputs(C, B, 8);
  const ov = (spec: ClampSpec, labels: Int32Array, exemplars: Float32Array | undefined) =>
    [...hostOverrides(C, { labels, size: B, exemplars }, [spec], 0).values()].map((o) => ({
      site: o.site,
      value: Array.from(o.value),
      mask: Array.from(o.mask),
    }));
  for (const d of CLAMP_KIND_DEFS) {
    assert.equal(typeof d.batchFree, 'boolean', `${d.kind} declares batchFree`);
    assert.equal(typeof d.readsExemplars, 'boolean', `${d.kind} declares readsExemplars`);
    const spec = parseClampFlag(example(d.kind), C);
    const mine = ov(spec, a.y, a.x);
    if (d.batchFree) assert.deepEqual(ov(spec, b.y, b.x), mine, `${d.kind}: batch-free, the same for another batch`);
    else assert.notDeepEqual(ov(spec, b.y, b.x), mine, `${d.kind}: not batch-free, so another batch changes it`);
    if (d.readsExemplars) assert.notDeepEqual(ov(spec, a.y, b.x), mine, `${d.kind}: other exemplars change it`);
    else assert.deepEqual(ov(spec, a.y, undefined), mine, `${d.kind}: built without the exemplars`);
  }
  // The engines' list-level questions are the kinds' answers.
  assert.equal(batchFree([parseClampFlag(example('ablate'), C), parseClampFlag(example('match'), C)]), false);
  assert.equal(readsExemplars([parseClampFlag(example('induction'), C)]), false);
});

test("the kinds the views and the extension mark as pattern-clamped (they do not load the engine) are the registry's", () => {
  assert.deepEqual(
    [...HEAD_PATTERN_KINDS].sort(),
    CLAMP_KIND_DEFS.filter((d) => 'headPattern' in d && d.headPattern)
      .map((d) => d.kind)
      .sort(),
  );
});

/** Runs the CLI (the built bundle when it is up to date: it starts faster than tsx). */
function cliAsync(args: string[]): Promise<{ code: number; err: string }> {
  const argv = cliArgv(args);
  return new Promise((resolve) => {
    const p = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b) => {
      err += b;
    });
    p.on('close', (code) => resolve({ code: code ?? -1, err }));
  });
}

/** One evaluation at 0 and one step: the smoke preset cut to 32 sequences. */
const TINY = { data: { evalSize: 16 }, train: { evalEvery: 32, checkpointEvery: 0, sequences: 32 } };

/** The run folder `id` holds a completed run of exactly `spec`, trained on the engine the registry predicts. */
function assertTrained(id: string, spec: ClampSpec): void {
  const run = JSON.parse(fs.readFileSync(path.join(dir, 'runs', id, 'run.json'), 'utf8'));
  assert.equal(run.status, 'completed', id);
  assert.deepEqual(run.config.clamps, [spec], `${id}: run.json holds the canonical form`);
  assert.equal(
    run.engine,
    fastTrainingUnsupported(C, [spec]) ? 'tfjs' : 'fast',
    `${id} trained on the predicted engine`,
  );
}

test('every clamp kind trains end to end (the trainer, in this process), on the engine the registry predicts', async () => {
  // In-process: what is claimed is the training and the engine choice; the CLI process is the next test's.
  for (const d of CLAMP_KIND_DEFS) {
    const spec = parseClampFlag(example(d.kind), C);
    const config = resolveRunConfig({ ...TINY, clamps: [spec] }, resolvePreset('smoke'));
    const fin = await runTraining(config, RunDir.create(path.join(dir, 'runs'), d.kind), {
      emit: () => {},
      shouldStop: () => false,
    });
    assert.equal(fin.status, 'completed', d.kind);
    assertTrained(d.kind, spec);
  }
});

test(
  "the CLI trains with a clamp's short form (a TF.js kind with a file in it, a fast-engine kind with a value)",
  { timeout: 600_000 },
  async () => {
    const cfg = path.join(dir, 'tiny.json');
    fs.writeFileSync(cfg, JSON.stringify(TINY));
    const kinds = ['graft-in', 'prev-token'];
    const specs = kinds.map((k) => parseClampFlag(example(k), C));
    assert.deepEqual(
      specs.map((s) => fastTrainingUnsupported(C, [s]) === null),
      [false, true],
      'one kind of each engine',
    );
    const results = await Promise.all(
      kinds.map((k) =>
        cliAsync([
          'train',
          '--preset',
          'smoke',
          '--config',
          cfg,
          '--out',
          path.join(dir, 'runs'),
          '--run-id',
          `cli-${k}`,
          '--clamp',
          example(k),
        ]),
      ),
    );
    kinds.forEach((k, i) => {
      const r = results[i];
      assert.equal(r.code, 0, `${k}: ${r.err.split('\n').filter(Boolean).slice(-2).join(' | ')}`);
      assertTrained(`cli-${k}`, specs[i]);
    });
  },
);
