/** A forward-only pass on the TensorFlow.js reference engine (clamps/apply.ts clampedForward), on host arrays. */
import { tidyToHost } from '../model/tf';
import { ModelConfig } from '../model/config';
import { HostBatch, classIds, itemExemplars } from '../model/hostBatch';
import { TfWeights, hostBatchInputs } from '../model/tfModel';
import { clampedForward } from '../clamps/apply';
import { ClampSpec } from '../clamps/spec';
import { readsExemplars } from '../clamps/support';

export function tfClampedForward(
  c: ModelConfig,
  weights: TfWeights,
  batch: HostBatch,
  active: ClampSpec[],
  record: ReadonlySet<string> | undefined,
): { logits: Float32Array; acts: Map<string, Float32Array> } {
  return tidyToHost(() => {
    const inputs = hostBatchInputs(c, batch);
    const exemplars = readsExemplars(active) ? itemExemplars(batch, c.inputDim) : undefined;
    // itemIds: the class corruption of path clamps tells items apart by their class (else their vector row).
    const host = { labels: batch.labels, size: batch.size, exemplars, itemIds: classIds(batch) };
    const r = clampedForward(c, weights.weights, inputs, host, active, 0, { record });
    const acts = new Map<string, Float32Array>();
    for (const s of record ?? []) acts.set(s, r.acts.get(s)!.dataSync() as Float32Array);
    return { logits: r.logits.dataSync() as Float32Array, acts };
  });
}
