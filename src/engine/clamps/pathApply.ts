/**
 * The path clamps' TensorFlow.js application (definitions and semantics: ./pathKinds.ts; docs/path-patching.md).
 * A path clamp reads a pass of the model with every other active clamp applied (the forward it modifies),
 * takes from it the receiver layer's residual input resid [B, T, d] and the sender's output
 *
 *   out_s = z_s · W_proj^{(sender layer)}[:, s·D … s·D+D−1]ᵀ          [B, T, d]  (W_proj has no bias)
 *
 * and overrides the receiver's chosen input site (hook_q / hook_k pre-RoPE, or hook_v; [B, T, H, D]) at the
 * receiver head with
 *
 *   LN_r(resid − out_s + r) · W_X^{(receiver)}ᵀ,    W_X = rows X·d + r·D … of blocks.{l}.attn.qkv.weight
 *
 * so the receiver alone sees the replaced sender output, through its own block's LayerNorm (pre-LN: LN sits
 * between the residual stream and every head's Q, K and V). The passes are differentiated like the other
 * multi-pass clamps (spec §3.4): gradients reach the weights through them, except along a stopped edge.
 */
import { tf, customGradOnFirstUse } from '../model/tf';
import { ModelConfig, headDim } from '../model/config';
import { ForwardResult, ModelInputs, Weights, forward, layerNorm, linear } from '../model/forward';
import { site } from '../model/sites';
import { ClampContext } from './context';
import { perHeadMaskArray } from './masks';
import { parseHead } from './heads';
import { Corruption, corruptionMap } from './corruptions';
import type { Spec } from './kinds';
import { PathInput, inputSite } from './pathKinds';

type PathSpec = Spec<'path-patch'> | Spec<'stop-gradient'>;

/** The identity with a zero gradient (TF.js has no stop-gradient op). */
export const stopGradient = customGradOnFirstUse<(x: tf.Tensor) => tf.Tensor>((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));

/** Head `head`'s write into the residual stream, [B, T, d], from a per-head z [B, T, H, D] of block `layer`. */
export function senderOutput(c: ModelConfig, w: Weights, z: tf.Tensor, layer: number, head: number): tf.Tensor {
  const [B, T] = z.shape,
    D = headDim(c);
  const zh = tf.reshape(tf.slice(z, [0, 0, head, 0], [B, T, 1, D]), [B, T, D]);
  return linear(zh, tf.slice(w[`blocks.${layer}.attn.proj.weight`], [0, head * D], [c.dModel, D]));
}

/** One head's Q, K or V input [B, T, D] computed from a residual x [B, T, d] through block `layer`'s LN. */
export function receiverInput(
  c: ModelConfig,
  w: Weights,
  x: tf.Tensor,
  layer: number,
  input: PathInput,
  head: number,
): tf.Tensor {
  const D = headDim(c),
    which = { q: 0, k: 1, v: 2 }[input];
  const n = layerNorm(x, w[`blocks.${layer}.ln.weight`], w[`blocks.${layer}.ln.bias`], c.lnEps);
  return linear(n, tf.slice(w[`blocks.${layer}.attn.qkv.weight`], [which * c.dModel + head * D, 0], [D, c.dModel]));
}

/** Model inputs with a corruption applied (clamps/corruptions.ts), as tensors. */
export function corruptInputs(
  inputs: ModelInputs,
  kind: Corruption,
  labels: ArrayLike<number>,
  ids?: ArrayLike<number>,
): ModelInputs {
  const [B, items, I] = inputs.exemplars.shape;
  const m = corruptionMap(kind, B, labels, ids);
  const ex = tf.gather(tf.reshape(inputs.exemplars, [B * items, I]), tf.tensor1d(m.exemplarFrom, 'int32'));
  const lab = tf.gather(tf.reshape(inputs.labels, [B * items]), tf.tensor1d(m.labelFrom, 'int32'));
  return {
    exemplars: tf.reshape(ex, [B, items, I]) as tf.Tensor3D,
    labels: tf.reshape(lab, [B, items]) as tf.Tensor2D,
  };
}

