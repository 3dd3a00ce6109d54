"""examples/analyse-a-run.ipynb runs headless on a real run (jupyter when installed, else its code cells as
a script): it finds the strongest head, reproduces the run's logged losses, ablates the head, and writes its
figures when matplotlib is installed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import unittest

import support

NOTEBOOK = os.path.join(support.REPO, "examples", "analyse-a-run.ipynb")


class ExampleNotebook(unittest.TestCase):
    def test_the_notebook_runs_on_a_run_without_exported_eval_sets(self):
        run = os.path.join(support.tmpdir(), "run")
        shutil.copytree(support.trained_run("plain"), run)
        os.remove(os.path.join(run, "eval-sets.safetensors"))  # the notebook exports it itself
        figures = support.tmpdir()
        env = dict(os.environ, INDUCTION_LAB_RUN=run, INDUCTION_LAB_FIGURES=figures,
                   INDUCTION_LAB_CLI=" ".join(support.cli_command()),
                   PYTHONPATH=os.pathsep.join([os.path.join(support.REPO, "python"), os.environ.get("PYTHONPATH", "")]))
        r = subprocess.run([sys.executable, os.path.join(support.HERE, "run_notebook.py"), NOTEBOOK, "--script"],
                           env=env, capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"strongest induction head: L2H\d")
        self.assertRegex(r.stdout, r"train: loss \d\.\d{4} \(logged \d\.\d{4}\) → \d\.\d{4} with L2H\d ablated")
        for line in r.stdout.splitlines():  # the post-hoc check: recomputed = logged
            if "(logged" in line:
                ours, logged = line.split("loss ")[1].split(" (logged ")
                self.assertAlmostEqual(float(ours), float(logged.split(")")[0]), delta=1e-4, msg=line)
        self.assertTrue(os.path.exists(os.path.join(run, "eval-sets.safetensors")))
        if support.have("matplotlib"):
            self.assertEqual(sorted(os.listdir(figures)),
                             ["ablation.png", "loss-and-head-scores.png", "strongest-head-attention.png"])
        else:
            self.assertIn("matplotlib is not installed: the plots are skipped", r.stdout)

    @unittest.skipUnless(shutil.which("jupyter"), "jupyter is not installed")
    def test_the_notebook_executes_in_jupyter(self):
        env = dict(os.environ, INDUCTION_LAB_RUN=support.trained_run("plain"),
                   PYTHONPATH=os.path.join(support.REPO, "python"))
        r = subprocess.run([sys.executable, os.path.join(support.HERE, "run_notebook.py"), NOTEBOOK], env=env,
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
