/**
 * Path patching of the PTH → IH circuit (issue 18; docs/path-patching.md). For every sender j (a first-layer
 * head), receiver i (a last-layer head) and receiver input X ∈ {Q, K, V}, on the context's sequences (the
 * run's own ablations kept), with corruption κ (clamps/corruptions.ts):
 *
 *   LD_s           = z_s[y_s] − z_s[ȳ_s]     query logits; y = the correct label, ȳ = the other context label
 *   E_κ[X][i][j]   = mean_s ( LD_s(receiver i's X reads LN(resid − out_j + out_j^κ)) − LD_s )
 *   A_κ[X][i][j]   = mean_s Σ_t ∂LD_s/∂x_{i,X}[t] · (out_j^κ[t] − out_j[t])       (attribution patching)
 *
 * resid = the last block's residual input (clean), out_j = z_j W_proj^{(0)}[:, jD…]ᵀ the sender's write into
 * it, out_j^κ the same on the corrupted sequence, x_{i,X} receiver i's private copy of the residual that
 * feeds its X through the block's LayerNorm. Everything else is clean: the sender's direct path, the other
 * receivers, the receiver's other inputs. An ablated receiver's entries are 0 (its values stay zero, as the
 * path clamps compose) and so are an ablated sender's (its output is zero on both inputs).
 *
 * Exact values: from one clean and one corrupted pass per chunk (the forward interface: the fast engine),
 * then per edge only what the edge changes — the receiver's attention at the query row and the final LN and
 * unembedding at the query — in double precision (a forward-only shortcut like fast/ablationEval.ts). The
 * TensorFlow.js reference (`exactPathPatchingTf`: the path-patch clamp itself, one full clamped forward per
 * edge) gives the same numbers within float32 rounding (test/unit/paths-measure.test.ts). The attribution
 * approximation reuses the same clean and corrupted passes and one hand-written backward per sequence (from the
 * logit difference to each receiver's residual copy), reported with its error against the exact values.
 */
import { tf } from '../model/tf';
import { ModelConfig, headDim, seqLen } from '../model/config';
import { Params } from '../model/params';
import { HostBatch } from '../model/hostBatch';
import { TfWeights, hostBatchInputs } from '../model/tfModel';
import { site } from '../model/sites';
import { ropeTables } from '../model/rope';
import { ClampSpec } from '../clamps/spec';
import { clampedForward } from '../clamps/apply';
import { formatHead, headsByLayer } from '../clamps/heads';
import { CORRUPTIONS, CORRUPTION_DOC, Corruption, corruptHostBatch } from '../clamps/corruptions';
import { PATH_INPUTS, PathInput } from '../clamps/pathKinds';
import { MeasureContext, layerHeads } from './dense';

export const PATH_PATCHING_FORMULA = {
  logitDiff: 'LD_s = z_s[y_s] − z_s[ȳ_s] at the query (y = correct label, ȳ = the other context label)',
  exact:
    "E[X][i][j] = mean_s (LD_s with receiver i's X reading LN(resid − out_j + out_j^corrupt) − LD_s), " +
    'rows i = last-layer receivers, cols j = first-layer senders',
  attribution:
    'A[X][i][j] = mean_s Σ_t ∂LD_s/∂x_{i,X}[t] · (out_j^corrupt − out_j)[t]  ' +
    '(one clean pass, one corrupted pass, one backward)',
  error: 'attribution vs exact over the H×H×3 entries: max |A − E|, mean |A − E|, ‖A − E‖/‖E‖, ' + 'Pearson r',
};

export type InputMatrices = Record<PathInput, number[][]>;

export interface ErrorStats {
  maxAbs: number;
  meanAbs: number;
  relative: number | null;
  correlation: number | null;
}

export interface CorruptionResult {
  corruption: Corruption;
  description: string;
  /** Mean LD of the fully corrupted run, against the clean sequences' labels. */
  corruptLD: number;
  /** Sequences without a class-disjoint partner in their chunk (class corruption). */
  unmatched: number;
  exact: InputMatrices;
  attribution: InputMatrices | null;
  attributionError: ErrorStats | null;
  /** The largest |E| edges, e.g. { edge: "L1H2→L2H3.K", exact, attribution }. */
  top: Array<{ edge: string; exact: number; attribution: number | null }>;
}

