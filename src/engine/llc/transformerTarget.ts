/**
 * The transformer as an SGLD target: the flat parameter vector is the checkpoint's tensors concatenated
 * in paramSpecs order (src/engine/model/params.ts), the loss the mean cross-entropy at the query on a
 * minibatch of the training distribution (spec §1.1: train classes, train exemplars, train label pairs),
 * drawn fresh per step as in training. Forward and backward run on the fast engine (FastModel.run with
 * the gradient buffers, contracts.md §5), or on the TensorFlow.js reference (tf.variableGrads through
 * clampedForward, as TfEngine.step) when a clamp of the run needs it.
 *
 * Clamps: those of the run active at the checkpoint's sequence count apply while sampling (the LLC of
 * the model as trained), unless `clean` — the same overrides and folded passes as the trainer's fast
 * engine (src/engine/train/engines.ts).
 *
 * Per-head restriction (Wang et al. 2024, the weight-refined LLC): head h of layer l owns its rows of
 * W_qkv (q, k and v: rows which·d + h·D … + D − 1, [3d, d] row-major, so three blocks of D·d) and its
 * input columns of W_proj (columns h·D … + D − 1 of [d, d]: d runs of D) — 4·D·d = 2,048 weights here.
 */
import { tf } from '../model/tf';
import { Batch, TaskData } from '../data';
import { ModelConfig, headDim } from '../model/config';
import { paramSpecs, Params } from '../model/params';
import { HostOverride } from '../model/hostOverride';
import { TfWeights, batchTensors } from '../model/tfModel';
import { crossEntropy } from '../model/forward';
import { clampedForward, hostOverrides } from '../clamps/apply';
import { ClampSpec, isActive } from '../clamps/spec';
import { batchFree, readsExemplars } from '../clamps/support';
import { formatHead, parseHead } from '../clamps/heads';
import { fastUnsupported } from '../train/engines';
import { FastModel, fastBatch } from '../fast';
import type { ModelInternals } from '../fast/model';
import { FoldedClampOptions, foldedClampOptions } from '../fast/foldedClamps';
import { gatherExemplars } from '../data';
import { Rng } from '../data/rng';
import { Ranges, SgldKernel } from './kernel';
import { SgldTarget } from './sampler';

/** Offset of each parameter tensor in the flat vector (paramSpecs order). */
export interface FlatLayout {
  names: string[];
  offsets: number[];
  sizes: number[];
  total: number;
}

export function flatLayout(c: ModelConfig): FlatLayout {
  const names: string[] = [],
    offsets: number[] = [],
    sizes: number[] = [];
  let off = 0;
  for (const s of paramSpecs(c)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    names.push(s.name);
    offsets.push(off);
    sizes.push(n);
    off += n;
  }
  return { names, offsets, sizes, total: off };
}

export function flatten(c: ModelConfig, p: Params): Float32Array {
  const lay = flatLayout(c),
    w = new Float32Array(lay.total);
  lay.names.forEach((n, i) => w.set(p[n], lay.offsets[i]));
  return w;
}

export function unflatten(c: ModelConfig, w: Float32Array): Params {
  const lay = flatLayout(c),
    p: Params = {};
  lay.names.forEach((n, i) => {
    p[n] = w.slice(lay.offsets[i], lay.offsets[i] + lay.sizes[i]);
  });
  return p;
}

/** The ranges of one head's weights: its Q, K, V rows of W_qkv and its input columns of W_proj. */
export function headRanges(c: ModelConfig, head: string): Ranges {
  const { layer, head: h } = parseHead(head, c.depth, c.numHeads);
  const lay = flatLayout(c),
    d = c.dModel,
    D = headDim(c);
  const qkv = lay.offsets[lay.names.indexOf(`blocks.${layer}.attn.qkv.weight`)];
  const proj = lay.offsets[lay.names.indexOf(`blocks.${layer}.attn.proj.weight`)];
  const out: Array<[number, number]> = [];
  for (let which = 0; which < 3; which++) {
    const a = qkv + (which * d + h * D) * d;
    out.push([a, a + D * d]);
  }
  for (let o = 0; o < d; o++) {
    const a = proj + o * d + h * D;
    out.push([a, a + D]);
  }
  return out.sort((x, y) => x[0] - y[0]);
}

/** Every head of the model, L1H0 … L{depth}H{H−1}. */
export function allHeads(c: ModelConfig): string[] {
  return Array.from({ length: c.depth * c.numHeads }, (_, i) =>
    formatHead({ layer: Math.floor(i / c.numHeads), head: i % c.numHeads }),
  );
}

/** The clamps of the run active at `sequences` (windows read at the checkpoint). */
export function activeClamps(clamps: ClampSpec[], sequences: number): ClampSpec[] {
  return clamps.filter((s) => isActive(s, sequences));
}

