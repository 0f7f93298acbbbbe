"""PPSS loader (Pedestrian Parsing in Surveillance Scenes).

Images and gray-coded masks side by side in per-video folders; the mask of ``X.jpg`` is ``X_m.png``
with gray values {0, 9, 19, 29, 39, 50, 60, 62} = labels 0..7. Protocol: the first 100 videos (natural
order of the folder names) are train, the remaining 71 test; folders named like TrainData/TestData,
when present, decide instead. Converted 0..7 label PNGs are written once under ``_labels/`` (or the
cache folder) so that ``sem_seg_file_name`` holds class ids like every other dataset.
"""

import logging
import os
import re
from pathlib import Path

import cv2
import numpy as np

from humanparse_core.metadata import PPSS_GRAY_VALUES

from .cache import cached, derived_dir, stat_key, write_png_atomic
from .common import (
    BadAnnotationError,
    DatasetNotFoundError,
    find_file,
    image_size,
    require_dir,
)
from .lip import single_person_annotation
from .records import load_records

logger = logging.getLogger(__name__)

__all__ = ["load_ppss", "ppss_gray_to_label", "PPSS_LAYOUT_DOC", "NUM_TRAIN_VIDEOS"]

NUM_TRAIN_VIDEOS = 100
PPSS_LAYOUT_DOC = """  $DETECTRON2_DATASETS/PPSS/<video folder>/<frame>.jpg + <frame>_m.png   (171 video folders;
  gray masks with values {0,9,19,29,39,50,60,62}); the first 100 videos are train, the rest test"""

_LUT = np.full(256, 255, np.uint8)
for _i, _v in enumerate(PPSS_GRAY_VALUES):
    _LUT[_v] = _i
_VALID = np.zeros(256, bool)
_VALID[PPSS_GRAY_VALUES] = True


def ppss_gray_to_label(path) -> np.ndarray:
    """Read a PPSS ``*_m.png`` and map its gray values to labels 0..7; other values raise."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise BadAnnotationError(f"PPSS mask missing or unreadable: {path}")
    if raw.ndim == 3:
        if not (
            np.array_equal(raw[..., 0], raw[..., 1]) and np.array_equal(raw[..., 1], raw[..., 2])
        ):
            raise BadAnnotationError(
                f"PPSS mask {path} is a colour image; expected gray-level codes"
            )
        raw = raw[..., 0]
    if raw.dtype != np.uint8:
        raise BadAnnotationError(f"PPSS mask {path} has dtype {raw.dtype}; expected 8-bit gray")
    if not _VALID[raw].all():
        bad = sorted(set(np.unique(raw).tolist()) - set(PPSS_GRAY_VALUES))
        raise BadAnnotationError(
            f"PPSS mask {path} has gray values {bad[:10]} outside {PPSS_GRAY_VALUES}"
        )
    return _LUT[raw]


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _video_dirs(root: Path) -> dict[str, list[Path]]:
    """{"train": [...], "test": [...]} video folders (folders that directly hold *_m.png files)."""
    vids = []
    for dirpath, _dirnames, filenames in os.walk(root):
        if "_labels" in Path(dirpath).parts:
            continue
        if any(f.endswith("_m.png") for f in filenames):
            vids.append(Path(dirpath))
    vids.sort(key=lambda p: _natural_key(str(p.relative_to(root))))
    tr = [v for v in vids if re.search(r"train", str(v.relative_to(root)), re.I)]
    te = [v for v in vids if re.search(r"test", str(v.relative_to(root)), re.I)]
    if tr and te and len(tr) + len(te) == len(vids):
        return {"train": tr, "test": te}
    return {"train": vids[:NUM_TRAIN_VIDEOS], "test": vids[NUM_TRAIN_VIDEOS:]}


def _load(item, root: Path, out_root: Path):
    vdir, mask_name = item
    stem = mask_name[: -len("_m.png")]
    rel = vdir.relative_to(root)
    img = find_file(vdir, stem)
    if img is None:
        return None, ("missing image", f"{vdir}/{stem}.*")
    try:
        h, w = image_size(img)
        lab = ppss_gray_to_label(vdir / mask_name)
        if lab.shape != (h, w):
            raise BadAnnotationError(
                f"{vdir / mask_name} is {lab.shape[1]}x{lab.shape[0]}, image is {w}x{h}"
            )
    except BadAnnotationError as e:
        return None, ("bad image/mask", str(e))
    out = out_root / rel / f"{stem}.png"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        write_png_atomic(out, lab)
    image_id = f"{rel.as_posix()}/{stem}" if str(rel) != "." else stem
    return {
        "file_name": str(img),
        "image_id": image_id,
        "height": h,
        "width": w,
        "sem_seg_file_name": str(out),
        "category_file": str(out),
        "human_file": None,
        "raw_label_file": str(vdir / mask_name),
        "annotations": [single_person_annotation(lab, h, w)],
    }, None


def load_ppss(root, split: str = "test", *, dataset_name: str = "ppss") -> list[dict]:
    """Semantic dicts (labels 0..7) of PPSS "train" (first 100 videos) or "test" (the rest)."""
    root = require_dir(root, dataset_name, PPSS_LAYOUT_DOC)
    vids = _video_dirs(root)[split]
    if not vids:
        raise DatasetNotFoundError(
            f"Dataset '{dataset_name}': no video folder with *_m.png masks for split "
            f"'{split}' under {root}.\n{PPSS_LAYOUT_DOC}"
        )
    items = [
        (v, f)
        for v in vids
        for f in sorted(os.listdir(v), key=_natural_key)
        if f.endswith("_m.png")
    ]
    out_root = derived_dir(root, "_labels")

    def build():
        return load_records(lambda it: _load(it, root, out_root), items, dataset_name)

    dicts = cached(("ppss_v1", split, len(items)) + stat_key(root, *vids[:3]), build)
    if not dicts:
        raise BadAnnotationError(
            f"Dataset '{dataset_name}': no usable image/mask pair; see the warnings"
        )
    logger.info("Loaded %d images of %s (%d videos)", len(dicts), dataset_name, len(vids))
    return dicts
