/**
 * Static weight composition scores between the heads of two layers (spec §5.6, App Fig 11 right
 * column; Elhage et al. style, LayerNorm ignored). They say how strongly what head j of the earlier
 * layer writes can be read by the queries / keys / values of head i of the later layer.
 *
 * With row-vector convention (residual x ∈ R^{1×d}, head dim D = d / H):
 *   W_O^{(j)} ∈ R^{D×d},  W_O^{(j)}[r, :] = proj.weight(from)[:, jD + r]        (rows jD..jD+D−1 of W_projᵀ)
 *   W_Q^{(i)} ∈ R^{d×D},  W_Q^{(i)}[:, r] = qkv.weight(to)[0·d + iD + r, :]
 *   W_K^{(i)} ∈ R^{d×D},  W_K^{(i)}[:, r] = qkv.weight(to)[1·d + iD + r, :]
 *   W_V^{(i)} ∈ R^{d×D},  W_V^{(i)}[:, r] = qkv.weight(to)[2·d + iD + r, :]
 *
 *   X[i][j] = ‖W_O^{(j)} W_X^{(i)}‖_F / (‖W_O^{(j)}‖_F · ‖W_X^{(i)}‖_F),   X ∈ {Q, K, V}
 *
 * Each score lies in [0, 1] (‖AB‖_F ≤ ‖A‖_2‖B‖_F ≤ ‖A‖_F‖B‖_F) and is invariant to rescaling either
 * matrix. For i.i.d. random weights E‖AB‖²_F / (‖A‖²_F‖B‖²_F) ≈ D²dσ⁴ / (Ddσ²)² = 1/d, so scores sit
 * near 1/sqrt(d) = 0.125 for d = 64 (the paper's colour range is 0.09–0.16).
 */
import { Params } from '../model/params';
import { ModelConfig } from '../model/config';

export interface CompositionScores {
  /** [later-layer head i][earlier-layer head j]. */
  q: number[][];
  k: number[][];
  v: number[][];
}

/**
 * Entry (r, s) of W_O^{(j)} W_X^{(i)} is Σ_m proj[m, jD + r] · qkv[which·d + iD + s, m]; its Frobenius
 * norm over (r, s) is divided by the two blocks' Frobenius norms. Computed in float64.
 */
export function compositionScores(
  params: Params,
  config: ModelConfig,
  layers: { from: number; to: number } = { from: 0, to: 1 },
): CompositionScores {
  const { from, to } = layers;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to >= config.depth || from >= to) {
    throw new Error(`composition scores need 0 ≤ from < to < depth (${config.depth}), got from ${from}, to ${to}`);
  }
  const d = config.dModel,
    H = config.numHeads,
    D = d / H;
  const proj = params[`blocks.${from}.attn.proj.weight`];
  const qkv = params[`blocks.${to}.attn.qkv.weight`];
  if (!proj || proj.length !== d * d) throw new Error(`blocks.${from}.attn.proj.weight missing or not [${d}, ${d}]`);
  if (!qkv || qkv.length !== 3 * d * d) throw new Error(`blocks.${to}.attn.qkv.weight missing or not [${3 * d}, ${d}]`);

  // ‖W_O^{(j)}‖_F: columns jD..jD+D−1 of proj.weight.
  const oNorm = new Float64Array(H);
  for (let j = 0; j < H; j++) {
    let s = 0;
    for (let m = 0; m < d; m++) for (let r = 0; r < D; r++) s += proj[m * d + j * D + r] ** 2;
    oNorm[j] = Math.sqrt(s);
  }

  const score = (which: number): number[][] => {
    const out: number[][] = [];
    for (let i = 0; i < H; i++) {
      const row0 = which * d + i * D;
      let xs = 0;
      for (let s = 0; s < D; s++) for (let m = 0; m < d; m++) xs += qkv[(row0 + s) * d + m] ** 2;
      const xNorm = Math.sqrt(xs);
      const line: number[] = [];
      for (let j = 0; j < H; j++) {
        let fro = 0;
        for (let r = 0; r < D; r++) {
          for (let s = 0; s < D; s++) {
            let e = 0;
            for (let m = 0; m < d; m++) e += proj[m * d + j * D + r] * qkv[(row0 + s) * d + m];
            fro += e * e;
          }
        }
        const den = oNorm[j] * xNorm;
        // A zero block composes with nothing: report 0 rather than NaN.
        line.push(den > 0 ? Math.sqrt(fro) / den : 0);
      }
      out.push(line);
    }
    return out;
  };
  return { q: score(0), k: score(1), v: score(2) };
}