interface RangePart {
  name: string;
  base: number;
  a: number;
  b: number;
}

export interface TransformerTargetOptions {
  config: ModelConfig;
  task: TaskData;
  /** The clamps active while sampling (already filtered to the checkpoint; [] = clean). */
  clamps: ClampSpec[];
  /** The checkpoint's sequence count (what the clamps' windows were read at). */
  sequences: number;
  batchSize: number;
  /** 'auto': the fast engine when it supports the clamps, else TensorFlow.js (needs initBackend first). */
  engine?: 'auto' | 'fast' | 'tfjs';
}

/** What computes the loss and gradient, for the output ("fast engine", or TF.js and why). */
export interface EngineChoice {
  engine: 'fast' | 'tfjs';
  detail: string;
  reason: string | null;
}

export function chooseEngine(
  c: ModelConfig,
  clamps: ClampSpec[],
  pref: 'auto' | 'fast' | 'tfjs' = 'auto',
): EngineChoice {
  const why = fastUnsupported(c, clamps);
  if (pref === 'fast' && why) throw new Error(`the fast engine cannot sample this model: ${why}`);
  if (pref === 'tfjs') return { engine: 'tfjs', detail: 'TensorFlow.js reference (asked for)', reason: 'asked for' };
  if (why) return { engine: 'tfjs', detail: 'TensorFlow.js reference', reason: why };
  return { engine: 'fast', detail: 'fast engine (WebAssembly SIMD)', reason: null };
}

export function transformerTarget(o: TransformerTargetOptions): SgldTarget<Batch> & { engine: EngineChoice } {
  const choice = chooseEngine(o.config, o.clamps, o.engine);
  return choice.engine === 'fast' ? new FastTarget(o, choice) : new TfTarget(o, choice);
}

abstract class BaseTarget {
  readonly size: number;
  readonly batchSize: number;
  protected readonly lay: FlatLayout;
  private readonly parts = new WeakMap<Ranges, RangePart[]>();
  constructor(
    protected readonly o: TransformerTargetOptions,
    readonly engine: EngineChoice,
  ) {
    this.lay = flatLayout(o.config);
    this.size = this.lay.total;
    this.batchSize = o.batchSize;
  }
  divergenceLoss(initLoss: number): number {
    return initLoss + Math.log(this.o.config.numLabels);
  }
  drawBatch(rng: Rng): Batch {
    return this.o.task.sampleBatch(rng, this.o.batchSize);
  }
  /** Ranges cut at tensor boundaries, each with its tensor (cached per ranges object). */
  protected split(ranges: Ranges): RangePart[] {
    let p = this.parts.get(ranges);
    if (!p) {
      p = [];
      for (const [a, b] of ranges) {
        for (let i = 0; i < this.lay.names.length; i++) {
          const lo = Math.max(a, this.lay.offsets[i]),
            hi = Math.min(b, this.lay.offsets[i] + this.lay.sizes[i]);
          if (lo < hi) p.push({ name: this.lay.names[i], base: this.lay.offsets[i], a: lo, b: hi });
        }
      }
      this.parts.set(ranges, p);
    }
    return p;
  }
}

