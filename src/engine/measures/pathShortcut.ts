/**
 * The exact path-patching effects and their attribution approximation (measures/pathPatching.ts, issue 18) from
 * one clean and one corrupted fast-engine pass per chunk: per edge only what the edge changes, in double
 * precision, with everything an edge does not change shared (docs/path-patching.md "Cost").
 *
 * Notation (one sequence; t = position, tq = the query; x_t = the last block's clean residual input with mean μ_t,
 * Σx² = ss_t, σ_t = √(ss_t/d − μ_t² + ε); P_j = block 0's W_proj columns of sender j; δz_t = z_j^κ − z_j):
 *
 *   Δ_t = P_j δz_t,  δm_t = mean Δ_t = cs_j·δz_t/d,  Σ(x+Δ)² = ss_t + 2 (P_jᵀx_t)·δz_t + δz_tᵀ P_jᵀP_j δz_t,
 *   ρ_t = σ_t/σ′_t,   every row of receiver i's X (no QKV bias; W = the block's QKV rows, γ, β its LN):
 *   row′_t = cβ + ρ_t (row_t − cβ) + (M_j δz_t − δm_t cγ)/σ′_t,   M_j = W diag(γ) P_j,  cγ = Wγ,  cβ = Wβ,
 *
 * so an edge never needs the d-wide residual: the clean rows (the pass records them) and D-wide products do.
 *   K edge: score′_t = u_t·k′_t with u_t = RoPE_tᵀ(q_rot)/√D, u_t·k_t = the clean score s_t, and u_tᵀM_j (KU)
 *           shared by all senders' edges into that receiver at t (one D × H·D product per receiver and position);
 *   Q edge: only the query row changes (RoPE_tq folded into M̃_j = R_tq M_j);
 *   V edge: z′ − z = Σ_t p_t (v′_t − v_t) = Σ_t p_t (ρ_t − 1)(v_t − cβ) + M_j Σ_t (p_t/σ′_t) δz_t − cγ Σ_t p_t δm_t/σ′_t;
 *   then the final LN and the logit difference of r = r0 + Q_i δz_i from r0's statistics and Q_iᵀQ_i (O(D²)); for
 *   the Q and K edges δz_i = Σ_t δp_t v_t, so from per-position terms and the T × T Gram v_tᵀQ_iᵀQ_i v_t′ (O(T²)).
 * The chunk-wide products shared by every edge (P_jᵀx_t, u_tᵀM_j, r0's Q_i terms) run on the fast engine's
 * WebAssembly GEMM in float32 (hostGemm.ts); the rest is double precision.
 * The Q and K edges take δz_i = Σ_t (p′_t − p_t) v_t against the clean softmax recomputed from the same scores,
 * so an edge that changes nothing gives exactly 0.
 *
 * Attribution: ∂LD/∂(receiver rows) (dX, one hand-written backward per sequence, clean) dotted with the first-order
 * change of the rows, dX·(M_j δz − δm cγ − ν (row − cβ))/σ with ν = ((P_jᵀx)·δz/d − μ δm)/σ — the same
 * Σ_t ∂LD/∂x_{i,X}[t]·Δ_t as before, without forming the d-wide gradient.
 */
import { ModelConfig, headDim, seqLen } from '../model/config';
import { Params } from '../model/params';
import { ropeTables } from '../model/rope';
import { matmul, matmulPanels } from './hostGemm';

