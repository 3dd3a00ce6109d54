/**
 * The forward-function factory (the reference's make_fn_from_opts): runs the model with every clamp
 * active at the current sequence count, in the reference's composition order (spec §3.4). The model code
 * never imports clamp logic; clamps only write overrides.
 *
 * Constant clamps (ablation, fixed patterns, fixed scores) depend only on the config and the batch, so
 * they are built as host arrays and applied identically by every engine. Clamps that read a pass of the
 * model (preserve, temperature, copy, layer1, grafts) are written in TensorFlow.js, inside the loss
 * function, so their passes are differentiated as in the reference.
 */
import { tf } from '../tf';
import { ModelConfig, headDim, seqLen } from '../model/config';
import { forward, ForwardResult, ModelInputs, Overrides, Weights } from '../model/forward';
import { site } from '../model/sites';
import { HostOverride, newHostOverride, mergeHostOverrides } from '../model/hostOverride';
import { TfWeights } from '../model/tfModel';
import { readCheckpoint, Checkpoint } from '../model/checkpoint';
import { ClampContext, BatchHost, headMaskArray } from './context';
import { ClampSpec, ClampKind, CLAMP_ORDER, isActive } from './spec';
import { parseHead } from './heads';

export type { BatchHost } from './context';

const NEG = -1e9;

/** Heads of a clamp grouped by layer. */
function byLayer(c: ModelConfig, heads: string[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const h of heads.map((s) => parseHead(s, c.depth, c.numHeads))) m.set(h.layer, [...(m.get(h.layer) ?? []), h.head]);
  return m;
}

type Spec<K extends ClampKind> = Extract<ClampSpec, { kind: K }>;
type HostBuild<K extends ClampKind> = (spec: Spec<K>, c: ModelConfig, host: BatchHost) => HostOverride[];

/** Writes the query row (T−1) of head-major patterns: row[key] for every batch item and head. */
function queryRow(o: HostOverride, heads: number[], row: (b: number) => number[]): void {
  const [B, H, T] = o.shape;
  for (let b = 0; b < B; b++) {
    const r = row(b);
    for (const h of heads) {
      const base = ((b * H + h) * T + T - 1) * T;
      for (let k = 0; k < T; k++) { o.value[base + k] = r[k]; o.mask[base + k] = 1; }
    }
  }
}

const HOST: { [K in ClampKind]?: HostBuild<K> } = {
  // §4.1 the heads' values are zero, so their output (W_proj has no bias) is exactly zero.
  ablate: (spec, c, host) => [...byLayer(c, spec.heads)].map(([layer, heads]) => {
    const shape = [host.size, c.numHeads, seqLen(c), headDim(c)];
    return { site: site.v(layer), shape, value: new Float32Array(shape.reduce((a, b) => a * b)), mask: headMaskArray(shape, heads) };
  }),
  // §4.3 P[0,0] = 1; P[i,i−1] = s, P[i,i] = 1 − s for i ≥ 1; all rows, or label rows 1, 3 only.
  'prev-token': (spec, c, host) => [...byLayer(c, spec.heads)].map(([layer, heads]) => {
    const T = seqLen(c), H = c.numHeads;
    const o = newHostOverride(site.pattern(layer), [host.size, H, T, T]);
    const rows = spec.labelRowsOnly ? Array.from({ length: c.contextLen }, (_, j) => 2 * j + 1) : Array.from({ length: T }, (_, i) => i);
    for (let b = 0; b < host.size; b++) for (const h of heads) for (const i of rows) {
      const r = ((b * H + h) * T + i) * T;
      for (let k = 0; k < T; k++) o.mask[r + k] = 1;
      if (i === 0) o.value[r] = 1;
      else { o.value[r + i - 1] = spec.strength; o.value[r + i] = 1 - spec.strength; }
    }
    return o;
  }),
  // §4.4 query row = [0, a1, 0, a2, 0], a_j = s where ℓ_j equals the query's label, else 1 − s.
  induction: (spec, c, host) => [...byLayer(c, spec.heads)].map(([layer, heads]) => {
    const T = seqLen(c), s = spec.strength;
    const o = newHostOverride(site.pattern(layer), [host.size, c.numHeads, T, T]);
    queryRow(o, heads, (b) => {
      const y = host.labels.subarray(b * 3, b * 3 + 3);
      return [0, y[0] === y[2] ? s : 1 - s, 0, y[1] === y[2] ? s : 1 - s, 0];
    });
    return o;
  }),
  // §4.5 query row attends to the label after each context exemplar by cosine similarity to the query input.
  match: (spec, c, host) => {
    if (!host.exemplars) throw new Error('the match clamp needs the batch\'s raw exemplars');
    const X = host.exemplars, D = c.inputDim;
    return [...byLayer(c, spec.heads)].map(([layer, heads]) => {
      const T = seqLen(c);
      const o = newHostOverride(site.pattern(layer), [host.size, c.numHeads, T, T]);
      queryRow(o, heads, (b) => {
        const vec = (i: number) => X.subarray((b * 3 + i) * D, (b * 3 + i + 1) * D);
        const q = vec(2);
        const sims = [0, 1].map((j) => cosine(q, vec(j)));
        let w: number[];
        if (spec.temperature === 0) w = sims[0] >= sims[1] ? [1, 0] : [0, 1];
        else { const e = sims.map((s) => Math.exp((s - Math.max(...sims)) / spec.temperature)); w = e.map((v) => v / (e[0] + e[1])); }
        return [0, w[0], 0, w[1], 0];
      });
      return o;
    });
  },
  // §4.10 previous-token pre-softmax score −1e9 (all rows i ≥ 1, or label rows only).
  'disallow-prev-token': (spec, c, host) => [...byLayer(c, spec.heads)].map(([layer, heads]) => {
    const T = seqLen(c), H = c.numHeads;
    const o = newHostOverride(site.attnScores(layer), [host.size, H, T, T]);
    for (let b = 0; b < host.size; b++) for (const h of heads) for (let i = 1; i < T; i++) {
      if (spec.labelRowsOnly && i % 2 === 0) continue;
      const at = ((b * H + h) * T + i) * T + i - 1;
      o.value[at] = NEG; o.mask[at] = 1;
    }
    return o;
  }),
  // §4.10 last-layer heads: −1e9 pre-softmax at the query row on exemplar keys (positions 0, 2, 4).
  'silence-non-label': (spec, c, host) => [...byLayer(c, spec.heads)].map(([layer, heads]) => {
    const T = seqLen(c), H = c.numHeads;
    const o = newHostOverride(site.attnScores(layer), [host.size, H, T, T]);
    for (let b = 0; b < host.size; b++) for (const h of heads) for (let k = 0; k < T; k += 2) {
      const at = ((b * H + h) * T + T - 1) * T + k;
      o.value[at] = NEG; o.mask[at] = 1;
    }
    return o;
  }),
  // §4.10 the token embedding is zero.
  'ablate-embedding': (_spec, c, host) => {
    const o = newHostOverride(site.embed, [host.size, seqLen(c), c.dModel]);
    o.mask.fill(1);
    return [o];
  },
};

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb || 1);
}

