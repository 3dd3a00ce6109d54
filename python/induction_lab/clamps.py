"""Clamps (spec §4) for post-hoc checks on saved checkpoints, with the engine's semantics.

A clamp is the dict run.json stores (``{"kind": "ablate", "heads": ["L2H1"]}``) or the CLI's short form
(``"ablate:L2H1,L2H2"``, ``"prev-token:L1H2@0.9,rows=labels"``, ``"induction:L2H3@1"``). Heads are written
``L<layer>H<head>`` with the paper's 1-indexed layers or ``<layer>:<head>`` with the code's 0-indexed
layers (``"1:3"`` = ``"L2H3"``). Each clamp becomes elementwise overrides ``where(mask, value, computed)``
of named sites, composed in the reference's order (spec §3.4); multi-pass clamps (preserve, temperature,
layer1, copy, grafts) run their extra passes of the same model first, as the engine does
(``src/engine/clamps/apply.ts``).

| kind                  | spec  | override                                                                  |
|-----------------------|-------|---------------------------------------------------------------------------|
| ablate                | §4.1  | ``hook_v`` of the heads = 0                                              |
| preserve              | §4.2  | patterns / values / rot_q / rot_k of every head from a clean pass         |
| prev-token            | §4.3  | pattern P[0,0]=1, P[i,i-1]=s, P[i,i]=1-s (all rows or label rows)         |
| induction             | §4.4  | query row [0, a1, 0, a2, 0], a = s on the matching label, 1-s on the other |
| match                 | §4.5  | query row by cosine similarity of the raw exemplars (τ = 0: hard)          |
| layer1                | §4.6  | Layer 1's output = the (shifted, for Layer 2's patterns) embedding        |
| copy                  | §4.7  | query logits = the head's scores at the two label keys, others -1e9       |
| temperature           | §4.8  | clean pre-softmax scores / T                                               |
| disallow-prev-token   | §4.10 | -1e9 on the previous-token score                                           |
| silence-non-label     | §4.10 | -1e9 at the query row on exemplar keys (last layer)                        |
| ablate-embedding      | §4.10 | ``hook_embed`` = 0                                                         |
| graft-in / graft-out  | §4.9  | a donor checkpoint's block output in / this model's into the donor         |
| path-patch            | #18   | receiver's Q/K/V = LN(resid − out_sender + r)·W, r = 0 or the batch mean   |
| stop-gradient         | #18   | as path-patch with r = out_sender, gradient stopped (torch; same forward)  |

Path clamps (issue 18, ``docs/path-patching.md``) act on one edge sender → receiver (``"path-patch:L1H2>L2H3,
input=k,with=zero"``): they read one extra pass with every other clamp applied, as the engine does
(``src/engine/clamps/pathApply.ts``). ``with=corrupt`` needs the corrupted second pass of
``src/engine/clamps/corruptions.ts``, which this package does not reproduce: it parses and describes, and
applying it raises ``NotImplementedError`` naming the alternatives.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import sites

__all__ = ["parse_head", "format_head", "parse_clamp", "normalize_clamps", "describe_clamp", "CLAMP_ORDER",
           "is_active"]

ClampLike = Union[str, Mapping[str, Any]]

# The reference's composition order (spec §3.4); layer1 before copy (copy reads layer1's pattern pass).
CLAMP_ORDER = [
    "preserve", "temperature", "layer1", "copy", "graft-in", "ablate-embedding", "ablate", "prev-token",
    "induction", "match", "disallow-prev-token", "silence-non-label", "graft-out", "path-patch", "stop-gradient",
]
PATH_KINDS = ("path-patch", "stop-gradient")
PATH_INPUTS = ("q", "k", "v")
PATH_REPLACEMENTS = ("corrupt", "zero", "mean")
CORRUPTIONS = ("labels", "prev-token", "class")
_NEEDS_TWO_PAIRS = {"induction", "match", "layer1", "copy", "silence-non-label"}
NEG = -1e9


def parse_head(text: str, depth: int = 2, num_heads: int = 8) -> Tuple[int, int]:
    """"L2H3" or "1:3" -> (layer, head) with a 0-indexed layer."""
    t = str(text).strip()
    m = re.fullmatch(r"[Ll](\d+)[Hh](\d+)", t)
    if m:
        layer, head = int(m.group(1)) - 1, int(m.group(2))
        if layer < 0:
            raise ValueError(f'unknown head "{text}": paper layers start at L1')
    else:
        m = re.fullmatch(r"(\d+):(\d+)", t)
        if not m:
            raise ValueError(f'cannot read head "{text}": write L<layer>H<head> (paper layers from 1, e.g. L2H3) '
                             f"or <layer>:<head> (code layers from 0, e.g. 1:3)")
        layer, head = int(m.group(1)), int(m.group(2))
    if layer >= depth:
        raise ValueError(f'unknown head "{text}": the model has {depth} layers')
    if head >= num_heads:
        raise ValueError(f'unknown head "{text}": each layer has {num_heads} heads (H0…H{num_heads - 1})')
    return layer, head


def format_head(layer: int, head: int) -> str:
    return f"L{layer + 1}H{head}"


def is_active(clamp: Mapping[str, Any], sequences: Optional[int]) -> bool:
    """A clamp's window: active while from <= sequences < until (None = ignore windows)."""
    if sequences is None:
        return True
    lo, hi = clamp.get("from"), clamp.get("until")
    return (lo is None or sequences >= lo) and (hi is None or sequences < hi)


