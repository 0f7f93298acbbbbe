"""Evaluation-side label readers fail on a cut-short PNG, naming the file."""

import cv2
import numpy as np
import pytest

from humanparse_core.evaluation import folder_eval
from humanparse_core.io import read_label
from humanparse_d2.data.catalog.common import TruncatedImageError


@pytest.fixture
def label_png(tmp_path):
    lab = (np.arange(64 * 48, dtype=np.int64).reshape(64, 48) % 20).astype(np.uint8)
    path = tmp_path / "0001.png"
    assert cv2.imwrite(str(path), lab)
    return path, lab


def test_complete_png_reads(label_png):
    path, lab = label_png
    assert np.array_equal(read_label(str(path)), lab)


@pytest.mark.parametrize("reader", [read_label, folder_eval.read_label_png])
def test_truncated_png_raises_naming_the_file(label_png, reader):
    path, _ = label_png
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])  # IEND and the end of the last IDAT gone
    with pytest.raises(TruncatedImageError, match="0001.png"):
        reader(str(path))


def test_fast_png_switch_gives_the_same_arrays(tmp_path):
    """read_label(fast_png=True) inflates unfiltered 8-bit PNGs itself; every file reads the same
    with the switch off (libpng / PIL), including a single-row map, palette and 16-bit files."""
    from PIL import Image

    from humanparse_core.evaluation.submission import write_label_png

    rng = np.random.default_rng(0)
    a = rng.integers(0, 20, (37, 53)).astype(np.uint8)
    files = {"ours.png": a, "row.png": a[:1], "u16.png": a.astype(np.uint16) * 1000}
    for f, arr in files.items():
        write_label_png(str(tmp_path / f), arr)
    cv2.imwrite(str(tmp_path / "filtered.png"), a)
    files["filtered.png"] = a
    p = Image.fromarray(a, mode="P")
    p.putpalette([(7 * i) % 256 for i in range(768)])
    p.save(tmp_path / "pal.png")
    files["pal.png"] = a
    for f, arr in files.items():
        fast = read_label(str(tmp_path / f))
        slow = read_label(str(tmp_path / f), fast_png=False)
        assert fast.dtype == slow.dtype == arr.dtype, f
        assert np.array_equal(fast, arr) and np.array_equal(slow, arr), f
        assert fast.flags.writeable and fast.flags.c_contiguous, f
