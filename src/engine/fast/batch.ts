/** Host batches (indices into a feature bank, src/engine/data) → FastBatch. */
import { Batch, FeatureBank } from '../data';
import type { ExemplarBatch } from './inputs';
import type { FastModel } from './model';

/**
 * The batch's exemplar vectors [B, 3, dim], labels [B, 3] and exemplar ids (class · exemplars + index, so
 * the model embeds each distinct vector once without hashing). With a model, they are written straight
 * into its input buffers (no allocation, no copy in run()); the result is then valid until its next run.
 */
export function fastBatch(bank: FeatureBank, batch: Batch, model?: FastModel): ExemplarBatch {
  const B = batch.size,
    items = batch.labels.length / B,
    dim = bank.dim;
  let exemplars: Float32Array, labels: Int32Array, exemplarIds: Int32Array;
  if (model) ({ exemplars, labels, exemplarIds } = model.batchViews(B));
  else {
    exemplars = new Float32Array(B * items * dim);
    labels = new Int32Array(B * items);
    exemplarIds = new Int32Array(B * items);
  }
  if (exemplars.length !== B * items * dim)
    throw new Error(
      `the model expects ${exemplars.length / B} exemplar values per sequence, the batch has ${items} × ${dim}`,
    );
  for (let r = 0; r < B * items; r++) {
    const src = (batch.classes[r] * bank.exemplars + batch.exemplarIdx[r]) * dim;
    exemplars.set(bank.data.subarray(src, src + dim), r * dim);
    exemplarIds[r] = batch.classes[r] * bank.exemplars + batch.exemplarIdx[r];
  }
  labels.set(batch.labels);
  return { size: B, exemplars, labels, exemplarIds };
}