def parse_clamp(spec: ClampLike, depth: int = 2, num_heads: int = 8, context_len: int = 2) -> Dict[str, Any]:
    """A clamp in canonical form (the dict run.json stores) from a dict or the CLI's short form."""
    o = _parse_short(spec) if isinstance(spec, str) else dict(spec)
    kind = o.get("kind")
    heads = lambda key="heads": _heads(o, key, depth, num_heads)  # noqa: E731
    num = lambda key, dflt, lo, hi: _num(o, key, dflt, lo, hi)  # noqa: E731
    if kind == "ablate":
        c: Dict[str, Any] = {"kind": kind, "heads": heads()}
    elif kind == "preserve":
        allowed = ["patterns", "values", "queries", "keys"]
        what = o.get("what")
        if not isinstance(what, (list, tuple)) or not what or any(w not in allowed for w in what):
            raise ValueError(f"preserve: what must list some of {', '.join(allowed)}")
        c = {"kind": kind, "what": [w for w in allowed if w in what]}
    elif kind == "prev-token":
        c = {"kind": kind, "heads": heads(), "strength": num("strength", 1.0, 0, 1),
             "labelRowsOnly": bool(o.get("labelRowsOnly", False))}
    elif kind == "induction":
        c = {"kind": kind, "heads": heads(), "strength": num("strength", 1.0, 0, 1)}
    elif kind == "match":
        c = {"kind": kind, "heads": heads(), "temperature": num("temperature", 0.0, 0, 1e6)}
    elif kind in ("layer1", "ablate-embedding"):
        c = {"kind": kind}
    elif kind == "copy":
        hs = heads("head")
        if len(hs) != 1:
            raise ValueError(f"copy: head must be a single head, got {','.join(hs)}")
        c = {"kind": kind, "head": hs[0]}
    elif kind == "temperature":
        c = {"kind": kind, "heads": heads(), "temperature": num("temperature", None, 1e-6, 1e6)}
    elif kind == "disallow-prev-token":
        c = {"kind": kind, "heads": heads(), "labelRowsOnly": bool(o.get("labelRowsOnly", False))}
    elif kind == "silence-non-label":
        hs = heads()
        for h in hs:
            if parse_head(h, depth, num_heads)[0] != depth - 1:
                raise ValueError(f"silence-non-label clamps apply to Layer {depth} heads, got {h}")
        c = {"kind": kind, "heads": hs}
    elif kind in ("graft-in", "graft-out"):
        key = "tillLayer" if kind == "graft-in" else "fromLayer"
        if not isinstance(o.get("checkpoint"), str) or not o["checkpoint"]:
            raise ValueError(f"{kind}: checkpoint must be a path")
        layer = o.get(key)
        if not isinstance(layer, int) or not 0 <= layer < depth:
            raise ValueError(f"{kind}: {key} must be a block index in [0, {depth - 1}]")
        c = {"kind": kind, "checkpoint": o["checkpoint"], key: layer}
    elif kind in PATH_KINDS:
        c = {"kind": kind, **_edge(o, kind, depth, num_heads)}
        if kind == "path-patch":
            w = o.get("with", "zero")
            if w not in PATH_REPLACEMENTS:
                raise ValueError(f"path-patch: with must be one of {', '.join(PATH_REPLACEMENTS)}, got {w!r}")
            cor = o.get("corruption")
            c["with"] = w
            if w == "corrupt":
                if cor is None:
                    raise ValueError(f'path-patch: with = "corrupt" needs a corruption ({", ".join(CORRUPTIONS)})')
                if cor not in CORRUPTIONS:
                    raise ValueError(f"path-patch: unknown corruption {cor!r} (known: {', '.join(CORRUPTIONS)})")
                if context_len != 2:
                    raise ValueError("path-patch: corruptions are defined for 2 context pairs (5 tokens)")
                c["corruption"] = cor
            elif cor is not None:
                raise ValueError(f'path-patch: corruption applies only with with = "corrupt" (got with = "{w}")')
    else:
        raise ValueError(f"unknown clamp kind {kind!r} (known: {', '.join(CLAMP_ORDER)})")
    if kind in _NEEDS_TWO_PAIRS and context_len != 2:
        raise ValueError(f"the {kind} clamp is defined for 2 context pairs; this model has contextLen {context_len}")
    for w in ("from", "until"):
        if o.get(w) is not None:
            c[w] = int(o[w])
    return c


