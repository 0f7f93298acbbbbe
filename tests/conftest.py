"""Shared test setup: CPU only, a datasets root outside the user's data, deterministic torch."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Modules whose tests are pure functions on tiny arrays (no model build, no dataset, no
# subprocess; milliseconds each): they get the `unit` marker, which `make test-fast` selects.
UNIT_MODULES = frozenset({
    "tests/data/test_affine.py",
    "tests/data/test_metadata.py",
    "tests/evaluation/test_metrics_core.py",
    "tests/evaluation/test_reference_equivalence.py",
    "tests/evaluation/test_truncated_labels.py",
    "tests/modeling/test_paste.py",
    "tests/modeling/test_qam.py",
    "tests/qanet/test_box_files.py",
    "tests/qanet/test_losses.py",
    "tests/qanet/test_mhp_targets.py",
})  # fmt: skip
# Synthetic datasets generate themselves on first use; tests share one cache under the repo
# (gitignored) unless the caller points DETECTRON2_DATASETS elsewhere.
os.environ.setdefault("DETECTRON2_DATASETS", str(REPO / "datasets"))
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.relative_to(REPO).as_posix() in UNIT_MODULES:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def _seed_torch():
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
