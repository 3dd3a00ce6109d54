/** Running a saved checkpoint on hand-written sequences (the CLI's `forward`), through the one forward interface. */
import { initBackend, BackendPreference } from '../model/tf';
import { readCheckpoint } from '../model/checkpoint';
import { seqLen } from '../model/config';
import { hostBatchOf } from '../model/hostBatch';
import { site } from '../model/sites';
import { EngineName, EnginePreference, Forward } from '.';

export interface ForwardJsonOutput {
  engine: EngineName;
  logits: number[][];
  patterns: number[][][][][];
}

/** Validates `{exemplars: [[x1, x2, xq], …], labels: [[y1, y2, yq?], …]}` against the checkpoint's model. */
export async function forwardJson(
  checkpointPath: string,
  raw: unknown,
  opts: { engine?: EnginePreference; backend?: BackendPreference } = {},
): Promise<ForwardJsonOutput> {
  const ck = readCheckpoint(checkpointPath);
  const c = ck.config;
  const items = c.contextLen + 1;
  if (typeof raw !== 'object' || raw === null)
    throw new Error('input must be a JSON object with "exemplars" and "labels"');
  const { exemplars, labels } = raw as { exemplars?: unknown; labels?: unknown };
  if (!Array.isArray(exemplars) || exemplars.length === 0)
    throw new Error('input.exemplars must be a non-empty list of sequences');
  if (!Array.isArray(labels) || labels.length !== exemplars.length)
    throw new Error(`input.labels must list one entry per sequence (${exemplars.length})`);
  const B = exemplars.length;
  const x = new Float32Array(B * items * c.inputDim);
  const y = new Int32Array(B * items);
  exemplars.forEach((seq, b) => {
    if (!Array.isArray(seq) || seq.length !== items)
      throw new Error(
        `input.exemplars[${b}] must hold ${items} vectors (${c.contextLen} context exemplars, then the query)`,
      );
    seq.forEach((v, i) => {
      if (!Array.isArray(v) || v.length !== c.inputDim || v.some((n) => typeof n !== 'number' || !Number.isFinite(n))) {
        throw new Error(`input.exemplars[${b}][${i}] must be ${c.inputDim} finite numbers`);
      }
      x.set(v as number[], (b * items + i) * c.inputDim);
    });
    const ls = labels[b];
    if (!Array.isArray(ls) || (ls.length !== items && ls.length !== items - 1))
      throw new Error(`input.labels[${b}] must hold ${items - 1} or ${items} labels`);
    ls.forEach((l, i) => {
      if (!Number.isInteger(l) || l < 0 || l >= c.numLabels)
        throw new Error(
          `input.labels[${b}][${i}] must be an integer label in [0, ${c.numLabels - 1}], got ${JSON.stringify(l)}`,
        );
      y[b * items + i] = l;
    });
  });
  const engine = opts.engine ?? 'auto';
  if (engine !== 'fast') await initBackend(opts.backend ?? 'auto');
  const fwd = new Forward(c, { params: ck.params }, { engine });
  try {
    const record = new Set(Array.from({ length: c.depth }, (_, l) => site.pattern(l)));
    const r = fwd.run(hostBatchOf(B, x, y), [], { record });
    const T = seqLen(c),
      H = c.numHeads,
      L = c.numLabels;
    return {
      engine: r.engine,
      logits: Array.from({ length: B }, (_, b) => Array.from(r.logits.subarray(b * L, (b + 1) * L))),
      patterns: Array.from(
        { length: c.depth },
        (_, l) => nest(r.acts.get(site.pattern(l))!, [B, H, T, T]) as number[][][][],
      ),
    };
  } finally {
    fwd.dispose();
  }
}

/** A row-major array as nested lists of the given shape. */
function nest(a: Float32Array, shape: number[], at = 0): unknown[] {
  const [n, ...rest] = shape,
    size = rest.reduce((p, q) => p * q, 1);
  return Array.from({ length: n }, (_, i) => (rest.length ? nest(a, rest, at + i * size) : a[at + i]));
}
