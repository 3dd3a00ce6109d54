/**
 * The forward-function factory (the reference's make_fn_from_opts): given the run's clamps and how many
 * sequences have been seen, returns the forward call used for training and evaluation. The model code
 * never imports clamp logic; clamps only write overrides into a ClampContext.
 */
import { tf } from '../tf';
import { ModelConfig } from '../model/config';
import { forward, ForwardResult, ModelInputs, Weights } from '../model/forward';
import { site } from '../model/sites';
import { ClampContext, BatchLabels } from './context';
import { HostOverride, newHostOverride, mergeHostOverrides } from '../model/hostOverride';
import { headDim, seqLen } from '../model/config';
import { ClampSpec, isActive } from './spec';
import { parseHead } from './heads';

/**
 * Constant clamps: their overrides depend only on the config and the batch's labels, so they are built
 * once as host arrays and applied identically by every engine.
 */
type HostBuild = (spec: ClampSpec, c: ModelConfig, host: BatchLabels) => HostOverride[];

const HOST: Partial<Record<ClampSpec['kind'], HostBuild>> = {
  // §4.1: the listed heads' values are zero, so their output (no bias in W_proj) is exactly zero.
  ablate: (spec, c, host) => {
    const T = seqLen(c), D = headDim(c), H = c.numHeads, B = host.size;
    const byLayer = new Map<number, number[]>();
    for (const h of spec.heads.map((s) => parseHead(s, c.depth, c.numHeads))) byLayer.set(h.layer, [...(byLayer.get(h.layer) ?? []), h.head]);
    return [...byLayer].map(([layer, heads]) => {
      const o = newHostOverride(site.v(layer), [B, H, T, D]);
      for (let b = 0; b < B; b++) for (const h of heads) o.mask.fill(1, (b * H + h) * T * D, (b * H + h + 1) * T * D);
      return o;
    });
  },
};

/** Whether every clamp in the list is a constant (host-buildable) clamp. */
export function allConstant(clamps: ClampSpec[]): boolean { return clamps.every((s) => HOST[s.kind] !== undefined); }

/** The merged host overrides of the constant clamps active at `sequences`. */
export function hostOverrides(c: ModelConfig, host: BatchLabels, clamps: ClampSpec[], sequences: number): Map<string, HostOverride> {
  const list: HostOverride[] = [];
  for (const s of clamps) if (isActive(s, sequences)) { const f = HOST[s.kind]; if (f) list.push(...f(s, c, host)); }
  return mergeHostOverrides(list);
}

export interface ClampedForwardOptions { record?: boolean | ReadonlySet<string> }

/** Runs the model with every clamp active at `sequences`; the clamps apply in list order. */
export function clampedForward(
  c: ModelConfig, w: Weights, inputs: ModelInputs, host: BatchLabels, clamps: ClampSpec[], sequences: number,
  opts: ClampedForwardOptions = {},
): ForwardResult {
  const active = clamps.filter((s) => isActive(s, sequences));
  if (active.length === 0) return forward(c, w, inputs, { record: opts.record });
  const ctx = new ClampContext(c, w, inputs, host);
  for (const s of active) {
    const build = HOST[s.kind];
    if (!build) throw new Error(`clamp kind ${s.kind} has no implementation`);
    for (const o of build(s, c, host)) ctx.set(o.site, tf.tensor(o.value, o.shape), tf.tensor(o.mask, o.shape, 'bool'));
  }
  return forward(c, w, inputs, { overrides: ctx.overrides, record: opts.record });
}