def normalize_clamps(clamps: Iterable[ClampLike], cfg: Mapping) -> List[Dict[str, Any]]:
    """Parses a list of clamps and checks the cross-clamp rules the engine checks."""
    out = [parse_clamp(c, cfg["depth"], cfg["numHeads"], cfg["contextLen"]) for c in clamps]
    pt = {h for c in out if c["kind"] == "prev-token" for h in c["heads"]}
    for c in out:
        if c["kind"] == "induction":
            for h in c["heads"]:
                if h in pt:
                    raise ValueError(f"head {h} cannot be both a previous-token and an induction head")
    if any(c["kind"] == "layer1" for c in out):
        if cfg["depth"] != 2:
            raise ValueError("the layer1 clamp needs a two-layer model")
        for c in out:
            if c["kind"] == "ablate" and any(parse_head(h, 2, cfg["numHeads"])[0] != 1 for h in c["heads"]):
                raise ValueError("with the layer1 clamp only Layer 2 heads can be ablated (Layer 1 is replaced)")
    _check_pattern_on_ablated(out)
    _check_edges_on_ablated(out)
    for kind in ("copy", "layer1"):
        if sum(c["kind"] == kind for c in out) > 1:
            raise ValueError(f"at most one {kind} clamp")
    return out


# Clamps that set or reshape a head's attention pattern: a no-op on a head whose values are zero-ablated.
PATTERN_KINDS = {"prev-token", "induction", "match", "temperature", "disallow-prev-token", "silence-non-label", "copy"}


def clamp_heads(c: Mapping[str, Any]) -> List[str]:
    return [c["head"]] if c["kind"] == "copy" else list(c.get("heads", []))


def _overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    inf = float("inf")
    return max(a.get("from") or 0, b.get("from") or 0) < min(a.get("until", inf) or inf, b.get("until", inf) or inf)


def _check_pattern_on_ablated(clamps: List[Dict[str, Any]]) -> None:
    """As the engine: a pattern clamp on a head ablated while it is active would change nothing, so it is refused."""
    for p in clamps:
        if p["kind"] not in PATTERN_KINDS:
            continue
        for a in clamps:
            if a["kind"] == "ablate" and _overlap(a, p):
                hit = [h for h in clamp_heads(p) if h in a["heads"]]
                if hit:
                    raise ValueError(f"head {hit[0]} is zero-ablated by {a}, so the {p['kind']} clamp {p} would clamp "
                                     f"a head whose output is 0 (it would change nothing)")


def _check_edges_on_ablated(clamps: List[Dict[str, Any]]) -> None:
    """As the engine: an edge whose sender or receiver is zero-ablated while the path clamp is active is refused."""
    for p in clamps:
        if p["kind"] not in PATH_KINDS:
            continue
        for a in clamps:
            if a["kind"] == "ablate" and _overlap(a, p):
                hit = [h for h in (p["sender"], p["receiver"]) if h in a["heads"]]
                if hit:
                    raise ValueError(f"head {hit[0]} is zero-ablated by {a}, so the {p['kind']} clamp on the edge "
                                     f"{_edge_text(p)} would change nothing")


