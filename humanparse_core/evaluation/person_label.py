"""The box-local person label map used by parsing NMS, the post-processing and AP^p. Pure numpy.

A person's full-image label map is stored as the crop of its non-zero box (:class:`PersonLabel`);
the C x C confusion of two persons is counted only on the intersection of their boxes, and the
pixels outside it are placed from the two per-person histograms (outside the intersection at most
one of the two maps is non-zero), which is exact.
"""

import warnings
from collections.abc import Sequence

import numpy as np

from ..io import mask_box
from .hist import Box, box_intersection, hist1d, joint_hist

__all__ = [
    "PersonLabel",
    "person_from_map",
    "person_from_crop",
    "gt_persons_from_maps",
    "pair_iou",
    "parsing_miou",
]

IGNORE = 255


class PersonLabel:
    """One person's full-image label map, stored as a crop of its non-zero box.

    Attributes:
        box: (y0, x0, y1, x1) half-open box holding every non-zero pixel, or None (empty map).
        crop: uint8 labels inside ``box`` (0 = background, values >= C = ignore for GT).
        hist: (256,) int64 histogram of the crop values (index 0 is not used); computed on
            first use.
    """

    __slots__ = ("box", "crop", "_hist")

    def __init__(self, box: Box | None, crop: np.ndarray, hist: np.ndarray | None = None):
        self.box = box
        self.crop = crop
        self._hist = hist

    @property
    def hist(self) -> np.ndarray:
        if self._hist is None:
            h = hist1d(self.crop, 256) if self.crop.size else np.zeros(256, np.int64)
            h[0] = 0
            self._hist = h
        return self._hist

    def __getstate__(self):
        return (self.box, self.crop, self._hist)

    def __setstate__(self, st):
        self.box, self.crop, self._hist = st

    def classes(self, num_classes: int) -> np.ndarray:
        """Foreground classes present (0 < c < C)."""
        return np.flatnonzero(self.hist[1:num_classes]) + 1

    def to_full(self, image_hw: tuple[int, int]) -> np.ndarray:
        out = np.zeros(image_hw, np.uint8)
        if self.box is not None:
            y0, x0, y1, x1 = self.box
            out[y0:y1, x0:x1] = self.crop
        return out


def _as_uint8_labels(m: np.ndarray, num_classes: int, is_gt: bool, name: str) -> np.ndarray:
    m = np.asarray(m)
    if m.dtype == np.uint8:
        if not is_gt and m.size and int(m.max()) >= num_classes:
            raise ValueError(
                f"label {int(m.max())} >= num_classes {num_classes} in {name or 'prediction'}"
            )
        return m
    if m.size and (int(m.min()) < 0 or int(m.max()) >= num_classes):
        if not is_gt:
            raise ValueError(
                f"label {int(m.max())} out of range [0, {num_classes}) in {name or 'prediction'}"
            )
        m = np.where((m < 0) | (m >= num_classes), IGNORE, m)
    return m.astype(np.uint8)


def person_from_crop(box: Box | None, crop: np.ndarray, tight: bool = False) -> PersonLabel:
    """Wrap an already box-local uint8 crop; the box is tightened to its non-zero pixels unless the
    caller says it already is (``tight=True``)."""
    if box is None or crop.size == 0:
        return PersonLabel(None, np.zeros((0, 0), np.uint8), np.zeros(256, np.int64))
    if tight:
        return PersonLabel(tuple(int(v) for v in box), crop)
    inner = mask_box(crop, "yxyx")
    if inner is None:
        return PersonLabel(None, np.zeros((0, 0), np.uint8), np.zeros(256, np.int64))
    y0, x0 = box[0], box[1]
    crop = np.ascontiguousarray(crop[inner[0] : inner[2], inner[1] : inner[3]])
    tight = (y0 + inner[0], x0 + inner[1], y0 + inner[2], x0 + inner[3])
    return PersonLabel(tight, crop)


