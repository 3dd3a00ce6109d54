/**
 * A batch of sequences x1 ℓ1 … xq as the models read it, in host arrays: each distinct exemplar vector
 * once and, per item, which one. Training batches hold ≤ 50 distinct vectors (one exemplar per training
 * class, the query repeating a context exemplar), so this form is also what lets the fast engine embed
 * each vector once (spec §9.2's caching trick) without copying B·(C+1)·512 floats per call.
 */
import type { Batch, FeatureBank } from '../data';

export interface HostBatch {
  size: number;
  /** [B, C+1] labels: the context labels then the query's (the target, never embedded). */
  labels: Int32Array;
  /** [U, inputDim]: the distinct exemplar vectors. */
  vectors: Float32Array;
  /** [B, C+1]: the row of `vectors` each item (context exemplars, then the query) reads. */
  index: Int32Array;
  /**
   * [B, C+1]: each item's class, when the batch came from a feature bank (hostBatch). The class corruption of
   * path patching pairs sequences that share no class; without it items are told apart by their vector row.
   */
  classes?: Int32Array;
}

/** The ids the class corruption compares items by: their classes, else their vector rows. */
export const classIds = (b: HostBatch): Int32Array => b.classes ?? b.index;

/** What clamps read from a batch to build their values: labels, size, and the items' raw exemplars [B, C+1, I] (match clamp). */
export interface ClampBatch {
  size: number;
  labels: Int32Array;
  exemplars?: Float32Array;
  /** [B, C+1] an id per item, equal for items of one class (class indices, or exemplar rows): the class corruption. */
  itemIds?: ArrayLike<number>;
}

/** A data batch (indices into a feature bank) as a HostBatch: one vector per distinct (class, exemplar). */
export function hostBatch(bank: FeatureBank, batch: Batch): HostBatch {
  const n = batch.labels.length,
    dim = bank.dim;
  const rowOf = new Map<number, number>(),
    index = new Int32Array(n),
    ids: number[] = [];
  for (let r = 0; r < n; r++) {
    const id = batch.classes[r] * bank.exemplars + batch.exemplarIdx[r];
    let row = rowOf.get(id);
    if (row === undefined) {
      row = ids.length;
      rowOf.set(id, row);
      ids.push(id);
    }
    index[r] = row;
  }
  const vectors = new Float32Array(ids.length * dim);
  ids.forEach((id, row) => vectors.set(bank.data.subarray(id * dim, (id + 1) * dim), row * dim));
  return { size: batch.size, labels: batch.labels, vectors, index, classes: batch.classes };
}

/** Full exemplar arrays [B, C+1, dim] as a HostBatch (one row per item; the fast engine finds repeats itself). */
export function hostBatchOf(size: number, exemplars: Float32Array, labels: Int32Array): HostBatch {
  return { size, labels, vectors: exemplars, index: Int32Array.from({ length: labels.length }, (_, i) => i) };
}

/** The items' exemplar vectors [B, C+1, dim] (what the TensorFlow.js model and the match clamp read). */
export function itemExemplars(b: HostBatch, dim: number): Float32Array {
  if (b.index.length * dim === b.vectors.length && b.index.every((r, i) => r === i)) return b.vectors;
  const out = new Float32Array(b.index.length * dim);
  for (let i = 0; i < b.index.length; i++)
    out.set(b.vectors.subarray(b.index[i] * dim, (b.index[i] + 1) * dim), i * dim);
  return out;
}
