"""Helpers shared by the benchmark scripts (each runs as ``python benchmarks/<name>.py``, which puts
this folder on ``sys.path``)."""

import json
import time
from collections.abc import Iterator, Sequence
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