// ---- Clamps that read passes of the model (TensorFlow.js; the fast model folds layer1 and copy into its own pass) ----

const donorCheckpoints = new Map<string, Checkpoint>();
/**
 * A graft donor read from disk and checked against this model: host arrays only, so it can be called
 * before the engine has picked a TensorFlow.js backend (checkClampResources runs before training).
 */
function donorCheckpoint(path: string, c: ModelConfig): Checkpoint {
  let ck = donorCheckpoints.get(path);
  if (!ck) {
    ck = readCheckpoint(path);
    for (const k of ['dModel', 'numHeads', 'depth', 'numLabels', 'inputDim', 'contextLen', 'mlpRatio'] as const) {
      if (ck.config[k] !== c[k]) throw new Error(`graft checkpoint ${path} has model.${k} = ${ck.config[k]}, this model has ${c[k]}`);
    }
    donorCheckpoints.set(path, ck);
  }
  return ck;
}

const donors = new Map<string, TfWeights>();
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

type TfApply<K extends ClampKind> = (spec: Spec<K>, ctx: ClampContext) => void;
const TF: { [K in ClampKind]?: TfApply<K> } = {
  // §4.2 copy patterns / values / queries / keys of every head of every layer from the clean pass.
  preserve: (spec, ctx) => {
    const base = ctx.base();
    for (let l = 0; l < ctx.config.depth; l++) {
      const sites = { patterns: site.pattern(l), values: site.v(l), queries: site.rotQ(l), keys: site.rotK(l) };
      for (const w of spec.what) { const v = base.acts.get(sites[w])!; ctx.set(sites[w], v, full(shapeOf(v))); }
    }
  },
  // §4.8 the heads' clean pre-softmax scores divided by T.
  temperature: (spec, ctx) => {
    for (const [layer, heads] of byLayer(ctx.config, spec.heads)) {
      const s = ctx.base().acts.get(site.attnScores(layer))!;
      ctx.set(site.attnScores(layer), tf.div(s, spec.temperature), tf.tensor(headMaskArray(shapeOf(s), heads), shapeOf(s), 'bool'));
    }
  },
  // §4.6 three passes: base → embedding E; pattern pass with Layer-1's block output = shifted E
  // ([E0, E0, E1, E2, E4]); final pass with Layer-1's output = E and Layer-2 patterns from the pattern pass.
  layer1: (_spec, ctx) => {
    const E = ctx.base().acts.get(site.embed)!; // [B, 5, d]
    const rows = tf.unstack(E, 1);
    const shifted = tf.stack([rows[0], rows[0], rows[1], rows[2], rows[4]], 1);
    const m = full(shapeOf(E));
    const pass2 = ctx.pass(new Map([[site.residPost(0), { value: shifted, mask: m }]]), new Set([site.pattern(1), site.attnScores(1)]));
    ctx.layer1PatternPass = pass2;
    ctx.set(site.residPost(0), E, m);
    const p = pass2.acts.get(site.pattern(1))!;
    ctx.set(site.pattern(1), p, full(shapeOf(p)));
  },
  // §4.7 query logits = the head's pre-softmax scores at the two label keys, all other logits −1e9.
  // With the layer1 clamp the scores come from its pattern pass (shifted input).
  copy: (spec, ctx) => {
    const c = ctx.config, T = seqLen(c), L = c.numLabels, B = ctx.batchSize;
    const h = parseHead(spec.head, c.depth, c.numHeads);
    const source = ctx.layer1PatternPass && h.layer === 1 ? ctx.layer1PatternPass : ctx.base();
    const S = source.acts.get(site.attnScores(h.layer))!; // [B, H, T, T]
    const z = tf.reshape(tf.slice(S, [0, h.head, T - 1, 0], [B, 1, 1, T]), [B, T]);
    const z1 = tf.slice(z, [0, 1], [B, 1]), z2 = tf.slice(z, [0, 3], [B, 1]);
    const y = ctx.inputs.labels;
    const oh1 = tf.cast(tf.oneHot(tf.reshape(tf.slice(y, [0, 0], [B, 1]), [B]), L), 'float32');
    const oh2 = tf.cast(tf.oneHot(tf.reshape(tf.slice(y, [0, 1], [B, 1]), [B]), L), 'float32');
    const rest = tf.sub(1, tf.add(oh1, oh2));
    const q = tf.add(tf.add(tf.mul(oh1, z1), tf.mul(oh2, z2)), tf.mul(rest, NEG)); // [B, L]
    const value = tf.pad(tf.reshape(q, [B, 1, L]), [[0, 0], [T - 1, 0], [0, 0]]);
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
};

/** Graft-out runs after the main pass: the donor's later layers read this model's block output. */
function graftOut(spec: Spec<'graft-out'>, c: ModelConfig, inputs: ModelInputs, main: ForwardResult): ForwardResult {
  const d = donorWeights(spec.checkpoint, c);
  const s = site.residPost(spec.fromLayer);
  const v = main.acts.get(s)!;
  const r = forward(d.config, d.weights, inputs, { overrides: new Map([[s, { value: v, mask: full(shapeOf(v)) }]]) });
  return { logits: r.logits, acts: main.acts };
}

/** Whether every clamp is constant (host-built): such runs can use any engine. */
export function allConstant(clamps: ClampSpec[]): boolean { return clamps.every((s) => HOST[s.kind] !== undefined); }

function ordered(clamps: ClampSpec[], sequences: number): ClampSpec[] {
  return clamps.filter((s) => isActive(s, sequences)).sort((a, b) => CLAMP_ORDER.indexOf(a.kind) - CLAMP_ORDER.indexOf(b.kind));
}

/** The merged host overrides of the constant clamps active at `sequences`. */
export function hostOverrides(c: ModelConfig, host: BatchHost, clamps: ClampSpec[], sequences: number): Map<string, HostOverride> {
  const list: HostOverride[] = [];
  for (const s of ordered(clamps, sequences)) {
    const f = HOST[s.kind] as HostBuild<ClampKind> | undefined;
    if (f) list.push(...f(s as Spec<ClampKind>, c, host));
  }
  return mergeHostOverrides(list);
}

export interface ClampedForwardOptions { record?: boolean | ReadonlySet<string> }

/** Runs the model with every clamp active at `sequences`. */
export function clampedForward(
  c: ModelConfig, w: Weights, inputs: ModelInputs, host: BatchHost, clamps: ClampSpec[], sequences: number,
  opts: ClampedForwardOptions = {},
): ForwardResult {
  const active = ordered(clamps, sequences);
  if (active.length === 0) return forward(c, w, inputs, { record: opts.record });
  const ctx = new ClampContext(c, w, inputs, host);
  let out: Spec<'graft-out'> | undefined;
  for (const s of active) {
    if (s.kind === 'graft-out') { out = s; continue; }
    const hb = HOST[s.kind] as HostBuild<ClampKind> | undefined;
    if (hb) for (const o of hb(s as Spec<ClampKind>, c, host)) ctx.setHost(o);
    else (TF[s.kind] as TfApply<ClampKind>)(s as Spec<ClampKind>, ctx);
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
