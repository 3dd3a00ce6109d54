"""Path clamps (issue 18) in Python: run.json's path-patch / stop-gradient clamps parse and describe, and applied
post hoc (zero / mean substitutions, stop-gradient) they equal the engine's clamped forward; a corrupted
substitution is refused with a clear error; in torch, stop-gradient keeps the forward and cuts the edge's gradient."""
from __future__ import annotations

import unittest

import numpy as np

import support
from induction_lab import Model, describe_clamp, load_run, normalize_clamps, parse_clamp, sites

CFG = {"depth": 2, "numHeads": 8, "contextLen": 2}
COMBOS = [
    ["path-patch:L1H2>L2H3,input=k,with=zero"],
    ["path-patch:L1H4>L2H3,input=v,with=mean"],
    ["path-patch:L1H2>L2H3,input=q", "path-patch:L1H5>L2H3,input=q,with=mean"],  # two edges into one input
    ["stop-gradient:L1H2>L2H3"],
    ["ablate:L2H0", "path-patch:L1H1>L2H5,input=k"],
    ["path-patch:L1H6>L2H1,input=v,from=1000"],
]


class PathClampsParse(unittest.TestCase):
    def test_short_forms_and_run_json_forms(self):
        self.assertEqual(parse_clamp("path-patch:L1H2>L2H3"),
                         {"kind": "path-patch", "sender": "L1H2", "receiver": "L2H3", "input": "k", "with": "zero"})
        canonical = {"kind": "path-patch", "sender": "L1H2", "receiver": "L2H3", "input": "q", "with": "corrupt",
                     "corruption": "class", "from": 32000, "until": 64000}
        short = "path-patch:0:2>1:3,input=q,with=corrupt,corruption=class,from=32000,until=64000"
        self.assertEqual(parse_clamp(short), canonical)
        self.assertEqual(parse_clamp(canonical), canonical)  # what run.json stores parses to itself
        self.assertEqual(parse_clamp("stop-gradient:L1H1>L2H3,input=v"),
                         {"kind": "stop-gradient", "sender": "L1H1", "receiver": "L2H3", "input": "v"})
        self.assertEqual(len(normalize_clamps([canonical, "ablate:L2H0", "stop-gradient:L1H1>L2H3"], CFG)), 3)
        self.assertEqual(describe_clamp(short), "path-patch L1H2→L2H3.Q (corrupted: class) [32000, 64000)")
        self.assertEqual(describe_clamp("path-patch:L1H2>L2H3,with=mean"), "path-patch L1H2→L2H3.K (mean)")
        self.assertEqual(describe_clamp("stop-gradient:L1H2>L2H3"), "stop-gradient L1H2→L2H3.K")

    def test_bad_edges_are_one_clear_error(self):
        cases = [
            ("path-patch:L1H2>L1H3", "receiver must sit in a later layer than its sender"),
            ("path-patch:L1H2L2H3", "an edge is SENDER>RECEIVER"),
            ("stop-gradient:L1H2>L2H9", 'unknown head "L2H9"'),
            ("path-patch:L1H2>L2H3,with=corrupt", 'with = "corrupt" needs a corruption'),
            ("path-patch:L1H2>L2H3,with=corrupt,corruption=shuffled", "unknown corruption 'shuffled'"),
            ("path-patch:L1H2>L2H3,corruption=labels", 'corruption applies only with with = "corrupt"'),
            ("path-patch:L1H2>L2H3,input=x", "input must be one of q, k, v"),
        ]
        for text, msg in cases:
            with self.subTest(text=text), self.assertRaisesRegex(ValueError, msg):
                parse_clamp(text)
        with self.assertRaisesRegex(ValueError, "head L2H3 is zero-ablated .* would change nothing"):
            normalize_clamps(["ablate:L2H3", "path-patch:L1H2>L2H3"], CFG)
        normalize_clamps(["ablate:L2H3,until=100", "path-patch:L1H2>L2H3,from=100"], CFG)  # no overlap


