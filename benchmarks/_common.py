"""Helpers shared by the benchmark scripts (each runs as ``python benchmarks/<name>.py``, which puts
this folder on ``sys.path``)."""

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def sync(device: str) -> None:
    """Wait for queued CUDA kernels, so that a wall-clock interval covers them (no-op on a CPU)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def qanet_cfg(path: str, device: str, overrides: Sequence[str] = ()):
    """The QANet config at ``path`` (relative to the repo) with random weights on ``device``."""
    from humanparse_d2 import get_humanparse_cfg

    cfg = get_humanparse_cfg()
    cfg.merge_from_file(str(REPO / path))
    cfg.MODEL.DEVICE = device
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.TIMM.PRETRAINED = False
    cfg.merge_from_list(list(overrides))
    return cfg


@contextmanager
def timed_qam(device: str) -> Iterator[dict[str, float]]:
    """Adds the seconds spent in QAM (``pixel_scores_from_max`` + ``fuse_quality``, as QANet calls
    them) to the yielded ``{"qam": seconds}``; the two functions are restored on exit."""
    import humanparse_d2.projects.qanet.inference as inf_mod
    import humanparse_d2.projects.qanet.meta_arch as ma

    spent = {"qam": 0.0}

    def timed(fn):
        def wrapper(*a, **k):
            sync(device)
            t0 = time.perf_counter()
            r = fn(*a, **k)
            sync(device)
            spent["qam"] += time.perf_counter() - t0
            return r

        return wrapper

    orig_ps, orig_fuse = inf_mod.pixel_scores_from_max, ma.fuse_quality
    inf_mod.pixel_scores_from_max, ma.fuse_quality = timed(orig_ps), timed(orig_fuse)
    try:
        yield spent
    finally:
        inf_mod.pixel_scores_from_max, ma.fuse_quality = orig_ps, orig_fuse


def write_json(path: str | Path, obj, *, indent: int = 1, note: str = "") -> Path:
    """Writes ``obj`` as JSON (creating the folder) and prints ``wrote <path><note>``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=indent))
    print(f"wrote {path}{note}")
    return path


def print_json(obj, path: str | None = None) -> None:
    """Prints ``obj`` as indented JSON and, if ``path`` is given, writes the same JSON there."""
    print(json.dumps(obj, indent=1))
    if path:
        with open(path, "w") as f:
            json.dump(obj, f, indent=1)


def run_eval_parsing(
    root: str,
    metrics: str,
    *,
    num_classes: int = 20,
    extra: Sequence[str] = (),
    poll: Callable[[int], float] | None = None,
):
    """Runs ``tools/eval_parsing.py --quiet`` on a set in the layout ``eval_speed.generate`` writes
    (ground truth under ``root/gt``, submission under ``root/pred``).

    ``poll(pid)``, if given, is sampled every 50 ms while the CLI runs (e.g. its process tree's
    RSS). Returns (the CLI's JSON results, wall s, CPU s = user + sys of the CLI and its reaped
    workers, the largest ``poll`` value or 0). Exits with the CLI's stderr if it fails.
    """
    import resource

    out = tempfile.mktemp(suffix=".json")
    cmd = [
        sys.executable,
        str(REPO / "tools" / "eval_parsing.py"),
        "--gt-root", os.path.join(root, "gt"),
        "--pred-dir", os.path.join(root, "pred"),
        "--num-classes", str(num_classes),
        "--metrics", metrics,
        "--output", out,
        "--quiet",
        *extra,
    ]  # fmt: skip
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    if poll is not None:
        while proc.poll() is None:
            peak = max(peak, poll(proc.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - t
        so, se = proc.communicate()
    else:
        so, se = proc.communicate()
        wall = time.perf_counter() - t
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"eval_parsing failed ({proc.returncode}):\n{so}\n{se[-3000:]}")
    with open(out) as f:
        res = json.load(f)
    os.unlink(out)
    return res, wall, cpu, peak
