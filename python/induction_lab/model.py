"""The model of spec §2.1 as a numpy forward pass with TransformerLens-style hooks.

Read top to bottom: embed (exemplars: linear + bias; context labels: one-hot · W_lab, the query's label is
never embedded) → interleave ``x1 ℓ1 x2 ℓ2 … xq`` (RoPE: no positional embedding) → per block: pre-LN
(ε = lnEps, biased variance), qkv = LN(x)·W_qkvᵀ with feature index which·d + head·D + dim, RoPE on q and
k (interleaved pairs, GPT-J style: θ_{p,i} = p / base^{2i/D}), scores = q·kᵀ/√D masked as
S·M + (1−M)·(−1e20), softmax over keys, z = pattern·v, heads concatenated (head h → dims h·D…h·D+D−1),
output projection, residual → final LN → unembedding at every position. Float32 throughout, as the engine
(``src/engine/model/forward.ts``).

Every intermediate passes through a named site (``sites.py``): a hook ``fn(activation, hook)`` registered on
that name sees the activation and may return a replacement (TransformerLens's convention; ``hook.name`` is
the site). ``run_with_cache`` records sites; ``run_with_clamps`` applies the engine's clamps.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import sites
from .clamps import ClampLike, clamped_run

__all__ = ["Model", "HookPoint", "ActivationCache", "param_shapes"]

Hook = Callable[[Any, "HookPoint"], Any]
NameFilter = Union[None, bool, str, Iterable[str], Callable[[str], bool]]


class HookPoint:
    """What a hook receives besides the activation (TransformerLens passes a HookPoint with `.name`)."""

    def __init__(self, name: str):
        self.name = name

    def layer(self) -> Optional[int]:
        return int(self.name.split(".")[1]) if self.name.startswith("blocks.") else None

    def __repr__(self) -> str:
        return f"HookPoint({self.name!r})"


class ActivationCache(dict):
    """Recorded activations by site name (a dict), with a few TransformerLens-style helpers."""

    def pattern(self, layer: int) -> Any:
        return self[sites.pattern(layer)]

    def remove_batch_dim(self) -> "ActivationCache":
        return ActivationCache({k: v[0] for k, v in self.items()})


def param_shapes(cfg: Mapping) -> Dict[str, Tuple[int, ...]]:
    """The checkpoint tensors of a model (``src/engine/model/params.ts``); weights are [out, in]."""
    d, L = cfg["dModel"], cfg["numLabels"]
    out: Dict[str, Tuple[int, ...]] = {
        "embed.exemplar.weight": (d, cfg["inputDim"]), "embed.exemplar.bias": (d,), "embed.label.weight": (d, L),
    }
    for l in range(cfg["depth"]):
        out[f"blocks.{l}.ln.weight"] = (d,)
        out[f"blocks.{l}.ln.bias"] = (d,)
        out[f"blocks.{l}.attn.qkv.weight"] = (3 * d, d)
        out[f"blocks.{l}.attn.proj.weight"] = (d, d)
        if cfg.get("mlpRatio") is not None:
            h = int(round(cfg["mlpRatio"] * d))
            out.update({f"blocks.{l}.ln2.weight": (d,), f"blocks.{l}.ln2.bias": (d,),
                        f"blocks.{l}.mlp.in.weight": (h, d), f"blocks.{l}.mlp.in.bias": (h,),
                        f"blocks.{l}.mlp.out.weight": (d, h), f"blocks.{l}.mlp.out.bias": (d,)})
    out.update({"ln_final.weight": (d,), "ln_final.bias": (d,), "unembed.weight": (L, d), "unembed.bias": (L,)})
    return out


def load_checkpoint_arrays(ckpt: Any) -> Tuple[Dict[str, Any], Dict[str, np.ndarray], str]:
    """(model config, parameters, source) from a Checkpoint, a .safetensors path, or a (config, params) pair."""
    from .run import Checkpoint  # run.py imports model.py
    if isinstance(ckpt, (str, os.PathLike)):
        ckpt = Checkpoint(os.fspath(ckpt))
    if isinstance(ckpt, Checkpoint):
        cfg, src = ckpt.config, ckpt.path
        params = {k: np.asarray(ckpt[k], dtype=np.float32) for k in param_shapes(cfg)}
    elif isinstance(ckpt, tuple) and len(ckpt) == 2:
        cfg, params, src = dict(ckpt[0]), {k: np.asarray(v, np.float32) for k, v in ckpt[1].items()}, "parameters"
    else:
        raise TypeError("from_checkpoint takes a Checkpoint, a .safetensors path or a (config, params) pair")
    for name, shape in param_shapes(cfg).items():
        if name not in params:
            raise ValueError(f"{src}: missing tensor {name} {list(shape)}")
        if tuple(params[name].shape) != shape:
            raise ValueError(f"{src}: tensor {name} has shape {list(params[name].shape)}, expected {list(shape)}")
    return cfg, params, src


def rope_tables(T: int, D: int, base: float) -> Tuple[np.ndarray, np.ndarray]:
    """cos, sin [T, D]: entries 2i and 2i+1 hold θ_{p,i} = p / base^{2i/D} (computed in float64, stored float32)."""
    p = np.arange(T, dtype=np.float64)[:, None]
    i = np.arange(D // 2, dtype=np.float64)[None, :]
    theta = np.repeat(p / np.power(base, 2 * i / D), 2, axis=1)
    return np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)


def causal_tables(T: int) -> Tuple[np.ndarray, np.ndarray]:
    """M (1 on and below the diagonal) and (1 − M)·(−1e20), float32 [T, T]."""
    m = np.tril(np.ones((T, T), np.float32))
    return m, np.where(m > 0, 0, -1e20).astype(np.float32)


class _Hooked:
    """Hook registry and the run_with_* entry points shared by the numpy and torch models."""

    config: Dict[str, Any]

    def _init_hooks(self) -> None:
        self._il_hooks: List[Tuple[Any, Hook]] = []

    # -- hooks ------------------------------------------------------------------------------------------
    def add_hook(self, name: Union[str, Callable[[str], bool]], hook: Hook) -> None:
        """Registers a permanent hook on a site name (or on every site a filter function accepts)."""
        if isinstance(name, str):
            self._check_site(name)
        self._il_hooks.append((name, hook))

    def reset_hooks(self) -> None:
        self._il_hooks.clear()

    @contextlib.contextmanager
    def hooks(self, fwd_hooks: Sequence[Tuple[Any, Hook]] = ()) -> Iterator["_Hooked"]:
        """Hooks active inside a `with` block only."""
        n = len(self._il_hooks)
        for name, fn in fwd_hooks:
            self.add_hook(name, fn)
        try:
            yield self
        finally:
            del self._il_hooks[n:]

    @property
    def hook_names(self) -> List[str]:
        return sites.site_names(self.config)

    def _check_site(self, name: str) -> None:
        if name not in sites.site_shapes(self.config, 1):
            raise KeyError(f'unknown site "{name}" (sites: {", ".join(self.hook_names)})')

    # -- entry points -----------------------------------------------------------------------------------
    def __call__(self, exemplars: Any, labels: Any, return_type: str = "query") -> Any:
        return self.forward(exemplars, labels, return_type=return_type)

    def forward(self, exemplars: Any, labels: Any, return_type: str = "query") -> Any:
        """Query logits [B, L] (return_type "query"), logits at every position [B, T, L] ("all")."""
        record = {sites.LOGITS} if return_type == "all" else False
        logits, cache = self._run(exemplars, labels, [], record)
        if return_type == "all":
            return cache[sites.LOGITS]
        if return_type != "query":
            raise ValueError(f'return_type must be "query" or "all", got {return_type!r}')
        return logits

    def run_with_hooks(self, exemplars: Any, labels: Any, fwd_hooks: Sequence[Tuple[Any, Hook]] = ()) -> Any:
        """Query logits with temporary hooks: fwd_hooks = [(site name or filter, fn(activation, hook))]."""
        with self.hooks(fwd_hooks):
            return self._run(exemplars, labels, [], False)[0]

    def run_with_cache(self, exemplars: Any, labels: Any, names_filter: NameFilter = None,
                       fwd_hooks: Sequence[Tuple[Any, Hook]] = ()) -> Tuple[Any, ActivationCache]:
        """(query logits [B, L], cache) with every site, or those `names_filter` selects, after all hooks."""
        with self.hooks(fwd_hooks):
            logits, cache = self._run(exemplars, labels, [], _record_of(names_filter))
        return logits, ActivationCache(cache)

    def run_with_clamps(self, exemplars: Any, labels: Any, clamps: Iterable[ClampLike],
                        sequences: Optional[int] = None, names_filter: NameFilter = False,
                        fwd_hooks: Sequence[Tuple[Any, Hook]] = ()) -> Tuple[Any, ActivationCache]:
        """(query logits, cache) with the engine's clamps (spec §4); `sequences` applies their windows."""
        # fwd_hooks act on the final pass only; hooks added with add_hook act on every pass.
        logits, cache = clamped_run(self, exemplars, labels, clamps, sequences, _record_of(names_filter), fwd_hooks)
        return logits, ActivationCache(cache)

    def _run(self, exemplars: Any, labels: Any, extra: List[Tuple[Any, Hook]], record: Any) -> Tuple[Any, Dict]:
        raise NotImplementedError

    def _hook_fn(self, extra: List[Tuple[Any, Hook]], record: Any, cache: Dict[str, Any]) -> Callable[[str, Any], Any]:
        # Clamp overrides (extra) first, then the user's hooks, then recording: the cache holds what flowed on.
        active = list(extra) + list(self._il_hooks)

        def hook(name: str, value: Any) -> Any:
            for key, fn in active:
                if key == name or (callable(key) and not isinstance(key, str) and key(name)):
                    out = fn(value, HookPoint(name))
                    if out is not None:
                        if tuple(out.shape) != tuple(value.shape):
                            raise ValueError(f"hook on {name} returned shape {tuple(out.shape)}, "
                                             f"expected {tuple(value.shape)}")
                        value = out
            if record is True or (record is not False and (record(name) if callable(record) else name in record)):
                cache[name] = value
            return value
        return hook


