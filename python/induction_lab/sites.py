"""The named activations ("hook points") of the model, TransformerLens style, and their shapes.

The names are the engine's (``src/engine/model/sites.ts``; contracts §4). B = batch, T = 2·context_len + 1
tokens, H = heads, D = head dim, d = d_model, C = context_len, L = labels. Queries, keys, values and
per-head outputs are **position-major** ``[B, T, H, D]`` as in TransformerLens; attention scores and
patterns are ``[B, H, T_query, T_key]``.

| site                                      | shape        | spec §3.2 name                    |
|-------------------------------------------|--------------|-----------------------------------|
| hook_embed_exemplar                       | [B, C+1, d]  | example_embedding                 |
| hook_embed_label                          | [B, C, d]    | label_embedding (context labels)  |
| hook_embed                                | [B, T, d]    | embedding (RoPE: no positional)   |
| blocks.{l}.hook_resid_pre                 | [B, T, d]    | block x                           |
| blocks.{l}.ln.hook_normalized             | [B, T, d]    | norm_inp                          |
| blocks.{l}.attn.hook_q / hook_k / hook_v  | [B, T, H, D] | pre_rope_q / pre_rope_k / v       |
| blocks.{l}.attn.hook_rot_q / hook_rot_k   | [B, T, H, D] | q / k (after RoPE)                |
| blocks.{l}.attn.hook_attn_scores          | [B, H, T, T] | attn_pre_softmax (scaled, masked) |
| blocks.{l}.attn.hook_pattern              | [B, H, T, T] | attn_scores (post-softmax)        |
| blocks.{l}.attn.hook_z                    | [B, T, H, D] | values_pre_proj (per head)        |
| blocks.{l}.hook_attn_out                  | [B, T, d]    | values_post_proj                  |
| blocks.{l}.hook_resid_mid / hook_mlp_out  | [B, T, d]    | (MLP models only)                 |
| blocks.{l}.hook_resid_post                | [B, T, d]    | block out (incl. residual)        |
| ln_final.hook_normalized                  | [B, T, d]    | pre_unembed                       |
| hook_logits                               | [B, T, L]    | unembedding                       |
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Tuple

EMBED_EXEMPLAR = "hook_embed_exemplar"
EMBED_LABEL = "hook_embed_label"
EMBED = "hook_embed"
LN_FINAL = "ln_final.hook_normalized"
LOGITS = "hook_logits"


def resid_pre(l: int) -> str: return f"blocks.{l}.hook_resid_pre"
def ln_normalized(l: int) -> str: return f"blocks.{l}.ln.hook_normalized"
def q(l: int) -> str: return f"blocks.{l}.attn.hook_q"
def k(l: int) -> str: return f"blocks.{l}.attn.hook_k"
def v(l: int) -> str: return f"blocks.{l}.attn.hook_v"
def rot_q(l: int) -> str: return f"blocks.{l}.attn.hook_rot_q"
def rot_k(l: int) -> str: return f"blocks.{l}.attn.hook_rot_k"
def attn_scores(l: int) -> str: return f"blocks.{l}.attn.hook_attn_scores"
def pattern(l: int) -> str: return f"blocks.{l}.attn.hook_pattern"
def z(l: int) -> str: return f"blocks.{l}.attn.hook_z"
def attn_out(l: int) -> str: return f"blocks.{l}.hook_attn_out"
def resid_mid(l: int) -> str: return f"blocks.{l}.hook_resid_mid"
def mlp_out(l: int) -> str: return f"blocks.{l}.hook_mlp_out"
def resid_post(l: int) -> str: return f"blocks.{l}.hook_resid_post"


def site_shapes(cfg: Mapping, batch: int) -> Dict[str, Tuple[int, ...]]:
    """Every site of a model (engine config dict: dModel, numHeads, depth, numLabels, contextLen, mlpRatio)."""
    d, H, C = cfg["dModel"], cfg["numHeads"], cfg["contextLen"]
    T, D, B = 2 * C + 1, d // H, batch
    out: Dict[str, Tuple[int, ...]] = {EMBED_EXEMPLAR: (B, C + 1, d), EMBED_LABEL: (B, C, d), EMBED: (B, T, d)}
    for l in range(cfg["depth"]):
        out[resid_pre(l)] = (B, T, d)
        out[ln_normalized(l)] = (B, T, d)
        for s in (q(l), k(l), v(l), rot_q(l), rot_k(l)):
            out[s] = (B, T, H, D)
        out[attn_scores(l)] = (B, H, T, T)
        out[pattern(l)] = (B, H, T, T)
        out[z(l)] = (B, T, H, D)
        out[attn_out(l)] = (B, T, d)
        if cfg.get("mlpRatio") is not None:
            out[resid_mid(l)] = (B, T, d)
            out[mlp_out(l)] = (B, T, d)
        out[resid_post(l)] = (B, T, d)
    out[LN_FINAL] = (B, T, d)
    out[LOGITS] = (B, T, cfg["numLabels"])
    return out


def site_names(cfg: Mapping) -> List[str]:
    """Site names in the order the forward pass computes them."""
    return list(site_shapes(cfg, 1))
