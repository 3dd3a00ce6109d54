/**
 * Checkpoints as safetensors: one F32 tensor per parameter under the names of params.ts (shapes as in
 * spec §2.1, weights [out, in]) so Python's `safetensors` loads them directly; the model config and the
 * sequence count ride in the header metadata.
 */
import * as fs from 'node:fs';
import { decodeSafetensors, encodeSafetensors, NamedTensor } from '../io/safetensors';
import { ModelConfig, validateModelConfig } from './config';
import { Params, paramSpecs } from './params';

export interface Checkpoint {
  config: ModelConfig;
  sequences: number;
  params: Params;
}

export function encodeCheckpoint(ck: Checkpoint, extraMeta: Record<string, string> = {}): Uint8Array {
  const tensors: Record<string, NamedTensor> = {};
  for (const s of paramSpecs(ck.config)) tensors[s.name] = { dtype: 'F32', shape: s.shape, data: ck.params[s.name] };
  return encodeSafetensors(tensors, {
    format: 'induction-lab/checkpoint-v1',
    model_config: JSON.stringify(ck.config),
    sequences: String(ck.sequences),
    ...extraMeta,
  });
}

/**
 * Decodes and checks a checkpoint: every parameter present with exactly the shape the config implies.
 * `expected` (e.g. the run's config) must match the stored config where given.
 */
export function decodeCheckpoint(bytes: Uint8Array, source: string, expected?: ModelConfig): Checkpoint {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  let config: ModelConfig;
  if (metadata.model_config === undefined) {
    if (!expected)
      throw new Error(`${source}: no model_config in the safetensors metadata; pass the run's config to read it`);
    config = expected;
  } else {
    try {
      config = JSON.parse(metadata.model_config);
    } catch (e) {
      throw new Error(
        `${source}: model_config in the safetensors metadata is not valid JSON (${(e as Error).message})`,
      );
    }
  }
  validateModelConfig(config);
  if (expected) {
    for (const k of Object.keys(expected) as Array<keyof ModelConfig>) {
      if (expected[k] !== config[k])
        throw new Error(`${source}: checkpoint has model.${k} = ${config[k]}, the run expects ${expected[k]}`);
    }
  }
  const params: Params = {};
  for (const s of paramSpecs(config)) {
    const t = tensors.get(s.name);
    if (!t) throw new Error(`${source}: missing tensor ${s.name} [${s.shape.join(',')}]`);
    if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i])) {
      throw new Error(`${source}: tensor ${s.name} has shape [${t.shape.join(',')}], expected [${s.shape.join(',')}]`);
    }
    params[s.name] = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>, Number);
  }
  const sequences = Number(metadata.sequences ?? NaN);
  return { config, sequences: Number.isFinite(sequences) ? sequences : -1, params };
}

export function readCheckpoint(path: string, expected?: ModelConfig): Checkpoint {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read checkpoint ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return decodeCheckpoint(bytes, path, expected);
}
