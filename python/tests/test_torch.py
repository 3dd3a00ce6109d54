"""The torch model (only where torch is installed): the numpy model's activations at every site, the
checkpoint's names as its state_dict, gradients through hooks and clamps."""
from __future__ import annotations

import unittest

import numpy as np

import support
from induction_lab import Model, load_run, sites


@unittest.skipUnless(support.have("torch"), "torch is not installed")
class TorchModelMatchesNumpy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from induction_lab import TorchModel
        cls.lab_run = load_run(support.trained_run("plain"))
        ck = cls.lab_run.latest_checkpoint
        cls.np_model = Model.from_checkpoint(ck)
        cls.torch_model = TorchModel.from_checkpoint(ck)
        ev = cls.lab_run.eval_sets()["fsl_train"]
        cls.x, cls.y = ev.exemplars[:32], ev.labels[:32]

    def test_every_site_equals_the_numpy_model(self):
        _, a = self.np_model.run_with_cache(self.x, self.y)
        logits, b = self.torch_model.run_with_cache(self.x, self.y)
        self.assertEqual(list(a), list(b))
        for k in a:
            np.testing.assert_allclose(b[k].detach().numpy(), a[k], atol=1e-5, err_msg=k)
        self.assertEqual(tuple(logits.shape), (32, 5))

    def test_state_dict_names_are_the_checkpoints(self):
        sd = self.torch_model.state_dict()
        ck = self.lab_run.latest_checkpoint
        self.assertEqual(sorted(sd), sorted(ck))
        for k in ck:
            np.testing.assert_array_equal(sd[k].numpy(), ck[k])

    def test_gradients_flow_through_clamps_as_in_the_engine(self):
        import torch
        target = torch.as_tensor(self.y[:, 2])
        for clamps, layer1_grad in ((["ablate:L2H1"], True), (["layer1", "copy:L2H3"], False)):
            self.torch_model.zero_grad()
            logits, _ = self.torch_model.run_with_clamps(self.x, self.y, clamps)
            torch.nn.functional.cross_entropy(logits, target).backward()
            g = self.torch_model.blocks[0].attn.qkv.weight.grad
            self.assertEqual(g is not None and bool(g.abs().sum() > 0), layer1_grad, clamps)
            np.testing.assert_allclose(logits.detach().numpy(),
                                       self.np_model.run_with_clamps(self.x, self.y, clamps)[0], atol=1e-5)
        # An ablated head's value weights get no gradient from the loss.
        self.torch_model.zero_grad()
        logits, _ = self.torch_model.run_with_clamps(self.x, self.y, ["ablate:L2H1"])
        torch.nn.functional.cross_entropy(logits, target).backward()
        gv = self.torch_model.blocks[1].attn.qkv.weight.grad[128 + 8:128 + 16]  # rows of v, head 1
        self.assertEqual(float(gv.abs().sum()), 0.0)


if __name__ == "__main__":
    unittest.main()
