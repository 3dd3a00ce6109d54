/**
 * One fast model per model config and WebAssembly build in a process, shared by the forward-only users
 * (measures, `forward`): a model's memory is laid out per batch size on first use — hundreds of MB for the
 * measures' 2,000-sequence chunks, ≈ 0.5 s to fault in — so a context per checkpoint should not make its
 * own. Sharing is safe: run() takes its parameters on every call and keeps nothing between calls that
 * another caller could see, and the ablation evaluator snapshots what it reads.
 */
import { ModelConfig } from '../model/config';
import type { WasmPreference } from './kernels';
import { FastModel } from './model';
import { AblationEvaluator } from './ablationEval';

const models = new Map<string, FastModel>();
const evaluators = new WeakMap<FastModel, AblationEvaluator>();

export function sharedFastModel(c: ModelConfig, wasm: WasmPreference = 'auto'): FastModel {
  const key = `${wasm}|${JSON.stringify(c)}`;
  let m = models.get(key);
  if (!m) {
    m = new FastModel(c, { wasm });
    models.set(key, m);
  }
  return m;
}

/** The model's ablation evaluator (two-layer models), shared like the model. */
export function sharedAblationEvaluator(m: FastModel): AblationEvaluator {
  let e = evaluators.get(m);
  if (!e) {
    e = new AblationEvaluator(m);
    evaluators.set(m, e);
  }
  return e;
}