def _edge(o: Mapping, kind: str, depth: int, num_heads: int) -> Dict[str, str]:
    """sender, receiver (single heads, the receiver in a later layer) and input of a path clamp."""
    def one(key: str) -> str:
        hs = _heads(o, key, depth, num_heads)
        if len(hs) != 1:
            raise ValueError(f"{kind}: {key} must be a single head, got {','.join(hs)}")
        return hs[0]
    sender, receiver = one("sender"), one("receiver")
    if parse_head(receiver, depth, num_heads)[0] <= parse_head(sender, depth, num_heads)[0]:
        raise ValueError(f"{kind}: an edge's receiver must sit in a later layer than its sender (it reads the "
                         f"sender's output), got {sender} → {receiver}")
    inp = o.get("input")
    if inp not in PATH_INPUTS:
        raise ValueError(f"{kind}: input must be one of q, k, v (the receiver's query, key or value), got {inp!r}")
    return {"sender": sender, "receiver": receiver, "input": inp}


def _edge_text(c: Mapping[str, Any]) -> str:
    return f"{c['sender']}→{c['receiver']}.{c['input'].upper()}"


def describe_clamp(spec: ClampLike, depth: int = 2, num_heads: int = 8, context_len: int = 2) -> str:
    """One line naming a clamp: "ablate L2H1, L2H2", "path-patch L1H2→L2H3.K (zero) [0, 64000)" (engine wording for edges)."""
    c = parse_clamp(spec, depth, num_heads, context_len)
    kind = c["kind"]
    if kind == "path-patch":
        body = f"path-patch {_edge_text(c)} ({'corrupted: ' + c['corruption'] if c['with'] == 'corrupt' else c['with']})"
    elif kind == "stop-gradient":
        body = f"stop-gradient {_edge_text(c)}"
    else:
        params = [f"{k} = {c[k]:g}" for k in ("strength", "temperature") if k in c]
        what = ", ".join(clamp_heads(c)) if ("heads" in c or "head" in c) else ", ".join(c.get("what", []))
        body = " ".join(x for x in (kind, what, f"({'; '.join(params)})" if params else "") if x)
    if "from" in c or "until" in c:
        body += f" [{c.get('from', 0)}, {c.get('until', '∞')})"
    return body


def _parse_short(text: str) -> Dict[str, Any]:
    t = text.strip()
    kind, _, rest = t.partition(":")
    o: Dict[str, Any] = {"kind": kind}
    if kind in PATH_KINDS:  # the engine's short-form defaults (kinds.ts shortDefaults)
        o.update({"input": "k", **({"with": "zero"} if kind == "path-patch" else {})})
    heads: List[str] = []
    value: Optional[float] = None
    for item in (s.strip() for s in rest.split(",")):
        if not item:
            continue
        key, eq, val = item.partition("=")
        if eq and key:
            if key in ("from", "until", "till", "from-layer", "strength", "temperature"):
                try:
                    x = float(val)
                except ValueError:
                    raise ValueError(f'clamp "{text}": {key} needs a number, got "{val}"') from None
                if key in ("strength", "temperature"):
                    value = x
                else:
                    o[{"till": "tillLayer", "from-layer": "fromLayer"}.get(key, key)] = int(x)
            elif key == "rows":
                if val != "labels":
                    raise ValueError(f'clamp "{text}": rows=labels is the only rows option')
                o["labelRowsOnly"] = True
            elif key == "checkpoint":
                o["checkpoint"] = val
            elif key in ("input", "with", "corruption"):
                o[key] = val
            else:
                raise ValueError(f'clamp "{text}": unknown option "{key}"')
        elif kind == "preserve":
            o.setdefault("what", []).append(item)
        elif kind in ("graft-in", "graft-out"):
            o["checkpoint"] = item
        elif kind in PATH_KINDS:
            sender, gt, receiver = (x.strip() for x in item.partition(">"))
            if not gt or not sender or not receiver or ">" in receiver:
                raise ValueError(f'clamp "{text}": an edge is SENDER>RECEIVER, e.g. L1H2>L2H3, got "{item}"')
            o["sender"], o["receiver"] = sender, receiver
        else:
            h, at, v = item.partition("@")
            heads.append(h)
            if at:
                value = float(v)
    if heads:
        o["head" if kind == "copy" else "heads"] = heads
    if value is not None:
        o["temperature" if kind in ("match", "temperature") else "strength"] = value
    return o


