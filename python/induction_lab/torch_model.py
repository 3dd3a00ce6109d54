"""The model as a torch ``nn.Module`` (needs torch): the numpy model's forward pass with autograd.

Its ``state_dict()`` keys are exactly the checkpoint's tensor names (``embed.exemplar.weight``,
``blocks.0.attn.qkv.weight``, …), so ``TorchModel.from_checkpoint(ckpt)`` is a plain ``load_state_dict``.
The sites, the hook convention (``fn(activation, hook)`` may return a replacement), ``run_with_cache`` and
``run_with_clamps`` are the numpy model's; activations are tensors, so gradients flow through hooks,
clamps and multi-pass clamps as they do in the engine (no gradient reaches an overridden entry's
upstream computation).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Tuple

import numpy as np
import torch
from torch import nn

from . import sites
from .model import _Hooked, causal_tables, load_checkpoint_arrays, rope_tables

__all__ = ["TorchModel"]


class _Attn(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)


class _Mlp(nn.Module):
    def __init__(self, d: int, h: int):
        super().__init__()
        setattr(self, "in", nn.Linear(d, h))  # checkpoint name mlp.in.*; `in` is a keyword
        self.out = nn.Linear(h, d)


class _Block(nn.Module):
    def __init__(self, c: Mapping[str, Any]):
        super().__init__()
        d = c["dModel"]
        self.ln = nn.LayerNorm(d, eps=c["lnEps"])
        self.attn = _Attn(d)
        if c.get("mlpRatio") is not None:
            self.ln2 = nn.LayerNorm(d, eps=c["lnEps"])
            self.mlp = _Mlp(d, int(round(c["mlpRatio"] * d)))


class _Embed(nn.Module):
    def __init__(self, c: Mapping[str, Any]):
        super().__init__()
        self.exemplar = nn.Linear(c["inputDim"], c["dModel"])
        self.label = nn.Linear(c["numLabels"], c["dModel"], bias=False)


class TorchModel(_Hooked, nn.Module):
    """`TorchModel.from_checkpoint(run.checkpoints[N])`; `model(exemplars, labels)` -> query logits [B, L]."""

    def __init__(self, config: Mapping[str, Any], params: Mapping[str, Any] = None):
        nn.Module.__init__(self)
        self.config = dict(config)
        self._init_hooks()
        c = self.config
        self.embed = _Embed(c)
        self.blocks = nn.ModuleList([_Block(c) for _ in range(c["depth"])])
        self.ln_final = nn.LayerNorm(c["dModel"], eps=c["lnEps"])
        self.unembed = nn.Linear(c["dModel"], c["numLabels"])
        T, D = 2 * c["contextLen"] + 1, c["dModel"] // c["numHeads"]
        cos, sin = rope_tables(T, D, c["ropeBase"])
        m, neg = causal_tables(T)
        for name, a in (("rope_cos", cos), ("rope_sin", sin), ("causal_mask", m), ("causal_neg", neg)):
            self.register_buffer(name, torch.from_numpy(a), persistent=False)
        if params is not None:
            self.load_state_dict({k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in params.items()})

    @classmethod
    def from_checkpoint(cls, ckpt: Any) -> "TorchModel":
        cfg, params, _ = load_checkpoint_arrays(ckpt)
        return cls(cfg, params)

    # nn.Module's __call__ would route to forward(); keep the hooked entry point of _Hooked.
    __call__ = _Hooked.__call__

    def _run(self, exemplars: Any, labels: Any, extra: List[Tuple[Any, Any]], record: Any) -> Tuple[torch.Tensor, Dict]:
        c = self.config
        dev = self.unembed.weight.device
        x = torch.as_tensor(np.asarray(exemplars, np.float32) if isinstance(exemplars, np.ndarray) else exemplars,
                            dtype=torch.float32, device=dev)
        y = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels, device=dev).long()
        C, d, H, L = c["contextLen"], c["dModel"], c["numHeads"], c["numLabels"]
        T, D = 2 * C + 1, d // H
        if x.ndim != 3 or tuple(x.shape[1:]) != (C + 1, c["inputDim"]):
            raise ValueError(f"exemplars must be [batch, {C + 1}, {c['inputDim']}], got {list(x.shape)}")
        if y.ndim != 2 or y.shape[0] != x.shape[0] or y.shape[1] not in (C, C + 1):
            raise ValueError(f"labels must be [batch, {C}] or [batch, {C + 1}] integers, got {list(y.shape)}")
        B = x.shape[0]
        cache: Dict[str, torch.Tensor] = {}
        hook = self._hook_fn(extra, record, cache)

        ex = hook(sites.EMBED_EXEMPLAR, self.embed.exemplar(x))  # [B, C+1, d]
        lab = hook(sites.EMBED_LABEL, self.embed.label.weight.T[y[:, :C]])  # one-hot · W_labᵀ: [B, C, d]
        parts = []
        for i in range(C):
            parts += [ex[:, i], lab[:, i]]
        parts.append(ex[:, C])
        h = hook(sites.EMBED, torch.stack(parts, 1))  # [B, T, d]
        scale = 1 / math.sqrt(D)
        for l, blk in enumerate(self.blocks):
            xr = hook(sites.resid_pre(l), h)
            zn = hook(sites.ln_normalized(l), blk.ln(xr))
            qkv = blk.attn.qkv(zn).reshape(B, T, 3, H, D)  # position-major [B, T, H, D] each
            q = hook(sites.q(l), qkv[:, :, 0])
            k = hook(sites.k(l), qkv[:, :, 1])
            v = hook(sites.v(l), qkv[:, :, 2])
            rq = hook(sites.rot_q(l), self._rope(q))
            rk = hook(sites.rot_k(l), self._rope(k))
            s = torch.einsum("bqhd,bkhd->bhqk", rq, rk) * scale
            scores = hook(sites.attn_scores(l), s * self.causal_mask + self.causal_neg)
            pat = hook(sites.pattern(l), torch.softmax(scores, -1))
            zz = hook(sites.z(l), torch.einsum("bhqk,bkhd->bqhd", pat, v))
            attn = hook(sites.attn_out(l), blk.attn.proj(zz.reshape(B, T, H * D)))
            if c.get("mlpRatio") is None:
                h = hook(sites.resid_post(l), xr + attn)
            else:
                mid = hook(sites.resid_mid(l), xr + attn)
                hid = torch.relu(getattr(blk.mlp, "in")(blk.ln2(mid)))
                h = hook(sites.resid_post(l), mid + hook(sites.mlp_out(l), blk.mlp.out(hid)))
        zf = hook(sites.LN_FINAL, self.ln_final(h))
        logits = hook(sites.LOGITS, self.unembed(zf))  # [B, T, L]
        return logits[:, T - 1], cache

    def _rope(self, x: torch.Tensor) -> torch.Tensor:
        sw = torch.stack([-x[..., 1::2], x[..., 0::2]], -1).flatten(-2)  # (−x[2i+1], x[2i]) pairs
        return x * self.rope_cos[:, None, :] + sw * self.rope_sin[:, None, :]
