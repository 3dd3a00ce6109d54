/**
 * What essential dynamics compares across checkpoints: the model's outputs on one fixed probe set —
 * the query logits [N, L] and, on request, every head's query-row attention pattern [N, layers, H, T]
 * (post-softmax) — flattened into one vector per checkpoint. The probe set is a seeded subsample of the
 * dense training sequences (spec §5.2), the same for every checkpoint and process. The run's clamps
 * active at each checkpoint apply unless `clean` (the model's outputs as trained, as in its evaluations).
 */
import { tidyToHost } from '../model/tf';
import { Batch, TaskData } from '../data';
import { ModelConfig, seqLen } from '../model/config';
import { Params } from '../model/params';
import { site } from '../model/sites';
import { HostOverride } from '../model/hostOverride';
import { TfWeights, batchTensors, sliceBatch } from '../model/tfModel';
import { clampedForward, hostOverrides } from '../clamps/apply';
import { ClampSpec } from '../clamps/spec';
import { batchFree, readsExemplars } from '../clamps/support';
import { FastModel, fastBatch } from '../fast';
import { FoldedClampOptions, foldedClampOptions } from '../fast/foldedClamps';
import { gatherExemplars } from '../data';
import { subsampleIndices, takeRows } from '../measures/dense';
import { chooseEngine, EngineChoice } from '../llc/transformerTarget';

export const PROBE_SEED = 2024_12;
const CHUNK = 256;

/** N sequences drawn once (seeded) from the dense training set; all of it when N ≥ its size. */
export function probeSet(task: TaskData, n: number, seed = PROBE_SEED): { batch: Batch; denseSize: number } {
  const dense = task.denseTrainSequences();
  return {
    batch: n >= dense.size ? dense : takeRows(dense, subsampleIndices(dense.size, n, seed)),
    denseSize: dense.size,
  };
}

export interface OutputOptions {
  patterns: boolean;
}

/** Length of one checkpoint's output vector. */
export function outputSize(c: ModelConfig, n: number, o: OutputOptions): { logits: number; patterns: number } {
  return { logits: n * c.numLabels, patterns: o.patterns ? n * c.depth * c.numHeads * seqLen(c) : 0 };
}

/**
 * Computes the outputs of many checkpoints of one run (one model object, parameters swapped in). Layout of
 * the returned vector: logits [N, L], then patterns [N, layer, head, key] (the query row).
 */
export class OutputModel {
  readonly engine: EngineChoice;
  private readonly fast: FastModel | null;
  /** The folded clamps (layer1, copy, path clamps) as the fast model's options. */
  private readonly folded: FoldedClampOptions;
  private readonly ovCache = new Map<number, Map<string, HostOverride>>();
  constructor(
    private readonly c: ModelConfig,
    private readonly task: TaskData,
    private readonly clamps: ClampSpec[],
    private readonly sequences: number,
  ) {
    this.engine = chooseEngine(c, clamps);
    this.fast = this.engine.engine === 'fast' ? new FastModel(c) : null;
    this.folded = foldedClampOptions(c, clamps);
  }

  outputs(params: Params, probe: Batch, o: OutputOptions): Float32Array {
    const c = this.c,
      N = probe.size,
      L = c.numLabels,
      T = seqLen(c),
      H = c.numHeads;
    const size = outputSize(c, N, o);
    const out = new Float32Array(size.logits + size.patterns);
    const record = new Set(o.patterns ? Array.from({ length: c.depth }, (_, l) => site.pattern(l)) : []);
    for (let start = 0; start < N; start += CHUNK) {
      const sub = sliceBatch(probe, start, CHUNK),
        n = sub.size;
      const r = this.fast ? this.runFast(params, sub, record) : this.runTf(params, sub, record);
      out.set(r.logits.subarray(0, n * L), start * L);
      if (o.patterns) {
        // pattern [n, H, T, T] per layer → the query row (T − 1) of each head: out[(b, layer, head, key)]
        for (let l = 0; l < c.depth; l++) {
          const p = r.patterns[l];
          for (let b = 0; b < n; b++)
            for (let h = 0; h < H; h++) {
              const src = ((b * H + h) * T + T - 1) * T,
                dst = size.logits + (((start + b) * c.depth + l) * H + h) * T;
              for (let k = 0; k < T; k++) out[dst + k] = p[src + k];
            }
        }
      }
    }
    return out;
  }

  private runFast(params: Params, b: Batch, record: Set<string>): { logits: Float32Array; patterns: Float32Array[] } {
    const m = this.fast!;
    const views = m.paramViews();
    for (const k of Object.keys(views)) views[k].set(params[k]);
    const fb = fastBatch(this.task.bank, b, m);
    const ov = this.overrides(b);
    let logits: Float32Array | null = null;
    let copyHead = this.folded.copyHead;
    const layer1 = this.folded.layer1;
    if (copyHead !== undefined && ov && ov.size > 0) {
      // As the trainer's evaluation: copy logits from the clean pass, patterns from the clamped one.
      logits = m.run(views, fb, { backward: false, layer1, copyHead }).logits.slice();
      copyHead = undefined;
    }
    const r = m.run(views, fb, {
      overrides: copyHead === undefined ? ov : undefined,
      record,
      backward: false,
      layer1,
      copyHead,
      paths: this.folded.paths,
    });
    return { logits: logits ?? r.logits.slice(), patterns: [...record].map((s) => r.acts.get(s)!) };
  }

  private overrides(b: Batch): Map<string, HostOverride> | undefined {
    if (!this.clamps.length) return undefined;
    const reuse = batchFree(this.clamps);
    const hit = reuse ? this.ovCache.get(b.size) : undefined;
    if (hit) return hit;
    const host = {
      labels: b.labels,
      size: b.size,
      exemplars: readsExemplars(this.clamps) ? gatherExemplars(this.task.bank, b) : undefined,
    };
    const ov = hostOverrides(this.c, host, this.clamps, this.sequences);
    if (reuse) this.ovCache.set(b.size, ov);
    return ov;
  }

  private runTf(params: Params, b: Batch, record: Set<string>): { logits: Float32Array; patterns: Float32Array[] } {
    const w = new TfWeights(this.c, params, false);
    try {
      return tidyToHost(() => {
        const { inputs, host } = batchTensors(this.task.bank, b);
        const r = clampedForward(this.c, w.weights, inputs, host, this.clamps, this.sequences, { record });
        return {
          logits: r.logits.dataSync() as Float32Array,
          patterns: [...record].map((s) => r.acts.get(s)!.dataSync() as Float32Array),
        };
      });
    } finally {
      w.dispose();
    }
  }
}