def _heads(o: Mapping, key: str, depth: int, num_heads: int) -> List[str]:
    v = o.get(key)
    if isinstance(v, str):
        v = [s for s in (p.strip() for p in v.split(",")) if s]
    if not isinstance(v, (list, tuple)) or not v:
        raise ValueError(f'{o.get("kind")}: {key} must be a list of heads like ["L2H3"]')
    out: List[str] = []
    for h in v:
        name = format_head(*parse_head(h, depth, num_heads))
        if name not in out:
            out.append(name)
    return out


def _num(o: Mapping, key: str, dflt: Optional[float], lo: float, hi: float) -> float:
    x = o.get(key, dflt)
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not lo <= x <= hi:
        raise ValueError(f"{o.get('kind')}: {key} must be a number in [{lo}, {hi}], got {o.get(key)!r}")
    return float(x)


# ---- overrides ----------------------------------------------------------------------------------------

class Overrides:
    """site -> [(value, mask), ...] applied in order, so later writes win where masks overlap (spec §3.4).

    Values may be numpy arrays or, for the torch model, tensors from an earlier differentiable pass.
    """

    def __init__(self) -> None:
        self.by_site: Dict[str, List[Tuple[Any, np.ndarray]]] = {}

    def set(self, site: str, value: Any, mask: np.ndarray) -> None:
        full = np.broadcast_to(np.asarray(mask, dtype=bool), tuple(value.shape)).copy()
        self.by_site.setdefault(site, []).append((value, full))

    def hooks(self) -> List[Tuple[str, Any]]:
        def make(layers: List[Tuple[Any, np.ndarray]]):
            def apply(act, hook):
                for value, mask in layers:
                    act = _where(mask, value, act)
                return act
            return apply
        return [(s, make(layers)) for s, layers in self.by_site.items()]


def _where(mask: np.ndarray, value: Any, act: Any) -> Any:
    """where(mask, value, act) for numpy activations, and for torch ones (the torch model shares the clamps)."""
    if isinstance(act, np.ndarray):
        return np.where(mask, np.asarray(value, dtype=act.dtype), act)
    import torch  # only reached with torch activations
    return torch.where(torch.as_tensor(mask, device=act.device), _const(value, act), act)


def _const(x: Any, like: Any) -> Any:
    """x as an array of the same kind (numpy or torch), dtype and device as `like`."""
    if isinstance(like, np.ndarray):
        return np.asarray(x, dtype=like.dtype)
    import torch
    return torch.as_tensor(x, dtype=like.dtype, device=like.device)


def _head_mask(shape: Sequence[int], heads: Iterable[int], axis: int) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    idx: List[Any] = [slice(None)] * len(shape)
    for h in heads:
        idx[axis] = h
        m[tuple(idx)] = True
    return m


def _by_layer(heads: Iterable[str], cfg: Mapping) -> Dict[int, List[int]]:
    out: Dict[int, List[int]] = {}
    for h in heads:
        l, hh = parse_head(h, cfg["depth"], cfg["numHeads"])
        out.setdefault(l, []).append(hh)
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    den = np.sqrt((a64 * a64).sum(-1) * (b64 * b64).sum(-1))
    return (a64 * b64).sum(-1) / np.where(den == 0, 1, den)


