"""Shared fixtures of the Python tests: the repository, the CLI, and real runs trained once per process.

The CLI is the built bundle (`node out/cli.js`) when it is newer than every file under src/, else the
source through tsx; INDUCTION_LAB_CLI overrides both (a command line, split on spaces).
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))

_TMP = tempfile.mkdtemp(prefix="il-py-")
atexit.register(shutil.rmtree, _TMP, True)
_RUNS: Dict[str, str] = {}


def tmpdir() -> str:
    return tempfile.mkdtemp(dir=_TMP)


def _newest_source() -> float:
    newest = 0.0
    for root, _dirs, files in os.walk(os.path.join(REPO, "src")):
        for f in files:
            newest = max(newest, os.path.getmtime(os.path.join(root, f)))
    return newest


def cli_command() -> List[str]:
    env = os.environ.get("INDUCTION_LAB_CLI")
    if env:
        return env.split()
    bundle = os.path.join(REPO, "out", "cli.js")
    if os.path.exists(bundle) and os.path.getmtime(bundle) >= _newest_source():
        return ["node", bundle]
    return ["node", "--import", "tsx", os.path.join(REPO, "src", "engine", "cli.ts")]


def cli(*args: str, check: bool = True, stdin: Optional[str] = None) -> subprocess.CompletedProcess:
    r = subprocess.run(cli_command() + list(args), cwd=REPO, input=stdin, capture_output=True, text=True, timeout=600)
    if check and r.returncode != 0:
        raise AssertionError(f"induction-lab {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def trained_run(key: str, clamps: Sequence[str] = (), config: Optional[Dict[str, Any]] = None) -> str:
    """A smoke-preset run (seconds), trained once per process and key; returns its folder."""
    if key not in _RUNS:
        root = os.path.join(_TMP, "runs")
        # An explicit schedule: the tests name their checkpoints (the smoke preset's own is log + linear).
        cfg = {"train": {"engine": "fast", "checkpoints": [1600, 3200]}}
        for k, v in (config or {}).items():
            cfg.setdefault(k, {}).update(v)
        cfg_path = os.path.join(_TMP, f"{key}.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        args = ["train", "--preset", "smoke", "--config", cfg_path, "--out", root, "--run-id", key]
        for c in clamps:
            args += ["--clamp", c]
        cli(*args)
        cli("export", os.path.join(root, key), "--format", "eval-sets")
        _RUNS[key] = os.path.join(root, key)
    return _RUNS[key]


def ts_clamped_forward(checkpoint: str, exemplars, labels, runs: Sequence[Dict[str, Any]],
                       sites: Sequence[str]) -> List[dict]:
    """The engine's clamped forward (TF.js, cpu) for each {"clamps", "sequences"} of `runs`, on the same inputs."""
    req = {"checkpoint": checkpoint, "exemplars": exemplars.tolist(), "labels": labels.tolist(), "runs": list(runs),
           "sites": list(sites)}
    r = subprocess.run(["node", "--import", "tsx", os.path.join(HERE, "ts_clamped_forward.ts")], cwd=REPO,
                       input=json.dumps(req), capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise AssertionError(f"ts_clamped_forward failed: {r.stderr}")
    return json.loads(r.stdout)


def have(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False
