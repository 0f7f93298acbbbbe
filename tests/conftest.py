"""Shared test setup: CPU only, a datasets root outside the user's data, deterministic torch."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Synthetic datasets generate themselves on first use; tests share one cache under the repo
# (gitignored) unless the caller points DETECTRON2_DATASETS elsewhere.
os.environ.setdefault("DETECTRON2_DATASETS", str(REPO / "datasets"))
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture(autouse=True)
def _seed_torch():
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
