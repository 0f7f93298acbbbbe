"""Kill training at random moments (also in the middle of checkpoint writes) and resume each time.

Each model trains to SOLVER.MAX_ITER with a checkpoint every iteration; the run is killed with
SIGKILL twice (once inside a save, chosen at random among the model-file and last_checkpoint writes,
once at a random time), resumed with ``--resume`` after each kill, and must end at the same final
iteration with every checkpoint under its final name loadable. A fixed seed picks the moments so a
failure reproduces; ``HP_FAULT_SEED`` picks others.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

CHILD = Path(__file__).resolve().parent / "train_child.py"
MAX_ITER = 5


@pytest.fixture(scope="module")
def server():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(CHILD.parents[2]),
    )
    yield proc
    proc.stdin.close()
    proc.wait(timeout=30)


def _start(server, argv):
    server.stdin.write(" ".join(map(str, argv)) + "\n")
    server.stdin.flush()
    line = server.stdout.readline().split()
    assert line[:1] == ["pid"], line
    return int(line[1])


def _wait_exit(server, pid):
    line = server.stdout.readline().split()
    assert line[:2] == ["exit", str(pid)], line
    return int(line[2])


def _wait_for(path: Path, timeout=60.0):
    t0 = time.time()
    while not path.exists():
        if time.time() - t0 > timeout:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


def _check_final_names_load(out: Path) -> int:
    """No truncated file under a final name: every model_*.pth loads, last_checkpoint names one.

    Returns the iteration a resume must start from: after the file last_checkpoint names (a kill
    between renaming a new checkpoint and re-tagging leaves the previous one tagged, as
    detectron2 means it), else after the newest checkpoint."""
    done = {
        f.name: int(torch.load(f, map_location="cpu", weights_only=True)["iteration"])
        for f in out.glob("model_*.pth")
    }
    tag = out / "last_checkpoint"
    if tag.exists():
        assert tag.read_text().strip() in done, tag.read_text()
        return done[tag.read_text().strip()] + 1
    return max(done.values(), default=-1) + 1


def _start_of(out: Path, pid: int) -> int:
    (f,) = out.glob(f"started_{pid}_at_*")
    return int(f.name.rsplit("_", 1)[-1])


@pytest.mark.slow
@pytest.mark.parametrize("which", ["qanet", "mman"])
def test_killed_anywhere_resumes_to_the_same_final_iteration(server, tmp_path, which):
    rng = random.Random(int(os.environ.get("HP_FAULT_SEED", "14")) + (which == "mman"))
    out, markers = tmp_path / "out", tmp_path / "markers"
    out.mkdir()
    markers.mkdir()
    base = [which, out, MAX_ITER]

    # 1) killed inside a checkpoint write: after the temporary file is written, before the rename
    # save n >= 3: at least one complete checkpoint exists, so the next run must resume from it
    n = rng.randint(3, 2 * (MAX_ITER - 1))  # odd: a model file, even: last_checkpoint
    pid = _start(server, base + ["--markers", markers])
    _wait_for(markers / f"save_{n}")
    os.kill(pid, signal.SIGKILL)
    assert _wait_exit(server, pid) != 0
    expected = _check_final_names_load(out)
    assert expected >= 1
    assert any(p.name.endswith(".tmp") for p in out.iterdir()), (
        "the kill did not land inside a save"
    )

    # 2) resumed, then killed at a random moment of training
    pid = _start(server, base + ["--resume"])
    started = sorted(out.glob("started_*"))
    _wait_for(out / "log.txt")
    while len(list(out.glob("started_*"))) == len(started):
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 1.0))
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:  # it finished first: still a valid run
        pass
    _wait_exit(server, pid)
    assert _start_of(out, pid) == expected
    expected = _check_final_names_load(out)

    # 3) resumed to the end
    pid = _start(server, base + ["--resume"])
    assert _wait_exit(server, pid) == 0, (out / "child_output.txt").read_text()[-3000:]
    assert _start_of(out, pid) == expected
    final = torch.load(out / "model_final.pth", map_location="cpu", weights_only=True)
    assert final["iteration"] == MAX_ITER - 1
    assert not any(p.name.endswith(".tmp") for p in out.iterdir()), (
        "stale temporary files were kept"
    )
    if which == "mman":
        assert "optimizer_d" in final["trainer"]["_trainer"]  # the discriminators resumed too
