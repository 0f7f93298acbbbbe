"""LIP loader (official layout), also used by the synthetic single-person set.

```
LIP/
  TrainVal_images/ train_images/*.jpg  val_images/*.jpg  train_id.txt  val_id.txt
  TrainVal_parsing_annotations/ train_segmentations/*.png  val_segmentations/*.png
```
Archives often extract with a duplicated level (``TrainVal_images/TrainVal_images/...``); the loader
looks one level deeper. Records are semantic dicts plus one person annotation whose box is the extent
of the foreground (label > 0) and whose mask is that foreground ("gt" box source for QANet).
"""

import logging
from pathlib import Path

import numpy as np

from .cache import cached, stat_key
from .common import (
    BadAnnotationError,
    DatasetNotFoundError,
    find_file,
    image_size,
    list_image_stems,
    mask_box,
    read_ids,
    read_label,
    require_dir,
)
from .records import check_label_values, load_records, person_annotation

logger = logging.getLogger(__name__)

__all__ = ["load_lip", "load_semantic_pairs", "LIP_LAYOUT_DOC", "single_person_annotation"]

LIP_LAYOUT_DOC = """  <root>/   (e.g. $DETECTRON2_DATASETS/LIP)
    TrainVal_images/ train_images/*.jpg  val_images/*.jpg  train_id.txt  val_id.txt
    TrainVal_parsing_annotations/ train_segmentations/*.png  val_segmentations/*.png
  (one extra directory level, e.g. TrainVal_images/TrainVal_images/, is accepted)"""


def _descend(path: Path, name: str) -> Path:
    """``path/name``, or ``path/name/name`` when the archive added a level."""
    p = path / name
    if (p / name).is_dir():
        return p / name
    return p


def single_person_annotation(label: np.ndarray, height: int, width: int) -> dict:
    """One person covering the labelled foreground (whole image if the map is empty)."""
    fg = (label > 0) & (label != 255)
    box = mask_box(fg)
    if box is None:
        box = [0.0, 0.0, float(width), float(height)]
        fg = np.ones_like(fg)
    # single person: the person map is (label > 0); no Human_ids file
    return person_annotation(fg, 1, box)


def _load_pair(
    stem,
    image_dir: Path,
    label_dir: Path,
    num_classes: int,
    label_suffix: str = ".png",
    value_lut=None,
    with_person=True,
):
    img = find_file(image_dir, stem)
    if img is None:
        return None, ("missing image", f"{image_dir}/{stem}.*")
    lab = label_dir / (stem + label_suffix)
    if not lab.is_file():
        return None, ("missing label", str(lab))
    try:
        h, w = image_size(img)
        label = read_label(lab)
        if value_lut is not None:
            label = value_lut(label, lab)
        if label.shape != (h, w):
            raise BadAnnotationError(
                f"{lab} is {label.shape[1]}x{label.shape[0]}, image {img} is {w}x{h}"
            )
        check_label_values(label, num_classes, lab)
    except BadAnnotationError as e:
        return None, ("bad image/label", str(e))
    rec = {
        "file_name": str(img),
        "image_id": stem,
        "height": h,
        "width": w,
        "sem_seg_file_name": str(lab),
        "category_file": str(lab),
        "human_file": None,
    }
    if with_person:
        rec["annotations"] = [single_person_annotation(label, h, w)]
    return rec, None


def load_semantic_pairs(
    pairs_or_stems,
    image_dir,
    label_dir,
    *,
    num_classes: int,
    dataset_name: str,
    label_suffix: str = ".png",
    value_lut=None,
    with_person: bool = True,
    cache_key=(),
) -> list[dict]:
    """Semantic dicts for ``stems`` paired by file stem between ``image_dir`` and ``label_dir``.

    ``value_lut(label, path) -> label`` remaps raw values (PPSS gray levels). Bad pairs are skipped,
    counted and logged.
    """
    stems = list(pairs_or_stems)
    image_dir, label_dir = Path(image_dir), Path(label_dir)

    def build():
        return load_records(
            lambda s: _load_pair(
                s, image_dir, label_dir, num_classes, label_suffix, value_lut, with_person
            ),
            stems,
            dataset_name,
        )

    dicts = cached(
        ("semantic_v1", dataset_name, num_classes, len(stems), with_person)
        + tuple(cache_key)
        + stat_key(image_dir, label_dir),
        build,
    )
    if not dicts:
        raise BadAnnotationError(
            f"Dataset '{dataset_name}': no usable image/label pair ({len(stems)} listed in {image_dir}); "
            "see the warnings above"
        )
    logger.info("Loaded %d images of %s from %s", len(dicts), dataset_name, image_dir)
    return dicts


def load_lip(
    root, split: str = "train", *, dataset_name: str = "lip", num_classes: int = 20
) -> list[dict]:
    """Dataset dicts of one LIP split ("train" or "val") from the official layout under ``root``."""
    root = require_dir(root, dataset_name, LIP_LAYOUT_DOC)
    img_top = require_dir(_descend(root, "TrainVal_images"), dataset_name, LIP_LAYOUT_DOC)
    lab_top = require_dir(
        _descend(root, "TrainVal_parsing_annotations"), dataset_name, LIP_LAYOUT_DOC
    )
    image_dir = require_dir(_descend(img_top, f"{split}_images"), dataset_name, LIP_LAYOUT_DOC)
    label_dir = require_dir(
        _descend(lab_top, f"{split}_segmentations"), dataset_name, LIP_LAYOUT_DOC
    )
    id_file = None
    for cand in (
        img_top / f"{split}_id.txt",
        root / f"{split}_id.txt",
        image_dir.parent / f"{split}_id.txt",
    ):
        if cand.is_file():
            id_file = cand
            break
    if id_file is not None:
        stems = read_ids(id_file)
    else:
        logger.warning(
            "%s: %s_id.txt not found; using every image in %s", dataset_name, split, image_dir
        )
        stems = list_image_stems(image_dir, (".jpg", ".jpeg", ".png"))
    if not stems:
        raise DatasetNotFoundError(
            f"Dataset '{dataset_name}': no images listed in {id_file or image_dir}"
        )
    return load_semantic_pairs(
        stems,
        image_dir,
        label_dir,
        num_classes=num_classes,
        dataset_name=dataset_name,
        cache_key=stat_key(id_file),
    )
