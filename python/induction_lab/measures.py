"""The per-evaluation measures of the engine (spec §1.4, §5.3, §5.4) on numpy arrays, for post-hoc checks.

Formulas as in ``src/engine/measures/{classification,attention}.ts``:

- loss = mean CE over all L logits at the query; acc = argmax over all L;
- in_context_acc / in_context_prob: the same restricted to the labels present in the context;
- prob = softmax probability of the target; use_context_prob = softmax mass on the context labels;
- induction strength IS_h = mean_seq(A_h[q, 2c+1] − A_h[q, 2(1−c)+1]), q = the query row, c = correct_ind;
- previous-token score = mean over sequences and label rows i ∈ {1, 3, …} of A_h[i, i−1].
"""
from __future__ import annotations

from typing import Dict

import numpy as np

__all__ = ["classification_metrics", "induction_strength", "prev_token_score", "correct_index"]


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
    """logits [B, L] at the query, labels [B, C+1] (the last column is the target)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    B, L = z.shape
    target = y[:, -1]
    in_ctx = np.zeros((B, L), bool)
    for j in range(y.shape[1] - 1):
        in_ctx[np.arange(B), y[:, j]] = True
    zmax = z.max(1, keepdims=True)
    e = np.exp(z - zmax)
    p = e / e.sum(1, keepdims=True)
    rows = np.arange(B)
    logp = z[rows, target] - zmax[:, 0] - np.log(e.sum(1))
    ctx_mass = (p * in_ctx).sum(1)
    arg_ctx = np.where(in_ctx, z, -np.inf).argmax(1)
    return {
        "loss": float(-logp.mean()),
        "acc": float((z.argmax(1) == target).mean()),
        "in_context_acc": float((arg_ctx == target).mean()),
        "in_context_prob": float(np.where(in_ctx[rows, target], p[rows, target] / ctx_mass, 0).mean()),
        "prob": float(p[rows, target].mean()),
        "use_context_prob": float(ctx_mass.mean()),
    }


def correct_index(labels: np.ndarray) -> np.ndarray:
    """Which context pair (0 or 1) carries the query's label: correct_ind of the spec (labels [B, 3])."""
    y = np.asarray(labels)
    return (y[:, 1] == y[:, 2]).astype(np.int64)


def induction_strength(pattern: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """[H] from a layer's pattern [B, H, 5, 5] and correct_ind [B]."""
    a = np.asarray(pattern, dtype=np.float64)
    if a.shape[-1] != 5:
        raise ValueError("induction strength is defined for 2 context pairs (5 tokens)")
    c = np.asarray(correct).astype(np.int64)
    rows = np.arange(a.shape[0])
    q = a[:, :, -1, :]  # [B, H, T_key]
    return (q[rows, :, 2 * c + 1] - q[rows, :, 2 * (1 - c) + 1]).mean(0)


def prev_token_score(pattern: np.ndarray) -> np.ndarray:
    """[H] from a layer's pattern [B, H, T, T]: mean of A[i, i−1] over label rows i = 1, 3, …"""
    a = np.asarray(pattern, dtype=np.float64)
    T = a.shape[-1]
    return np.stack([a[:, :, i, i - 1] for i in range(1, T, 2)], -1).mean((0, 2))