/** The checkpoint's weights the shortcut reads, in double precision, rearranged for the per-edge products. */
export interface ShortcutWeights {
  d: number;
  H: number;
  D: number;
  T: number;
  eps: number;
  /** Block 0's W_proj [d, d] (row = output k, column = jD + e) and its column sums cs [H·D]. */
  Wp0: Float64Array;
  cs: Float64Array;
  /** [H][D][D] P_jᵀP_j. */
  PP: Float64Array;
  /** [H_i][D_e][H_j·D_e′]: M_j's rows of receiver i's Q (rotated by RoPE at the query), K and V. */
  MQ: Float64Array;
  MK: Float64Array;
  MV: Float64Array;
  /**
   * Per sender j, [D, 2·H·D + D] (float32): the columns that turn δz_t into M̃_j δz_t of every receiver's Q rows,
   * M_j δz_t of every V row, and P_jᵀP_j δz_t — one GEMM per sender and corruption over a block of sequences.
   */
  edgeB: Float32Array[];
  /** [3d] cγ = W γ and cβ = W β of the last block's QKV rows; [H·D] RoPE_tq of the Q rows' cγ, cβ. */
  cg: Float64Array;
  cb: Float64Array;
  rcgQ: Float64Array;
  rcbQ: Float64Array;
  /** The last block's W_proj [d, d]; [H][D][D] Q_iᵀQ_i; [H·D] Q_i's column sums. */
  Wp1: Float64Array;
  QQ: Float64Array;
  Qsum: Float64Array;
  /** Per label y: γ_f ⊙ W_un[y] [d], its sum, b_un[y] + β_f·W_un[y], and W_p1ᵀ(γ_f ⊙ W_un[y]) [H·D]. */
  gu: Float64Array;
  gsum: Float64Array;
  bu: Float64Array;
  U: Float64Array;
  cos: Float64Array;
  sin: Float64Array;
}

