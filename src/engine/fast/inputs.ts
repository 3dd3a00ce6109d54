/**
 * What the fast model takes as a batch (model.ts FastModel.run; rows.ts finds its distinct embedding rows).
 * Its own module so that model.ts and rows.ts do not import each other.
 */
import type { HostBatch } from '../model/hostBatch';

/** The fast model's input: a HostBatch (distinct vectors + index) or the full exemplar arrays. */
export type FastBatch = HostBatch | ExemplarBatch;

export interface ExemplarBatch {
  size: number;
  /** [B, C+1, inputDim]: context exemplars then the query. */
  exemplars: Float32Array;
  /** [B, C+1]; the last column (the query's label) is the target and is never embedded. */
  labels: Int32Array;
  /**
   * Optional [B, C+1] identities of the exemplar vectors (e.g. class · exemplarsPerClass + exemplar index):
   * equal ids promise bitwise-equal vectors, so identical rows are found without hashing the vectors.
   * Without it they are found by hashing and comparing.
   */
  exemplarIds?: Int32Array;
}
