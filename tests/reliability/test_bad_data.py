"""Truncated JPEG/PNG files are caught (readers, dataset loaders, training mapper); files that go bad
during training are skipped, counted and capped; data-loader workers die with their trainer."""

import os
import sys

import cv2
import numpy as np
import pytest

from humanparse_d2.data.catalog.common import (
    TruncatedImageError,
    image_size,
    read_image,
    read_label,
)

from .log_messages import Messages
from .processes import measure_worker_exit


def _photo(h=120, w=90, seed=0):
    """A textured colour image (JPEG of noise + gradients is several KiB, like a photo)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], -1).astype(np.uint8)
    return np.clip(img + rng.integers(0, 60, img.shape), 0, 255).astype(np.uint8)


def _write_truncated(path, arr, keep=0.6):
    ok, buf = cv2.imencode(os.path.splitext(str(path))[1], arr)
    assert ok
    data = buf.tobytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return data


def test_truncated_jpeg_and_png_are_errors_naming_the_file(tmp_path):
    jpg, png, good = tmp_path / "cut.jpg", tmp_path / "cut.png", tmp_path / "good.jpg"
    _write_truncated(jpg, _photo())
    _write_truncated(png, (_photo()[:, :, 0] % 20).astype(np.uint8))
    cv2.imwrite(str(good), _photo())
    # what OpenCV alone does: the truncated JPEG decodes (grey rows), no error
    assert cv2.imread(str(jpg)) is not None
    for fn in (read_image, image_size):
        with pytest.raises(TruncatedImageError, match="cut.jpg"):
            fn(jpg)
    with pytest.raises(TruncatedImageError, match="cut.png"):
        read_label(png)
    assert read_image(good).shape == (120, 90, 3) and image_size(good) == (120, 90)
    # bytes padded after the end marker are fine
    with open(good, "ab") as f:
        f.write(b"\0" * 100)
    assert read_image(good).shape == (120, 90, 3)


def test_loader_skips_counts_and_names_truncated_images(tmp_path):
    from detectron2.data import DatasetCatalog

    from humanparse_d2.data import register_parsing_dataset

    img, lab = tmp_path / "img", tmp_path / "lab"
    img.mkdir()
    lab.mkdir()
    for i in range(3):
        label = np.zeros((120, 90), np.uint8)
        label[20:100, 20:70] = 1 + i % 2
        cv2.imwrite(str(lab / f"p{i}.png"), label)
        cv2.imwrite(str(img / f"p{i}.jpg"), _photo(seed=i))
    _write_truncated(img / "p1.jpg", _photo(seed=1))
    register_parsing_dataset("reliability_truncated", img, lab, classes=["bg", "a", "b"])
    try:
        with Messages("humanparse_d2.data.catalog.records") as log:
            dicts = DatasetCatalog.get("reliability_truncated")
        assert sorted(d["image_id"] for d in dicts) == ["p0", "p2"]
        assert any(
            "skipped 1 item" in m and "p1.jpg" in m and "truncated" in m for m in log.lines
        ), log.lines
    finally:
        DatasetCatalog.remove("reliability_truncated")


def test_files_going_bad_in_training_are_skipped_counted_and_capped(tmp_path):
    from detectron2.data.common import MapDataset

    from humanparse_d2.engine.workers import GuardedMapper, TooManyBadFilesError

    files = []
    for i in range(6):
        f = tmp_path / f"{i}.jpg"
        cv2.imwrite(str(f), _photo(seed=i))
        files.append(str(f))

    def mapper(record):
        return {"image": read_image(record["file_name"]), "file_name": record["file_name"]}

    guarded = GuardedMapper(mapper, max_bad=2)
    ds = MapDataset([{"file_name": f} for f in files], guarded)
    _write_truncated(tmp_path / "0.jpg", _photo(seed=0))  # goes bad after registration
    with Messages("humanparse_d2.engine.workers") as log:
        out = ds[0]
    assert out["file_name"] != files[0] and guarded.num_bad == 1
    assert any(files[0] in m and "1 bad file" in m for m in log.lines)
    os.unlink(files[1])  # a file that vanished (disk, network share)
    ds[1]
    assert guarded.num_bad == 2 and guarded.bad_files() == sorted(files[:2])
    _write_truncated(tmp_path / "2.jpg", _photo(seed=2))
    with pytest.raises(TooManyBadFilesError) as e:
        ds[2]
    assert all(f in str(e.value) for f in files[:3]) and "MAX_BAD_FILES=2" in str(e.value)


def test_trainer_wraps_the_training_mapper():
    from humanparse_d2.engine import HumanParseTrainer
    from humanparse_d2.engine.workers import GuardedMapper
    from tests.tiny_configs import tiny_qanet_cfg as tiny_cfg

    cfg = tiny_cfg()
    cfg.DATASETS.TRAIN = ("synth_humans_train",)
    cfg.INPUT.PARSING.MAPPER = "InstanceParsingMapper"
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.DATALOADER.MAX_BAD_FILES = 7
    loader = HumanParseTrainer.build_train_loader(cfg)
    ds = loader.dataset
    while not hasattr(ds, "_map_func"):
        ds = ds.dataset
    fn = getattr(ds._map_func, "_obj", ds._map_func)  # detectron2's PicklableWrapper
    assert isinstance(fn, GuardedMapper) and fn.max_bad == 7


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_busy_workers_die_with_their_trainer(tmp_path):
    t = measure_worker_exit(tmp_path)
    assert t["guarded"] < 1.0, t
    assert t["plain"] == 3.0, t  # without the guard the busy worker outlives the killed parent