def constant_overrides(c: Mapping[str, Any], cfg: Mapping, exemplars: np.ndarray, labels: np.ndarray,
                       ov: Overrides) -> bool:
    """Writes the overrides of a constant clamp (one that reads no pass of the model); False if it is not one."""
    B = labels.shape[0]
    T, H, D = 2 * cfg["contextLen"] + 1, cfg["numHeads"], cfg["dModel"] // cfg["numHeads"]
    kind = c["kind"]
    if kind == "ablate":
        for l, hs in _by_layer(c["heads"], cfg).items():
            shape = (B, T, H, D)  # position-major v
            ov.set(sites.v(l), np.zeros(shape, np.float32), _head_mask(shape, hs, 2))
    elif kind == "prev-token":
        s = np.float32(c["strength"])
        rows = [2 * j + 1 for j in range(cfg["contextLen"])] if c.get("labelRowsOnly") else list(range(T))
        for l, hs in _by_layer(c["heads"], cfg).items():
            value = np.zeros((B, H, T, T), np.float32)
            mask = np.zeros((B, H, T, T), bool)
            for h in hs:
                for i in rows:
                    mask[:, h, i, :] = True
                    if i == 0:
                        value[:, h, 0, 0] = 1
                    else:
                        value[:, h, i, i - 1] = s
                        value[:, h, i, i] = 1 - s
            ov.set(sites.pattern(l), value, mask)
    elif kind in ("induction", "match"):
        if kind == "induction":
            s = np.float32(c["strength"])
            y = np.asarray(labels)
            if y.shape[1] < 3:
                raise ValueError("the induction clamp needs the query's label: labels must be [batch, 3]")
            w1 = np.where(y[:, 0] == y[:, 2], s, 1 - s).astype(np.float32)
            w2 = np.where(y[:, 1] == y[:, 2], s, 1 - s).astype(np.float32)
        else:
            sims = np.stack([_cosine(exemplars[:, 2], exemplars[:, j]) for j in (0, 1)], 1)
            tau = c["temperature"]
            if tau == 0:
                first = sims[:, 0] >= sims[:, 1]
                w1, w2 = first.astype(np.float32), (~first).astype(np.float32)
            else:
                e = np.exp((sims - sims.max(1, keepdims=True)) / tau)
                w = e / e.sum(1, keepdims=True)
                w1, w2 = w[:, 0].astype(np.float32), w[:, 1].astype(np.float32)
        for l, hs in _by_layer(c["heads"], cfg).items():
            value = np.zeros((B, H, T, T), np.float32)
            mask = np.zeros((B, H, T, T), bool)
            for h in hs:
                value[:, h, T - 1, 1], value[:, h, T - 1, 3] = w1, w2
                mask[:, h, T - 1, :] = True
            ov.set(sites.pattern(l), value, mask)
    elif kind == "disallow-prev-token":
        for l, hs in _by_layer(c["heads"], cfg).items():
            value = np.zeros((B, H, T, T), np.float32)
            mask = np.zeros((B, H, T, T), bool)
            for h in hs:
                for i in range(1, T):
                    if c.get("labelRowsOnly") and i % 2 == 0:
                        continue
                    value[:, h, i, i - 1], mask[:, h, i, i - 1] = NEG, True
            ov.set(sites.attn_scores(l), value, mask)
    elif kind == "silence-non-label":
        for l, hs in _by_layer(c["heads"], cfg).items():
            value = np.zeros((B, H, T, T), np.float32)
            mask = np.zeros((B, H, T, T), bool)
            for h in hs:
                for key in range(0, T, 2):
                    value[:, h, T - 1, key], mask[:, h, T - 1, key] = NEG, True
            ov.set(sites.attn_scores(l), value, mask)
    elif kind == "ablate-embedding":
        shape = (B, T, cfg["dModel"])
        ov.set(sites.EMBED, np.zeros(shape, np.float32), np.ones(shape, bool))
    else:
        return False
    return True


# ---- the forward-function factory (the reference's make_fn_from_opts) ----------------------------------

