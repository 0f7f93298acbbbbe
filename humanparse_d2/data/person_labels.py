"""One person's label map from a dataset record (the training target of top-down parsing).

The dataset layouts of :mod:`humanparse_d2.data.catalog` store persons in three ways: a CIHP-style
``human_file`` (Human_ids, one person per pixel; MHP-v2 records carry it too), one PNG per person
(``person_file``), or a single-person Category map. :func:`load_person_label` reads any of them,
optionally only a window of the image.
"""

import numpy as np
import pycocotools.mask as mask_util

from humanparse_core.io import BadAnnotationError, read_label

__all__ = ["load_person_label", "read_shape"]


def load_person_label(record: dict, ann: dict, roi=None) -> np.ndarray:
    """The person's (h, w) uint8 label map, optionally restricted to ``roi`` = (x0, y0, x1, y1).

    - CIHP layout (``human_file``): ``Category_ids * (Human_ids == parsing_id)``; other persons'
      pixels become background, 255 inside the person stays ignore. MHP-v2 records carry it too
      (merged from the per-person PNGs, a later person overwriting an earlier one): as in the
      official QANet code, each pixel belongs to one person in the training targets.
    - a ``person_file`` without a ``human_file``: that per-person PNG (R channel), overlaps kept.
    - single person (no human file): the Category map itself.
    """
    if roi is None:
        sl = (slice(None), slice(None))
    else:
        sl = (slice(roi[1], roi[3]), slice(roi[0], roi[2]))
    pf = ann.get("person_file")
    if pf and not record.get("human_file"):
        return np.ascontiguousarray(read_label(pf, channel=0)[sl]).astype(np.uint8, copy=False)
    cat_file = record.get("category_file") or record.get("sem_seg_file_name")
    if cat_file is None:
        raise BadAnnotationError(
            f"record {record.get('file_name')} has no label file (category_file)"
        )
    cat = read_label(cat_file)[sl]
    hf = record.get("human_file")
    seg = ann.get("segmentation")
    # (an MHP-v2 person's RLE is its own, overlapping mask, not Human_ids == parsing_id)
    rle = hf and not pf and isinstance(seg, dict)
    if rle and tuple(seg.get("size", ())) == tuple(read_shape(record, cat, roi)):
        # the person mask (Human_ids == parsing_id) is in the record as RLE: decoding it is ~5x
        # cheaper than decoding the Human_ids PNG
        out = cat * mask_util.decode(seg)[sl]
    elif hf:
        hum = read_label(hf)[sl]
        if hum.shape != cat.shape:
            raise BadAnnotationError(f"{hf} and {cat_file} differ in size")
        out = np.where(hum == ann["parsing_id"], cat, 0)
    else:
        out = cat
    return np.ascontiguousarray(out).astype(np.uint8, copy=False)


def read_shape(record: dict, cat: np.ndarray, roi) -> tuple[int, int]:
    """(H, W) of the full label map (the record's size; ``cat`` itself when no roi was applied)."""
    if roi is None:
        return cat.shape
    return (record["height"], record["width"])
