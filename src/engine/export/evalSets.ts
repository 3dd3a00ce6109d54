/**
 * A run's fixed evaluators (spec §1.4) as data, so analyses outside the engine (the Python reader, the
 * authors' notebooks) run the checkpoints on the very sequences the metrics were computed on. The sets are
 * regenerated from the run's config (features, splits, label pairs, train.evalSeed), which is exactly what
 * the trainer does at start-up.
 *
 * safetensors layout, per set `<name>` (fsl_train, fsl_val_rl, fsl_train_valex, fsl_test_class):
 * `<name>.exemplars` F32 [N, C+1, D] (context exemplars, then the query), `<name>.labels` I32 [N, C+1]
 * (the last column is the target), `<name>.correct` U8 [N] (which context pair holds the query's class),
 * `<name>.classes` / `<name>.exemplarIndex` I32 [N, C+1] (indices into the feature bank); metadata
 * `format` = induction-lab/eval-sets-v1, `sets` (JSON list), `evalSeed`, `features`, `data_config` (JSON).
 */
import { loadTaskData, Batch } from '../data';
import { encodeSafetensors, NamedTensor, writeFileAtomic } from '../io';
import type { RunConfig } from '../train/runConfig';

export const EVAL_SETS_FILE = 'eval-sets.safetensors';

export interface EvalSetData {
  name: string;
  batch: Batch;
  exemplars: Float32Array;
  dim: number;
}

/** The evaluators of a config with their exemplar vectors gathered from the feature bank. */
export async function evalSetData(config: RunConfig): Promise<{ sets: EvalSetData[]; features: string }> {
  const task = await loadTaskData(config.data);
  const { bank } = task;
  const items = config.data.contextLen + 1;
  const sets = task.evalSets(config.train.evalSeed).map(({ spec, batch }) => {
    const x = new Float32Array(batch.size * items * bank.dim);
    for (let i = 0; i < batch.size * items; i++) {
      const row = (batch.classes[i] * bank.exemplars + batch.exemplarIdx[i]) * bank.dim;
      x.set(bank.data.subarray(row, row + bank.dim), i * bank.dim);
    }
    return { name: spec.name, batch, exemplars: x, dim: bank.dim };
  });
  return { sets, features: bank.source };
}

export async function writeEvalSets(config: RunConfig, out: string): Promise<{ sets: string[]; sequences: number }> {
  const { sets, features } = await evalSetData(config);
  const items = config.data.contextLen + 1;
  const tensors: Record<string, NamedTensor> = {};
  for (const s of sets) {
    const N = s.batch.size;
    tensors[`${s.name}.exemplars`] = { dtype: 'F32', shape: [N, items, s.dim], data: s.exemplars };
    tensors[`${s.name}.labels`] = { dtype: 'I32', shape: [N, items], data: s.batch.labels };
    tensors[`${s.name}.correct`] = { dtype: 'U8', shape: [N], data: s.batch.correct };
    tensors[`${s.name}.classes`] = { dtype: 'I32', shape: [N, items], data: s.batch.classes };
    tensors[`${s.name}.exemplarIndex`] = { dtype: 'I32', shape: [N, items], data: s.batch.exemplarIdx };
  }
  writeFileAtomic(
    out,
    encodeSafetensors(tensors, {
      format: 'induction-lab/eval-sets-v1',
      sets: JSON.stringify(sets.map((s) => s.name)),
      evalSeed: String(config.train.evalSeed),
      features,
      data_config: JSON.stringify(config.data),
    }),
  );
  return { sets: sets.map((s) => s.name), sequences: sets.reduce((n, s) => n + s.batch.size, 0) };
}
