/** Running a saved checkpoint on hand-written sequences (the CLI's `forward`). */
import { tf, initBackend, BackendPreference } from './tf';
import { readCheckpoint } from './model/checkpoint';
import { forward } from './model/forward';
import { TfWeights } from './model/tfModel';
import { site } from './model/sites';

export interface ForwardJsonOutput { logits: number[][]; patterns: number[][][][][] }

/** Validates `{exemplars: [[x1, x2, xq], …], labels: [[y1, y2, yq?], …]}` against the checkpoint's model. */
export async function forwardJson(checkpointPath: string, raw: unknown, backend: BackendPreference = 'auto'): Promise<ForwardJsonOutput> {
  const ck = readCheckpoint(checkpointPath);
  const c = ck.config;
  const items = c.contextLen + 1;
  if (typeof raw !== 'object' || raw === null) throw new Error('input must be a JSON object with "exemplars" and "labels"');
  const { exemplars, labels } = raw as { exemplars?: unknown; labels?: unknown };
  if (!Array.isArray(exemplars) || exemplars.length === 0) throw new Error('input.exemplars must be a non-empty list of sequences');
  if (!Array.isArray(labels) || labels.length !== exemplars.length) throw new Error(`input.labels must list one entry per sequence (${exemplars.length})`);
  const B = exemplars.length;
  const x = new Float32Array(B * items * c.inputDim);
  const y = new Int32Array(B * items);
  exemplars.forEach((seq, b) => {
    if (!Array.isArray(seq) || seq.length !== items) throw new Error(`input.exemplars[${b}] must hold ${items} vectors (${c.contextLen} context exemplars, then the query)`);
    seq.forEach((v, i) => {
      if (!Array.isArray(v) || v.length !== c.inputDim || v.some((n) => typeof n !== 'number' || !Number.isFinite(n))) {
        throw new Error(`input.exemplars[${b}][${i}] must be ${c.inputDim} finite numbers`);
      }
      x.set(v as number[], (b * items + i) * c.inputDim);
    });
    const ls = labels[b];
    if (!Array.isArray(ls) || (ls.length !== items && ls.length !== items - 1)) throw new Error(`input.labels[${b}] must hold ${items - 1} or ${items} labels`);
    ls.forEach((l, i) => {
      if (!Number.isInteger(l) || l < 0 || l >= c.numLabels) throw new Error(`input.labels[${b}][${i}] must be an integer label in [0, ${c.numLabels - 1}], got ${JSON.stringify(l)}`);
      y[b * items + i] = l;
    });
  });
  await initBackend(backend);
  const w = new TfWeights(c, ck.params, false);
  try {
    return tf.tidy(() => {
      const wanted = new Set(Array.from({ length: c.depth }, (_, l) => site.pattern(l)));
      const r = forward(c, w.weights, { exemplars: tf.tensor3d(x, [B, items, c.inputDim]), labels: tf.tensor2d(y, [B, items], 'int32') }, { record: wanted });
      return {
        logits: r.logits.arraySync() as number[][],
        patterns: Array.from({ length: c.depth }, (_, l) => r.acts.get(site.pattern(l))!.arraySync() as number[][][][]),
      };
    });
  } finally { w.dispose(); }
}
