"""Building dataset records: the image part, person annotations, label checks, skip policy.

Every loader turns one item (an image stem, a JSON image entry) into ``(record or None, skipped)``
and runs :func:`load_records` over the items, so bad inputs are skipped, counted and reported
once per reason instead of failing the whole dataset.
"""

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from detectron2.structures import BoxMode

from humanparse_core.io import BadAnnotationError, encode_mask, find_file, image_size, mask_box

logger = logging.getLogger(__name__)

__all__ = [
    "image_record",
    "person_annotation",
    "person_annotations",
    "check_label_values",
    "check_label_size",
    "SkipLog",
    "parallel_map",
    "load_records",
]

Skip = tuple[str, str]  # (reason, detail)


def image_record(
    image_dir: Path, name: str, image_id=None, *, exact: bool = False
) -> tuple[dict | None, list[Skip]]:
    """The image part of a record: find the file, read its size.

    Args:
        image_dir: folder of the images.
        name: a file stem matched with any image extension, or with ``exact`` a file name
            relative to ``image_dir``.
        image_id: the record's ``image_id`` (default ``name``).

    Returns:
        ``({"file_name", "image_id", "height", "width"}, [])``, or ``(None, [(reason, detail)])``
        when the image is missing or unreadable.
    """
    if exact:
        img, where = image_dir / name, str(image_dir / name)
        img = img if img.is_file() else None
    else:
        img, where = find_file(image_dir, name), f"{image_dir}/{name}.*"
    if img is None:
        return None, [("missing image", where)]
    try:
        h, w = image_size(img)
    except BadAnnotationError as e:
        return None, [("unreadable image", str(e))]
    rec = {
        "file_name": str(img),
        "image_id": name if image_id is None else image_id,
        "height": h,
        "width": w,
    }
    return rec, []


def check_label_size(label: np.ndarray, path, rec: dict) -> None:
    """Raise BadAnnotationError unless ``label`` (H, W) matches the image of ``rec``."""
    h, w = rec["height"], rec["width"]
    if label.shape != (h, w):
        raise BadAnnotationError(
            f"{path} is {label.shape[1]}x{label.shape[0]}, image {rec['file_name']} is {w}x{h}"
        )


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


def person_annotation(mask: np.ndarray, parsing_id: int, box=None, **extra) -> dict:
    """One detectron2 person annotation from its (H, W) bool mask.

    ``box`` is XYWH_ABS (default: the mask's extent); the mask is stored as compressed RLE;
    ``extra`` adds or overrides fields (``iscrowd``, ``person_file``, ...).
    """
    return {
        "bbox": mask_box(mask) if box is None else box,
        "bbox_mode": BoxMode.XYWH_ABS,
        "category_id": 0,
        "iscrowd": 0,
        "parsing_id": parsing_id,
        "area": float(mask.sum()),
        "segmentation": encode_mask(mask),
        **extra,
    }


def person_annotations(human: np.ndarray, ids: Iterable[int] | None = None, *, extra=None):
    """Detectron2 annotations for each person id present in a Human_ids map.

    Returns (annotations, missing_ids): one dict per id with bbox (XYWH_ABS), category_id 0,
    iscrowd 0, parsing_id and the person mask as compressed RLE. ``ids`` restricts/orders the ids
    (ids absent from the map are returned in ``missing_ids``); default: every id in the map
    except 0 and 255.
    """
    present = [int(v) for v in np.unique(human) if v != 0 and v != 255]
    if ids is None:
        ids = present
    anns, missing = [], []
    pset = set(present)
    for k in ids:
        k = int(k)
        if k not in pset:
            missing.append(k)
            continue
        anns.append(person_annotation(human == k, k, **(extra.get(k, {}) if extra else {})))
    return anns, missing


class SkipLog:
    """Counts skipped items per reason and logs one summary (plus the first examples)."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.counts = Counter()
        self.examples: dict[str, list[str]] = {}

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
                self.dataset,
                n,
                reason,
                "; ".join(self.examples[reason]),
            )

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)


def parallel_map(fn: Callable, items: Sequence, num_workers: int | None = None) -> list:
    """``[fn(x) for x in items]`` on a thread pool (PNG decoding releases the GIL)."""
    if num_workers is None:
        num_workers = min(8, os.cpu_count() or 1)
    if num_workers <= 1 or len(items) < 32:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(num_workers) as ex:
        return list(ex.map(fn, items, chunksize=16))


def load_records(fn: Callable, items: Sequence, dataset_name: str) -> list[dict]:
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