export function shortcutWeights(c: ModelConfig, p: Params): ShortcutWeights {
  const L = c.depth - 1,
    f = (k: string) => Float64Array.from(p[k]),
    d = c.dModel,
    H = c.numHeads,
    D = headDim(c),
    T = seqLen(c),
    tq = T - 1,
    nl = c.numLabels;
  const rt = ropeTables(T, D, c.ropeBase);
  const cos = Float64Array.from(rt.cos),
    sin = Float64Array.from(rt.sin);
  const Wp0 = f('blocks.0.attn.proj.weight'),
    g = f(`blocks.${L}.ln.weight`),
    b = f(`blocks.${L}.ln.bias`),
    Wqkv = f(`blocks.${L}.attn.qkv.weight`),
    Wp1 = f(`blocks.${L}.attn.proj.weight`),
    gf = f('ln_final.weight'),
    bf = f('ln_final.bias'),
    Wun = f('unembed.weight'),
    bun = f('unembed.bias');
  const R = 3 * d,
    HD = H * D;
  const cg = new Float64Array(R),
    cb = new Float64Array(R);
  for (let r = 0; r < R; r++)
    for (let k = 0; k < d; k++) {
      cg[r] += Wqkv[r * d + k] * g[k];
      cb[r] += Wqkv[r * d + k] * b[k];
    }
  // M_j[r, e′] = Σ_k W[r, k] γ_k W_p0[k, jD + e′], for every row r and every sender column at once.
  const M = new Float64Array(R * HD);
  for (let r = 0; r < R; r++)
    for (let k = 0; k < d; k++) {
      const a = Wqkv[r * d + k] * g[k];
      for (let col = 0; col < HD; col++) M[r * HD + col] += a * Wp0[k * d + col];
    }
  const block = (x: number) => M.slice(x * d * HD, (x + 1) * d * HD);
  const MQ = block(0),
    MK = block(1),
    MV = block(2);
  const rcgQ = cg.slice(0, d),
    rcbQ = cb.slice(0, d);
  // RoPE at the query on the Q rows (pairs e, e + 1 of each head): what rq′ = RoPE_tq(q′) needs.
  for (let i = 0; i < H; i++)
    for (let e = 0; e < D; e += 2) {
      const cs = cos[tq * D + e],
        sn = sin[tq * D + e],
        r0 = i * D + e;
      for (const v of [rcgQ, rcbQ]) {
        const a = v[r0],
          b2 = v[r0 + 1];
        v[r0] = a * cs - b2 * sn;
        v[r0 + 1] = b2 * cs + a * sn;
      }
      for (let col = 0; col < HD; col++) {
        const a = MQ[r0 * HD + col],
          b2 = MQ[(r0 + 1) * HD + col];
        MQ[r0 * HD + col] = a * cs - b2 * sn;
        MQ[(r0 + 1) * HD + col] = b2 * cs + a * sn;
      }
    }
  const cs = new Float64Array(HD),
    Qsum = new Float64Array(HD);
  const PP = new Float64Array(H * D * D),
    QQ = new Float64Array(H * D * D);
  for (let k = 0; k < d; k++)
    for (let col = 0; col < HD; col++) {
      cs[col] += Wp0[k * d + col];
      Qsum[col] += Wp1[k * d + col];
    }
  for (let j = 0; j < H; j++)
    for (let e = 0; e < D; e++)
      for (let e2 = 0; e2 < D; e2++) {
        let a = 0,
          q = 0;
        for (let k = 0; k < d; k++) {
          a += Wp0[k * d + j * D + e] * Wp0[k * d + j * D + e2];
          q += Wp1[k * d + j * D + e] * Wp1[k * d + j * D + e2];
        }
        PP[(j * D + e) * D + e2] = a;
        QQ[(j * D + e) * D + e2] = q;
      }
  const gu = new Float64Array(nl * d),
    gsum = new Float64Array(nl),
    bu = new Float64Array(nl),
    U = new Float64Array(nl * HD);
  for (let y = 0; y < nl; y++) {
    bu[y] = bun[y];
    for (let k = 0; k < d; k++) {
      const u = gf[k] * Wun[y * d + k];
      gu[y * d + k] = u;
      gsum[y] += u;
      bu[y] += bf[k] * Wun[y * d + k];
      for (let col = 0; col < HD; col++) U[y * HD + col] += u * Wp1[k * d + col];
    }
  }
  const NY = 2 * HD + D;
  const edgeB = Array.from({ length: H }, (_, j) => {
    const m = new Float32Array(D * NY);
    for (let e2 = 0; e2 < D; e2++) {
      for (let r = 0; r < HD; r++) {
        m[e2 * NY + r] = MQ[r * HD + j * D + e2];
        m[e2 * NY + HD + r] = MV[r * HD + j * D + e2];
      }
      for (let e = 0; e < D; e++) m[e2 * NY + 2 * HD + e] = PP[(j * D + e) * D + e2];
    }
    return m;
  });
  return {
    d,
    H,
    D,
    T,
    eps: c.lnEps,
    Wp0,
    cs,
    PP,
    MQ,
    MK,
    MV,
    edgeB,
    cg,
    cb,
    rcgQ,
    rcbQ,
    Wp1,
    QQ,
    Qsum,
    gu,
    gsum,
    bu,
    U,
    cos,
    sin,
  };
}

/** The clean pass's recorded sites the shortcut reads (layouts of model/sites.ts). */
export interface ShortcutClean {
  /** The last block's residual input [B, T, d]. */
  resid: Float32Array;
  /** Block 0's z [B, T, H, D]. */
  z0: Float32Array;
  /** The last block's rotated keys and values [B, T, H, D]. */
  rotK: Float32Array;
  v: Float32Array;
  /** At the query: the last block's rotated query [B, H, D] and residual output [B, d]. */
  rotQ: Float32Array;
  residPost: Float32Array;
}

/** Per-corruption sums, [x][i][j] (x = 0, 1, 2 for Q, K, V), added to by `shortcutChunk`. */
type EdgeSums = Float64Array[][];

/**
 * One chunk of B sequences under every corruption at once (the clean per-sequence work is shared by them):
 * adds the exact effects into `exact[κ]` and, with `attr`, the attribution terms into `attr[κ]`; `zx[κ]` is
 * the sender layer's z on the κ-corrupted sequences [B, T, H, D]. `live`: the receivers not ablated. Returns the
 * sum of the clean logit differences.
 */
