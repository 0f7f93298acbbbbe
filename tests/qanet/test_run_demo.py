"""Smoke test of the main job (tools/run_demo.py): 2 iterations, 3 validation images."""

import json
import os
import subprocess
import sys

import pytest

from .common import NARROW_HEADS, REPO


@pytest.mark.slow
def test_smoke(tmp_path):
    d = str(tmp_path)
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
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert set(m) == {"box_only", "qam"}
    for k in ("mIoU", "AP_p_vol", "AP_p50", "PCP50", "AP_r_vol", "AP_r50"):
        assert k in m["qam"]
        assert k in m["box_only"]
    assert m["qam"]["box_source"] == "oracle"
    assert m["qam"]["mIoU"] == m["box_only"]["mIoU"]  # QAM never changes mIoU
    table = json.loads((tmp_path / "qam_weight_table.json").read_text())
    assert len(table) == 8
    assert (tmp_path / "overlays.png").is_file()
    assert "boxes: oracle" in r.stdout
