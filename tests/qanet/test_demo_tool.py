"""tools/demo.py on images (RGB, grayscale, RGBA, 16-bit, unreadable), a folder and a video."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from .common import NARROW_HEADS, REPO

QANET_QUICK = "projects/QANet/configs/quick/QANet_R18_synth.yaml"
# narrow heads, 64 x 64 crops, random weights
SMALL = [
    *NARROW_HEADS,
    "INPUT.PARSING.CROP_SIZE",
    "(64, 64)",
    "INPUT.PARSING.ASPECT_RATIO",
    "1.0",
    "MODEL.WEIGHTS",
    "",
]


def _run(args):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, str(REPO / "tools/demo.py")] + args,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _demo(config, inputs, output, flags=(), opts=()):
    """tools/demo.py --config-file ``config`` [flags] --input ``inputs`` --output ``output``."""
    args = ["--config-file", config, *flags, "--input", *inputs, "--output", output]
    return _run(args + (["--opts", *opts] if opts else []))


def _write_inputs(inp):
    """An RGB image, a folder (grayscale, RGBA, 16-bit PNGs and an unreadable file), a 3-frame
    video and a missing path under ``inp``; returns the paths to pass to --input."""
    os.makedirs(os.path.join(inp, "folder"))
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (70, 50, 3), dtype=np.uint8)).save(
        os.path.join(inp, "rgb.jpg")
    )
    Image.fromarray(rng.integers(0, 255, (60, 40), dtype=np.uint8)).save(
        os.path.join(inp, "folder", "gray.png")
    )
    Image.fromarray(rng.integers(0, 255, (50, 60, 4), dtype=np.uint8), "RGBA").save(
        os.path.join(inp, "folder", "rgba.png")
    )
    Image.fromarray(rng.integers(0, 65535, (40, 40), dtype=np.uint16)).save(
        os.path.join(inp, "folder", "deep.png")
    )
    with open(os.path.join(inp, "folder", "broken.jpg"), "wb") as f:
        f.write(b"not an image")
    vid = os.path.join(inp, "clip.mp4")
    w = cv2.VideoWriter(vid, cv2.VideoWriter_fourcc(*"mp4v"), 5, (64, 48))
    for _ in range(3):
        w.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    w.release()
    return [
        os.path.join(inp, "rgb.jpg"),
        os.path.join(inp, "folder"),
        vid,
        os.path.join(inp, "missing.jpg"),
    ]


@pytest.mark.slow
def test_images_folder_video(tmp_path):
    inputs = _write_inputs(str(tmp_path / "in"))
    out = tmp_path / "out"
    r = _demo(QANET_QUICK, inputs, str(out), flags=["--whole-image-box"], opts=SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "demo_summary.json").read_text())
    assert summary["images"] == 4
    assert summary["videos"] == 1
    assert summary["frames"] == 3
    assert len(summary["skipped_files"]) == 1  # broken.jpg
    assert summary["box_source"] == "whole_image"
    for stem in ("rgb", "gray", "rgba", "deep"):
        assert (out / f"{stem}_overlay.jpg").is_file(), stem
        lab = Image.open(out / f"{stem}_label.png")
        assert lab.mode == "P"
        rec = json.loads((out / f"{stem}.json").read_text())
        assert "persons" in rec
        for p in rec["persons"]:
            assert set(p) >= {"box_xyxy", "score", "box_score", "parts"}
            for part in p["parts"]:
                assert "counts" in part["rle"]
    assert os.path.getsize(out / "clip_parsed.mp4") > 0
    assert len((out / "clip.jsonl").read_text().strip().splitlines()) == 3
    assert "missing.jpg" in r.stderr


@pytest.mark.slow
def test_oracle_refused(tmp_path):
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(tmp_path / "a.png")
    r = _demo(QANET_QUICK, [str(tmp_path / "a.png")], str(tmp_path / "o"), opts=SMALL)
    assert r.returncode != 0
    assert "oracle" in r.stderr


@pytest.mark.slow
def test_mman_sem_seg_model(tmp_path):
    """A model that returns "sem_seg" (MMAN) is drawn from it; classes come with RLE."""
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 60, 3), dtype=np.uint8)).save(
        tmp_path / "a.jpg"
    )
    mman_quick = "projects/MMAN/configs/quick/MMAN_synth_lip.yaml"
    r = _demo(mman_quick, [str(tmp_path / "a.jpg")], str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr[-3000:]
    rec = json.loads((tmp_path / "o" / "a.json").read_text())
    assert "parts" in rec
    assert (tmp_path / "o" / "a_overlay.jpg").is_file()