export function shortcutChunk(
  w: ShortcutWeights,
  labels: ArrayLike<number>,
  B: number,
  clean: ShortcutClean,
  zx: readonly Float32Array[],
  live: readonly number[],
  exact: readonly EdgeSums[],
  attr: readonly EdgeSums[] | null,
): number {
  const { d, H, D, T, eps } = w,
    HD = H * D,
    tq = T - 1,
    scale = 1 / Math.sqrt(D),
    nL = live.length,
    K = zx.length;
  const { resid, z0, rotK, v, rotQ, residPost } = clean;
  // The chunk's shared products, on the WebAssembly GEMM (float32): P_jᵀx_t for every sender [B, T, H·D], and
  // per live receiver (index li) KU = u_tᵀ M_j [B, T, H·D] with u_t = RoPE_tᵀ(q_rot)/√D; the clean scores s_t,
  // their softmax p_t, u_t·cβ and u_t·cγ of the K rows [B, nL, T].
  const PR = matmul(resid, w.Wp0, B * T, d, HD),
    R0 = matmul(residPost, w.Wp1, B, d, HD);
  const s0 = new Float64Array(B * nL * T),
    p0 = new Float64Array(B * nL * T),
    ub = new Float64Array(B * nL * T),
    ug = new Float64Array(B * nL * T);
  const KU = live.map((i, li) => {
    const U = new Float32Array(B * T * D);
    for (let s = 0; s < B; s++) {
      const qo = (s * H + i) * D,
        lo = (s * nL + li) * T;
      let mx = -Infinity;
      for (let t = 0; t < T; t++) {
        const uo = (s * T + t) * D,
          ko = ((s * T + t) * H + i) * D;
        let st = 0,
          ubt = 0,
          ugt = 0;
        for (let e = 0; e < D; e += 2) {
          const cs = w.cos[t * D + e],
            sn = w.sin[t * D + e],
            a = rotQ[qo + e],
            b2 = rotQ[qo + e + 1],
            u0 = (a * cs + b2 * sn) * scale,
            u1 = (b2 * cs - a * sn) * scale;
          U[uo + e] = u0;
          U[uo + e + 1] = u1;
          st += a * rotK[ko + e] + b2 * rotK[ko + e + 1];
          ubt += u0 * w.cb[d + i * D + e] + u1 * w.cb[d + i * D + e + 1];
          ugt += u0 * w.cg[d + i * D + e] + u1 * w.cg[d + i * D + e + 1];
        }
        s0[lo + t] = st * scale;
        ub[lo + t] = ubt;
        ug[lo + t] = ugt;
        if (s0[lo + t] > mx) mx = s0[lo + t];
      }
      let zs = 0;
      for (let t = 0; t < T; t++) {
        p0[lo + t] = Math.exp(s0[lo + t] - mx);
        zs += p0[lo + t];
      }
      for (let t = 0; t < T; t++) p0[lo + t] /= zs;
    }
    return matmul(U, w.MK.subarray(i * D * HD, (i + 1) * D * HD), B * T, D, HD);
  });
  // Per sequence, clean: residual statistics; per live receiver the final-LN terms and the shifted rows.
  const mu = new Float64Array(T),
    ss = new Float64Array(T),
    sig = new Float64Array(T);
  const cQ = new Float64Array(nL * D),
    r0Q = new Float64Array(nL * D),
    vc = new Float64Array(nL * T * D),
    qc = new Float64Array(nL * D),
    vS = new Float64Array(nL * T),
    vC = new Float64Array(nL * T),
    vR = new Float64Array(nL * T),
    gram = new Float64Array(nL * T * T),
    qv = new Float64Array(T * D),
    dp = new Float64Array(T);
  // Attribution, clean: the row gradients' products (Γ of the Q and V rows, coefficients of the K rows).
  const GQ = attr ? new Float64Array(nL * HD) : null,
    GV = attr ? new Float64Array(nL * HD) : null,
    c1Q = new Float64Array(nL),
    c2Q = new Float64Array(nL),
    aK = new Float64Array(nL * T),
    c1V = new Float64Array(nL),
    c2V = new Float64Array(nL * T),
    dr = new Float64Array(d),
    dzr = new Float64Array(D),
    gq = new Float64Array(D);
  // Per corruption and sender: δz, the modified residual's LN terms.
  const dz = new Float64Array(T * D),
    dm = new Float64Array(T),
    rho = new Float64Array(T),
    isd = new Float64Array(T),
    nu = new Float64Array(T),
    kud = new Float64Array(T),
    sc = new Float64Array(T),
    zd = new Float64Array(D),
    rq2 = new Float64Array(D);
  let ldSum = 0;
  // Per block of sequences, corruption κ and sender j: δz_t times edgeB_j, [rows (s, t)][NY].
  const NY = 2 * HD + D,
    BLOCK = 128;
  let Y: Float32Array[][] = [],
    s0b = 0;
  for (let s = 0; s < B; s++) {
    if (s % BLOCK === 0) {
      const nb = Math.min(BLOCK, B - s),
        n = nb * T * HD,
        from = s * T * HD;
      s0b = s;
      Y = zx.map((zk) => {
        const dzb = new Float32Array(n);
        for (let q = 0; q < n; q++) dzb[q] = zk[from + q] - z0[from + q];
        return matmulPanels(dzb, HD, w.edgeB, nb * T, D, NY);
      });
    }
    const sb = s - s0b;
    const yc = labels[3 * s + 2],
      yo = labels[3 * s] === yc ? labels[3 * s + 1] : labels[3 * s];
    // LD(r) = (c·r − mean(r) Σc)/σ_r + c0 with c = γ_f ⊙ (W_un[y] − W_un[ȳ]).
    const csum = w.gsum[yc] - w.gsum[yo],
      c0 = w.bu[yc] - w.bu[yo];
    let m0 = 0,
      ss0 = 0,
      cr0 = 0;
    for (let k = 0; k < d; k++) {
      const r = residPost[s * d + k];
      m0 += r;
      ss0 += r * r;
      cr0 += (w.gu[yc * d + k] - w.gu[yo * d + k]) * r;
    }
    for (let li = 0; li < nL; li++) {
      const i = live[li];
      for (let e = 0; e < D; e++) {
        cQ[li * D + e] = w.U[yc * HD + i * D + e] - w.U[yo * HD + i * D + e];
        r0Q[li * D + e] = R0[s * HD + i * D + e];
      }
      // For δz_i = Σ_t δp_t v_t (the Q and K edges): Q_i's terms of each v_t, and the Gram v_tᵀ Q_iᵀQ_i v_t′.
      for (let t = 0; t < T; t++) {
        const vo = ((s * T + t) * H + i) * D;
        let aS = 0,
          aC = 0,
          aR = 0;
        for (let e = 0; e < D; e++) {
          const x = v[vo + e];
          aS += w.Qsum[i * D + e] * x;
          aC += cQ[li * D + e] * x;
          aR += r0Q[li * D + e] * x;
          let a = 0;
          for (let e2 = 0; e2 < D; e2++) a += w.QQ[(i * D + e) * D + e2] * v[vo + e2];
          qv[t * D + e] = a;
        }
        vS[li * T + t] = aS;
        vC[li * T + t] = aC;
        vR[li * T + t] = aR;
      }
      for (let t = 0; t < T; t++)
        for (let t2 = 0; t2 < T; t2++) {
          const vo = ((s * T + t2) * H + i) * D;
          let a = 0;
          for (let e = 0; e < D; e++) a += qv[t * D + e] * v[vo + e];
          gram[(li * T + t) * T + t2] = a;
        }
    }
    const mr = m0 / d,
      sdr = Math.sqrt(ss0 / d - mr * mr + eps),
      ld0 = (cr0 - mr * csum) / sdr + c0;
    ldSum += ld0;
    /** LD − LD_clean when receiver li's z moves by `dl` (r = r0 + Q_i dl). */
    const ldDelta = (li: number, dl: Float64Array): number => {
      const i = live[li];
      let sumD = 0,
        cd = 0,
        rd = 0,
        dd = 0;
      for (let e = 0; e < D; e++) {
        const x = dl[e];
        sumD += w.Qsum[i * D + e] * x;
        cd += cQ[li * D + e] * x;
        rd += r0Q[li * D + e] * x;
        let a = 0;
        for (let e2 = 0; e2 < D; e2++) a += w.QQ[(i * D + e) * D + e2] * dl[e2];
        dd += x * a;
      }
      const m = (m0 + sumD) / d,
        sd = Math.sqrt((ss0 + 2 * rd + dd) / d - m * m + eps);
      return (cr0 + cd - m * csum) / sd + c0 - ld0;
    };
    /** The same for δz_i = Σ_t dp_t v_t, from the per-position terms (T² instead of D² products). */
    const ldDeltaP = (li: number): number => {
      let sumD = 0,
        cd = 0,
        rd = 0,
        dd = 0;
      for (let t = 0; t < T; t++) {
        const x = dp[t];
        sumD += vS[li * T + t] * x;
        cd += vC[li * T + t] * x;
        rd += vR[li * T + t] * x;
        let a = 0;
        for (let t2 = 0; t2 < T; t2++) a += gram[(li * T + t) * T + t2] * dp[t2];
        dd += x * a;
      }
      const m = (m0 + sumD) / d,
        sd = Math.sqrt((ss0 + 2 * rd + dd) / d - m * m + eps);
      return (cr0 + cd - m * csum) / sd + c0 - ld0;
    };

    for (let t = 0; t < T; t++) {
      const o = (s * T + t) * d;
      let m = 0,
        q = 0;
      for (let k = 0; k < d; k++) {
        const x = resid[o + k];
        m += x;
        q += x * x;
      }
      mu[t] = m / d;
      ss[t] = q;
      sig[t] = Math.sqrt(q / d - mu[t] * mu[t] + eps);
    }
    for (let li = 0; li < nL; li++) {
      const i = live[li],
        qo = (s * H + i) * D;
      for (let t = 0; t < T; t++) {
        const ko = ((s * T + t) * H + i) * D;
        for (let e = 0; e < D; e++) vc[(li * T + t) * D + e] = v[ko + e] - w.cb[2 * d + i * D + e];
      }
      for (let e = 0; e < D; e++) qc[li * D + e] = rotQ[qo + e] - w.rcbQ[i * D + e];
    }
    if (attr) cleanBackward(s, m0, ss0, yc, yo);

    for (let kap = 0; kap < K; kap++) {
      const zk = zx[kap],
        Yk = Y[kap],
        ex = exact[kap],
        at = attr ? attr[kap] : null;
      for (let j = 0; j < H; j++) {
        // An edge whose sender output does not change (an ablated sender) changes nothing.
        let any = false;
        for (let t = 0; t < T; t++) {
          const o = ((s * T + t) * H + j) * D;
          for (let e = 0; e < D; e++) {
            const x = zk[o + e] - z0[o + e];
            dz[t * D + e] = x;
            if (x !== 0) any = true;
          }
        }
        if (!any) continue;
        const Yj = Yk[j];
        for (let t = 0; t < T; t++) {
          const yp = (sb * T + t) * NY + 2 * HD;
          let a = 0,
            pr = 0,
            q2 = 0;
          for (let e = 0; e < D; e++) {
            const x = dz[t * D + e];
            a += w.cs[j * D + e] * x;
            pr += PR[(s * T + t) * HD + j * D + e] * x;
            q2 += x * Yj[yp + e];
          }
          const dmt = a / d,
            m = mu[t] + dmt,
            sd = Math.sqrt((ss[t] + 2 * pr + q2) / d - m * m + eps);
          dm[t] = dmt;
          isd[t] = 1 / sd;
          rho[t] = sig[t] / sd;
          nu[t] = (pr / d - mu[t] * dmt) / sig[t];
        }
        for (let li = 0; li < nL; li++) {
          const i = live[li],
            lo = (s * nL + li) * T,
            KUi = KU[li];
          // ---- Q: the query row only. rq′ = ρ rq + (1 − ρ) R cβ + (M̃ δz − δm R cγ)/σ′ at tq.
          {
            const qo = (s * H + i) * D,
              r = rho[tq];
            const yq = (sb * T + tq) * NY + i * D;
            for (let e = 0; e < D; e++) {
              const a = Yj[yq + e];
              rq2[e] = r * rotQ[qo + e] + (1 - r) * w.rcbQ[i * D + e] + (a - dm[tq] * w.rcgQ[i * D + e]) * isd[tq];
            }
            let mx = -Infinity;
            for (let t = 0; t < T; t++) {
              const ko = ((s * T + t) * H + i) * D;
              let a = 0;
              for (let e = 0; e < D; e++) a += rq2[e] * rotK[ko + e];
              sc[t] = a * scale;
              if (sc[t] > mx) mx = sc[t];
            }
            attend(lo, mx);
            ex[0][i][j] += ldDeltaP(li);
            if (at) {
              let g = 0;
              for (let e = 0; e < D; e++) g += GQ![li * HD + j * D + e] * dz[tq * D + e];
              at[0][i][j] += (g - dm[tq] * c1Q[li] - nu[tq] * c2Q[li]) / sig[tq];
            }
          }
          // ---- K: score′_t = u·cβ + ρ (s_t − u·cβ) + (KU_t·δz_t − δm u·cγ)/σ′.
          {
            let mx = -Infinity;
            for (let t = 0; t < T; t++) {
              const ku = (s * T + t) * HD + j * D;
              let a = 0;
              for (let e = 0; e < D; e++) a += KUi[ku + e] * dz[t * D + e];
              kud[t] = a;
              const lt = lo + t;
              sc[t] = ub[lt] + rho[t] * (s0[lt] - ub[lt]) + (a - dm[t] * ug[lt]) * isd[t];
              if (sc[t] > mx) mx = sc[t];
            }
            attend(lo, mx);
            ex[1][i][j] += ldDeltaP(li);
            if (at) {
              let g = 0;
              for (let t = 0; t < T; t++) {
                const lt = lo + t;
                g += (aK[li * T + t] * (kud[t] - dm[t] * ug[lt] - nu[t] * (s0[lt] - ub[lt]))) / sig[t];
              }
              at[1][i][j] += g;
            }
          }
          // ---- V: z′ − z = Σ_t p_t (ρ_t − 1)(v_t − cβ) + M (Σ_t p_t δz_t/σ′_t) − cγ Σ_t p_t δm_t/σ′_t.
          {
            zd.fill(0);
            let gsc = 0;
            for (let t = 0; t < T; t++) {
              const p = p0[lo + t],
                f = p * (rho[t] - 1),
                h = p * isd[t],
                yv = (sb * T + t) * NY + HD + i * D;
              gsc += h * dm[t];
              for (let e = 0; e < D; e++) zd[e] += f * vc[(li * T + t) * D + e] + h * Yj[yv + e];
            }
            for (let e = 0; e < D; e++) zd[e] -= gsc * w.cg[2 * d + i * D + e];
            ex[2][i][j] += ldDelta(li, zd);
            if (at) {
              let g = 0;
              for (let t = 0; t < T; t++) {
                let a = 0;
                for (let e = 0; e < D; e++) a += GV![li * HD + j * D + e] * dz[t * D + e];
                g += (p0[lo + t] * (a - dm[t] * c1V[li]) - nu[t] * c2V[li * T + t]) / sig[t];
              }
              at[2][i][j] += g;
            }
          }
        }
      }
    }
  }
  return ldSum;

  /** dp = softmax(sc) − p (sc's maximum `mx`; p at p0[lo…]): δz_i = Σ_t dp_t v_t. */
  function attend(lo: number, mx: number): void {
    let z = 0;
    for (let t = 0; t < T; t++) {
      sc[t] = Math.exp(sc[t] - mx);
      z += sc[t];
    }
    for (let t = 0; t < T; t++) dp[t] = sc[t] / z - p0[lo + t];
  }

  /**
   * ∂LD/∂(receiver rows) of sequence s, clean, reduced to what the attribution terms read: the final LN
   * backward (dr), ∂LD/∂z_i (dzr), the attention row's backward, then Γ = M_jᵀ dX for the Q and V rows and the
   * coefficients of dX·cγ and dX·(row − cβ); the K rows' dX_t = a_t u_t reuse KU.
   */
  function cleanBackward(s: number, m0: number, ss0: number, yc: number, yo: number): void {
    const mr = m0 / d,
      sd = Math.sqrt(ss0 / d - mr * mr + eps);
    let cm = 0,
      cr = 0;
    for (let k = 0; k < d; k++) {
      const ck = w.gu[yc * d + k] - w.gu[yo * d + k];
      cm += ck;
      cr += (ck * (residPost[s * d + k] - mr)) / sd;
    }
    cm /= d;
    cr /= d;
    // dLD/dr = (c − mean c − r̂ mean(c ⊙ r̂))/σ_r.
    for (let k = 0; k < d; k++) {
      const ck = w.gu[yc * d + k] - w.gu[yo * d + k];
      dr[k] = (ck - cm - ((residPost[s * d + k] - mr) / sd) * cr) / sd;
    }
    for (let li = 0; li < nL; li++) {
      const i = live[li],
        lo = (s * nL + li) * T;
      dzr.fill(0);
      for (let k = 0; k < d; k++) {
        const o = k * d + i * D;
        for (let e = 0; e < D; e++) dzr[e] += w.Wp1[o + e] * dr[k];
      }
      // dp_t = dzr·v_t; ∂LD/∂s_t = p_t (dp_t − Σ p dp) =: a_t; dX_K,t = a_t u_t; g = Σ_t a_t k_rot,t/√D.
      let pdp = 0;
      for (let t = 0; t < T; t++) {
        let a = 0;
        for (let e = 0; e < D; e++) a += dzr[e] * v[((s * T + t) * H + i) * D + e];
        aK[li * T + t] = a;
        pdp += p0[lo + t] * a;
      }
      gq.fill(0);
      let cg2 = 0;
      for (let e = 0; e < D; e++) cg2 += dzr[e] * w.cg[2 * d + i * D + e];
      c1V[li] = cg2;
      for (let t = 0; t < T; t++) {
        const lt = li * T + t;
        let a = 0;
        for (let e = 0; e < D; e++) a += dzr[e] * vc[lt * D + e];
        c2V[lt] = p0[lo + t] * a;
        aK[lt] = p0[lo + t] * (aK[lt] - pdp);
        const ko = ((s * T + t) * H + i) * D;
        for (let e = 0; e < D; e++) gq[e] += aK[lt] * scale * rotK[ko + e];
      }
      let a1 = 0,
        a2 = 0;
      for (let e = 0; e < D; e++) {
        a1 += gq[e] * w.rcgQ[i * D + e];
        a2 += gq[e] * qc[li * D + e];
      }
      c1Q[li] = a1;
      c2Q[li] = a2;
      const go = li * HD;
      GQ!.fill(0, go, go + HD);
      GV!.fill(0, go, go + HD);
      for (let e = 0; e < D; e++) {
        const mo = (i * D + e) * HD,
          gqe = gq[e],
          gve = dzr[e];
        for (let col = 0; col < HD; col++) {
          GQ![go + col] += gqe * w.MQ[mo + col];
          GV![go + col] += gve * w.MV[mo + col];
        }
      }
    }
  }
}
