/**
 * The forward-function factory (the reference's make_fn_from_opts): runs the model with every clamp
 * active at the current sequence count, in the reference's composition order (spec §3.4). The model code
 * never imports clamp logic; clamps only write overrides.
 *
 * What each clamp is lives in ./kinds.ts. The constant clamps' host overrides are built there and applied
 * identically by every engine; the clamps that read a pass of the model (kinds marked `pass`: preserve,
 * temperature, copy, layer1, grafts) are applied here in TensorFlow.js, inside the loss function, so their
 * passes are differentiated as in the reference. PASSES must hold every pass kind (the compiler checks).
 */
import { tf } from '../model/tf';
import { ModelConfig, seqLen } from '../model/config';
import { forward, ForwardResult, ModelInputs, Overrides, Weights } from '../model/forward';
import { site } from '../model/sites';
import { HostOverride, mergeHostOverrides } from '../model/hostOverride';
import { TfWeights } from '../model/tfModel';
import { Checkpoint, readCheckpoint } from '../model/checkpoint';
import type { ClampBatch } from '../model/hostBatch';
import { ClampContext } from './context';
import { headMaskArray } from './masks';
import { ClampSpec, CLAMP_ORDER, isActive } from './spec';
import { Spec, defOf } from './kinds';
import type { PassKind } from './kindDef';
import { parseHead, headsByLayer } from './heads';
import { applyPathClamp } from './pathApply';

const NEG = -1e9;

/** Heads of a clamp grouped by layer. */
const byLayer = (c: ModelConfig, heads: string[]): Map<number, number[]> => headsByLayer(heads, c.depth, c.numHeads);

// ---- Clamps that read passes of the model (TensorFlow.js; the fast model folds layer1 and copy into its own pass) ----

const donorCheckpoints = new Map<string, Checkpoint>();
const donors = new Map<string, TfWeights>();

/**
 * A graft donor read from disk and checked against this model: host arrays only, so it can be called
 * before the engine has picked a TensorFlow.js backend (checkClampResources runs before training).
 */
function donorCheckpoint(path: string, c: ModelConfig): Checkpoint {
  let ck = donorCheckpoints.get(path);
  if (!ck) {
    ck = readCheckpoint(path);
    for (const k of ['dModel', 'numHeads', 'depth', 'numLabels', 'inputDim', 'contextLen', 'mlpRatio'] as const) {
      if (ck.config[k] !== c[k])
        throw new Error(`graft checkpoint ${path} has model.${k} = ${ck.config[k]}, this model has ${c[k]}`);
    }
    donorCheckpoints.set(path, ck);
  }
  return ck;
}

/**
 * A frozen donor model (graft clamps) as tensors, made once per process on first use: by then the
 * engine has initialised its backend (tensors made earlier fail with "backend … not yet initialized").
 */
export function donorWeights(path: string, c: ModelConfig): TfWeights {
  let d = donors.get(path);
  if (!d) {
    const ck = donorCheckpoint(path, c);
    d = new TfWeights(ck.config, ck.params, false);
    donors.set(path, d);
  }
  return d;
}

const full = (shape: number[]) => tf.ones(shape, 'bool');
const shapeOf = (t: tf.Tensor) => t.shape as number[];