def clamped_run(model: Any, exemplars: np.ndarray, labels: np.ndarray, clamps: Iterable[ClampLike],
                sequences: Optional[int], record: Any, fwd_hooks: Sequence[Tuple[Any, Any]] = ()) -> Tuple[Any, Dict]:
    """Runs `model` with every clamp active at `sequences` (None: all), in the reference's order.

    `model` is a numpy or torch model: anything with `config` and `_run(exemplars, labels, hooks, record)`
    returning (query logits, cache). User hooks run after the clamps' overrides on the final pass.
    """
    cfg = model.config
    active = sorted((c for c in normalize_clamps(clamps, cfg) if is_active(c, sequences)),
                    key=lambda c: CLAMP_ORDER.index(c["kind"]))
    if not active:
        return model._run(exemplars, labels, list(fwd_hooks), record)
    T, H = 2 * cfg["contextLen"] + 1, cfg["numHeads"]
    ov = Overrides()
    base_cache: Dict[str, Any] = {}
    layer1_pass: Dict[str, Any] = {}

    def base() -> Dict[str, Any]:
        if not base_cache:
            base_cache.update(model._run(exemplars, labels, [], True)[1])
        return base_cache

    graft_out = None
    paths: List[Dict[str, Any]] = []
    for c in active:
        kind = c["kind"]
        if kind in PATH_KINDS:
            paths.append(c)  # last in the composition order: they read a pass with every other clamp
            continue
        if constant_overrides(c, cfg, np.asarray(exemplars), np.asarray(labels), ov):
            continue
        if kind == "preserve":
            names = {"patterns": sites.pattern, "values": sites.v, "queries": sites.rot_q, "keys": sites.rot_k}
            for l in range(cfg["depth"]):
                for w in c["what"]:
                    val = base()[names[w](l)]
                    ov.set(names[w](l), val, np.ones(tuple(val.shape), bool))
        elif kind == "temperature":
            for l, hs in _by_layer(c["heads"], cfg).items():
                s = base()[sites.attn_scores(l)]
                ov.set(sites.attn_scores(l), s / c["temperature"], _head_mask(tuple(s.shape), hs, 1))
        elif kind == "layer1":
            E = base()[sites.EMBED]  # [B, 5, d]
            shifted = E[:, [0, 0, 1, 2, 4]]  # label tokens carry their preceding exemplar (spec §4.6)
            full = np.ones(tuple(E.shape), bool)
            p2 = Overrides()
            p2.set(sites.resid_post(0), shifted, full)
            layer1_pass.update(model._run(exemplars, labels, p2.hooks(),
                                          {sites.pattern(1), sites.attn_scores(1)})[1])
            ov.set(sites.resid_post(0), E, full)
            p = layer1_pass[sites.pattern(1)]
            ov.set(sites.pattern(1), p, np.ones(tuple(p.shape), bool))
        elif kind == "copy":
            l, h = parse_head(c["head"], cfg["depth"], H)
            source = layer1_pass if (layer1_pass and l == 1) else base()
            S = source[sites.attn_scores(l)]  # [B, H, T, T]
            z1, z2 = S[:, h, T - 1, 1], S[:, h, T - 1, 3]
            y = np.asarray(labels)
            L, B = cfg["numLabels"], y.shape[0]
            oh1 = np.eye(L, dtype=np.float32)[y[:, 0]]
            oh2 = np.eye(L, dtype=np.float32)[y[:, 1]]
            like = S
            q = (_const(oh1, like) * z1[:, None] + _const(oh2, like) * z2[:, None]
                 + _const((1 - oh1 - oh2) * NEG, like))  # [B, L]
            value = _cat([_const(np.zeros((B, T - 1, L), np.float32), like), q[:, None, :]], like)
            mask = np.zeros((B, T, L), bool)
            mask[:, T - 1, :] = True
            ov.set(sites.LOGITS, value, mask)
        elif kind == "graft-in":
            donor = type(model).from_checkpoint(c["checkpoint"])
            _check_donor(donor, cfg, c["checkpoint"])
            s = sites.resid_post(c["tillLayer"])
            val = donor._run(exemplars, labels, [], {s})[1][s]
            ov.set(s, val, np.ones(tuple(val.shape), bool))
        elif kind == "graft-out":
            graft_out = c
    if paths:
        ov = path_overrides(model, exemplars, labels, paths, ov)
    hooks = ov.hooks() + list(fwd_hooks)
    if graft_out is None:
        return model._run(exemplars, labels, hooks, record)
    s = sites.resid_post(graft_out["fromLayer"])
    rec = True if record is True else set(_names(record)) | {s}
    _, cache = model._run(exemplars, labels, hooks, rec)
    donor = type(model).from_checkpoint(graft_out["checkpoint"])
    _check_donor(donor, cfg, graft_out["checkpoint"])
    out = Overrides()
    out.set(s, cache[s], np.ones(tuple(cache[s].shape), bool))
    logits, _ = donor._run(exemplars, labels, out.hooks(), False)
    return logits, cache


# ---- path clamps (issue 18) ------------------------------------------------------------------------------

def _param(model: Any, name: str) -> Any:
    """A checkpoint tensor of the numpy model (array) or the torch model (the live parameter, for gradients)."""
    if hasattr(model, "params"):
        return model.params[name]
    return dict(model.named_parameters())[name]


def _ln(x: Any, g: Any, b: Any, eps: float) -> Any:
    if isinstance(x, np.ndarray):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + np.float32(eps)) * g + b
    import torch
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), g, b, eps)


