"""Write synthetic splits in the official CIHP or LIP layout; reuse a complete split (marker file).

Determinism: image ``i`` of (layout, split, seed) uses ``np.random.default_rng([seed, layout,
split, i])``, so results do not depend on the number of worker processes.
"""

import json
import logging
import os
import shutil
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from .scene import _KEY_STRIDE, render_person_crop, render_scene

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 3

# name -> (layout, split, num_images, seed); the contract A sizes
SYNTH_DEFAULTS = {
    "synth_humans_train": ("cihp", "train", 600, 0),
    "synth_humans_val": ("cihp", "val", 100, 1),
    "synth_lip_train": ("lip", "train", 600, 0),
    "synth_lip_val": ("lip", "val", 100, 1),
}
_LAYOUT_CODE = {"cihp": 1, "lip": 2}
_SPLIT_CODE = {"train": 1, "val": 2, "test": 3}
_CIHP_SPLIT = {
    "train": ("Training", "train_id.txt"),
    "val": ("Validation", "val_id.txt"),
    "test": ("Testing", "test_id.txt"),
}


def _png(path: Path, arr: np.ndarray) -> None:
    if not cv2.imwrite(str(path), arr, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"could not write {path}")


def _jpg(path: Path, img_rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), img_rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])


def _write_cihp_image(d: Path, stem: str, img: np.ndarray, cat: np.ndarray, hum: np.ndarray):
    """Images/, Category_ids/, Human_ids/ and Instance_ids/ (png + txt) of one scene under ``d``."""
    _jpg(d / "Images" / f"{stem}.jpg", img)
    _png(d / "Category_ids" / f"{stem}.png", cat)
    _png(d / "Human_ids" / f"{stem}.png", hum)
    key = cv2.add(cv2.multiply(hum, _KEY_STRIDE), cat)
    present = np.flatnonzero(np.bincount(key.ravel(), minlength=256))
    rid_lut = np.zeros(256, np.uint8)
    rows = []
    for kk in present:
        h, c = int(kk) // _KEY_STRIDE, int(kk) % _KEY_STRIDE
        if h == 0 or c == 0:
            continue
        rid = 20 * (h - 1) + c  # the shipped CIHP convention; ids are opaque, mapped via the txt
        rid_lut[kk] = rid
        rows.append(f"{rid} {c} {h}")
    _png(d / "Instance_ids" / f"{stem}.png", cv2.LUT(key, rid_lut))
    with open(d / "Instance_ids" / f"{stem}.txt", "w") as f:
        f.write("\n".join(rows) + ("\n" if rows else ""))


def _work(args) -> str:
    """Render and write image ``i`` of a split; top-level so pool workers can unpickle it."""
    root, layout, split, seed, i, image_size = args
    rng = np.random.default_rng([seed, _LAYOUT_CODE[layout], _SPLIT_CODE[split], i])
    stem = f"{split}_{i:06d}"
    root = Path(root)
    if layout == "cihp":
        img, cat, hum = render_scene(rng, image_size, kind="cihp")
        _write_cihp_image(root / _CIHP_SPLIT[split][0], stem, img, cat, hum)
    else:
        size = max(64, int(round(image_size * 2 / 3)))  # 384 -> 256
        img, cat, _ = render_person_crop(rng, size, kind="lip")
        _jpg(root / "TrainVal_images" / f"{split}_images" / f"{stem}.jpg", img)
        _png(root / "TrainVal_parsing_annotations" / f"{split}_segmentations" / f"{stem}.png", cat)
    return stem


def _marker(root: Path, layout: str, split: str) -> Path:
    return root / f".synthetic_{layout}_{split}.json"


def _marker_info(layout, split, num_images, seed, image_size) -> dict:
    return {
        "layout": layout,
        "split": split,
        "num_images": num_images,
        "seed": seed,
        "image_size": image_size,
        "version": GENERATOR_VERSION,
    }


def _id_file(root: Path, layout: str, split: str) -> Path:
    if layout == "cihp":
        return root / _CIHP_SPLIT[split][0] / _CIHP_SPLIT[split][1]
    return root / "TrainVal_images" / f"{split}_id.txt"