type TfApply<K extends PassKind> = (spec: Spec<K>, ctx: ClampContext) => void;
const PASSES: { [K in PassKind]: TfApply<K> } = {
  // §4.2 copy patterns / values / queries / keys of every head of every layer from the clean pass.
  preserve: (spec, ctx) => {
    const base = ctx.base();
    for (let l = 0; l < ctx.config.depth; l++) {
      const sites = { patterns: site.pattern(l), values: site.v(l), queries: site.rotQ(l), keys: site.rotK(l) };
      for (const w of spec.what) {
        const v = base.acts.get(sites[w])!;
        ctx.set(sites[w], v, full(shapeOf(v)));
      }
    }
  },
  // §4.8 the heads' clean pre-softmax scores divided by T.
  temperature: (spec, ctx) => {
    for (const [layer, heads] of byLayer(ctx.config, spec.heads)) {
      const s = ctx.base().acts.get(site.attnScores(layer))!;
      ctx.set(
        site.attnScores(layer),
        tf.div(s, spec.temperature),
        tf.tensor(headMaskArray(shapeOf(s), heads), shapeOf(s), 'bool'),
      );
    }
  },
  // §4.6 three passes: base → embedding E; pattern pass with Layer-1's block output = shifted E
  // ([E0, E0, E1, E2, E4]); final pass with Layer-1's output = E and Layer-2 patterns from the pattern pass.
  layer1: (_spec, ctx) => {
    const E = ctx.base().acts.get(site.embed)!; // [B, 5, d]
    const rows = tf.unstack(E, 1);
    const shifted = tf.stack([rows[0], rows[0], rows[1], rows[2], rows[4]], 1);
    const m = full(shapeOf(E));
    const pass2 = ctx.pass(
      new Map([[site.residPost(0), { value: shifted, mask: m }]]),
      new Set([site.pattern(1), site.attnScores(1)]),
    );
    ctx.layer1PatternPass = pass2;
    ctx.set(site.residPost(0), E, m);
    const p = pass2.acts.get(site.pattern(1))!;
    ctx.set(site.pattern(1), p, full(shapeOf(p)));
  },
  // §4.7 query logits = the head's pre-softmax scores at the two label keys, all other logits −1e9.
  // With the layer1 clamp the scores come from its pattern pass (shifted input).
  copy: (spec, ctx) => {
    const c = ctx.config,
      T = seqLen(c),
      L = c.numLabels,
      B = ctx.batchSize;
    const h = parseHead(spec.head, c.depth, c.numHeads);
    const source = ctx.layer1PatternPass && h.layer === 1 ? ctx.layer1PatternPass : ctx.base();
    const S = source.acts.get(site.attnScores(h.layer))!; // [B, H, T, T]
    const z = tf.reshape(tf.slice(S, [0, h.head, T - 1, 0], [B, 1, 1, T]), [B, T]);
    const z1 = tf.slice(z, [0, 1], [B, 1]),
      z2 = tf.slice(z, [0, 3], [B, 1]);
    const y = ctx.inputs.labels;
    const oh1 = tf.cast(tf.oneHot(tf.reshape(tf.slice(y, [0, 0], [B, 1]), [B]), L), 'float32');
    const oh2 = tf.cast(tf.oneHot(tf.reshape(tf.slice(y, [0, 1], [B, 1]), [B]), L), 'float32');
    const rest = tf.sub(1, tf.add(oh1, oh2));
    const q = tf.add(tf.add(tf.mul(oh1, z1), tf.mul(oh2, z2)), tf.mul(rest, NEG)); // [B, L]
    const value = tf.pad(tf.reshape(q, [B, 1, L]), [
      [0, 0],
      [T - 1, 0],
      [0, 0],
    ]);
    const mask = new Uint8Array(B * T * L);
    for (let b = 0; b < B; b++) mask.fill(1, (b * T + T - 1) * L, (b * T + T) * L);
    ctx.set(site.logits, value, tf.tensor(mask, [B, T, L], 'bool'));
  },
  // §4.9 block tillLayer's output (with residual) = a frozen donor's.
  'graft-in': (spec, ctx) => {
    const d = donorWeights(spec.checkpoint, ctx.config);
    const s = site.residPost(spec.tillLayer);
    const v = forward(d.config, d.weights, ctx.inputs, { record: new Set([s]) }).acts.get(s)!;
    ctx.set(s, v, full(shapeOf(v)));
  },
  // §4.9 runs after the main pass (graftOut below): nothing to set before it.
  'graft-out': () => {},
  // Issue 18: one edge's receiver input recomputed from a replaced sender output (pathApply.ts).
  'path-patch': applyPathClamp,
  'stop-gradient': applyPathClamp,
};

/** Graft-out runs after the main pass: the donor's later layers read this model's block output. */
function graftOut(spec: Spec<'graft-out'>, c: ModelConfig, inputs: ModelInputs, main: ForwardResult): ForwardResult {
  const d = donorWeights(spec.checkpoint, c);
  const s = site.residPost(spec.fromLayer);
  const v = main.acts.get(s)!;
  const r = forward(d.config, d.weights, inputs, { overrides: new Map([[s, { value: v, mask: full(shapeOf(v)) }]]) });
  return { logits: r.logits, acts: main.acts };
}

function ordered(clamps: ClampSpec[], sequences: number): ClampSpec[] {
  return clamps
    .filter((s) => isActive(s, sequences))
    .sort((a, b) => CLAMP_ORDER.indexOf(a.kind) - CLAMP_ORDER.indexOf(b.kind));
}

/** The merged host overrides of the constant clamps active at `sequences`. */
export function hostOverrides(
  c: ModelConfig,
  host: ClampBatch,
  clamps: ClampSpec[],
  sequences: number,
): Map<string, HostOverride> {
  const list: HostOverride[] = [];
  for (const s of ordered(clamps, sequences)) {
    const h = defOf(s).host;
    if (h) list.push(...h(s, c, host));
  }
  return mergeHostOverrides(list);
}

export interface ClampedForwardOptions {
  record?: boolean | ReadonlySet<string>;
}

/** Runs the model with every clamp active at `sequences`. */
export function clampedForward(
  c: ModelConfig,
  w: Weights,
  inputs: ModelInputs,
  host: ClampBatch,
  clamps: ClampSpec[],
  sequences: number,
  opts: ClampedForwardOptions = {},
): ForwardResult {
  const active = ordered(clamps, sequences);
  if (active.length === 0) return forward(c, w, inputs, { record: opts.record });
  const ctx = new ClampContext(c, w, inputs, host);
  let out: Spec<'graft-out'> | undefined;
  for (const s of active) {
    if (s.kind === 'graft-out') {
      out = s;
      continue;
    }
    const h = defOf(s).host;
    if (h) for (const o of h(s, c, host)) ctx.setHost(o);
    else (PASSES[s.kind as PassKind] as TfApply<PassKind>)(s as Spec<PassKind>, ctx);
  }
  let record = opts.record;
  if (out) {
    const need = site.residPost(out.fromLayer);
    record = record === true ? true : new Set([...(record ? record : []), need]);
  }
  const main = forward(c, w, inputs, { overrides: ctx.overrides as Overrides, record });
  return out ? graftOut(out, c, inputs, main) : main;
}

/**
 * Reads and checks what the clamps need from disk (graft donors) so problems show before training
 * starts; makes no tensors, so it is safe before any backend is chosen.
 */
export function checkClampResources(c: ModelConfig, clamps: ClampSpec[]): void {
  for (const s of clamps) if (s.kind === 'graft-in' || s.kind === 'graft-out') donorCheckpoint(s.checkpoint, c);
}
