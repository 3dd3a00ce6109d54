"""Reading an Induction Lab run folder: config, metrics as a table, checkpoints by sequence count.

A run folder (README "Run folders") holds ``run.json`` (config, status, engine), ``metrics.jsonl`` (one JSON
object per evaluation, appended and flushed as it happens), ``checkpoints/seq-<N>.safetensors`` (the model
parameters after N training sequences, ``model_config`` in the metadata) with ``seq-<N>.summary.json`` beside
each, and, once exported, ``eval-sets.safetensors`` (the run's fixed evaluation sequences).

Metric columns are named like the TensorBoard tags the engine writes: ``sequences``, ``step``, ``wall_time``,
``train/loss`` (mean training loss since the previous evaluation; NaN at 0), ``train/learning_rate``,
``<eval set>/<metric>`` (``fsl_train/loss``, ``fsl_val_rl/in_context_acc``, …),
``heads/L2H3/induction_strength`` (last-layer heads) and ``heads/L1H2/prev_token_score`` (first-layer heads).
"""
from __future__ import annotations

import json
import os
import re
import warnings
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np

from .safetensors import FormatError, SafetensorsFile

__all__ = ["load_run", "Run", "Checkpoint", "EvalSet", "metric_columns", "read_metrics_jsonl"]

_CKPT = re.compile(r"^seq-(\d+)\.safetensors$")
EVAL_SETS_FILE = "eval-sets.safetensors"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def read_metrics_jsonl(path: str) -> Tuple[List[Dict[str, Any]], bool]:
    """(records, torn): every complete line; a last line cut short by a crash or a live writer is left out."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return [], False
    lines = text.split("\n")
    complete = text.endswith("\n")
    if complete:
        lines.pop()
    out: List[Dict[str, Any]] = []
    torn = False
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            if not complete and i == len(lines) - 1:
                torn = True
                break
            raise ValueError(f"{path}:{i + 1}: corrupt JSON line: {e}") from None
    return out, torn


def metric_columns(rec: Mapping[str, Any], depth: int, lr: Optional[float]) -> Dict[str, float]:
    """One metrics.jsonl record as {column: value}; the naming every export shares (TensorBoard tags, CSV)."""
    def num(x: Any) -> float:
        return float("nan") if x is None else float(x)
    out: Dict[str, float] = {"sequences": num(rec.get("sequences")), "step": num(rec.get("step")),
                             "wall_time": num(rec.get("wallTime")), "train/loss": num(rec.get("trainLoss"))}
    if lr is not None:
        out["train/learning_rate"] = float(lr)
    for name, ms in (rec.get("eval") or {}).items():
        for m, v in ms.items():
            out[f"{name}/{_snake(m)}"] = num(v)
    for h, v in enumerate(rec.get("inductionStrength") or []):
        out[f"heads/L{depth}H{h}/induction_strength"] = num(v)
    for h, v in enumerate(rec.get("prevTokenScore") or []):
        out[f"heads/L1H{h}/prev_token_score"] = num(v)
    known = {"sequences", "step", "wallTime", "trainLoss", "eval", "inductionStrength", "prevTokenScore"}
    for k, v in rec.items():
        if k not in known and isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"train/{_snake(k)}"] = float(v)
    return out


class Checkpoint(Mapping[str, np.ndarray]):
    """One checkpoint: a lazy mapping parameter name -> float32 array, plus its config, sequences and summary."""

    def __init__(self, path: str, config: Optional[Mapping[str, Any]] = None, sequences: Optional[int] = None):
        self.path = path
        m = _CKPT.match(os.path.basename(path))
        self.sequences = sequences if sequences is not None else (int(m.group(1)) if m else -1)
        self._fallback = dict(config) if config else None
        self._file: Optional[SafetensorsFile] = None

    @property
    def file(self) -> SafetensorsFile:
        if self._file is None:
            self._file = SafetensorsFile(self.path)
        return self._file

    @property
    def metadata(self) -> Dict[str, str]:
        return dict(self.file.metadata)

    @property
    def config(self) -> Dict[str, Any]:
        """The model config stored in the checkpoint (else the run's)."""
        raw = self.file.metadata.get("model_config")
        if raw:
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                raise FormatError(f"{self.path}: model_config in the metadata is not JSON") from None
        if self._fallback is None:
            raise FormatError(f"{self.path}: no model_config in the metadata; open it through load_run(run_folder)")
        return dict(self._fallback)

    @property
    def summary(self) -> Optional[Dict[str, Any]]:
        """checkpoints/seq-N.summary.json: patterns on a canonical sequence, head scores, eval losses."""
        p = self.path[: -len(".safetensors")] + ".summary.json"
        if not os.path.exists(p):
            return None
        with open(p, "r", encoding="utf-8") as f:
            return json.load(f)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.file[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.file)

    def __len__(self) -> int:
        return len(self.file)

    def model(self) -> Any:
        """The numpy model with these parameters."""
        from .model import Model
        return Model.from_checkpoint(self)

    def __repr__(self) -> str:
        return f"Checkpoint(sequences={self.sequences}, path={self.path!r})"


class EvalSet:
    """One fixed evaluator (spec §1.4): exemplars [N, C+1, D] float32, labels [N, C+1], correct [N]."""

    def __init__(self, name: str, exemplars: np.ndarray, labels: np.ndarray, correct: np.ndarray,
                 classes: Optional[np.ndarray] = None, exemplar_index: Optional[np.ndarray] = None):
        self.name, self.exemplars, self.labels, self.correct = name, exemplars, labels, correct
        self.classes, self.exemplar_index = classes, exemplar_index

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        return f"EvalSet({self.name!r}, {len(self)} sequences)"


class Run:
    """A run folder read at one moment: a consistent snapshot even while the run is still training."""

    def __init__(self, path: str | os.PathLike, pandas: Optional[bool] = None):
        self.path = os.path.abspath(os.fspath(path))
        rj = os.path.join(self.path, "run.json")
        try:
            with open(rj, "r", encoding="utf-8") as f:
                self.info: Dict[str, Any] = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"not a run folder: {self.path} (no run.json)") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{rj}: invalid JSON: {e}") from None
        self.config: Dict[str, Any] = self.info.get("config") or {}
        self.id: str = self.info.get("id") or os.path.basename(self.path)
        self.status: str = self.info.get("status", "unknown")
        self.records, torn = read_metrics_jsonl(os.path.join(self.path, "metrics.jsonl"))
        self.checkpoints: Dict[int, Checkpoint] = self._list_checkpoints()
        self._pandas = pandas
        self.is_training = self.status == "running"
        self.snapshot_note: Optional[str] = None
        if self.is_training or torn:
            last = self.records[-1]["sequences"] if self.records else 0
            self.snapshot_note = (
                f"run {self.id} is still training (status {self.status!r}): a snapshot up to the last complete "
                f"evaluation ({len(self.records)} evaluations, {last} sequences; {len(self.checkpoints)} checkpoints)"
                if self.is_training else
                f"run {self.id}: the last line of metrics.jsonl is cut short and was left out")
            warnings.warn(self.snapshot_note, stacklevel=3)

    # -- config -------------------------------------------------------------------------------------------
    @property
    def model_config(self) -> Dict[str, Any]:
        return dict(self.config.get("model") or {})

    @property
    def clamps(self) -> List[Dict[str, Any]]:
        return list(self.config.get("clamps") or [])

    @property
    def engine(self) -> str:
        """Which engine trained the run (contracts §1: engine + engineDetail; old runs: engine, backend)."""
        e, detail, backend = self.info.get("engine"), self.info.get("engineDetail"), self.info.get("backend")
        return " · ".join(str(x) for x in (e, detail or backend) if x) or "unknown"

    # -- metrics ------------------------------------------------------------------------------------------
    @property
    def metrics_array(self) -> np.ndarray:
        """The metrics as a numpy structured array, one row per evaluation (columns: see the module doc)."""
        depth = int(self.model_config.get("depth", 2))
        lr = (self.config.get("train") or {}).get("lr")
        rows = [metric_columns(r, depth, lr) for r in self.records]
        names: List[str] = []
        for r in rows:
            names.extend(k for k in r if k not in names)
        ints = {"sequences", "step"}
        dtype = [(n, np.int64 if n in ints else np.float64) for n in names]
        arr = np.zeros(len(rows), dtype=dtype)
        for n in names:
            col = np.array([r.get(n, np.nan) for r in rows], dtype=np.float64)
            arr[n] = np.nan_to_num(col, nan=-1).astype(np.int64) if n in ints else col
        return arr

    @property
    def metrics(self) -> Any:
        """A pandas DataFrame when pandas imports (or pandas=True), else the structured array."""
        if self._pandas is not False:
            try:
                import pandas as pd
            except ImportError:
                if self._pandas:
                    raise
            else:
                return pd.DataFrame.from_records(self.metrics_array)
        return self.metrics_array

    # -- checkpoints --------------------------------------------------------------------------------------
    def _list_checkpoints(self) -> Dict[int, Checkpoint]:
        d = os.path.join(self.path, "checkpoints")
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return {}
        found = sorted((int(m.group(1)), n) for n in names for m in [_CKPT.match(n)] if m)
        return {s: Checkpoint(os.path.join(d, n), self.model_config, s) for s, n in found}

    @property
    def latest_checkpoint(self) -> Optional[Checkpoint]:
        return self.checkpoints[max(self.checkpoints)] if self.checkpoints else None

    def checkpoint_near(self, sequences: float) -> Checkpoint:
        """The checkpoint whose sequence count is closest to `sequences`."""
        if not self.checkpoints:
            raise LookupError(f"run {self.id} has no checkpoints")
        return self.checkpoints[min(self.checkpoints, key=lambda s: (abs(s - sequences), s))]

    def model(self, sequences: Optional[int] = None) -> Any:
        """The numpy model at a checkpoint (default: the latest)."""
        ck = self.latest_checkpoint if sequences is None else self.checkpoints[sequences]
        if ck is None:
            raise LookupError(f"run {self.id} has no checkpoints")
        return ck.model()

    # -- evaluation sequences -----------------------------------------------------------------------------
    def eval_sets(self, path: Optional[str] = None) -> Dict[str, EvalSet]:
        """The run's fixed evaluators, from `induction-lab export RUN --format eval-sets` (spec §1.4)."""
        p = path or os.path.join(self.path, EVAL_SETS_FILE)
        if not os.path.exists(p):
            raise FileNotFoundError(
                f"{p} does not exist: write it with `induction-lab export {self.path} --format eval-sets`")
        f = SafetensorsFile(p)
        names = json.loads(f.metadata.get("sets", "[]")) or sorted({k.split(".")[0] for k in f})
        out: Dict[str, EvalSet] = {}
        for n in names:
            out[n] = EvalSet(n, np.asarray(f[f"{n}.exemplars"], np.float32), np.asarray(f[f"{n}.labels"], np.int64),
                             np.asarray(f[f"{n}.correct"], np.int64),
                             f[f"{n}.classes"] if f"{n}.classes" in f else None,
                             f[f"{n}.exemplarIndex"] if f"{n}.exemplarIndex" in f else None)
        return out

    def __repr__(self) -> str:
        return (f"Run({self.id!r}, status={self.status!r}, {len(self.records)} evaluations, "
                f"{len(self.checkpoints)} checkpoints)")


def load_run(path: str | os.PathLike, pandas: Optional[bool] = None) -> Run:
    """Opens a run folder. `pandas`: None = a DataFrame for `run.metrics` when pandas imports."""
    return Run(path, pandas=pandas)
