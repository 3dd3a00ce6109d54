/**
 * Adam (β1 0.9, β2 0.999, ε 1e-8, constant lr, no weight decay; spec §2.3) as a plain loop over
 * Float32Arrays. At this model size a JS loop over 67k numbers is cheaper than a dozen tensor kernels
 * per parameter, and it keeps the optimiser state trivially serialisable for resume.
 */
import { Params } from '../model/params';

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}
export const DEFAULT_ADAM: AdamConfig = { lr: 1e-5, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

export interface AdamState {
  step: number;
  m: Params;
  v: Params;
}

export function adamInit(params: Params): AdamState {
  const m: Params = {},
    v: Params = {};
  for (const k of Object.keys(params)) {
    m[k] = new Float32Array(params[k].length);
    v[k] = new Float32Array(params[k].length);
  }
  return { step: 0, m, v };
}

/** One update in place. A parameter missing from `grads` (no gradient path, e.g. under a clamp) gets a zero gradient. */
export function adamStep(cfg: AdamConfig, state: AdamState, params: Params, grads: Partial<Params>): void {
  state.step += 1;
  const b1 = cfg.beta1,
    b2 = cfg.beta2;
  const c1 = 1 - Math.pow(b1, state.step),
    c2 = 1 - Math.pow(b2, state.step);
  // The standard form m̂ / (√v̂ + ε), as optax and PyTorch compute it.
  for (const k of Object.keys(params)) {
    const p = params[k],
      m = state.m[k],
      v = state.v[k],
      g = grads[k];
    for (let i = 0; i < p.length; i++) {
      const gi = g ? g[i] : 0;
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      p[i] -= (cfg.lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + cfg.eps);
    }
  }
}
