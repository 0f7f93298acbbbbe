"""Fixtures of the data-layer tests (writers live in hpdata_helpers.py)."""

from pathlib import Path

import pytest

from .hpdata_helpers import instance_from, two_person_maps, write_jpg, write_png


@pytest.fixture
def make_cihp(tmp_path):
    """Write a CIHP split folder; returns (split_dir, stems)."""

    def make(n=3, split="Training", ids_name="train_id.txt", root=None):
        root = Path(root or tmp_path / "CIHP")
        d = root / split
        stems = [f"{i:07d}" for i in range(n)]
        for i, s in enumerate(stems):
            cat, hum = two_person_maps()
            write_jpg(d / "Images" / f"{s}.jpg", *cat.shape, seed=i)
            write_png(d / "Category_ids" / f"{s}.png", cat)
            write_png(d / "Human_ids" / f"{s}.png", hum)
            inst, rows = instance_from(cat, hum)
            write_png(d / "Instance_ids" / f"{s}.png", inst)
            (d / "Instance_ids" / f"{s}.txt").write_text("\n".join(rows) + "\n")
        (d / ids_name).write_text("\n".join(stems) + "\n")
        return d, stems

    return make
