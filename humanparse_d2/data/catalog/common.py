"""Helpers shared by the dataset loaders: roots, file readers, per-person stats, bad-input policy."""
import hashlib
import logging
import os
import pickle
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import cv2
import numpy as np
import pycocotools.mask as mask_util
from PIL import Image

from detectron2.structures import BoxMode

from humanparse_core.io import (  # noqa: F401  (re-exported for the loaders)
    IMAGE_EXTS,
    BadAnnotationError,
    DatasetNotFoundError,
    TruncatedImageError,
    check_complete,
    encode_mask,
    find_file,
    image_size,
    mask_box,
    read_image,
    read_label,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DatasetNotFoundError",
    "BadAnnotationError",
    "TruncatedImageError",
    "check_complete",
    "datasets_root",
    "require_dir",
    "read_ids",
    "read_image",
    "read_label",
    "image_size",
    "person_annotations",
    "encode_mask",
    "SkipLog",
    "parallel_map",
    "cached",
    "find_file",
    "IMAGE_EXTS",
    "check_label_values",
    "mask_box",
    "stat_key",
    "derived_dir",
    "write_png_atomic",
]


def datasets_root() -> Path:
    """``$DETECTRON2_DATASETS`` (default ``./datasets``), read at call time."""
    return Path(os.path.expanduser(os.environ.get("DETECTRON2_DATASETS", "datasets")))


