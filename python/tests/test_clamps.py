"""Clamps in Python (spec §4) against the engine's clamped forward, their exact patterns, and the post-hoc
check they exist for: a clamped run's logged evaluation, recomputed from its checkpoint."""
from __future__ import annotations

import unittest

import numpy as np

import support
from induction_lab import Model, classification_metrics, induction_strength, load_run, parse_clamp, sites

COMBOS = [
    ["ablate:L2H1,L2H2"],
    ["prev-token:L1H2@0.9"],
    ["prev-token:L1H2,L1H5,rows=labels"],
    ["induction:L2H3@0.8", "ablate:L2H0"],
    ["match:L2H3@0", "match:L2H4@0.5"],
    ["disallow-prev-token:L1H2", "silence-non-label:L2H3"],
    ["ablate-embedding"],
    ["preserve:values,patterns", "ablate:L1H2"],
    ["temperature:L1H4@2"],
    ["layer1", "ablate:L2H1"],
    ["copy:L2H3"],
    ["layer1", "copy:L2H3"],
    ["induction:L2H3,from=1000", "ablate:L2H5,until=1000"],
]


class ClampsMatchEngine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab_run = load_run(support.trained_run("plain"))
        cls.ckpt = cls.lab_run.latest_checkpoint
        cls.model = Model.from_checkpoint(cls.ckpt)
        ev = cls.lab_run.eval_sets()["fsl_train"]
        cls.x, cls.y = ev.exemplars[:24], ev.labels[:24]

    def test_every_kind_equals_the_engine_logits_and_patterns(self):
        want = [sites.pattern(0), sites.pattern(1), sites.attn_scores(1)]
        runs = [{"clamps": combo, "sequences": seq} for combo in COMBOS
                for seq in ([0, 2000] if any("from=" in c or "until=" in c for c in combo) else [0])]
        engine = support.ts_clamped_forward(self.ckpt.path, self.x, self.y, runs, want)
        for run, eng in zip(runs, engine):
            with self.subTest(**run):
                logits, cache = self.model.run_with_clamps(self.x, self.y, run["clamps"], sequences=run["sequences"],
                                                           names_filter=want)
                np.testing.assert_allclose(logits, np.array(eng["logits"]), rtol=1e-5, atol=3e-5)
                for s in want:
                    theirs = np.array(eng["sites"][s], dtype=np.float64)
                    fin = np.abs(theirs) < 1e8  # masked / −1e9 entries compare exactly below
                    np.testing.assert_allclose(cache[s][fin], theirs[fin], atol=3e-6)
                    np.testing.assert_array_equal(cache[s][~fin], theirs[~fin].astype(np.float32))

    def test_patterns_are_exactly_the_spec(self):
        _, c = self.model.run_with_clamps(self.x, self.y, ["prev-token:L1H2@0.9"], names_filter=[sites.pattern(0)])
        p = c[sites.pattern(0)][:, 2]
        want = np.zeros((5, 5), np.float32)
        want[0, 0] = 1
        for i in range(1, 5):
            want[i, i - 1], want[i, i] = 0.9, np.float32(1) - np.float32(0.9)
        np.testing.assert_array_equal(p, np.broadcast_to(want, p.shape))
        _, c = self.model.run_with_clamps(self.x, self.y, ["induction:L2H3@0.8"], names_filter=[sites.pattern(1)])
        row = c[sites.pattern(1)][:, 3, 4]  # the query row of L2H3
        match1 = self.y[:, 0] == self.y[:, 2]
        np.testing.assert_allclose(row[:, 1], np.where(match1, 0.8, 0.2), atol=1e-7)
        np.testing.assert_allclose(row[:, 3], np.where(match1, 0.2, 0.8), atol=1e-7)
        np.testing.assert_array_equal(row[:, [0, 2, 4]], 0)
        # The plotted induction strength of such a clamp is 2s − 1 (spec §10.8).
        correct = (~match1).astype(int)
        self.assertAlmostEqual(float(induction_strength(c[sites.pattern(1)], correct)[3]), 0.6, places=6)

    def test_windows_and_short_forms(self):
        self.assertEqual(parse_clamp("prev-token:0:2@0.9,rows=labels"),
                         {"kind": "prev-token", "heads": ["L1H2"], "strength": 0.9, "labelRowsOnly": True})
        self.assertEqual(parse_clamp("ablate:L2H1,1:1,L2H2,from=32,until=64"),
                         {"kind": "ablate", "heads": ["L2H1", "L2H2"], "from": 32, "until": 64})
        off, _ = self.model.run_with_clamps(self.x, self.y, ["ablate:L2H1,from=1000"], sequences=999)
        np.testing.assert_array_equal(off, self.model(self.x, self.y))
        with self.assertRaisesRegex(ValueError, 'unknown head "L2H9"'):
            parse_clamp("ablate:L2H9")
        with self.assertRaisesRegex(ValueError, "both a previous-token and an induction head"):
            self.model.run_with_clamps(self.x, self.y, ["prev-token:L2H3", "induction:L2H3"])
        with self.assertRaisesRegex(ValueError, "head L2H3 is zero-ablated .* would change nothing"):
            self.model.run_with_clamps(self.x, self.y, ["ablate:L2H3", "copy:L2H3"])
        self.model.run_with_clamps(self.x, self.y, ["ablate:L2H3,until=100", "induction:L2H3,from=100"])  # no overlap
        with self.assertRaisesRegex(ValueError, "unknown clamp kind"):
            parse_clamp("frobnicate:L1H1")


class PostHocCheckOfAClampedRun(unittest.TestCase):
    def test_the_logged_evaluation_is_recomputed_from_the_checkpoint(self):
        clamps = ["ablate:L2H0,L2H1,L2H2,L2H4,L2H5,L2H6,L2H7", "prev-token:L1H2@0.9"]
        run = load_run(support.trained_run("clamped", clamps))
        self.assertEqual(len(run.clamps), 2)
        model = run.model()
        last = run.records[-1]
        self.assertEqual(last["sequences"], run.latest_checkpoint.sequences)
        for name, ev in run.eval_sets().items():
            logits, cache = model.run_with_clamps(ev.exemplars, ev.labels, run.clamps, sequences=last["sequences"],
                                                  names_filter=[sites.pattern(1)])
            m = classification_metrics(logits, ev.labels)
            logged = last["eval"][name]
            self.assertAlmostEqual(m["loss"], logged["loss"], delta=2e-5, msg=name)
            self.assertAlmostEqual(m["acc"], logged["acc"], delta=1e-9, msg=name)
            self.assertAlmostEqual(m["in_context_prob"], logged["inContextProb"], delta=2e-5, msg=name)
            self.assertAlmostEqual(m["use_context_prob"], logged["useContextProb"], delta=2e-5, msg=name)
            if name == "fsl_train":
                np.testing.assert_allclose(induction_strength(cache[sites.pattern(1)], ev.correct),
                                           last["inductionStrength"], atol=2e-6)
        # Without the run's clamps the numbers differ: the check can fail.
        ev = run.eval_sets()["fsl_train"]
        free = classification_metrics(model(ev.exemplars, ev.labels), ev.labels)["loss"]
        self.assertGreater(abs(free - last["eval"]["fsl_train"]["loss"]), 1e-3)


if __name__ == "__main__":
    unittest.main()
