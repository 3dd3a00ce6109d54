/**
 * The engine's clamped forward for the Python tests' differential checks (run with `node --import tsx`):
 * reads {"checkpoint", "exemplars" [B][3][D], "labels" [B][3], "sites": [...], "runs": [{"clamps", "sequences"}]}
 * as JSON on stdin and prints, per run, {"logits": [B][L], "sites": {name: nested array}} (the attention
 * sites [B, H, T, T] as the engine computes them). One process for every clamp combination: tsx starts slowly.
 */
import * as fs from 'node:fs';
import { tf, initBackend } from '../../src/engine/model/tf';
import { readCheckpoint } from '../../src/engine/model/checkpoint';
import { TfWeights } from '../../src/engine/model/tfModel';
import { clampedForward } from '../../src/engine/clamps/apply';
import { normalizeClamps, parseClampFlag } from '../../src/engine/clamps/spec';

(async () => {
  const req = JSON.parse(fs.readFileSync(0, 'utf8'));
  await initBackend('cpu');
  const ck = readCheckpoint(req.checkpoint);
  const c = ck.config;
  const B = req.labels.length;
  const x = Float32Array.from(req.exemplars.flat(2));
  const y = Int32Array.from(req.labels.flat());
  const w = new TfWeights(c, ck.params, false);
  const inputs = { exemplars: tf.tensor3d(x, [B, 3, c.inputDim]), labels: tf.tensor2d(y, [B, 3], 'int32') };
  const out = (req.runs as Array<{ clamps: unknown; sequences?: number }>).map((run) => tf.tidy(() => {
    const raw = (run.clamps as unknown[]).map((k) => (typeof k === 'string' ? parseClampFlag(k, c) : k));
    const r = clampedForward(c, w.weights, inputs, { labels: y, size: B, exemplars: x }, normalizeClamps(raw, c),
      run.sequences ?? 0, { record: new Set(req.sites as string[]) });
    const sites: Record<string, unknown> = {};
    for (const s of req.sites as string[]) sites[s] = r.acts.get(s)?.arraySync();
    return { logits: r.logits.arraySync(), sites };
  }));
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { process.stderr.write(`${(e as Error).message}\n`); process.exit(1); });