/** Per clamp call: the pass every path clamp reads (every non-path clamp applied) and its corrupted twins. */
interface PathPasses {
  overrides: Map<string, { value: tf.Tensor; mask: tf.Tensor }>;
  base: ForwardResult;
  corrupted: Map<Corruption, ForwardResult>;
  /** Σ (r − out_s) of the path clamps on each receiver input so far: several edges into one input compose. */
  deltas: Map<string, tf.Tensor>;
}
const passes = new WeakMap<ClampContext, PathPasses>();

function pathPasses(ctx: ClampContext): PathPasses {
  let p = passes.get(ctx);
  if (!p) {
    // Path kinds come last in the composition order, so the overrides so far are every other clamp's.
    const overrides = new Map(ctx.overrides);
    p = { overrides, base: ctx.pass(overrides, true), corrupted: new Map(), deltas: new Map() };
    passes.set(ctx, p);
  }
  return p;
}

function corruptedPass(ctx: ClampContext, p: PathPasses, kind: Corruption): ForwardResult {
  let r = p.corrupted.get(kind);
  if (!r) {
    const ids = ctx.host.itemIds ?? undefined;
    const inputs = corruptInputs(ctx.inputs, kind, ctx.host.labels, ids);
    r = forward(ctx.config, ctx.weights, inputs, { overrides: p.overrides, record: true });
    p.corrupted.set(kind, r);
  }
  return r;
}

/** Applies one path clamp (called by apply.ts in composition order). */
export function applyPathClamp(spec: PathSpec, ctx: ClampContext): void {
  const c = ctx.config,
    H = c.numHeads,
    D = headDim(c);
  const s = parseHead(spec.sender, c.depth, c.numHeads),
    t = parseHead(spec.receiver, c.depth, c.numHeads);
  const p = pathPasses(ctx);
  const resid = p.base.acts.get(site.residPre(t.layer))!; // [B, T, d]
  const out = senderOutput(c, ctx.weights, p.base.acts.get(site.z(s.layer))!, s.layer, s.head);
  let r: tf.Tensor;
  if (spec.kind === 'stop-gradient') r = stopGradient(out);
  else if (spec.with === 'zero') r = tf.zerosLike(out);
  else if (spec.with === 'mean')
    r = stopGradient(tf.mean(out, 0, true)); // [1, T, d], broadcast over the batch
  else {
    const z = corruptedPass(ctx, p, spec.corruption!).acts.get(site.z(s.layer))!;
    r = senderOutput(c, ctx.weights, z, s.layer, s.head);
  }
  const key = `${t.layer}:${t.head}:${spec.input}`;
  const delta = tf.add(p.deltas.get(key) ?? tf.zerosLike(resid), tf.sub(r, out));
  p.deltas.set(key, delta);
  // resid − out_s + r, written so that a stopped edge's forward is resid up to one float32 rounding.
  const x = tf.add(resid, delta);
  const [B, T] = resid.shape;
  const one = tf.reshape(receiverInput(c, ctx.weights, x, t.layer, spec.input, t.head), [B, T, 1, D]);
  const value = tf.pad(one, [
    [0, 0],
    [0, 0],
    [t.head, H - t.head - 1],
    [0, 0],
  ]);
  const name = inputSite(spec.input, t.layer),
    shape = [B, T, H, D];
  let mask = tf.tensor(perHeadMaskArray(shape, [t.head]), shape, 'bool');
  // Entries a non-path clamp fixed (an ablated receiver's zero values) keep that clamp's value; an earlier
  // path clamp on the same input is superseded by this value, which includes its delta.
  const prev = p.overrides.get(name);
  if (prev) mask = tf.logicalAnd(mask, tf.logicalNot(prev.mask));
  ctx.set(name, value, mask);
}
