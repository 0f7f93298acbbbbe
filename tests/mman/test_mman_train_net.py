"""tools/train_net.py trains, evaluates and resumes MMAN with no special flag (real mapper, real
synthetic LIP-layout data, SemanticParsingEvaluator)."""

import os
import subprocess
import sys

import pytest

from .mman_testutils import REPO

SMALL = [
    "SOLVER.IMS_PER_BATCH",
    "1",
    "DATALOADER.NUM_WORKERS",
    "0",
    "INPUT.PARSING.SINGLE.LOAD_SIZE",
    "72",
    "INPUT.PARSING.SINGLE.CROP_SIZE",
    "64",
    "INPUT.PARSING.SINGLE.TEST_SIZE",
    "64",
    "HUMANPARSE_EVALUATION.LOWRES_GT_SQUASH",
    "64",
    "MODEL.RESNETS.RES2_OUT_CHANNELS",
    "16",
    "MODEL.RESNETS.STEM_OUT_CHANNELS",
    "16",
    "MODEL.MMAN.MICRO.NDF",
    "8",
    "MODEL.MMAN.MACRO.NDF",
    "8",
]


def _run(args, cwd):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="2")
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "tools/train_net.py"),
            "--config-file",
            str(REPO / "projects/MMAN/configs/quick/MMAN_synth_lip.yaml"),
            *args,
        ],
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_train_evaluate_resume(tmp_path):
    out = tmp_path / "out"
    proc = _run(SMALL + ["SOLVER.MAX_ITER", "2", "OUTPUT_DIR", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = (out / "log.txt").read_text()
    assert "MMANTrainer" in log or "loss_d_micro" in log
    assert "copypaste: mIoU,pixel_acc,mean_acc,mIoU_lowres,IPR" in log
    proc = _run(
        ["--resume"]
        + SMALL
        + ["SOLVER.MAX_ITER", "3", "DATASETS.TEST", "()", "OUTPUT_DIR", str(out)],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = (out / "log.txt").read_text()
    assert "Starting training from iteration 2" in log
    assert "Loading adversary from" in log  # fvcore's message for a restored checkpointable