def require_dir(path, dataset: str, layout: str) -> Path:
    """Return ``path`` if it is a directory, else raise one clear :class:`DatasetNotFoundError`."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"Dataset '{dataset}' not found: expected the folder {path.resolve()} with this layout:\n"
            f"{layout}\n"
            "Set $DETECTRON2_DATASETS to the folder that contains it (currently "
            f"{datasets_root().resolve()})."
        )
    return path


def read_ids(path) -> List[str]:
    """Non-empty, stripped lines of an id list (``train_id.txt`` etc.); extensions are removed."""
    out = []
    with open(path) as f:
        for line in f:
            s = line.strip()
            if not s:
                continue
            s = s.split()[0]
            if "/" in s or "\\" in s:  # e.g. "/JPEGImages/2008_000003.jpg" (DeepLab lists)
                s = s.replace("\\", "/").rsplit("/", 1)[-1]
            stem, ext = os.path.splitext(s)
            out.append(stem if ext.lower() in (".jpg", ".jpeg", ".png", ".bmp") else s)
    return out


def person_annotations(human: np.ndarray, ids: Optional[Iterable[int]] = None, *, extra=None):
    """Detectron2 annotations for each person id present in a Human_ids map.

    Returns (annotations, missing_ids): one dict per id with bbox (XYWH_ABS), category_id 0, iscrowd 0,
    parsing_id and the person mask as compressed RLE. ``ids`` restricts/orders the ids (ids absent
    from the map are returned in ``missing_ids``); default: every id in the map except 0 and 255.
    """
    present = np.unique(human)
    present = [int(v) for v in present if v != 0 and v != 255]
    if ids is None:
        ids = present
    anns, missing = [], []
    pset = set(present)
    for k in ids:
        k = int(k)
        if k not in pset:
            missing.append(k)
            continue
        m = human == k
        box = mask_box(m)
        ann = {
            "bbox": box,
            "bbox_mode": BoxMode.XYWH_ABS,
            "category_id": 0,
            "iscrowd": 0,
            "parsing_id": k,
            "area": float(m.sum()),
            "segmentation": encode_mask(m),
        }
        if extra:
            ann.update(extra.get(k, {}))
        anns.append(ann)
    return anns, missing


def check_label_values(label: np.ndarray, num_classes: int, path) -> None:
    """Raise BadAnnotationError if ``label`` has a value >= C other than 255 (the ignore label)."""
    mx = int(label.max(initial=0))
    if mx < num_classes:
        return
    vals = np.unique(label)
    bad = [int(v) for v in vals if v >= num_classes and v != 255]
    if bad:
        raise BadAnnotationError(
            f"label file {path} has values {bad[:10]} outside the {num_classes} classes "
            f"(0..{num_classes - 1}, 255 = ignore)"
        )


class SkipLog:
    """Counts skipped items per reason and logs one summary (plus the first examples)."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.counts = Counter()
        self.examples: Dict[str, List[str]] = {}

    def add(self, reason: str, detail: str) -> None:
        self.counts[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < 5:
            ex.append(detail)

    def __bool__(self):
        return bool(self.counts)

    def report(self) -> None:
        for reason, n in self.counts.items():
            logger.warning(
                "[%s] skipped %d item(s): %s. First: %s",
                self.dataset, n, reason, "; ".join(self.examples[reason]),
            )

    def as_dict(self) -> Dict[str, int]:
        return dict(self.counts)


def parallel_map(fn: Callable, items: Sequence, num_workers: Optional[int] = None) -> List:
    """``[fn(x) for x in items]`` on a thread pool (PNG decoding releases the GIL)."""
    if num_workers is None:
        num_workers = min(8, os.cpu_count() or 1)
    if num_workers <= 1 or len(items) < 32:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(num_workers) as ex:
        return list(ex.map(fn, items, chunksize=16))


def load_records(fn: Callable, items: Sequence, dataset_name: str) -> List[dict]:
    """Run a per-item loader over ``items`` (``parallel_map``) and keep the records it returns.

    ``fn(item)`` returns ``(record or None, skipped)`` where ``skipped`` is None, one
    ``(reason, detail)`` pair or a list of them; every skip is counted and reported once per reason.
    """
    skips = SkipLog(dataset_name)
    out = []
    for rec, skipped in parallel_map(fn, items):
        if isinstance(skipped, tuple):
            skipped = [skipped]
        for reason, detail in skipped or ():
            skips.add(reason, detail)
        if rec is not None:
            out.append(rec)
    skips.report()
    return out


def _cache_dir() -> Optional[Path]:
    env = os.environ.get("HUMANPARSE_CACHE")
    cands = [Path(env)] if env else []
    cands += [datasets_root() / ".humanparse_cache", Path.home() / ".cache" / "humanparse_d2"]
    for c in cands:
        try:
            c.mkdir(parents=True, exist_ok=True)
            if os.access(c, os.W_OK):
                return c
        except OSError:
            continue
    return None


def cached(key_parts: Sequence, fn: Callable[[], List[Dict]], *, min_items: int = 2000):
    """Return ``fn()``, cached on disk when the result has >= ``min_items`` records.

    ``key_parts`` must describe the inputs (paths, mtimes, sizes); any change gives a new key.
    Disabled with ``HUMANPARSE_CACHE=off``. The cache is read back with
    :class:`~humanparse_d2.checkpoint.safe_pickle.RestrictedUnpickler` (plain data only), so a
    tampered file cannot run code; an unreadable file is reported and rebuilt.
    """
    if os.environ.get("HUMANPARSE_CACHE", "").lower() in ("off", "0", "none"):
        return fn()
    key = hashlib.sha1(repr(tuple(key_parts)).encode()).hexdigest()[:20]
    cdir = _cache_dir()
    path = cdir / f"dicts_{key}.pkl" if cdir else None
    if path is not None and path.is_file():
        # The cache folder may be shared (a datasets root other users write to): the file is read
        # with the restricted unpickler, which refuses anything but plain data, and any load error
        # is reported before the records are rebuilt from the dataset.
        from humanparse_d2.checkpoint.safe_pickle import safe_load

        try:
            with open(path, "rb") as f:
                out = safe_load(f, source=str(path))
            if not isinstance(out, list):
                raise TypeError(f"expected a list of dataset dicts, got {type(out).__name__}")
            return out
        except Exception as e:  # noqa: BLE001  (corrupt or tampered cache: rebuild, loudly)
            logger.warning("ignoring dataset cache %s (%s: %s); rebuilding it", path, type(e).__name__, e)
    out = fn()
    if path is not None and len(out) >= min_items:
        from humanparse_d2.utils.atomic import atomic_open

        with atomic_open(path, "wb") as f:
            pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
    return out


def stat_key(*paths) -> tuple:
    """(path, mtime_ns, size) per existing path, for cache keys."""
    out = []
    for p in paths:
        if p is None:
            continue
        try:
            st = os.stat(p)
            out.append((str(Path(p).resolve()), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(p), None, None))
    return tuple(out)


def derived_dir(dataset_root, name: str) -> Path:
    """A writable folder for files the plugin derives from a raw dataset (converted label maps).

    ``<dataset_root>/<name>`` when writable, else a folder under the cache directory.
    """
    p = Path(dataset_root) / name
    try:
        p.mkdir(parents=True, exist_ok=True)
        if os.access(p, os.W_OK):
            return p
    except OSError:
        pass
    c = _cache_dir()
    if c is None:
        raise OSError(f"no writable folder for derived files of {dataset_root} (set HUMANPARSE_CACHE)")
    key = hashlib.sha1(str(Path(dataset_root).resolve()).encode()).hexdigest()[:10]
    p = c / f"derived_{key}" / name
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_png_atomic(path, arr: np.ndarray) -> None:
    """Write a PNG via a temporary file + rename, so concurrent readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.png")
    if not cv2.imwrite(str(tmp), arr):
        raise OSError(f"could not write {path}")
    os.replace(tmp, path)
