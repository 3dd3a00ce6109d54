/**
 * The transformer of spec §2.1, batched, in TensorFlow.js. Read top to bottom: embed → blocks
 * (pre-LN attention with interleaved RoPE, causal) → final LN → unembed. Every intermediate passes
 * through `hook(name, computed)`, which records it and applies an elementwise override
 * `where(mask, value, computed)` when one is given — the "artificial optogenetics" mechanism of §3.1.
 * Because the override is a `where`, no gradient reaches the overridden entries' upstream computation,
 * while a value computed by an earlier differentiable pass keeps its own gradient path.
 */
import { tf, customGradOnFirstUse } from './tf';
import { ModelConfig, headDim, seqLen } from './config';
import { site } from './sites';
import { ropeTables } from './rope';

export interface ModelInputs {
  /** [B, C+1, inputDim] exemplar features: context exemplars then the query. */
  exemplars: tf.Tensor3D;
  /** [B, C+1] int32 labels; the last column (the query's) is the target and is never embedded. */
  labels: tf.Tensor2D;
}

/** Elementwise override of one site: where `mask` is true the site takes `value`. Both full-shape. */
export interface Override {
  value: tf.Tensor;
  mask: tf.Tensor;
}
export type Overrides = Map<string, Override>;

export interface ForwardOptions {
  overrides?: Overrides;
  /** Record every site (true), none (false, the default: only the logits), or the given ones. */
  record?: boolean | ReadonlySet<string>;
}

export interface ForwardResult {
  /** [B, L] logits at the query position. */
  logits: tf.Tensor2D;
  /** Recorded sites (post-override values). */
  acts: Map<string, tf.Tensor>;
}

export type Weights = Record<string, tf.Tensor>;

/** Constants that depend only on the config: RoPE tables, the causal mask, the pair-swap matrix. */
interface Constants {
  cos: tf.Tensor3D;
  sin: tf.Tensor3D;
  swap: tf.Tensor2D;
  mask: tf.Tensor2D;
  negMask: tf.Tensor2D;
}
const constantsCache = new Map<string, Constants>();

function constants(c: ModelConfig): Constants {
  const key = `${seqLen(c)}:${headDim(c)}:${c.ropeBase}:${tf.getBackend()}`;
  let k = constantsCache.get(key);
  if (k) return k;
  const T = seqLen(c),
    D = headDim(c);
  const { cos, sin } = ropeTables(T, D, c.ropeBase);
  // (x·swap)[2i] = −x[2i+1], (x·swap)[2i+1] = x[2i]: RoPE as x·cos + (x·swap)·sin without strided slices.
  const swap = new Float32Array(D * D);
  for (let i = 0; i < D / 2; i++) {
    swap[(2 * i + 1) * D + 2 * i] = -1;
    swap[2 * i * D + 2 * i + 1] = 1;
  }
  const mask = new Float32Array(T * T),
    negMask = new Float32Array(T * T);
  for (let i = 0; i < T; i++)
    for (let j = 0; j < T; j++) {
      mask[i * T + j] = j <= i ? 1 : 0;
      negMask[i * T + j] = j <= i ? 0 : -1e20;
    }
  k = {
    // [T, 1, D]: broadcast over the heads of position-major [B, T, H, D].
    cos: tf.keep(tf.tensor3d(cos, [T, 1, D])),
    sin: tf.keep(tf.tensor3d(sin, [T, 1, D])),
    swap: tf.keep(tf.tensor2d(swap, [D, D])),
    mask: tf.keep(tf.tensor2d(mask, [T, T])),
    negMask: tf.keep(tf.tensor2d(negMask, [T, T])),
  };
  constantsCache.set(key, k);
  return k;
}

/**
 * a · b for [..., m, k] × [..., k, n] with a gradient written as plain matMuls on explicitly transposed
 * operands: the default gradient uses transposeA/B matMuls, 5–15× slower on the wasm backend.
 */
const matMulFast = customGradOnFirstUse<(a: tf.Tensor, b: tf.Tensor) => tf.Tensor>(
  (a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    save([a, b]);
    return {
      value: tf.matMul(a, b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved;
        return [tf.matMul(dy, swapLast(sb)), tf.matMul(swapLast(sa), dy)];
      },
    };
  },
);

function swapLast(x: tf.Tensor): tf.Tensor {
  const r = x.rank,
    perm = Array.from({ length: r }, (_, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(x, perm);
}

/** x [..., in] · Wᵀ (+ b) for W [out, in] (exported for the path clamps, which recompute one head's input). */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const inDim = x.shape[x.shape.length - 1];
  const lead = x.shape.slice(0, -1);
  let y = matMulFast(tf.reshape(x, [-1, inDim]), tf.transpose(w));
  if (b) y = tf.add(y, b);
  return tf.reshape(y, [...lead, w.shape[0]]);
}

export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta);
}

/** RoPE of position-major x [B, T, H, D]. */
function rope(x: tf.Tensor, k: Constants): tf.Tensor {
  const D = x.shape[3]!;
  const swapped = tf.reshape(matMulFast(tf.reshape(x, [-1, D]), k.swap), x.shape);
  return tf.add(tf.mul(x, k.cos), tf.mul(swapped, k.sin));
}