export interface PathPatchingResult {
  formula: typeof PATH_PATCHING_FORMULA;
  n: number;
  senders: string[];
  receivers: string[];
  inputs: readonly PathInput[];
  /** Mean clean LD. */
  cleanLD: number;
  engine: string;
  corruptions: CorruptionResult[];
}

// ------------------------------------------------------------------------------------------ host exact

/**
 * The checkpoint's weights the shortcut reads, in double precision, with the products that make an edge cheap.
 * With the receiver block's LN(x) = γ ⊙ (x − μ)/σ + β and x′ = resid + Δ_j, Δ_j = P_j δz_j (P_j = the
 * sender's W_proj columns), every head's Q/K/V rows are
 *
 *   W LN(x′) = (Wγ·resid + M_j δz_j − μ′ cγ) / σ′ + cβ,
 *   Wγ = W diag γ,  M_j = Wγ P_j,  cγ = Wγ 1,  cβ = W β
 *
 * and the final LN's input at the query, r = r0 + Q_i δz_i (Q_i = receiver i's W_proj columns), has its mean and
 * variance from r0 and the small Q_iᵀ Q_i, so an edge costs O(D²) beyond the receiver's attention row.
 */
interface HostWeights {
  Wp0: Float64Array;
  g: Float64Array;
  b: Float64Array;
  Wqkv: Float64Array;
  Wp1: Float64Array;
  gf: Float64Array;
  bf: Float64Array;
  Wun: Float64Array;
  bun: Float64Array;
  cos: Float64Array;
  sin: Float64Array;
  /** [3d, d] W diag γ; [H][3d, D] M_j; [3d] cγ, cβ; [H][D, D] Q_iᵀQ_i; [H][D] column sums of Q_i. */
  Wg: Float64Array;
  M: Float64Array[];
  cg: Float64Array;
  cb: Float64Array;
  QQ: Float64Array[];
  Qsum: Float64Array[];
}

function hostWeights(c: ModelConfig, p: Params): HostWeights {
  const L = c.depth - 1,
    f = (k: string) => Float64Array.from(p[k]),
    d = c.dModel,
    H = c.numHeads,
    D = headDim(c);
  const rt = ropeTables(seqLen(c), D, c.ropeBase);
  const Wp0 = f('blocks.0.attn.proj.weight'),
    g = f(`blocks.${L}.ln.weight`),
    b = f(`blocks.${L}.ln.bias`);
  const Wqkv = f(`blocks.${L}.attn.qkv.weight`),
    Wp1 = f(`blocks.${L}.attn.proj.weight`);
  const R = 3 * d,
    Wg = new Float64Array(R * d),
    cg = new Float64Array(R),
    cb = new Float64Array(R);
  for (let r = 0; r < R; r++)
    for (let k = 0; k < d; k++) {
      Wg[r * d + k] = Wqkv[r * d + k] * g[k];
      cg[r] += Wg[r * d + k];
      cb[r] += Wqkv[r * d + k] * b[k];
    }
  const M = Array.from({ length: H }, (_, j) => {
    const m = new Float64Array(R * D);
    for (let r = 0; r < R; r++)
      for (let e = 0; e < D; e++) {
        let a = 0;
        for (let k = 0; k < d; k++) a += Wg[r * d + k] * Wp0[k * d + j * D + e];
        m[r * D + e] = a;
      }
    return m;
  });
  const QQ = Array.from({ length: H }, (_, i) => {
    const q = new Float64Array(D * D);
    for (let e = 0; e < D; e++)
      for (let e2 = 0; e2 < D; e2++) {
        let a = 0;
        for (let k = 0; k < d; k++) a += Wp1[k * d + i * D + e] * Wp1[k * d + i * D + e2];
        q[e * D + e2] = a;
      }
    return q;
  });
  const Qsum = Array.from({ length: H }, (_, i) => {
    const q = new Float64Array(D);
    for (let e = 0; e < D; e++) for (let k = 0; k < d; k++) q[e] += Wp1[k * d + i * D + e];
    return q;
  });
  return {
    Wp0,
    g,
    b,
    Wqkv,
    Wp1,
    gf: f('ln_final.weight'),
    bf: f('ln_final.bias'),
    Wun: f('unembed.weight'),
    bun: f('unembed.bias'),
    cos: Float64Array.from(rt.cos),
    sin: Float64Array.from(rt.sin),
    Wg,
    M,
    cg,
    cb,
    QQ,
    Qsum,
  };
}

