"""benchmarks/gpu_check.sh runs every part end to end on a CPU with --tiny and writes one JSON
(the GPU figures come from the same script on a GPU; see benchmarks/README.md)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_tiny_cpu_writes_every_part(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", PY=sys.executable, CUDA_VISIBLE_DEVICES="")
    p = subprocess.run(
        ["bash", str(REPO / "benchmarks/gpu_check.sh"), "--device", "cpu", "--tiny", "--threads", "1",
         "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["info"]["tiny"] is True and res["info"]["device"] == "cpu"
    assert [r["model"] for r in res["train"]] == ["R-50c", "HRNet-W48"]
    for r in res["train"]:
        assert r["step_s"] > 0 and r["batch"] == 2 and r["channels_last"] is True
    assert [r["model"] for r in res["parser"]] == ["R-50c", "HRNet-W48"]
    assert all(r["crops_per_s"] > 0 for r in res["parser"])
    e2e = res["e2e"]
    assert e2e["images_per_s"] > 0 and e2e["persons_per_image"] == 3  # the detector found persons
    assert e2e["parser_config"].endswith("QANet_R50c_512x384.yaml")
    m = res["mman"]
    assert m["mman_step_s"] > 0 and m["generator_only_step_s"] > 0


def test_gpu_check_refuses_cuda_without_gpu(tmp_path):
    p = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/gpu_check.py"), "--device", "cuda", "--json", str(tmp_path / "x.json")],
        capture_output=True, text=True, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""), timeout=300,
    )  # fmt: skip
    assert p.returncode != 0 and "no GPU" in p.stderr