export function forward(c: ModelConfig, w: Weights, inputs: ModelInputs, opts: ForwardOptions = {}): ForwardResult {
  const acts = new Map<string, tf.Tensor>();
  const rec = opts.record ?? false;
  const hook = <T extends tf.Tensor>(name: string, computed: T): T => {
    const o = opts.overrides?.get(name);
    const v = (o ? tf.where(o.mask as tf.Tensor, o.value, computed) : computed) as T;
    if (rec === true || (rec !== false && rec.has(name))) acts.set(name, v);
    return v;
  };
  const k = constants(c);
  const B = inputs.exemplars.shape[0],
    C = c.contextLen,
    T = seqLen(c),
    d = c.dModel,
    H = c.numHeads,
    D = headDim(c);

  // Embeddings: exemplars [B, C+1, d]; context labels [B, C, d] (the query's label is the target).
  const ex = hook(site.embedExemplar, linear(inputs.exemplars, w['embed.exemplar.weight'], w['embed.exemplar.bias']));
  const ctxLabels = tf.slice(inputs.labels, [0, 0], [B, C]);
  const lab = hook(site.embedLabel, linear(tf.oneHot(ctxLabels, c.numLabels), w['embed.label.weight']));
  // Interleave x1 ℓ1 x2 ℓ2 … xq → [B, T, d]. RoPE models add no positional embedding.
  const exs = tf.unstack(ex, 1),
    labs = tf.unstack(lab, 1);
  const tokens: tf.Tensor[] = [];
  for (let i = 0; i < C; i++) tokens.push(exs[i], labs[i]);
  tokens.push(exs[C]);
  let h = hook(site.embed, tf.stack(tokens, 1));

  const scale = 1 / Math.sqrt(D);
  for (let l = 0; l < c.depth; l++) {
    const p = (n: string) => w[`blocks.${l}.${n}`];
    const x = hook(site.residPre(l), h);
    const z = hook(site.lnNormalized(l), layerNorm(x, p('ln.weight'), p('ln.bias'), c.lnEps));
    // qkv [B, T, 3d] → [B, T, 3H, D] → q, k, v [B, T, H, D] (position-major, as TransformerLens);
    // feature index = which·d + head·D + dim.
    const [q0, k0, v0] = tf.split(tf.reshape(linear(z, p('attn.qkv.weight')), [B, T, 3 * H, D]), 3, 2);
    const q = hook(site.q(l), q0),
      kk = hook(site.k(l), k0),
      v = hook(site.v(l), v0);
    const rq = hook(site.rotQ(l), rope(q, k)),
      rk = hook(site.rotK(l), rope(kk, k));
    // Attention is head-major: [B, T, H, D] → [B, H, T, D].
    const [qh, kh, vh] = [rq, rk, v].map((x) => tf.transpose(x, [0, 2, 1, 3]));
    // Scores [B, H, T(query), T(key)], scaled, causal mask as S·M + (1−M)·(−1e20).
    const s = tf.mul(matMulFast(qh, tf.transpose(kh, [0, 1, 3, 2])), scale);
    const scores = hook(site.attnScores(l), tf.add(tf.mul(s, k.mask), k.negMask));
    const pattern = hook(site.pattern(l), tf.softmax(scores, -1));
    // z [B, H, T, D] → [B, T, H, D]; heads concatenated along features (head h → dims h·D … h·D+D−1).
    const zz = hook(site.z(l), tf.transpose(matMulFast(pattern, vh), [0, 2, 1, 3]));
    const merged = tf.reshape(zz, [B, T, d]);
    const attnOut = hook(site.attnOut(l), linear(merged, p('attn.proj.weight')));
    if (c.mlpRatio === null) {
      h = hook(site.residPost(l), tf.add(x, attnOut));
    } else {
      const mid = hook(site.residMid(l), tf.add(x, attnOut));
      const hid = tf.relu(
        linear(layerNorm(mid, p('ln2.weight'), p('ln2.bias'), c.lnEps), p('mlp.in.weight'), p('mlp.in.bias')),
      );
      const mlpOut = hook(site.mlpOut(l), linear(hid, p('mlp.out.weight'), p('mlp.out.bias')));
      h = hook(site.residPost(l), tf.add(mid, mlpOut));
    }
  }
  const zf = hook(site.lnFinal, layerNorm(h, w['ln_final.weight'], w['ln_final.bias'], c.lnEps));
  const allLogits = hook(site.logits, linear(zf, w['unembed.weight'], w['unembed.bias']));
  const logits = tf.reshape(tf.slice(allLogits, [0, T - 1, 0], [B, 1, c.numLabels]), [B, c.numLabels]) as tf.Tensor2D;
  return { logits, acts };
}

/** Mean cross-entropy over all L logits against the query labels (spec §2.1 step 6). */
export function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  const logp = tf.logSoftmax(logits, -1);
  return tf.neg(tf.mean(tf.sum(tf.mul(logp, tf.oneHot(targets, logits.shape[1])), -1))) as tf.Scalar;
}
