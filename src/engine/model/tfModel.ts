/** Host parameters ↔ TensorFlow.js variables, and host batches → model input tensors. */
import { tf } from './tf';
import { ModelConfig } from './config';
import { Params, paramSpecs } from './params';
import { ModelInputs, Weights } from './forward';
import { Batch, FeatureBank, gatherExemplars } from '../data';
import { ClampBatch, HostBatch } from './hostBatch';

export class TfWeights {
  readonly vars: Record<string, tf.Variable> = {};

  constructor(
    readonly config: ModelConfig,
    params: Params,
    trainable = true,
  ) {
    for (const s of paramSpecs(config))
      this.vars[s.name] = tf.variable(
        tf.tensor(params[s.name], s.shape),
        trainable,
        `${s.name}`.replace(/\./g, '/') + `_${nextId++}`,
      );
  }

  get weights(): Weights {
    return this.vars;
  }

  /** Writes host values into the variables (after an optimiser step). */
  assign(params: Params): void {
    for (const s of paramSpecs(this.config)) {
      const t = tf.tensor(params[s.name], s.shape);
      this.vars[s.name].assign(t);
      t.dispose();
    }
  }

  read(): Params {
    const out: Params = {};
    for (const [k, v] of Object.entries(this.vars)) out[k] = v.dataSync() as Float32Array;
    return out;
  }

  dispose(): void {
    for (const v of Object.values(this.vars)) v.dispose();
  }
}
let nextId = 0;

/** Gathers the batch's exemplar vectors; returns the model's input tensors (caller disposes) and host copies. */
export function batchTensors(
  bank: FeatureBank,
  batch: Batch,
): { inputs: ModelInputs; host: ClampBatch & { exemplars: Float32Array } } {
  const items = batch.labels.length / batch.size;
  const exemplars = gatherExemplars(bank, batch);
  return {
    inputs: {
      exemplars: tf.tensor3d(exemplars, [batch.size, items, bank.dim]),
      labels: tf.tensor2d(batch.labels, [batch.size, items], 'int32'),
    },
    host: { labels: batch.labels, size: batch.size, exemplars, itemIds: batch.classes },
  };
}

export function batchInputs(bank: FeatureBank, batch: Batch): ModelInputs {
  return batchTensors(bank, batch).inputs;
}

/** Rows [start, start+n) of a batch. */
export function sliceBatch(batch: Batch, start: number, n: number): Batch {
  const items = batch.labels.length / batch.size;
  const end = Math.min(batch.size, start + n);
  return {
    size: end - start,
    classes: batch.classes.subarray(start * items, end * items),
    exemplarIdx: batch.exemplarIdx.subarray(start * items, end * items),
    labels: batch.labels.subarray(start * items, end * items),
    correct: batch.correct.subarray(start, end),
  };
}

/** A HostBatch as the model's input tensors (caller disposes; inside tf.tidy). */
export function hostBatchInputs(c: ModelConfig, b: HostBatch): ModelInputs {
  const items = b.labels.length / b.size,
    U = b.vectors.length / c.inputDim;
  const rows = tf.gather(tf.tensor2d(b.vectors, [U, c.inputDim]), tf.tensor1d(b.index, 'int32'));
  return {
    exemplars: tf.reshape(rows, [b.size, items, c.inputDim]),
    labels: tf.tensor2d(b.labels, [b.size, items], 'int32'),
  };
}