/** Forward and backward on the fast engine. */
class FastTarget extends BaseTarget implements SgldTarget<Batch> {
  private readonly model: FastModel;
  private readonly folded: FoldedClampOptions;
  private readonly copyHead: number | undefined;
  private readonly needsExemplars: boolean;
  private ovCache: Map<string, HostOverride> | null = null;
  private kernel: SgldKernel | null = null;
  private readonly mem: ModelInternals;
  constructor(o: TransformerTargetOptions, engine: EngineChoice) {
    super(o, engine);
    this.model = new FastModel(o.config);
    this.mem = this.model.internals();
    this.folded = foldedClampOptions(o.config, o.clamps, o.sequences); // as the TF.js target, at o.sequences
    this.copyHead = this.folded.copyHead;
    this.needsExemplars = readsExemplars(o.clamps);
    // Lay the batch size out once, so the parameter views never move afterwards.
    this.model.batchViews(o.batchSize);
  }
  /** The SGLD kernel inside the model's memory: it steps the parameter block and reads the gradient block. */
  hostKernel(): SgldKernel {
    if (!this.kernel) {
      const m = this.mem;
      if (m.paramCount !== this.size)
        throw new Error(`the fast model holds ${m.paramCount} parameters, not ${this.size}`);
      this.kernel = new SgldKernel(this.size, {
        memory: m.memory,
        alloc: m.alloc,
        params: m.paramBlock,
        grads: m.gradBlock,
      });
    }
    return this.kernel;
  }
  load(w: Float32Array): void {
    const p = this.model.paramViews();
    this.lay.names.forEach((n, i) =>
      p[n].set(w.subarray(this.lay.offsets[i], this.lay.offsets[i] + this.lay.sizes[i])),
    );
  }
  update(w: Float32Array, ranges: Ranges): void {
    const p = this.model.paramViews();
    for (const r of this.split(ranges)) p[r.name].set(w.subarray(r.a, r.b), r.a - r.base);
  }
  private overrides(batch: Batch): Map<string, HostOverride> | undefined {
    // The copy logits come from a clean pass (spec §4.7): no other clamp reaches the loss.
    if (this.copyHead !== undefined || this.o.clamps.length === 0) return undefined;
    const reuse = batchFree(this.o.clamps);
    if (reuse && this.ovCache) return this.ovCache;
    const host = {
      labels: batch.labels,
      size: batch.size,
      exemplars: this.needsExemplars ? gatherExemplars(this.o.task.bank, batch) : undefined,
    };
    const ov = hostOverrides(this.o.config, host, this.o.clamps, this.o.sequences);
    if (reuse) this.ovCache = ov;
    return ov;
  }
  evaluate(batch: Batch, grad: Float32Array | null, ranges: Ranges): number {
    // The hosted kernel's g is the model's gradient block itself: nothing to copy (checked before run(),
    // which may grow the memory and detach the view).
    const m = this.mem;
    const own = grad !== null && grad.buffer === m.memory.buffer && grad.byteOffset === m.gradBlock;
    const r = this.model.run(this.model.paramViews(), fastBatch(this.o.task.bank, batch, this.model), {
      overrides: this.overrides(batch),
      backward: grad !== null,
      ...this.folded,
      itemIds: this.folded.paths ? batch.classes : undefined, // the class corruption pairs classes, as in training
    });
    if (grad && !own && r.grads)
      for (const q of this.split(ranges)) grad.set(r.grads[q.name].subarray(q.a - q.base, q.b - q.base), q.a);
    return r.loss;
  }
}

/** Forward and backward on the TensorFlow.js reference (any clamp; ≈ 20–40× slower per step). */
class TfTarget extends BaseTarget implements SgldTarget<Batch> {
  private readonly weights: TfWeights;
  private readonly nameOf: Map<string, string>;
  private readonly host: Float32Array;
  constructor(o: TransformerTargetOptions, engine: EngineChoice) {
    super(o, engine);
    const lay = this.lay;
    this.host = new Float32Array(lay.total);
    this.weights = new TfWeights(o.config, unflatten(o.config, this.host));
    this.nameOf = new Map(Object.entries(this.weights.vars).map(([k, v]) => [v.name, k]));
  }
  load(w: Float32Array): void {
    this.host.set(w);
    this.weights.assign(unflatten(this.o.config, this.host));
  }
  update(w: Float32Array, ranges: Ranges): void {
    const touched = new Set<string>();
    for (const r of this.split(ranges)) {
      this.host.set(w.subarray(r.a, r.b), r.a);
      touched.add(r.name);
    }
    for (const n of touched) {
      const i = this.lay.names.indexOf(n);
      const t = tf.tensor(
        this.host.subarray(this.lay.offsets[i], this.lay.offsets[i] + this.lay.sizes[i]),
        this.weights.vars[n].shape,
      );
      this.weights.vars[n].assign(t);
      t.dispose();
    }
  }
  evaluate(batch: Batch, grad: Float32Array | null, ranges: Ranges): number {
    const c = this.o.config,
      items = c.contextLen + 1;
    return tf.tidy(() => {
      const { inputs, host } = batchTensors(this.o.task.bank, batch);
      const targets = tf.tensor1d(
        Int32Array.from({ length: batch.size }, (_, b) => batch.labels[b * items + items - 1]),
        'int32',
      );
      const lossFn = () =>
        crossEntropy(
          clampedForward(c, this.weights.weights, inputs, host, this.o.clamps, this.o.sequences).logits,
          targets,
        ) as tf.Scalar;
      if (!grad) return lossFn().dataSync()[0];
      const parts = this.split(ranges);
      const names = new Set(parts.map((p) => p.name));
      const vars = Object.entries(this.weights.vars)
        .filter(([k]) => names.has(k))
        .map(([, v]) => v);
      const { value, grads } = tf.variableGrads(lossFn, vars);
      const host_: Record<string, Float32Array> = {};
      for (const [n, t] of Object.entries(grads)) host_[this.nameOf.get(n)!] = t.dataSync() as Float32Array;
      for (const q of parts) grad.set(host_[q.name].subarray(q.a - q.base, q.b - q.base), q.a);
      return value.dataSync()[0];
    });
  }
}
