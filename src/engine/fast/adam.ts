/**
 * Adam for the fast path, as one WebAssembly SIMD loop over the model's parameter block instead of a
 * JavaScript loop per tensor. By default the arithmetic is float32, four lanes at a time, in PyTorch's
 * form p −= (lr/c1)·m / (√v/√c2 + ε) (one square root and one division per element; ~0.05 ms for the
 * paper's 66,629 parameters); it differs from src/engine/train/adam.ts only by float32 instead of double
 * rounding inside the update — far below the ~1e-6 the fast gradients already differ
 * from the TensorFlow.js ones. `exact: true` is adam.ts bit for bit (double arithmetic, float32 storage,
 * same operation order), two lanes at a time; its three double divisions and square root make it ~6×
 * slower. It updates the model's own parameters: train with `model.run(model.paramViews(), …)`.
 */
import { AdamConfig, AdamState } from '../train/adam';
import { Params } from '../model/params';
import { FastModel } from './model';

export class FastAdam {
  stepCount = 0;
  private readonly m: number;
  private readonly v: number;

  constructor(
    private readonly model: FastModel,
    readonly opts: { exact?: boolean } = {},
  ) {
    const it = model.internals();
    this.m = it.alloc(it.paramCount);
    this.v = it.alloc(it.paramCount);
    new Float32Array(it.memory.buffer, this.m, it.paramCount).fill(0);
    new Float32Array(it.memory.buffer, this.v, it.paramCount).fill(0);
  }

  /** One update of the model's parameters with the gradients of its last run({ backward: true }). */
  step(cfg: AdamConfig): void {
    const it = this.model.internals();
    this.stepCount += 1;
    const b1 = cfg.beta1,
      b2 = cfg.beta2;
    const c1 = 1 - Math.pow(b1, this.stepCount),
      c2 = 1 - Math.pow(b2, this.stepCount);
    if (this.opts.exact)
      it.k.adam(
        it.paramBlock,
        this.m,
        this.v,
        it.gradBlock,
        it.paramCount,
        b1,
        b2,
        1 - b1,
        1 - b2,
        cfg.lr,
        c1,
        c2,
        cfg.eps,
      );
    else
      it.k.adam_f32(
        it.paramBlock,
        this.m,
        this.v,
        it.gradBlock,
        it.paramCount,
        b1,
        b2,
        1 - b1,
        1 - b2,
        cfg.lr / c1,
        1 / Math.sqrt(c2),
        cfg.eps,
      );
  }

  /** A copy of the optimiser state in train/adam.ts form (for checkpoints). */
  state(): AdamState {
    const it = this.model.internals();
    const m: Params = {},
      v: Params = {};
    let off = 0;
    for (const s of it.specs) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      m[s.name] = new Float32Array(it.memory.buffer, this.m + off * 4, n).slice();
      v[s.name] = new Float32Array(it.memory.buffer, this.v + off * 4, n).slice();
      off += n;
    }
    return { step: this.stepCount, m, v };
  }

  /** Restores a train/adam.ts state (e.g. from a checkpoint). */
  load(st: AdamState): void {
    const it = this.model.internals();
    let off = 0;
    for (const s of it.specs) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      if (st.m[s.name]?.length !== n || st.v[s.name]?.length !== n)
        throw new Error(`optimiser state for ${s.name} is missing or has the wrong size`);
      new Float32Array(it.memory.buffer, this.m + off * 4, n).set(st.m[s.name]);
      new Float32Array(it.memory.buffer, this.v + off * 4, n).set(st.v[s.name]);
      off += n;
    }
    this.stepCount = st.step;
  }
}
