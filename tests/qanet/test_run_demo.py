"""Smoke test of the main job (tools/run_demo.py): 2 iterations, 3 validation images."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import pytest

from .common import NARROW_HEADS, REPO


@pytest.mark.slow
class TestRunDemo(unittest.TestCase):
    def test_smoke(self):
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
            r = subprocess.run(
                [
                    sys.executable,
                    str(REPO / "tools/run_demo.py"),
                    "--iters",
                    "2",
                    "--batch",
                    "2",
                    "--workers",
                    "0",
                    "--max-val-images",
                    "3",
                    "--overlays",
                    "2",
                    "--output",
                    d,
                    *NARROW_HEADS,
                ],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-3000:])
            m = json.load(open(os.path.join(d, "metrics.json")))
            self.assertEqual(set(m), {"box_only", "qam"})
            for k in ("mIoU", "AP_p_vol", "AP_p50", "PCP50", "AP_r_vol", "AP_r50"):
                self.assertIn(k, m["qam"])
                self.assertIn(k, m["box_only"])
            self.assertEqual(m["qam"]["box_source"], "oracle")
            self.assertEqual(m["qam"]["mIoU"], m["box_only"]["mIoU"])  # QAM never changes mIoU
            table = json.load(open(os.path.join(d, "qam_weight_table.json")))
            self.assertEqual(len(table), 8)
            self.assertTrue(os.path.isfile(os.path.join(d, "overlays.png")))
            self.assertIn("boxes: oracle", r.stdout)