class PathClampsMatchEngine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab_run = load_run(support.trained_run("plain"))
        cls.ckpt = cls.lab_run.latest_checkpoint
        cls.model = Model.from_checkpoint(cls.ckpt)
        ev = cls.lab_run.eval_sets()["fsl_train"]
        cls.x, cls.y = ev.exemplars[:24], ev.labels[:24]

    def test_zero_mean_and_stop_gradient_equal_the_engine(self):
        want = [sites.pattern(1), sites.k(1), sites.v(1)]
        runs = [{"clamps": combo, "sequences": seq} for combo in COMBOS
                for seq in ([0, 2000] if any("from=" in c for c in combo) else [0])]
        engine = support.ts_clamped_forward(self.ckpt.path, self.x, self.y, runs, want)
        clean = self.model(self.x, self.y)
        for run, eng in zip(runs, engine):
            with self.subTest(**run):
                logits, cache = self.model.run_with_clamps(self.x, self.y, run["clamps"], sequences=run["sequences"],
                                                           names_filter=want)
                np.testing.assert_allclose(logits, np.array(eng["logits"]), rtol=1e-5, atol=3e-5)
                for s in want:
                    np.testing.assert_allclose(cache[s], np.array(eng["sites"][s]), atol=3e-5, err_msg=s)
                changes = not run["clamps"][0].startswith("stop-gradient") and not (
                    "from=1000" in run["clamps"][0] and run["sequences"] == 0)
                self.assertEqual(bool(np.abs(logits - clean).max() > 1e-4), changes, "the clamp changes the logits")

    def test_the_cut_edge_is_the_literal_edit_of_the_receivers_input(self):
        # K of L2H3 recomputed by hand from the clean residual with L1H2's write removed; every other head's K clean.
        _, clean = self.model.run_with_cache(self.x, self.y)
        _, cut = self.model.run_with_clamps(self.x, self.y, ["path-patch:L1H2>L2H3,input=k"], names_filter=True)
        p, D, d = self.model.params, 8, 64
        out2 = clean[sites.z(0)][:, :, 2, :] @ p["blocks.0.attn.proj.weight"][:, 2 * D:3 * D].T
        x = clean[sites.resid_pre(1)].astype(np.float64) - out2
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        zn = (x - mu) / np.sqrt(var + self.model.config["lnEps"]) * p["blocks.1.ln.weight"] + p["blocks.1.ln.bias"]
        k3 = zn @ p["blocks.1.attn.qkv.weight"][d + 3 * D:d + 4 * D].T.astype(np.float64)
        np.testing.assert_allclose(cut[sites.k(1)][:, :, 3], k3, atol=2e-5)
        others = [h for h in range(8) if h != 3]
        np.testing.assert_array_equal(cut[sites.k(1)][:, :, others], clean[sites.k(1)][:, :, others])
        np.testing.assert_array_equal(cut[sites.q(1)], clean[sites.q(1)])
        np.testing.assert_array_equal(cut[sites.resid_pre(1)], clean[sites.resid_pre(1)])

    def test_a_corrupted_substitution_is_refused_naming_what_is_unsupported(self):
        with self.assertRaisesRegex(NotImplementedError, r'with = "corrupt" .*L1H2→L2H3\.K.*prev-token.*"zero" or '
                                                         r'"mean"'):
            self.model.run_with_clamps(self.x, self.y, ["path-patch:L1H2>L2H3,with=corrupt,corruption=prev-token"])
        # Outside its window it is not applied, so nothing is refused.
        self.model.run_with_clamps(self.x, self.y, ["path-patch:L1H2>L2H3,with=corrupt,corruption=labels,from=9"],
                                   sequences=0)


@unittest.skipUnless(support.have("torch"), "torch is not installed")
class PathClampsInTorch(unittest.TestCase):
    def test_stop_gradient_keeps_the_forward_and_cuts_the_edges_gradient(self):
        import torch
        from induction_lab import TorchModel
        run = load_run(support.trained_run("plain"))
        model = TorchModel.from_checkpoint(run.latest_checkpoint)
        ev = run.eval_sets()["fsl_train"]
        x, y = ev.exemplars[:32], ev.labels[:32]
        target = torch.as_tensor(y[:, 2])

        def grads(clamps):
            model.zero_grad()
            logits, _ = model.run_with_clamps(x, y, clamps)
            torch.nn.functional.cross_entropy(logits, target).backward()
            return logits.detach().numpy(), {k: v.grad.clone() for k, v in model.named_parameters()}
        clean_logits, g0 = grads([])
        stop_logits, g1 = grads(["stop-gradient:L1H2>L2H3,input=k"])
        np.testing.assert_allclose(stop_logits, clean_logits, atol=1e-5)
        # The unembedding sees the same forward: the same gradient; the sender's weights lose the edge's share.
        torch.testing.assert_close(g1["unembed.weight"], g0["unembed.weight"], atol=1e-6, rtol=1e-5)
        sender = lambda g: g["blocks.0.attn.proj.weight"][:, 16:24]  # noqa: E731  L1H2's W_proj columns
        self.assertGreater(float((sender(g1) - sender(g0)).abs().max()), 1e-7)
        # Zero and mean substitutions agree with the numpy model.
        for clamps in (["path-patch:L1H2>L2H3,input=v,with=mean"], ["path-patch:L1H4>L2H3,input=k"]):
            logits, _ = model.run_with_clamps(x, y, clamps)
            np.testing.assert_allclose(logits.detach().numpy(),
                                       Model.from_checkpoint(run.latest_checkpoint).run_with_clamps(x, y, clamps)[0],
                                       atol=1e-5)


if __name__ == "__main__":
    unittest.main()
