"""The numpy model against the engine: `induction-lab forward` on a trained checkpoint gives the same logits
and all 16 attention patterns (float32 tolerance); every site has its documented shape; hooks read and
replace activations with TransformerLens's conventions."""
from __future__ import annotations

import json
import os
import unittest

import numpy as np

import support  # noqa: F401  (puts python/ on sys.path)
from induction_lab import Model, load_run, sites


class ForwardMatchesEngine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab_run = load_run(support.trained_run("plain"))
        cls.ckpt = cls.lab_run.latest_checkpoint
        cls.model = Model.from_checkpoint(cls.ckpt)
        ev = cls.lab_run.eval_sets()["fsl_train"]
        rng = np.random.default_rng(3)
        # Real evaluation sequences, plus unseen non-negative vectors with shuffled labels.
        x = np.concatenate([ev.exemplars[:12], np.abs(rng.normal(size=(4, 3, 512))).astype(np.float32) * 2])
        y = np.concatenate([ev.labels[:12], rng.integers(0, 5, size=(4, 3))])
        cls.x, cls.y = x, y
        path = os.path.join(support.tmpdir(), "input.json")
        with open(path, "w") as f:
            json.dump({"exemplars": x.tolist(), "labels": y[:, :2].tolist()}, f)
        cls.engine = json.loads(support.cli("forward", cls.ckpt.path, "--input", path).stdout)

    def test_logits_and_all_16_patterns_equal_the_cli(self):
        logits, cache = self.model.run_with_cache(self.x, self.y)
        np.testing.assert_allclose(logits, np.array(self.engine["logits"]), rtol=0, atol=2e-5)
        self.assertGreater(np.abs(logits).max(), 0.1)  # a trained model, not zeros
        for layer in range(2):
            ours = cache[sites.pattern(layer)]
            theirs = np.array(self.engine["patterns"][layer])
            self.assertEqual(ours.shape, (16, 8, 5, 5))
            self.assertEqual(theirs.shape, (16, 8, 5, 5))  # [sequence][head][query][key]
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-6)
            np.testing.assert_allclose(ours.sum(-1), 1, atol=1e-5)
            self.assertTrue(np.all(np.triu(ours, 1) == 0), "causal: no attention to later tokens")

    def test_the_query_label_is_never_an_input(self):
        y = self.y.copy()
        y[:, 2] = (y[:, 2] + 1) % 5
        np.testing.assert_array_equal(self.model(self.x, y), self.model(self.x, self.y))
        np.testing.assert_array_equal(self.model(self.x, self.y[:, :2]), self.model(self.x, self.y))

    def test_every_site_has_its_documented_shape(self):
        _, cache = self.model.run_with_cache(self.x, self.y)
        shapes = sites.site_shapes(self.model.config, 16)
        self.assertEqual(list(cache), list(shapes), "every site, in forward order")
        for name, shape in shapes.items():
            self.assertEqual(cache[name].shape, shape, name)
            self.assertEqual(cache[name].dtype, np.float32, name)
        self.assertEqual(shapes["blocks.0.attn.hook_q"], (16, 5, 8, 8), "position-major [B, T, H, D]")
        self.assertEqual(shapes["blocks.1.attn.hook_pattern"], (16, 8, 5, 5), "[B, H, T_query, T_key]")

    def test_position_major_sites_are_consistent_with_the_pattern(self):
        _, c = self.model.run_with_cache(self.x, self.y)
        for l in range(2):
            s = np.einsum("bqhd,bkhd->bhqk", c[sites.rot_q(l)], c[sites.rot_k(l)]) / np.sqrt(8)
            tri = np.tril(np.ones((5, 5), bool))
            np.testing.assert_allclose(c[sites.attn_scores(l)][..., tri], s[..., tri], atol=1e-5)
            z = np.einsum("bhqk,bkhd->bqhd", c[sites.pattern(l)], c[sites.v(l)])
            np.testing.assert_allclose(c[sites.z(l)], z, atol=1e-6)

    def test_rope_rotates_pairs_and_keeps_relative_positions(self):
        _, c = self.model.run_with_cache(self.x, self.y)
        q, rq = c[sites.q(0)], c[sites.rot_q(0)]
        np.testing.assert_allclose(np.linalg.norm(rq, axis=-1), np.linalg.norm(q, axis=-1), rtol=1e-5)
        np.testing.assert_array_equal(rq[:, 0], q[:, 0])  # position 0: θ = 0
        # Pair 0 at position p is rotated by θ = p (base^0 = 1).
        p = 3
        a, b = q[:, p, :, 0], q[:, p, :, 1]
        np.testing.assert_allclose(rq[:, p, :, 0], a * np.cos(p) - b * np.sin(p), atol=1e-5)
        np.testing.assert_allclose(rq[:, p, :, 1], b * np.cos(p) + a * np.sin(p), atol=1e-5)

    def test_a_hook_that_zeros_a_head_removes_exactly_its_contribution(self):
        _, clean = self.model.run_with_cache(self.x, self.y)

        def zero_head(v, hook):
            out = v.copy()
            out[:, :, 3] = 0  # [B, T, H, D]: head 3
            return out
        _, hooked = self.model.run_with_cache(self.x, self.y, fwd_hooks=[(sites.v(1), zero_head)])
        w = self.model.params["blocks.1.attn.proj.weight"][:, 24:32]  # head 3's columns of W_O
        contribution = clean[sites.z(1)][:, :, 3] @ w.T
        np.testing.assert_allclose(clean[sites.attn_out(1)] - hooked[sites.attn_out(1)], contribution, atol=1e-5)
        np.testing.assert_array_equal(hooked[sites.z(1)][:, :, 3], 0)
        np.testing.assert_array_equal(hooked[sites.pattern(1)], clean[sites.pattern(1)], "patterns still computed")
        # The same through the clamp short form.
        logits, _ = self.model.run_with_clamps(self.x, self.y, ["ablate:L2H3"])
        np.testing.assert_allclose(logits, self.model.run_with_hooks(self.x, self.y, [(sites.v(1), zero_head)]), atol=0)

    def test_hooks_see_names_filters_and_go_away(self):
        seen = []
        patterns = lambda n: n.endswith("hook_pattern")  # noqa: E731
        self.model.run_with_hooks(self.x, self.y, [(patterns, lambda a, h: seen.append(h.name))])
        self.assertEqual(seen, ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"])
        _, cache = self.model.run_with_cache(self.x, self.y, names_filter=lambda n: "resid" in n)
        self.assertEqual(sorted(cache), sorted(n for n in sites.site_names(self.model.config) if "resid" in n))
        np.testing.assert_array_equal(self.model(self.x, self.y), self.model.run_with_hooks(self.x, self.y))
        with self.assertRaises(KeyError):
            self.model.add_hook("blocks.1.attn.hook_nope", lambda a, h: a)
        with self.assertRaisesRegex(ValueError, "returned shape"):
            self.model.run_with_hooks(self.x, self.y, [(sites.EMBED, lambda a, h: a[:, :2])])
        self.model.add_hook(sites.LOGITS, lambda a, h: a * 0)
        self.assertTrue(np.all(self.model(self.x, self.y) == 0))
        self.model.reset_hooks()
        self.assertFalse(np.all(self.model(self.x, self.y) == 0))

    def test_bad_inputs_say_what_is_wrong(self):
        with self.assertRaisesRegex(ValueError, r"exemplars must be \[batch, 3, 512\]"):
            self.model(self.x[:, :2], self.y)
        with self.assertRaisesRegex(ValueError, r"labels must be integers in \[0, 4\]"):
            self.model(self.x, self.y + 5)


if __name__ == "__main__":
    unittest.main()
