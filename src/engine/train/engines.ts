/**
 * The two ways a training step can run. `tfjs`: the TensorFlow.js reference model (every clamp, every
 * backend). `fast`: the hand-written WebAssembly forward/backward (src/engine/fast), used automatically
 * when the model and every clamp of the run are supported — attention-only models with the constant
 * clamps (ablation, previous-token / induction / match patterns, disallow, silence, ablate-embedding), the
 * layer-1 and perfect-copy clamps and the path clamps, whose passes the fast model folds into one (see
 * FastOptions, fast/foldedClamps.ts).
 * Both give the same numbers within float32 rounding (test/unit/fast.test.ts); the run records which ran.
 */
import { tf, tidyToHost, initBackend, BackendInfo, BackendName, BackendPreference } from '../model/tf';
import { Batch, FeatureBank } from '../data';
import { ModelConfig } from '../model/config';
import { Params, cloneParams } from '../model/params';
import { crossEntropy } from '../model/forward';
import { TfWeights, batchTensors } from '../model/tfModel';
import { HostOverride } from '../model/hostOverride';
import { clampedForward, hostOverrides } from '../clamps/apply';
import { batchFree, fastTrainingUnsupported, readsExemplars } from '../clamps/support';
import { ClampSpec, isActive } from '../clamps/spec';
import { adamInit, adamStep, AdamState, DEFAULT_ADAM } from './adam';
import { EvalForward } from './evaluate';
import { FastModel, FastAdam, fastBatch, unsupportedReason } from '../fast';
import { FoldedClampOptions, foldedClampOptions } from '../fast/foldedClamps';
import type { WasmVariant } from '../fast/kernels';
import { Forward, EngineName, EnginePreference } from '../forward';
import { HostBatch, hostBatch } from '../model/hostBatch';
import { gatherExemplars } from '../data';

export type { EngineName, EnginePreference };

export interface TrainEngine {
  /** Which engine runs (run.json `engine`, contracts.md §1). */
  readonly engine: EngineName;
  /** How, for people: "WebAssembly SIMD (relaxed)" or "TensorFlow.js, wasm backend" (run.json `engineDetail`). */
  readonly engineDetail: string;
  /** The TensorFlow.js backend when the TF.js engine runs; null on the fast engine, where it is irrelevant. */
  readonly backend: BackendName | null;
  /** Why this engine and backend (run.json `engineNotes`). */
  readonly notes: string[];
  /** The fast engine's WebAssembly build ("relaxed" / "simd"; its rounding), null on TensorFlow.js. */
  readonly wasmVariant: WasmVariant | null;
  /** One Adam step on a batch; returns the loss before the update. */
  step(batch: Batch, sequences: number, lr: number): number;
  evalForward(sequences: number): EvalForward;
  params(): Params;
  adamState(): AdamState;
  dispose(): void;
}

class TfEngine implements TrainEngine {
  readonly engine = 'tfjs';
  readonly engineDetail: string;
  readonly wasmVariant = null;
  private readonly weights: TfWeights;
  private readonly nameOf: Map<string, string>;
  private readonly params_: Params;
  private adam: AdamState;
  private readonly hosts: HostBatchCache;
  /** The one forward interface, for evaluations (its constant-clamp overrides persist across them). */
  private readonly forward: Forward;
  constructor(
    private readonly c: ModelConfig,
    private readonly bank: FeatureBank,
    private readonly clamps: ClampSpec[],
    params: Params,
    adam: AdamState,
    readonly backend: BackendName,
    readonly notes: string[],
  ) {
    this.engineDetail = `TensorFlow.js, ${backend} backend`;
    this.params_ = cloneParams(params);
    this.adam = adam;
    this.weights = new TfWeights(c, this.params_);
    this.nameOf = new Map(Object.entries(this.weights.vars).map(([k, v]) => [v.name, k]));
    this.hosts = new HostBatchCache(bank);
    this.forward = new Forward(c, { tf: this.weights }, { engine: 'tfjs' });
  }
  step(batch: Batch, sequences: number, lr: number): number {
    const vars = Object.values(this.weights.vars);
    const { loss, grads } = tidyToHost(() => {
      const { inputs, host } = batchTensors(this.bank, batch);
      const items = this.c.contextLen + 1;
      const targets = tf.tensor1d(
        Int32Array.from({ length: batch.size }, (_, b) => batch.labels[b * items + items - 1]),
        'int32',
      );
      const { value, grads } = tf.variableGrads(
        () =>
          crossEntropy(
            clampedForward(this.c, this.weights.weights, inputs, host, this.clamps, sequences).logits,
            targets,
          ),
        vars,
      );
      const g: Partial<Params> = {};
      for (const [n, t] of Object.entries(grads)) g[this.nameOf.get(n)!] = t.dataSync() as Float32Array;
      return { loss: value.dataSync()[0], grads: g };
    });
    adamStep({ ...DEFAULT_ADAM, lr }, this.adam, this.params_, grads);
    this.weights.assign(this.params_);
    return loss;
  }
  evalForward(sequences: number): EvalForward {
    // Evaluation runs on the engine that trains (a run's numbers come from one engine).
    this.forward.parametersChanged();
    return (batch, want) => this.forward.run(this.hosts.of(batch), this.clamps, { sequences, ...want });
  }
  params(): Params {
    return cloneParams(this.params_);
  }
  adamState(): AdamState {
    return this.adam;
  }
  dispose(): void {
    this.weights.dispose();
  }
}

/** The eval sets as HostBatchCache, made once per batch (they are fixed for a run). */
class HostBatchCache {
  private readonly made = new WeakMap<Batch, HostBatch>();
  constructor(private readonly bank: FeatureBank) {}
  of(b: Batch): HostBatch {
    let h = this.made.get(b);
    if (!h) {
      h = hostBatch(this.bank, b);
      this.made.set(b, h);
    }
    return h;
  }
}

