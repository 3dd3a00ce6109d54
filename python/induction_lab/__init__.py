"""Induction Lab runs in Python: read run folders, run checkpoints with named hooks, apply clamps post hoc.

    from induction_lab import load_run, Model
    run = load_run(".induction-lab/runs/<run-id>")
    run.metrics                          # one row per evaluation (pandas DataFrame when pandas imports)
    model = Model.from_checkpoint(run.checkpoints[160000])
    logits, cache = model.run_with_cache(exemplars, labels)
    cache["blocks.1.attn.hook_pattern"]  # [batch, head, query, key]

Depends only on numpy; `Model.to_torch()` / `TorchModel` need torch. See python/README.md.
"""
from .clamps import describe_clamp, parse_clamp, parse_head, format_head, normalize_clamps
from .measures import classification_metrics, induction_strength, prev_token_score, correct_index
from .model import ActivationCache, HookPoint, Model, param_shapes
from .run import Checkpoint, EvalSet, Run, load_run, metric_columns, read_metrics_jsonl
from .safetensors import FormatError, SafetensorsFile, read_safetensors
from . import sites

__version__ = "0.1.0"

__all__ = [
    "load_run", "Run", "Checkpoint", "EvalSet", "Model", "HookPoint", "ActivationCache", "param_shapes",
    "parse_clamp", "describe_clamp", "parse_head", "format_head", "normalize_clamps", "classification_metrics",
    "induction_strength", "prev_token_score", "correct_index", "metric_columns", "read_metrics_jsonl",
    "SafetensorsFile", "read_safetensors", "FormatError", "sites", "TorchModel",
]


def __getattr__(name: str):
    # torch is optional: importing TorchModel is what needs it.
    if name == "TorchModel":
        from .torch_model import TorchModel
        return TorchModel
    raise AttributeError(name)