def person_from_map(
    m: np.ndarray, num_classes: int, *, is_gt: bool = False, name: str = ""
) -> PersonLabel:
    """Box-local copy of a full-image person label map.

    GT values outside [0, C) become 255 (ignore); a prediction value >= C raises ValueError
    naming ``name``.
    """
    m = np.asarray(m)
    if m.dtype == np.uint8 and m.ndim == 2:
        # Range check on the tight crop only: outside it the map is 0 (one full scan, not two).
        box = mask_box(m, "yxyx")
        if box is None:
            return person_from_crop(None, m[:0, :0])
        crop = _as_uint8_labels(m[box[0] : box[2], box[1] : box[3]], num_classes, is_gt, name)
        return person_from_crop(box, crop, tight=True)
    m = _as_uint8_labels(m, num_classes, is_gt, name)
    box = mask_box(m, "yxyx")
    if box is None:
        return person_from_crop(None, m[:0, :0])
    return person_from_crop(box, m[box[0] : box[2], box[1] : box[3]], tight=True)


def gt_persons_from_maps(
    category: np.ndarray, human: np.ndarray, person_ids: Sequence[int], num_classes: int
) -> list[PersonLabel]:
    """Per-person GT of the CIHP layout: ``Category_ids * (Human_ids == id)`` (the reference rule).

    Ignore pixels (>= C) of the person stay ignore; pixels of other persons are background.
    """
    category = _as_uint8_labels(category, num_classes, True, "")
    out = []
    for pid in person_ids:
        mask = (
            (human == pid).view(np.uint8)
            if human.dtype == np.uint8
            else (human == pid).astype(np.uint8)
        )
        box = mask_box(mask, "yxyx")
        if box is None:
            out.append(person_from_crop(None, category[:0, :0]))
            continue
        y0, x0, y1, x1 = box
        crop = category[y0:y1, x0:x1] * mask[y0:y1, x0:x1]
        out.append(person_from_crop(box, crop))
    return out


def _pair_confusion(
    a: PersonLabel, b: PersonLabel, num_pixels: int, num_classes: int
) -> np.ndarray:
    """(C, C) confusion between two person maps over the full image (rows = ``a``).

    Rows of ``a`` with values >= C (ignore) are dropped after counting, as in the reference.
    """
    C = num_classes
    inter = box_intersection(a.box, b.box)
    H = np.zeros((256, C), np.int64)
    area = 0
    if inter is not None:
        y0, x0, y1, x1 = inter
        ay, ax = a.box[0], a.box[1]
        by, bx = b.box[0], b.box[1]
        sa = a.crop[y0 - ay : y1 - ay, x0 - ax : x1 - ax]
        sb = b.crop[y0 - by : y1 - by, x0 - bx : x1 - bx]
        H = joint_hist(sa, sb, 256, C)
        area = (y1 - y0) * (x1 - x0)
    rows_in = H.sum(1)
    cols_in = H.sum(0)
    out_a = a.hist[1:256] - rows_in[1:]  # a != 0 outside the intersection: b == 0 there
    out_b = b.hist[1:C] - cols_in[1:]  # b != 0 outside: a == 0 there
    H[1:, 0] += out_a
    H[0, 1:] += out_b
    H[0, 0] += num_pixels - area - int(out_a.sum()) - int(out_b.sum())
    return H[:C]


def pair_iou(gt: PersonLabel, pred: PersonLabel, num_pixels: int, num_classes: int) -> np.ndarray:
    """Per-class IoU between a GT person and a predicted person over the full image.

    Returns:
        (C,) float64; NaN for a class absent from both maps (0/0), background included.
    """
    H = _pair_confusion(gt, pred, num_pixels, num_classes).astype(np.float64)
    diag = np.diag(H)
    union = H.sum(1) + H.sum(0) - diag
    with np.errstate(divide="ignore", invalid="ignore"):
        return diag / union


def _nanmean(v: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(v))


def parsing_miou(a: PersonLabel, b: PersonLabel, num_pixels: int, num_classes: int) -> float:
    """Mean IoU over classes present in either map, background included (parsing NMS)."""
    return _nanmean(pair_iou(a, b, num_pixels, num_classes))
