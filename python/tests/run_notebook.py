"""Runs a notebook headless: with `jupyter nbconvert --execute` when jupyter is installed, else its code cells
in order as one script (in the notebook's folder, as a notebook editor would). Exit status 0 on success.

    python3 python/tests/run_notebook.py examples/analyse-a-run.ipynb [--script]
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile


def has_jupyter() -> bool:
    if not shutil.which("jupyter"):
        return False
    return subprocess.run(["jupyter", "nbconvert", "--version"], capture_output=True).returncode == 0


def run_as_script(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    folder = os.path.dirname(os.path.abspath(path))
    os.chdir(folder)
    sys.path.insert(0, folder)
    scope = {"__name__": "__main__"}
    for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        source = "".join(cell["source"])
        print(f"--- cell {i + 1}", flush=True)
        exec(compile(source, f"{os.path.basename(path)} cell {i + 1}", "exec"), scope)


def main(argv: list) -> int:
    path = argv[0]
    if "--script" not in argv and has_jupyter():
        out = tempfile.mkdtemp(prefix="nb-")
        r = subprocess.run(["jupyter", "nbconvert", "--to", "notebook", "--execute", "--output-dir", out, path])
        return r.returncode
    print("jupyter is not installed: running the code cells as a script", flush=True)
    run_as_script(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
