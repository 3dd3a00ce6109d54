"""load_run: config, metrics as a table equal to metrics.jsonl, lazy checkpoints, snapshots of running runs,
and clear errors for broken files."""
from __future__ import annotations

import json
import os
import shutil
import unittest
import warnings

import numpy as np

import support
from induction_lab import FormatError, SafetensorsFile, load_run, param_shapes


class LoadRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = support.trained_run("plain")
        with open(os.path.join(cls.path, "metrics.jsonl")) as f:
            cls.lines = [json.loads(l) for l in f]

    def test_config_status_engine(self):
        r = load_run(self.path)
        self.assertEqual(r.status, "completed")
        self.assertFalse(r.is_training)
        self.assertIsNone(r.snapshot_note)
        self.assertEqual(r.config["train"]["sequences"], 3200)
        self.assertEqual(r.model_config["numHeads"], 8)
        self.assertIn("fast", r.engine)

    def test_metrics_table_equals_metrics_jsonl(self):
        a = load_run(self.path, pandas=False).metrics
        self.assertIsInstance(a, np.ndarray)
        self.assertEqual(len(a), len(self.lines))
        names = a.dtype.names
        self.assertEqual(names[:5], ("sequences", "step", "wall_time", "train/loss", "train/learning_rate"))
        self.assertEqual(len(names), 5 + 4 * 6 + 16)
        for i, rec in enumerate(self.lines):
            self.assertEqual(a["sequences"][i], rec["sequences"])
            self.assertEqual(a["step"][i], rec["step"])
            for s, ms in rec["eval"].items():
                self.assertEqual(a[f"{s}/loss"][i], ms["loss"])
                self.assertEqual(a[f"{s}/in_context_acc"][i], ms["inContextAcc"])
                self.assertEqual(a[f"{s}/use_context_prob"][i], ms["useContextProb"])
            for h in range(8):
                self.assertEqual(a[f"heads/L2H{h}/induction_strength"][i], rec["inductionStrength"][h])
                self.assertEqual(a[f"heads/L1H{h}/prev_token_score"][i], rec["prevTokenScore"][h])
        self.assertTrue(np.isnan(a["train/loss"][0]))
        self.assertTrue(np.all(a["train/learning_rate"] == 1e-4))
        if support.have("pandas"):
            df = load_run(self.path).metrics
            self.assertEqual(list(df.columns), list(names))

    def test_checkpoints_by_sequence_count_are_lazy_dicts_of_arrays(self):
        r = load_run(self.path)
        self.assertEqual(list(r.checkpoints), [1600, 3200])
        ck = r.checkpoints[1600]
        self.assertIsNone(ck._file, "nothing read before the first access")
        self.assertEqual(set(ck), set(param_shapes(ck.config)))
        w = ck["blocks.0.attn.qkv.weight"]
        self.assertEqual(w.shape, (192, 64))
        self.assertEqual(w.dtype, np.float32)
        self.assertEqual(ck.metadata["sequences"], "1600")
        self.assertEqual(ck.summary["sequences"], 1600)
        self.assertIs(r.latest_checkpoint, r.checkpoints[3200])
        self.assertIs(r.checkpoint_near(2500), r.checkpoints[3200])
        self.assertFalse(np.array_equal(r.checkpoints[1600]["unembed.weight"], r.checkpoints[3200]["unembed.weight"]))

    def test_a_running_run_is_a_consistent_snapshot_and_says_so(self):
        live = os.path.join(support.tmpdir(), "live")
        shutil.copytree(self.path, live)
        with open(os.path.join(live, "run.json")) as f:
            rj = json.load(f)
        rj["status"] = "running"
        with open(os.path.join(live, "run.json"), "w") as f:
            json.dump(rj, f)
        with open(os.path.join(live, "metrics.jsonl"), "a") as f:
            f.write('{"sequences": 4000, "step": 125, "eval": {"fsl_tr')  # a line being written
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            r = load_run(live)
        self.assertTrue(r.is_training)
        self.assertEqual(len(r.records), len(self.lines))
        self.assertEqual(str(w[0].message), r.snapshot_note)
        self.assertRegex(r.snapshot_note, r"still training .*snapshot up to the last complete evaluation "
                                          r"\(5 evaluations, 3200 sequences; 2 checkpoints\)")

    def test_broken_files_are_named(self):
        d = os.path.join(support.tmpdir(), "broken")
        shutil.copytree(self.path, d)
        with open(os.path.join(d, "metrics.jsonl"), "r+") as f:
            lines = f.read().split("\n")
            lines[1] = lines[1][:40]
            f.seek(0)
            f.write("\n".join(lines))
            f.truncate()
        with self.assertRaisesRegex(ValueError, r"metrics\.jsonl:2: corrupt JSON line"):
            load_run(d)
        ck = os.path.join(d, "checkpoints", "seq-1600.safetensors")
        with open(ck, "r+b") as f:
            f.truncate(1000)
        with self.assertRaisesRegex(FormatError, r"seq-1600\.safetensors: (header length \d+ does not fit a "
                                                 r"1000-byte file|.*needs \d+ bytes)"):
            SafetensorsFile(ck)
        with self.assertRaisesRegex(FileNotFoundError, "not a run folder"):
            load_run(os.path.join(d, "checkpoints"))
        with self.assertRaisesRegex(FileNotFoundError, "--format eval-sets"):
            load_run(self.path).eval_sets(os.path.join(d, "nope.safetensors"))

    def test_eval_sets_are_the_runs_evaluators(self):
        sets = load_run(self.path).eval_sets()
        self.assertEqual(list(sets), ["fsl_train", "fsl_val_rl", "fsl_train_valex", "fsl_test_class"])
        ev = sets["fsl_train"]
        self.assertEqual(ev.exemplars.shape, (100, 3, 512))
        rows = np.arange(100)
        np.testing.assert_array_equal(ev.exemplars[:, 2], ev.exemplars[rows, ev.correct], "query = matching exemplar")
        np.testing.assert_array_equal(ev.labels[:, 2], ev.labels[rows, ev.correct])
        self.assertTrue(np.all(ev.labels[:, 0] != ev.labels[:, 1]))


if __name__ == "__main__":
    unittest.main()
