/**
 * The forward-function factory (the reference's make_fn_from_opts): given the run's clamps and how many
 * sequences have been seen, returns the forward call used for training and evaluation. The model code
 * never imports clamp logic; clamps only write overrides into a ClampContext.
 */
import { tf } from '../tf';
import { ModelConfig } from '../model/config';
import { forward, ForwardResult, ModelInputs, Weights } from '../model/forward';
import { site } from '../model/sites';
import { ClampContext, BatchLabels, headMask } from './context';
import { ClampSpec, isActive } from './spec';
import { parseHead } from './heads';

type Apply = (spec: ClampSpec, ctx: ClampContext) => void;

const APPLY: Record<ClampSpec['kind'], Apply> = {
  ablate: (spec, ctx) => {
    const c = ctx.config;
    const byLayer = new Map<number, number[]>();
    for (const h of spec.heads.map((s) => parseHead(s, c.depth, c.numHeads))) byLayer.set(h.layer, [...(byLayer.get(h.layer) ?? []), h.head]);
    for (const [layer, heads] of byLayer) {
      const shape = [ctx.batchSize, c.numHeads, 2 * c.contextLen + 1, c.dModel / c.numHeads];
      ctx.set(site.v(layer), tf.zeros(shape), headMask(shape, heads));
    }
  },
};

export interface ClampedForwardOptions { record?: boolean | ReadonlySet<string> }

/** Runs the model with every clamp active at `sequences`; the clamps apply in list order. */
export function clampedForward(
  c: ModelConfig, w: Weights, inputs: ModelInputs, host: BatchLabels, clamps: ClampSpec[], sequences: number,
  opts: ClampedForwardOptions = {},
): ForwardResult {
  const active = clamps.filter((s) => isActive(s, sequences));
  if (active.length === 0) return forward(c, w, inputs, { record: opts.record });
  const ctx = new ClampContext(c, w, inputs, host);
  for (const s of active) APPLY[s.kind](s, ctx);
  return forward(c, w, inputs, { overrides: ctx.overrides, record: opts.record });
}