def _prepare_dirs(root: Path, layout: str, split: str) -> None:
    if layout == "cihp":
        d = root / _CIHP_SPLIT[split][0]
        if d.exists():
            shutil.rmtree(d)
        for sub in ("Images", "Category_ids", "Human_ids", "Instance_ids"):
            (d / sub).mkdir(parents=True, exist_ok=True)
    else:
        for top, sub in (
            ("TrainVal_images", f"{split}_images"),
            ("TrainVal_parsing_annotations", f"{split}_segmentations"),
        ):
            d = root / top / sub
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True, exist_ok=True)


def _check_args(layout: str, split: str, num_images: int) -> None:
    if layout not in _LAYOUT_CODE:
        raise ValueError(f"layout must be 'cihp' or 'lip', got {layout!r}")
    if split not in _SPLIT_CODE:
        raise ValueError(f"split must be one of {list(_SPLIT_CODE)}, got {split!r}")
    if num_images < 1:
        raise ValueError("num_images must be >= 1")


def _run_jobs(jobs: list[tuple], num_workers: int, bar) -> list[str]:
    """Stems of ``jobs`` in order; a fork pool of single-threaded OpenCV workers for >= 8 jobs."""
    stems: list[str] = []
    prev_threads = cv2.getNumThreads()
    try:
        if num_workers > 1 and len(jobs) >= 8:
            ctx = get_context("fork") if hasattr(os, "fork") else get_context()
            with ctx.Pool(num_workers, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
                for stem in pool.imap(_work, jobs, chunksize=8):
                    stems.append(stem)
                    if bar is not None:
                        bar.update(1)
        else:
            cv2.setNumThreads(1)
            for j in jobs:
                stems.append(_work(j))
                if bar is not None:
                    bar.update(1)
    finally:
        cv2.setNumThreads(prev_threads)
        if bar is not None:
            bar.close()
    return stems


def generate_dataset(
    root,
    layout: str = "cihp",
    split: str = "train",
    num_images: int = 600,
    seed: int = 0,
    image_size: int = 384,
    num_workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Write a synthetic split under ``root`` in the official CIHP or LIP layout.

    CIHP layout: ``root/{Training,Validation}/{Images,Category_ids,Human_ids,Instance_ids}`` with
    ``Instance_ids/<id>.txt`` lines ``<region_id> <class_id> <human_id>`` and ``<split>_id.txt``;
    images' longer side is ``image_size``. LIP layout: ``root/TrainVal_images/<split>_images``,
    ``root/TrainVal_parsing_annotations/<split>_segmentations``,
    ``root/TrainVal_images/<split>_id.txt``; crops of about ``2/3 * image_size`` px (256 for the
    default).

    The split folder is rebuilt from scratch; a marker file (written last) records the parameters.
    Returns the dataset root.
    """
    _check_args(layout, split, num_images)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    marker = _marker(root, layout, split)
    if marker.exists():
        marker.unlink()
    _prepare_dirs(root, layout, split)
    jobs = [(str(root), layout, split, int(seed), i, int(image_size)) for i in range(num_images)]
    if num_workers is None:
        num_workers = min(os.cpu_count() or 1, 8)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=num_images, desc=f"synthetic {layout}/{split}", unit="img")
    stems = _run_jobs(jobs, num_workers, bar)
    _id_file(root, layout, split).write_text("\n".join(stems) + "\n")
    marker.write_text(json.dumps(_marker_info(layout, split, num_images, seed, image_size)))
    return root


def _marker_matches(root: Path, layout, split, num_images, seed, image_size) -> bool:
    m = _marker(root, layout, split)
    if not m.is_file():
        return False
    try:
        info = json.loads(m.read_text())
    except (OSError, ValueError):
        return False
    return info == _marker_info(layout, split, num_images, seed, image_size)


def ensure_synthetic(
    root,
    layout: str,
    split: str,
    num_images: int,
    seed: int,
    image_size: int = 384,
    progress: bool = True,
) -> Path:
    """Generate the split under ``root`` unless a complete one with the same parameters is there.

    A file lock (``root/.lock_<layout>_<split>``) makes concurrent callers wait for one writer, so
    no process ever reads half a dataset.
    """
    from filelock import FileLock

    root = Path(root)
    if _marker_matches(root, layout, split, num_images, seed, image_size):
        return root
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".lock_{layout}_{split}")):
        if not _marker_matches(root, layout, split, num_images, seed, image_size):
            logger.info(
                "Generating synthetic %s/%s (%d images) in %s", layout, split, num_images, root
            )
            generate_dataset(root, layout, split, num_images, seed, image_size, progress=progress)
    return root
