/**
 * Parameter specs and initialisation (spec §2.2). Parameters are plain Float32Arrays keyed by the
 * checkpoint tensor names, so the same record is what the optimiser updates, what tfjs variables are
 * made from and what a safetensors checkpoint holds. Weights are stored [out, in] like PyTorch.
 */
import { Rng } from '../data/rng';
import { ModelConfig } from './config';

export interface ParamSpec {
  name: string;
  shape: number[];
  init: 'lecun' | 'label' | 'zeros' | 'ones';
  /** fan_in for LeCun-normal init. */
  fanIn?: number;
}

export type Params = Record<string, Float32Array>;

export function paramSpecs(c: ModelConfig): ParamSpec[] {
  const d = c.dModel;
  const specs: ParamSpec[] = [
    { name: 'embed.exemplar.weight', shape: [d, c.inputDim], init: 'lecun', fanIn: c.inputDim },
    { name: 'embed.exemplar.bias', shape: [d], init: 'zeros' },
    { name: 'embed.label.weight', shape: [d, c.numLabels], init: 'label' },
  ];
  for (let l = 0; l < c.depth; l++) {
    specs.push(
      { name: `blocks.${l}.ln.weight`, shape: [d], init: 'ones' },
      { name: `blocks.${l}.ln.bias`, shape: [d], init: 'zeros' },
      { name: `blocks.${l}.attn.qkv.weight`, shape: [3 * d, d], init: 'lecun', fanIn: d },
      { name: `blocks.${l}.attn.proj.weight`, shape: [d, d], init: 'lecun', fanIn: d },
    );
    if (c.mlpRatio !== null) {
      const h = Math.round(c.mlpRatio * d);
      specs.push(
        { name: `blocks.${l}.ln2.weight`, shape: [d], init: 'ones' },
        { name: `blocks.${l}.ln2.bias`, shape: [d], init: 'zeros' },
        { name: `blocks.${l}.mlp.in.weight`, shape: [h, d], init: 'lecun', fanIn: d },
        { name: `blocks.${l}.mlp.in.bias`, shape: [h], init: 'zeros' },
        { name: `blocks.${l}.mlp.out.weight`, shape: [d, h], init: 'lecun', fanIn: h },
        { name: `blocks.${l}.mlp.out.bias`, shape: [d], init: 'zeros' },
      );
    }
  }
  specs.push(
    { name: 'ln_final.weight', shape: [d], init: 'ones' },
    { name: 'ln_final.bias', shape: [d], init: 'zeros' },
    { name: 'unembed.weight', shape: [c.numLabels, d], init: 'lecun', fanIn: d },
    { name: 'unembed.bias', shape: [c.numLabels], init: 'zeros' },
  );
  return specs;
}

/** Std of the truncated normal on [-2, 2] is 0.87962566 of the untruncated one; LeCun divides it out. */
const TRUNC_STD = 0.87962566103423978;

export function initParams(c: ModelConfig, seed: number): Params {
  const out: Params = {};
  paramSpecs(c).forEach((s, i) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    // One stream per parameter, so adding a parameter never changes the others' init.
    const rng = new Rng(seed, 1000 + i);
    if (s.init === 'ones') a.fill(1);
    else if (s.init === 'lecun') {
      const sigma = Math.sqrt(1 / s.fanIn!) / TRUNC_STD;
      for (let k = 0; k < n; k++) a[k] = rng.truncatedNormal() * sigma;
    } else if (s.init === 'label') {
      for (let k = 0; k < n; k++) a[k] = 0.02 * rng.truncatedNormal();
    }
    out[s.name] = a;
  });
  return out;
}

export function countParams(c: ModelConfig): number {
  return paramSpecs(c).reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
}

export function cloneParams(p: Params): Params {
  const out: Params = {};
  for (const k of Object.keys(p)) out[k] = p[k].slice();
  return out;
}