/** The correct and the other context label of sequence s. */
function labelPair(labels: ArrayLike<number>, s: number): [number, number] {
  const y = labels[3 * s + 2];
  return [y, labels[3 * s] === y ? labels[3 * s + 1] : labels[3 * s]];
}

/** Sites of the clean pass the shortcut reads: in full, and at the query. */
function cleanSites(c: ModelConfig): { record: Set<string>; recordQuery: Set<string> } {
  const L = c.depth - 1;
  return {
    record: new Set([site.residPre(L), site.z(0), site.rotK(L), site.v(L)]),
    recordQuery: new Set([site.rotQ(L), site.pattern(L), site.z(L), site.residPost(L)]),
  };
}

/**
 * One chunk: exact effects summed over its sequences into `exact[x][i][j]` (x = 0, 1, 2 for Q, K, V) and, with
 * `attr`, the attribution terms (∂LD/∂x_{i,X} by a hand-written backward from the query logits to the
 * receiver's residual copy, dotted with Δ_j); returns the sum of clean LDs. `zx`: the sender layer's z on the
 * corrupted sequences [B, T, H, D].
 */
function exactChunk(
  c: ModelConfig,
  w: HostWeights,
  labels: ArrayLike<number>,
  B: number,
  clean: Map<string, Float32Array>,
  cleanQ: Map<string, Float32Array>,
  zx: Float32Array,
  skipReceivers: Set<number>,
  exact: Float64Array[][],
  attr: Float64Array[][] | null,
): number {
  const L = c.depth - 1,
    T = seqLen(c),
    d = c.dModel,
    H = c.numHeads,
    D = headDim(c),
    eps = c.lnEps,
    R = 3 * d;
  const resid = clean.get(site.residPre(L))!,
    zc = clean.get(site.z(0))!;
  const rk = clean.get(site.rotK(L))!,
    v = clean.get(site.v(L))!;
  const rq = cleanQ.get(site.rotQ(L))!,
    pat = cleanQ.get(site.pattern(L))!;
  const zq = cleanQ.get(site.z(L))!,
    rpq = cleanQ.get(site.residPost(L))!;
  const scale = 1 / Math.sqrt(D),
    tq = T - 1;
  const live = Array.from({ length: H }, (_, i) => i).filter((i) => !skipReceivers.has(i));
  const A = new Float64Array(T * R),
    mu = new Float64Array(T),
    sig = new Float64Array(T);
  const proj = new Float64Array(T * R),
    dz = new Float64Array(D),
    delta = new Float64Array(d);
  const cvec = new Float64Array(d),
    cQ = new Float64Array(H * D),
    r0Q = new Float64Array(H * D);
  const zd = new Float64Array(D);
  const sc = new Float64Array(T),
    rot = new Float64Array(T * D),
    kx = new Float64Array(D);
  // Per sequence and live receiver: ∂LD/∂x_{i,X}[t] (attribution), [3][H][T][d].
  const gx = attr ? new Float64Array(3 * H * T * d) : null;
  const rope = (src: Float64Array, so: number, t: number, dst: Float64Array, dO: number) => {
    for (let e = 0; e < D; e += 2) {
      const cs = w.cos[t * D + e],
        sn = w.sin[t * D + e],
        a = src[so + e],
        b2 = src[so + e + 1];
      dst[dO + e] = a * cs - b2 * sn;
      dst[dO + e + 1] = b2 * cs + a * sn;
    }
  };
  let ldSum = 0;
  for (let s = 0; s < B; s++) {
    const [yc, yo] = labelPair(labels, s);
    // LD = Σ_k c_k (r_k − μ_r)/σ_r + c0 with c = γ_f ⊙ (W_un[y] − W_un[ȳ]).
    let c0 = w.bun[yc] - w.bun[yo],
      csum = 0,
      m0 = 0,
      ss0 = 0,
      cr0 = 0;
    for (let k = 0; k < d; k++) {
      const u = w.Wun[yc * d + k] - w.Wun[yo * d + k];
      cvec[k] = w.gf[k] * u;
      c0 += w.bf[k] * u;
      const r = rpq[s * d + k];
      csum += cvec[k];
      m0 += r;
      ss0 += r * r;
      cr0 += cvec[k] * r;
    }
    for (const i of live)
      for (let e = 0; e < D; e++) {
        let a = 0,
          b2 = 0;
        for (let k = 0; k < d; k++) {
          const q = w.Wp1[k * d + i * D + e];
          a += cvec[k] * q;
          b2 += rpq[s * d + k] * q;
        }
        cQ[i * D + e] = a;
        r0Q[i * D + e] = b2;
      }
    // LD of r = r0 + Q_i δ (δ = zNew − z_clean of receiver i); δ = 0 gives the clean LD.
    const ldAt = (i: number, dl: Float64Array) => {
      let sumD = 0,
        cd = 0,
        rd = 0,
        dd = 0;
      for (let e = 0; e < D; e++) {
        sumD += w.Qsum[i][e] * dl[e];
        cd += cQ[i * D + e] * dl[e];
        rd += r0Q[i * D + e] * dl[e];
        for (let e2 = 0; e2 < D; e2++) dd += dl[e] * w.QQ[i][e * D + e2] * dl[e2];
      }
      const m = (m0 + sumD) / d,
        ss = ss0 + 2 * rd + dd,
        sd = Math.sqrt(ss / d - m * m + eps);
      return (cr0 + cd - m * csum) / sd + c0;
    };
    const ld0 = ldAt(0, zd.fill(0));
    ldSum += ld0;
    // Clean rows of every head: A = Wγ·resid, and the residual's LN statistics.
    for (let t = 0; t < T; t++) {
      let m = 0,
        q = 0;
      for (let k = 0; k < d; k++) {
        const x = resid[(s * T + t) * d + k];
        m += x;
        q += x * x;
      }
      mu[t] = m / d;
      sig[t] = Math.sqrt(q / d - mu[t] * mu[t] + eps);
      for (let r = 0; r < R; r++) {
        let a = 0;
        for (let k = 0; k < d; k++) a += w.Wg[r * d + k] * resid[(s * T + t) * d + k];
        A[t * R + r] = a;
      }
    }
    if (gx) backward(s);
    for (let j = 0; j < H; j++) {
      let any = false;
      for (let t = 0; t < T; t++)
        for (let e = 0; e < D; e++) {
          const at = ((s * T + t) * H + j) * D + e;
          if (zx[at] !== zc[at]) any = true;
        }
      // An edge whose sender output does not change (an ablated sender) changes nothing.
      if (!any) continue;
      for (let t = 0; t < T; t++) {
        const o = ((s * T + t) * H + j) * D;
        for (let e = 0; e < D; e++) dz[e] = zx[o + e] - zc[o + e];
        let m = 0,
          q = 0;
        for (let k = 0; k < d; k++) {
          let a = 0;
          for (let e = 0; e < D; e++) a += dz[e] * w.Wp0[k * d + j * D + e];
          delta[k] = a;
          const x = resid[(s * T + t) * d + k] + a;
          m += x;
          q += x * x;
        }
        m /= d;
        const sd = Math.sqrt(q / d - m * m + eps),
          Mj = w.M[j];
        for (let r = 0; r < R; r++) {
          let a = A[t * R + r];
          for (let e = 0; e < D; e++) a += Mj[r * D + e] * dz[e];
          proj[t * R + r] = (a - m * w.cg[r]) / sd + w.cb[r];
        }
        if (gx)
          for (let xi = 0; xi < 3; xi++)
            for (const i of live) {
              const o2 = ((xi * H + i) * T + t) * d;
              let a = 0;
              for (let k = 0; k < d; k++) a += gx[o2 + k] * delta[k];
              attr![xi][i][j] += a;
            }
      }
      for (const i of live)
        for (let xi = 0; xi < 3; xi++) {
          zd.fill(0);
          if (xi === 2) {
            for (let t = 0; t < T; t++) {
              const p = pat[(s * H + i) * T + t];
              for (let e = 0; e < D; e++) zd[e] += p * proj[t * R + 2 * d + i * D + e];
            }
          } else {
            if (xi === 0) rope(proj, tq * R + i * D, tq, kx, 0);
            else for (let t = 0; t < T; t++) rope(proj, t * R + d + i * D, t, rot, t * D);
            let mx = -Infinity;
            for (let t = 0; t < T; t++) {
              let a = 0;
              for (let e = 0; e < D; e++) {
                a += xi === 0 ? kx[e] * rk[((s * T + t) * H + i) * D + e] : rq[(s * H + i) * D + e] * rot[t * D + e];
              }
              sc[t] = a * scale;
              if (sc[t] > mx) mx = sc[t];
            }
            let z = 0;
            for (let t = 0; t < T; t++) {
              sc[t] = Math.exp(sc[t] - mx);
              z += sc[t];
            }
            for (let t = 0; t < T; t++) {
              for (let e = 0; e < D; e++) zd[e] += (sc[t] / z) * v[((s * T + t) * H + i) * D + e];
            }
          }
          for (let e = 0; e < D; e++) zd[e] -= zq[(s * H + i) * D + e];
          exact[xi][i][j] += ldAt(i, zd) - ld0;
        }
    }
  }
  return ldSum;

  /** ∂LD/∂x_{i,X}[t] of sequence s into gx: LN_f, the receiver's attention row, RoPE, the block LN, backwards. */
  function backward(s: number): void {
    const g = gx!;
    g.fill(0);
    // dLD/dr at the query: LN backward, dx = (c − mean c − r̂ mean(c ⊙ r̂)) / σ.
    let m = 0,
      q = 0;
    for (let k = 0; k < d; k++) {
      const r = rpq[s * d + k];
      m += r;
      q += r * r;
    }
    m /= d;
    const sd = Math.sqrt(q / d - m * m + eps);
    let cm = 0,
      cr = 0;
    for (let k = 0; k < d; k++) {
      cm += cvec[k];
      cr += (cvec[k] * (rpq[s * d + k] - m)) / sd;
    }
    cm /= d;
    cr /= d;
    const dr = new Float64Array(d);
    for (let k = 0; k < d; k++) dr[k] = (cvec[k] - cm - ((rpq[s * d + k] - m) / sd) * cr) / sd;
    const dX = new Float64Array(T * D),
      drq = new Float64Array(D),
      dp = new Float64Array(T),
      un = new Float64Array(D);
    for (const i of live) {
      for (let e = 0; e < D; e++) {
        let a = 0;
        for (let k = 0; k < d; k++) a += w.Wp1[k * d + i * D + e] * dr[k];
        dz[e] = a;
      }
      let pdp = 0;
      for (let t = 0; t < T; t++) {
        let a = 0;
        for (let e = 0; e < D; e++) a += dz[e] * v[((s * T + t) * H + i) * D + e];
        dp[t] = a;
        pdp += pat[(s * H + i) * T + t] * a;
      }
      drq.fill(0);
      for (let xi = 0; xi < 3; xi++) {
        dX.fill(0);
        for (let t = 0; t < T; t++) {
          const p = pat[(s * H + i) * T + t],
            ds = p * (dp[t] - pdp) * scale;
          if (xi === 2) for (let e = 0; e < D; e++) dX[t * D + e] = p * dz[e];
          else if (xi === 1) {
            // d rot_k[t] = ds · rot_q; back through RoPE (a rotation: its transpose).
            for (let e = 0; e < D; e++) un[e] = ds * rq[(s * H + i) * D + e];
            unrope(un, t, dX, t * D);
          } else for (let e = 0; e < D; e++) drq[e] += ds * rk[((s * T + t) * H + i) * D + e];
        }
        if (xi === 0) unrope(drq, tq, dX, tq * D);
        // Through W_X rows and the block's LN at each position (x = resid[t]).
        for (let t = xi === 0 ? tq : 0; t < T; t++) {
          const o = ((xi * H + i) * T + t) * d;
          let gm = 0,
            gr = 0;
          for (let k = 0; k < d; k++) {
            let a = 0;
            for (let e = 0; e < D; e++) a += w.Wqkv[(xi * d + i * D + e) * d + k] * dX[t * D + e];
            const gk = a * w.g[k],
              xh = (resid[(s * T + t) * d + k] - mu[t]) / sig[t];
            g[o + k] = gk;
            gm += gk;
            gr += gk * xh;
          }
          gm /= d;
          gr /= d;
          for (let k = 0; k < d; k++) {
            const xh = (resid[(s * T + t) * d + k] - mu[t]) / sig[t];
            g[o + k] = (g[o + k] - gm - xh * gr) / sig[t];
          }
        }
      }
    }
  }

  function unrope(src: Float64Array, t: number, dst: Float64Array, dO: number): void {
    for (let e = 0; e < D; e += 2) {
      const cs = w.cos[t * D + e],
        sn = w.sin[t * D + e],
        a = src[e],
        b2 = src[e + 1];
      dst[dO + e] = a * cs + b2 * sn;
      dst[dO + e + 1] = b2 * cs - a * sn;
    }
  }
}