def _record_of(names_filter: NameFilter) -> Any:
    if names_filter is None or names_filter is True:
        return True
    if names_filter is False:
        return False
    if isinstance(names_filter, str):
        return {names_filter}
    if callable(names_filter):
        return names_filter
    return set(names_filter)


class Model(_Hooked):
    """The numpy model. `Model.from_checkpoint(run.checkpoints[N])` or a .safetensors path."""

    def __init__(self, config: Mapping[str, Any], params: Mapping[str, np.ndarray]):
        self.config = dict(config)
        self.params = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
        self._init_hooks()
        c = self.config
        self.T, self.D = 2 * c["contextLen"] + 1, c["dModel"] // c["numHeads"]
        self._cos, self._sin = rope_tables(self.T, self.D, c["ropeBase"])
        self._mask, self._neg = causal_tables(self.T)

    @classmethod
    def from_checkpoint(cls, ckpt: Any) -> "Model":
        cfg, params, _ = load_checkpoint_arrays(ckpt)
        return cls(cfg, params)

    def to_torch(self) -> Any:
        """The same model as a torch ``nn.Module`` (needs torch)."""
        from .torch_model import TorchModel
        return TorchModel(self.config, self.params)

    def _run(self, exemplars: Any, labels: Any, extra: List[Tuple[Any, Hook]], record: Any) -> Tuple[np.ndarray, Dict]:
        c, p = self.config, self.params
        x = np.asarray(exemplars, dtype=np.float32)
        y = np.asarray(labels)
        C, d, H, D, T, L = c["contextLen"], c["dModel"], c["numHeads"], self.D, self.T, c["numLabels"]
        if x.ndim != 3 or x.shape[1:] != (C + 1, c["inputDim"]):
            raise ValueError(f"exemplars must be [batch, {C + 1}, {c['inputDim']}] ({C} context exemplars, then the "
                             f"query), got {list(x.shape)}")
        if y.ndim != 2 or y.shape[0] != x.shape[0] or y.shape[1] not in (C, C + 1):
            raise ValueError(f"labels must be [batch, {C}] or [batch, {C + 1}] integers, got {list(y.shape)}")
        if not np.issubdtype(y.dtype, np.integer) or y.min(initial=0) < 0 or y.max(initial=0) >= L:
            raise ValueError(f"labels must be integers in [0, {L - 1}]")
        B = x.shape[0]
        cache: Dict[str, np.ndarray] = {}
        hook = self._hook_fn(extra, record, cache)

        ex = hook(sites.EMBED_EXEMPLAR, x @ p["embed.exemplar.weight"].T + p["embed.exemplar.bias"])  # [B, C+1, d]
        lab = hook(sites.EMBED_LABEL, p["embed.label.weight"].T[y[:, :C]])  # one-hot · W_labᵀ: [B, C, d]
        tokens = np.empty((B, T, d), np.float32)
        tokens[:, 0:2 * C:2], tokens[:, 1:2 * C:2], tokens[:, 2 * C] = ex[:, :C], lab, ex[:, C]
        h = hook(sites.EMBED, tokens)
        for l in range(c["depth"]):
            w = lambda n: p[f"blocks.{l}.{n}"]  # noqa: E731
            xr = hook(sites.resid_pre(l), h)
            zn = hook(sites.ln_normalized(l), _layer_norm(xr, w("ln.weight"), w("ln.bias"), c["lnEps"]))
            qkv = (zn @ w("attn.qkv.weight").T).reshape(B, T, 3, H, D)  # position-major [B, T, H, D] each
            q = hook(sites.q(l), qkv[:, :, 0])
            k = hook(sites.k(l), qkv[:, :, 1])
            v = hook(sites.v(l), qkv[:, :, 2])
            rq = hook(sites.rot_q(l), self._rope(q))
            rk = hook(sites.rot_k(l), self._rope(k))
            s = np.einsum("bqhd,bkhd->bhqk", rq, rk) * np.float32(1 / np.sqrt(D))
            scores = hook(sites.attn_scores(l), s * self._mask + self._neg)  # [B, H, Tq, Tk]
            pat = hook(sites.pattern(l), _softmax(scores))
            zz = hook(sites.z(l), np.einsum("bhqk,bkhd->bqhd", pat, v))  # [B, T, H, D]
            attn = hook(sites.attn_out(l), zz.reshape(B, T, H * D) @ w("attn.proj.weight").T)
            if c.get("mlpRatio") is None:
                h = hook(sites.resid_post(l), xr + attn)
            else:
                mid = hook(sites.resid_mid(l), xr + attn)
                hid = np.maximum(_layer_norm(mid, w("ln2.weight"), w("ln2.bias"), c["lnEps"]) @ w("mlp.in.weight").T
                                 + w("mlp.in.bias"), 0)
                h = hook(sites.resid_post(l), mid + hook(sites.mlp_out(l), hid @ w("mlp.out.weight").T
                                                          + w("mlp.out.bias")))
        zf = hook(sites.LN_FINAL, _layer_norm(h, p["ln_final.weight"], p["ln_final.bias"], c["lnEps"]))
        logits = hook(sites.LOGITS, zf @ p["unembed.weight"].T + p["unembed.bias"])  # [B, T, L]
        return logits[:, T - 1], ActivationCache(cache)

    def _rope(self, x: np.ndarray) -> np.ndarray:
        # (x·swap)[2i] = −x[2i+1], (x·swap)[2i+1] = x[2i]; cos/sin broadcast over [B, T, H, D] as [T, 1, D].
        sw = np.empty_like(x)
        sw[..., 0::2], sw[..., 1::2] = -x[..., 1::2], x[..., 0::2]
        return x * self._cos[:, None, :] + sw * self._sin[:, None, :]


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + np.float32(eps)) * g + b


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
