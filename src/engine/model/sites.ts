/**
 * The named activations of the model ("hook points"), TransformerLens-style, and their shapes. Every
 * intermediate the forward pass computes goes through one of these names, so any of them can be read
 * back or overridden elementwise (spec §3). B = batch, T = 2·contextLen + 1 tokens, H = heads,
 * D = head dim, d = dModel, C = contextLen, L = labels. As in TransformerLens, per-head vectors (q, k, v,
 * rot_q, rot_k, z) are position-major [B, T, H, D] and attention scores / patterns are head-major
 * [B, H, T_query, T_key] (contracts.md §4); engines may keep any layout inside.
 *
 * | site                                  | shape        | spec §3.2 name                     |
 * |---------------------------------------|--------------|------------------------------------|
 * | hook_embed_exemplar                   | [B, C+1, d]  | example_embedding                  |
 * | hook_embed_label                      | [B, C, d]    | label_embedding (context labels)   |
 * | hook_embed                            | [B, T, d]    | embedding (= tok_embedding; RoPE)  |
 * | blocks.{l}.hook_resid_pre             | [B, T, d]    | block x                            |
 * | blocks.{l}.ln.hook_normalized         | [B, T, d]    | norm_inp                           |
 * | blocks.{l}.attn.hook_q / hook_k       | [B, T, H, D] | pre_rope_q / pre_rope_k            |
 * | blocks.{l}.attn.hook_v                | [B, T, H, D] | v                                  |
 * | blocks.{l}.attn.hook_rot_q / hook_rot_k | [B, T, H, D] | q / k (after RoPE)               |
 * | blocks.{l}.attn.hook_attn_scores      | [B, H, T, T] | attn_pre_softmax (scaled, masked)  |
 * | blocks.{l}.attn.hook_pattern          | [B, H, T, T] | attn_scores (post-softmax)         |
 * | blocks.{l}.attn.hook_z                | [B, T, H, D] | values_pre_proj (per head)         |
 * | blocks.{l}.hook_attn_out              | [B, T, d]    | values_post_proj                   |
 * | blocks.{l}.hook_resid_mid             | [B, T, d]    | residual_post_attn (MLP models)    |
 * | blocks.{l}.hook_mlp_out               | [B, T, d]    | mlp (MLP models)                   |
 * | blocks.{l}.hook_resid_post            | [B, T, d]    | block out (incl. residual)         |
 * | ln_final.hook_normalized              | [B, T, d]    | pre_unembed                        |
 * | hook_logits                           | [B, T, L]    | unembedding                        |
 */
import { ModelConfig, headDim, seqLen } from './config';

export const site = {
  embedExemplar: 'hook_embed_exemplar',
  embedLabel: 'hook_embed_label',
  embed: 'hook_embed',
  residPre: (l: number) => `blocks.${l}.hook_resid_pre`,
  lnNormalized: (l: number) => `blocks.${l}.ln.hook_normalized`,
  q: (l: number) => `blocks.${l}.attn.hook_q`,
  k: (l: number) => `blocks.${l}.attn.hook_k`,
  v: (l: number) => `blocks.${l}.attn.hook_v`,
  rotQ: (l: number) => `blocks.${l}.attn.hook_rot_q`,
  rotK: (l: number) => `blocks.${l}.attn.hook_rot_k`,
  attnScores: (l: number) => `blocks.${l}.attn.hook_attn_scores`,
  pattern: (l: number) => `blocks.${l}.attn.hook_pattern`,
  z: (l: number) => `blocks.${l}.attn.hook_z`,
  attnOut: (l: number) => `blocks.${l}.hook_attn_out`,
  residMid: (l: number) => `blocks.${l}.hook_resid_mid`,
  mlpOut: (l: number) => `blocks.${l}.hook_mlp_out`,
  residPost: (l: number) => `blocks.${l}.hook_resid_post`,
  lnFinal: 'ln_final.hook_normalized',
  logits: 'hook_logits',
} as const;

/** The per-head vector sites of block l: position-major [B, T, H, D] at this interface. */
export function perHeadSites(l: number): string[] {
  return [site.q(l), site.k(l), site.v(l), site.rotQ(l), site.rotK(l), site.z(l)];
}

/** Every site name of a model with its shape for batch size B. */
export function siteShapes(c: ModelConfig, B: number): Record<string, number[]> {
  const T = seqLen(c),
    d = c.dModel,
    H = c.numHeads,
    D = headDim(c),
    C = c.contextLen;
  const out: Record<string, number[]> = {
    [site.embedExemplar]: [B, C + 1, d],
    [site.embedLabel]: [B, C, d],
    [site.embed]: [B, T, d],
  };
  for (let l = 0; l < c.depth; l++) {
    out[site.residPre(l)] = [B, T, d];
    out[site.lnNormalized(l)] = [B, T, d];
    for (const s of perHeadSites(l)) out[s] = [B, T, H, D];
    out[site.attnScores(l)] = [B, H, T, T];
    out[site.pattern(l)] = [B, H, T, T];
    out[site.attnOut(l)] = [B, T, d];
    if (c.mlpRatio !== null) {
      out[site.residMid(l)] = [B, T, d];
      out[site.mlpOut(l)] = [B, T, d];
    }
    out[site.residPost(l)] = [B, T, d];
  }
  out[site.lnFinal] = [B, T, d];
  out[site.logits] = [B, T, c.numLabels];
  return out;
}