// ------------------------------------------------------------------------------------------ the measure

const zeros3 = (H: number) => [0, 1, 2].map(() => Array.from({ length: H }, () => new Float64Array(H)));
const toMatrices = (sum: Float64Array[][], n: number): InputMatrices =>
  Object.fromEntries(
    PATH_INPUTS.map((x, xi) => [x, sum[xi].map((row) => Array.from(row, (v) => v / n))]),
  ) as InputMatrices;

export function errorStats(a: InputMatrices, e: InputMatrices): ErrorStats {
  const av: number[] = [],
    ev: number[] = [];
  for (const x of PATH_INPUTS)
    a[x].forEach((row, i) =>
      row.forEach((v, j) => {
        av.push(v);
        ev.push(e[x][i][j]);
      }),
    );
  const n = av.length;
  let maxAbs = 0,
    sumAbs = 0,
    d2 = 0,
    e2 = 0,
    ma = 0,
    me = 0;
  for (let k = 0; k < n; k++) {
    const dd = av[k] - ev[k];
    maxAbs = Math.max(maxAbs, Math.abs(dd));
    sumAbs += Math.abs(dd);
    d2 += dd * dd;
    e2 += ev[k] * ev[k];
    ma += av[k];
    me += ev[k];
  }
  ma /= n;
  me /= n;
  let cov = 0,
    va = 0,
    ve = 0;
  for (let k = 0; k < n; k++) {
    cov += (av[k] - ma) * (ev[k] - me);
    va += (av[k] - ma) ** 2;
    ve += (ev[k] - me) ** 2;
  }
  return {
    maxAbs,
    meanAbs: sumAbs / n,
    relative: e2 > 0 ? Math.sqrt(d2 / e2) : null,
    correlation: va > 0 && ve > 0 ? cov / Math.sqrt(va * ve) : null,
  };
}

