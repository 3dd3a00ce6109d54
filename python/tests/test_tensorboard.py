"""The engine's TensorBoard events read by this package's own reader (bitwise CRC-32C, hand-decoded
protobufs): every CRC checked, every evaluation's scalars equal to metrics.jsonl, a corrupted byte caught."""
from __future__ import annotations

import os
import shutil
import unittest

import numpy as np

import support
from induction_lab import FormatError
from induction_lab.tensorboard import crc32c, masked_crc32c, read_events, read_records, scalars, event_files


class EventFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from induction_lab import load_run
        cls.lab_run = load_run(support.trained_run("plain"))
        cls.tb = os.path.join(cls.lab_run.path, "tensorboard")

    def test_crc32c_check_value(self):
        self.assertEqual(crc32c(b"123456789"), 0xE3069283)
        self.assertEqual(crc32c(b""), 0)
        self.assertEqual(masked_crc32c(b"123456789"), ((((0xE3069283 >> 15) | (0xE3069283 << 17)) & 0xFFFFFFFF)
                                                       + 0xA282EAD8) & 0xFFFFFFFF)

    def test_live_events_hold_every_scalar_of_every_evaluation(self):
        files = event_files(self.tb)
        self.assertEqual(len(files), 1)
        self.assertRegex(os.path.basename(files[0]), r"^events\.out\.tfevents\.\d{10}\.")
        records, truncated = read_records(files[0])  # raises on any bad CRC
        self.assertFalse(truncated)
        events = read_events(self.tb)
        self.assertEqual(events[0]["file_version"], "brain.Event:2")
        self.assertEqual(events[1]["session_log"]["status"], 1)
        text = [v for e in events for v in e.get("summary", []) if v.get("plugin") == "text"]
        self.assertIn('"sequences": 3200', text[0]["tensor_strings"][0])
        sc = scalars(events)
        m = self.lab_run.metrics_array
        tags = [n for n in m.dtype.names if n not in ("sequences", "step", "wall_time")]
        self.assertEqual(sorted(sc), sorted(tags), "every column is a tag")
        self.assertIn("fsl_train/loss", sc)
        self.assertIn("heads/L2H3/induction_strength", sc)
        for tag in tags:
            steps = [s for s, _ in sc[tag]]
            finite = ~np.isnan(m[tag])
            self.assertEqual(steps, list(m["sequences"][finite]), tag)
            np.testing.assert_array_equal(np.array([v for _, v in sc[tag]], np.float32),
                                          m[tag][finite].astype(np.float32), tag)

    def test_a_flipped_byte_is_a_crc_error_and_a_cut_file_is_truncated(self):
        src = event_files(self.tb)[0]
        bad = os.path.join(support.tmpdir(), "events.out.tfevents.bad")
        shutil.copy(src, bad)
        with open(bad, "r+b") as f:
            f.seek(200)
            b = f.read(1)
            f.seek(200)
            f.write(bytes([b[0] ^ 0x10]))
        with self.assertRaisesRegex(FormatError, "bad (data|length) CRC"):
            read_records(bad)
        cut = os.path.join(support.tmpdir(), "events.out.tfevents.cut")
        with open(src, "rb") as f, open(cut, "wb") as g:
            g.write(f.read()[:-7])
        records, truncated = read_records(cut)
        self.assertTrue(truncated)
        self.assertEqual(len(records), len(read_records(src)[0]) - 1)

    def test_export_tensorboard_equals_the_live_events(self):
        out = os.path.join(support.tmpdir(), "tb")
        support.cli("export", self.lab_run.path, "--tensorboard", out)
        live, exported = scalars(read_events(self.tb)), scalars(read_events(out))
        self.assertEqual(live, exported)


if __name__ == "__main__":
    unittest.main()
