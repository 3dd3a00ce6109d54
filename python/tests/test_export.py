"""The authors' format as h5py reads it (the reference's notebooks: np.mean(f[set][metric], axis=1) against
f['eval_iter']), its config.json through the reference's own loading rule, and the CSV export."""
from __future__ import annotations

import csv
import json
import os
import unittest

import numpy as np

import support
from induction_lab import load_run


@unittest.skipUnless(support.have("h5py"), "h5py is not installed (apt-get install python3-h5py)")
class IclDynamicsExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab_run = load_run(support.trained_run("clamped", ["ablate:L2H0,L2H1,L2H2,L2H4,L2H5,L2H6,L2H7",
                                                               "prev-token:L1H2@0.9"]))
        cls.out = os.path.join(support.tmpdir(), "omniglot50_rl5_perfect_prev_tok_attn_single")
        cls.notes = support.cli("export", cls.lab_run.path, "--format", "icl-dynamics", cls.out).stderr

    def test_log_h5_has_what_the_notebooks_read(self):
        import h5py
        m = self.lab_run.metrics_array
        with h5py.File(os.path.join(self.out, "log.h5"), "r") as f:
            np.testing.assert_array_equal(f["eval_iter"][:], m["sequences"])
            self.assertEqual(f["eval_iter"].dtype, np.int64)
            for s in ("fsl_train", "fsl_val_rl", "fsl_train_valex", "fsl_test_class"):
                for metric in ("loss", "acc", "in_context_acc", "in_context_prob", "prob", "use_context_prob"):
                    d = f[s][metric]
                    self.assertEqual(d.shape, (len(m), 1))
                    np.testing.assert_allclose(np.mean(d[:], axis=1), m[f"{s}/{metric}"], rtol=1e-6)
            np.testing.assert_array_equal(f["train_iter"][:], m["sequences"][1:])
            np.testing.assert_allclose(f["train_loss"][:], m["train/loss"][1:])
            np.testing.assert_allclose(f["induction_lab/induction_strength"][:, 3], m["heads/L2H3/induction_strength"])
            self.assertEqual(f["eval_iter"].maxshape, (None,), "resizable, as main.py creates it")

    def test_eval_data_h5_is_the_runs_evaluators(self):
        import h5py
        sets = self.lab_run.eval_sets()
        with h5py.File(os.path.join(self.out, "eval_data.h5"), "r") as f:
            self.assertEqual(sorted(f), sorted(sets))
            for name, ev in sets.items():
                np.testing.assert_array_equal(f[name]["examples"][:], ev.exemplars)
                np.testing.assert_array_equal(f[name]["labels"][:], ev.labels)

    def test_config_json_loads_like_main_utils_get_opts_from_json_file(self):
        import argparse
        with open(os.path.join(self.out, "config.json")) as f:
            cfg = json.load(f)
        opts = argparse.Namespace()
        vars(opts).update(cfg)  # main_utils.get_opts_from_json_file: parser defaults updated by the JSON
        self.assertEqual(opts.run, os.path.basename(self.out))
        self.assertEqual(opts.opto_ablate_heads, ["1:0", "1:1", "1:2", "1:4", "1:5", "1:6", "1:7"])
        self.assertEqual(opts.opto_prev_token_heads, ["0:2"])
        self.assertEqual(opts.opto_prev_token_head_strength, 0.9)
        self.assertEqual(opts.fs_relabel, 5)
        self.assertEqual(opts.eval_sched, [0, 800, 1600, 2400])
        self.assertEqual(opts.save_eval_data, "eval_data.h5")
        self.assertIn("not mapped: log.h5 <set>/<metric> hold each evaluation's mean", self.notes)
        self.assertEqual(cfg["induction_lab"]["config"]["clamps"], self.lab_run.clamps)


class CsvExport(unittest.TestCase):
    def test_csv_reads_back_as_the_metrics_table(self):
        r = load_run(support.trained_run("plain"))
        text = support.cli("export", r.path, "--format", "csv", "-").stdout
        rows = list(csv.DictReader(text.splitlines()))
        m = r.metrics_array
        self.assertEqual(list(rows[0]), list(m.dtype.names))
        for i, row in enumerate(rows):
            for name in m.dtype.names:
                want = m[name][i]
                got = float(row[name]) if row[name] != "" else float("nan")
                if np.isnan(want):
                    self.assertTrue(np.isnan(got), name)
                else:
                    self.assertEqual(got, want, name)


if __name__ == "__main__":
    unittest.main()
