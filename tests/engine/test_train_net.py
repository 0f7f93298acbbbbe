"""tools/train_net.py end to end, including detectron2's multi-process launch on CPU (gloo)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(args, tmp_path, timeout=600):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools/train_net.py"), *args],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc


def _quick_args(out, *opts):
    """train_net arguments of a tiny CPU Mask R-CNN run: the quick config, no warm-up, no loader
    workers, ``opts`` (key, value pairs) and OUTPUT_DIR ``out``."""
    return [
        "--config-file",
        str(REPO / "configs/quick/MaskRCNN_R18_synth.yaml"),
        "SOLVER.WARMUP_ITERS",
        "0",
        "SOLVER.BASE_LR",
        "0.0005",
        "DATALOADER.NUM_WORKERS",
        "0",
        *opts,
        "OUTPUT_DIR",
        str(out),
    ]


@pytest.mark.slow
def test_two_cpu_processes_train_and_checkpoint_once(tmp_path):
    out = tmp_path / "out"
    sizes = ["INPUT.MIN_SIZE_TRAIN", "(160,)", "INPUT.MAX_SIZE_TRAIN", "224"]
    opts = ["SOLVER.MAX_ITER", "3", "SOLVER.IMS_PER_BATCH", "2", *sizes, "DATASETS.TEST", "()"]
    proc = _run(["--num-gpus", "2", "--dist-url", "auto", *_quick_args(out, *opts)], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    logs = {0: (out / "log.txt").read_text(), 1: (out / "log.txt.rank1").read_text()}
    for rank, text in logs.items():
        assert "Starting training from iteration 0" in text, f"rank {rank} did not train"
        assert "Overall training speed" in text, f"rank {rank} did not finish training"
    # Only the main process writes checkpoints.
    assert sorted(p.name for p in out.glob("*.pth")) == ["model_final.pth"]
    assert (
        "world_size=2" in logs[0]
        or "World size: 2" in logs[0]
        or "Rank of current process: 0. World size: 2" in logs[0]
    )


@pytest.mark.slow
def test_eval_only_resume_from_output_dir(tmp_path):
    out = tmp_path / "out"
    sizes = ["INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "192"]
    sizes += ["INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST", "192"]
    common = _quick_args(out, "SOLVER.IMS_PER_BATCH", "1", *sizes)
    proc = _run(common + ["SOLVER.MAX_ITER", "2", "DATASETS.TEST", "()"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # --resume continues from last_checkpoint: iteration 2 -> 3.
    proc = _run(["--resume"] + common + ["SOLVER.MAX_ITER", "3", "DATASETS.TEST", "()"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Starting training from iteration 2" in (out / "log.txt").read_text()


def test_missing_config_file_is_a_clear_error(tmp_path):
    proc = _run(["--config-file", "nope.yaml"], tmp_path, timeout=120)
    assert proc.returncode != 0 and "config file not found: nope.yaml" in proc.stderr