class FastEngine implements TrainEngine {
  readonly engine = 'fast';
  readonly engineDetail: string;
  readonly wasmVariant: WasmVariant;
  readonly backend = null;
  private readonly model: FastModel;
  private readonly adam: FastAdam;
  private readonly hosts: HostBatchCache;
  private readonly forward: Forward;
  constructor(
    private readonly c: ModelConfig,
    private readonly bank: FeatureBank,
    private readonly clamps: ClampSpec[],
    params: Params,
    adam: AdamState,
    readonly notes: string[],
  ) {
    this.model = new FastModel(c);
    this.wasmVariant = this.model.variant;
    this.engineDetail = this.model.variant === 'relaxed' ? 'WebAssembly SIMD (relaxed)' : 'WebAssembly SIMD';
    const views = this.model.paramViews();
    for (const k of Object.keys(params)) views[k].set(params[k]);
    this.adam = new FastAdam(this.model);
    this.adam.load(adam);
    this.hosts = new HostBatchCache(bank);
    this.forward = new Forward(c, { fast: this.model }, { engine: 'fast' });
  }
  private host(batch: Batch) {
    return {
      labels: batch.labels,
      size: batch.size,
      exemplars: this.needsExemplars ? gatherExemplars(this.bank, batch) : undefined,
    };
  }
  private get needsExemplars(): boolean {
    return readsExemplars(this.clamps);
  }
  private readonly ovCache = new Map<string, Map<string, HostOverride>>();
  /**
   * The constant clamps' overrides for this batch. Those that do not read the batch (ablation, the
   * previous-token pattern, …) are built once per batch size and active set: rebuilding them costs
   * ≈ 0.15 ms, ≈ 8 % of a batch-32 step.
   */
  private overrides(batch: Batch, sequences: number): Map<string, HostOverride> {
    const active = this.clamps.flatMap((s, i) => (isActive(s, sequences) ? [i] : []));
    if (!batchFree(active.map((i) => this.clamps[i])))
      return hostOverrides(this.c, this.host(batch), this.clamps, sequences);
    const key = `${batch.size}|${active.join(',')}`;
    let o = this.ovCache.get(key);
    if (!o) {
      o = hostOverrides(this.c, this.host(batch), this.clamps, sequences);
      this.ovCache.set(key, o);
    }
    return o;
  }
  /** The multi-pass clamps active at `sequences`, as the fast model's options. */
  private passes(sequences: number): FoldedClampOptions {
    return foldedClampOptions(this.c, this.clamps, sequences);
  }
  step(batch: Batch, sequences: number, lr: number): number {
    const mp = this.passes(sequences);
    // The copy logits come from a clean pass (spec §4.7): no other clamp reaches the loss.
    const overrides = mp.copyHead === undefined ? this.overrides(batch, sequences) : undefined;
    const r = this.model.run(this.model.paramViews(), fastBatch(this.bank, batch, this.model), {
      overrides,
      backward: true,
      ...mp,
      itemIds: mp.paths ? batch.classes : undefined, // the class corruption tells classes apart, as on TF.js
    });
    this.adam.step({ ...DEFAULT_ADAM, lr });
    return r.loss;
  }
  evalForward(sequences: number): EvalForward {
    this.forward.parametersChanged();
    return (batch, want) => this.forward.run(this.hosts.of(batch), this.clamps, { sequences, ...want });
  }
  params(): Params {
    return cloneParams(this.model.paramViews());
  }
  adamState(): AdamState {
    return this.adam.state();
  }
  dispose(): void {
    /* WebAssembly memory is freed with the model */
  }
}

/** Why the fast engine cannot train this run, or null (clamps/support.ts, from the kinds' entries). */
export function fastUnsupported(c: ModelConfig, clamps: ClampSpec[]): string | null {
  return unsupportedReason(c) ?? fastTrainingUnsupported(c, clamps);
}

/**
 * Picks the engine: `fast` when it supports the run (unless the TensorFlow.js engine is asked for), else
 * TensorFlow.js on the preferred backend or the best one that loads. The backend preference applies to
 * the TensorFlow.js engine only: it never switches the fast engine off (contracts.md §1).
 */
export async function createEngine(
  pref: EnginePreference,
  backendPref: BackendPreference,
  c: ModelConfig,
  bank: FeatureBank,
  clamps: ClampSpec[],
  params: Params,
  adam: AdamState | null,
): Promise<TrainEngine> {
  const st = adam ?? adamInit(params);
  const why = fastUnsupported(c, clamps);
  const notes: string[] = [];
  if (pref === 'fast' && why) throw new Error(`train.engine is "fast" but ${why}`);
  if (pref !== 'tfjs' && !why) {
    try {
      const e = new FastEngine(c, bank, clamps, params, st, notes);
      if (backendPref !== 'auto')
        notes.push(`train.backend "${backendPref}" applies to the TensorFlow.js engine only; the fast engine ran`);
      return e;
    } catch (err) {
      if (pref === 'fast') throw err;
      notes.push(`fast engine unavailable: ${(err as Error).message}`);
    }
  } else if (pref === 'tfjs') notes.push('TensorFlow.js engine: train.engine is "tfjs"');
  else if (why) notes.push(`TensorFlow.js engine: ${why}`);
  const be: BackendInfo = await initBackend(backendPref);
  return new TfEngine(c, bank, clamps, params, st, be.name, [
    ...notes,
    ...be.skipped.map((s) => `skipped backend ${s}`),
  ]);
}
