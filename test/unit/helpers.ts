/** Small shared fixtures for the unit tests. */
import { Rng } from '../../src/engine/data/rng';
import { ModelConfig, DEFAULT_MODEL_CONFIG } from '../../src/engine/model/config';
import { tf } from '../../src/engine/model/tf';

/** A tiny model for finite differences and hand checks. */
export const TINY: ModelConfig = { ...DEFAULT_MODEL_CONFIG, dModel: 8, numHeads: 2, inputDim: 6, numLabels: 3 };

/** Random non-negative exemplars and labels with distinct context labels; the query matches context pair `correct`. */
export function randomInputs(
  c: ModelConfig,
  B: number,
  seed: number,
): { x: Float32Array; y: Int32Array; correct: Uint8Array } {
  const rng = new Rng(seed, 7);
  const items = c.contextLen + 1;
  const x = new Float32Array(B * items * c.inputDim).map(() => Math.abs(rng.normal()));
  const y = new Int32Array(B * items);
  const correct = new Uint8Array(B);
  for (let b = 0; b < B; b++) {
    const a = rng.int(c.numLabels);
    let d = rng.int(c.numLabels - 1);
    if (d >= a) d++;
    const m = rng.int(2);
    correct[b] = m;
    y[b * items] = m === 0 ? a : d;
    y[b * items + 1] = m === 0 ? d : a;
    y[b * items + 2] = a;
    // The query exemplar equals the matching context exemplar, as in training.
    x.copyWithin((b * items + 2) * c.inputDim, (b * items + m) * c.inputDim, (b * items + m + 1) * c.inputDim);
  }
  return { x, y, correct };
}

export function toInputs(c: ModelConfig, B: number, d: { x: Float32Array; y: Int32Array }) {
  const items = c.contextLen + 1;
  return { exemplars: tf.tensor3d(d.x, [B, items, c.inputDim]), labels: tf.tensor2d(d.y, [B, items], 'int32') };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