def _stopped(x: Any) -> Any:
    return x if isinstance(x, np.ndarray) else x.detach()


def path_overrides(model: Any, exemplars: Any, labels: Any, paths: List[Dict[str, Any]], ov: Overrides) -> Overrides:
    """The overrides of the path clamps on top of `ov` (every other clamp's), as the engine's pathApply.ts:

        x′ = resid_pre(receiver layer) − Σ_edges (out_sender − r),   input_i = LN(x′) · W_{Q|K|V}^{(i)}ᵀ

    with out_sender = z_sender · W_proj[:, sender dims]ᵀ and r = 0 (zero), the batch mean of out_sender per
    position with no gradient through it (mean), or out_sender with its gradient stopped (stop-gradient), all
    read from one pass with the other clamps applied; edges into one receiver input add up. The path overrides
    come first on their site, so entries another clamp fixes (an ablated head's zero values) keep its value.
    """
    bad = [c for c in paths if c["kind"] == "path-patch" and c["with"] == "corrupt"]
    if bad:
        raise NotImplementedError(
            f'path-patch with = "corrupt" ({_edge_text(bad[0])}, corruption {bad[0]["corruption"]}) is not '
            "supported post hoc in the Python package (it needs the engine's corrupted second pass, "
            'src/engine/clamps/corruptions.ts): use with = "zero" or "mean", or the engine (induction-lab forward)')
    cfg = model.config
    d, H = cfg["dModel"], cfg["numHeads"]
    D = d // H
    edges = [(c, parse_head(c["sender"], cfg["depth"], H), parse_head(c["receiver"], cfg["depth"], H)) for c in paths]
    need = {sites.resid_pre(r[0]) for _, _, r in edges} | {sites.z(s[0]) for _, s, _ in edges}
    pre = model._run(exemplars, labels, ov.hooks(), need)[1]
    delta: Dict[Tuple[int, int, str], Any] = {}
    for c, (ls, hs), (lr, hr) in edges:
        w = _param(model, f"blocks.{ls}.attn.proj.weight")[:, hs * D:(hs + 1) * D]  # [d, D]
        out = pre[sites.z(ls)][:, :, hs, :] @ w.T  # the sender's write into the residual stream [B, T, d]
        if c["kind"] == "stop-gradient":
            r = _stopped(out)
        elif c["with"] == "mean":
            r = _stopped(out).mean(0, keepdims=True) if isinstance(out, np.ndarray) else out.detach().mean(0, True)
        else:
            r = 0 * out
        key = (lr, hr, c["input"])
        delta[key] = (delta[key] if key in delta else 0) + (r - out)
    res = Overrides()
    for (lr, hr, inp), dl in delta.items():
        x = pre[sites.resid_pre(lr)] + dl
        zn = _ln(x, _param(model, f"blocks.{lr}.ln.weight"), _param(model, f"blocks.{lr}.ln.bias"), cfg["lnEps"])
        row = PATH_INPUTS.index(inp) * d + hr * D
        val = zn @ _param(model, f"blocks.{lr}.attn.qkv.weight")[row:row + D].T  # [B, T, D]
        site = {"q": sites.q, "k": sites.k, "v": sites.v}[inp](lr)
        B, T = val.shape[0], val.shape[1]
        full = _cat([0 * val[:, :, None]] * hr + [val[:, :, None]] + [0 * val[:, :, None]] * (H - hr - 1), val, 2)
        res.set(site, full, _head_mask((B, T, H, D), [hr], 2))
    for site, layers in ov.by_site.items():
        res.by_site.setdefault(site, []).extend(layers)
    return res


def _names(record: Any) -> Iterable[str]:
    return () if record is False or record is None else record


def _cat(parts: List[Any], like: Any, axis: int = 1) -> Any:
    if isinstance(like, np.ndarray):
        return np.concatenate(parts, axis=axis)
    import torch
    return torch.cat(parts, dim=axis)


def _check_donor(donor: Any, cfg: Mapping, path: str) -> None:
    for key in ("dModel", "numHeads", "depth", "numLabels", "inputDim", "contextLen", "mlpRatio"):
        if donor.config.get(key) != cfg.get(key):
            raise ValueError(f"graft checkpoint {path} has model.{key} = {donor.config.get(key)}, "
                             f"this model has {cfg.get(key)}")
