"""Evaluation-side label readers fail on a cut-short PNG, naming the file."""
import cv2
import numpy as np
import pytest

from humanparse_d2.data.catalog.common import TruncatedImageError
from humanparse_core.evaluation import folder_eval
from humanparse_core.io import read_label


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