export interface PathPatchingOptions {
  corruptions?: readonly Corruption[];
  /** Compute the attribution approximation too (default true). */
  attribution?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** The `path-patching` measure at the context's checkpoint (see the file comment). */
export function pathPatching(ctx: MeasureContext, o: PathPatchingOptions = {}): PathPatchingResult {
  const c = ctx.config,
    H = c.numHeads,
    L = c.depth - 1,
    N = ctx.batch.size;
  if (c.mlpRatio !== null) {
    throw new Error('path patching is defined for attention-only models (this one has MLP blocks)');
  }
  const kinds = o.corruptions ?? CORRUPTIONS;
  const w = hostWeights(c, ctx.params);
  const ablatedHeads = ctx.baseClamps.flatMap((k) => (k.kind === 'ablate' ? k.heads : []));
  const ablated = headsByLayer(ablatedHeads, c.depth, c.numHeads);
  const skip = new Set(ablated.get(L) ?? []);
  const exact = kinds.map(() => zeros3(H)),
    attr = kinds.map(() => zeros3(H));
  const corruptLD = kinds.map(() => 0),
    unmatched = kinds.map(() => 0);
  const want = o.attribution !== false;
  let ldSum = 0,
    engine = '';
  const total = ctx.chunks.length * kinds.length;
  {
    ctx.chunks.forEach((chunk, ci) => {
      const sites = cleanSites(c);
      const clean = ctx.forward.run(chunk, ctx.baseClamps, { sequences: ctx.sequences, ...sites });
      engine = clean.engine;
      let chunkLD = 0;
      kinds.forEach((kind, ki) => {
        const cb = corruptHostBatch(chunk, kind);
        unmatched[ki] += cb.unmatched;
        const cor = ctx.forward.run(cb.batch, ctx.baseClamps, {
          sequences: ctx.sequences,
          record: new Set([site.z(0)]),
        });
        for (let s = 0; s < chunk.size; s++) {
          const [yc, yo] = labelPair(chunk.labels, s);
          corruptLD[ki] += cor.logits[s * c.numLabels + yc] - cor.logits[s * c.numLabels + yo];
        }
        const zx = cor.acts.get(site.z(0))!;
        chunkLD = exactChunk(
          c,
          w,
          chunk.labels,
          chunk.size,
          clean.acts,
          clean.queryActs,
          zx,
          skip,
          exact[ki],
          want ? attr[ki] : null,
        );
        o.onProgress?.(ci * kinds.length + ki + 1, total);
      });
      ldSum += chunkLD;
    });
  }
  const senders = layerHeads(c, 0),
    receivers = layerHeads(c, L);
  return {
    formula: PATH_PATCHING_FORMULA,
    n: N,
    senders,
    receivers,
    inputs: PATH_INPUTS,
    cleanLD: ldSum / N,
    engine,
    corruptions: kinds.map((kind, ki) => {
      const E = toMatrices(exact[ki], N),
        A = want ? toMatrices(attr[ki], N) : null;
      const edges = PATH_INPUTS.flatMap((x) =>
        receivers.flatMap((r, i) =>
          senders.map((s, j) => ({
            edge: `${s}→${r}.${x.toUpperCase()}`,
            exact: E[x][i][j],
            attribution: A ? A[x][i][j] : null,
          })),
        ),
      );
      edges.sort((a, b) => Math.abs(b.exact) - Math.abs(a.exact));
      return {
        corruption: kind,
        description: CORRUPTION_DOC[kind],
        corruptLD: corruptLD[ki] / N,
        unmatched: unmatched[ki],
        exact: E,
        attribution: A,
        attributionError: A ? errorStats(A, E) : null,
        top: edges.slice(0, 8),
      };
    }),
  };
}

// ------------------------------------------------------------------------------------------ TF.js reference

/**
 * The exact effects on the TensorFlow.js reference: for each edge, one clamped forward with the path-patch
 * clamp (receiver i's X reads the sender's corrupted output), on top of the run's ablations. Slow (3·H²
 * forwards of three passes each; `only`: just these edges, the rest 0); the tests compare `pathPatching` with it.
 */
export function exactPathPatchingTf(
  c: ModelConfig,
  params: Params,
  chunk: HostBatch,
  base: ClampSpec[],
  kind: Corruption,
  only?: Array<{ input: PathInput; i: number; j: number }>,
): InputMatrices {
  const H = c.numHeads,
    L = c.depth - 1,
    B = chunk.size,
    w = new TfWeights(c, params, false);
  const sum = zeros3(H);
  const ldOf = (logits: Float32Array) => {
    let a = 0;
    for (let s = 0; s < B; s++) {
      const [yc, yo] = labelPair(chunk.labels, s);
      a += logits[s * c.numLabels + yc] - logits[s * c.numLabels + yo];
    }
    return a;
  };
  try {
    tf.tidy(() => {
      const inputs = hostBatchInputs(c, chunk),
        host = { labels: chunk.labels, size: B, itemIds: chunk.index };
      const clean = ldOf(clampedForward(c, w.weights, inputs, host, base, 0).logits.dataSync() as Float32Array);
      PATH_INPUTS.forEach((input, xi) => {
        for (let i = 0; i < H; i++)
          for (let j = 0; j < H; j++) {
            if (only && !only.some((e) => e.input === input && e.i === i && e.j === j)) continue;
            const edge: ClampSpec = {
              kind: 'path-patch',
              sender: formatHead({ layer: 0, head: j }),
              receiver: formatHead({ layer: L, head: i }),
              input,
              with: 'corrupt',
              corruption: kind,
            };
            const ld = tf.tidy(() =>
              ldOf(clampedForward(c, w.weights, inputs, host, [...base, edge], 0).logits.dataSync() as Float32Array),
            );
            sum[xi][i][j] = ld - clean;
          }
      });
    });
  } finally {
    w.dispose();
  }
  return toMatrices(sum, B);
}
