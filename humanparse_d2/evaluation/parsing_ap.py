"""AP^p and PCP (person-level parsing AP, MHP lineage; metrics.md §2, §8.2). Pure numpy.

Phase 1 (per image, any order, any process): every person label map is stored box-locally
(:class:`PersonLabel`); the C x C confusion of a (GT person, prediction) pair is counted only on
the intersection of their boxes, and the pixels outside it are placed from the two per-person
histograms (outside the intersection at most one of the two maps is non-zero), which is exact.
Each prediction is reduced to a short record: score, ``ovmax``, ``jmax``, per-threshold PCP
numerators and ``|cls|``.

Phase 2 (global): sort by score, greedy one-to-one assignment per threshold, VOC AP, PCP.
"""
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .ap import PARSING_THRESHOLDS, ap_from_tp, check_mode, sort_order
from .hist import Box, box_intersection, hist1d, joint_hist, nonzero_box

__all__ = [
    "PersonLabel",
    "person_from_map",
    "person_from_crop",
    "gt_persons_from_maps",
    "pair_iou",
    "parsing_miou",
    "APpRecords",
    "app_image_records",
    "accumulate_app",
]

IGNORE = 255


@dataclass
class PersonLabel:
    """One person's full-image label map, stored as a crop of its non-zero box.

    Attributes:
        box: (y0, x0, y1, x1) half-open box holding every non-zero pixel, or None (empty map).
        crop: uint8 labels inside ``box`` (0 = background, values >= C = ignore for GT).
        hist: (256,) int64 histogram of the crop values (index 0 is not used).
    """

    box: Optional[Box]
    crop: np.ndarray
    hist: np.ndarray

    @property
    def num_foreground_classes(self) -> int:
        """Number of distinct labels c with 0 < c < C is computed by callers; this is >0 labels."""
        return int(np.count_nonzero(self.hist[1:]))

    def classes(self, num_classes: int) -> np.ndarray:
        """Foreground classes present (0 < c < C)."""
        return np.flatnonzero(self.hist[1:num_classes]) + 1

    def to_full(self, image_hw: Tuple[int, int]) -> np.ndarray:
        out = np.zeros(image_hw, np.uint8)
        if self.box is not None:
            y0, x0, y1, x1 = self.box
            out[y0:y1, x0:x1] = self.crop
        return out


def _as_uint8_labels(m: np.ndarray, num_classes: int, is_gt: bool, name: str) -> np.ndarray:
    m = np.asarray(m)
    if m.dtype == np.uint8:
        if not is_gt and m.size and int(m.max()) >= num_classes:
            raise ValueError(f"label {int(m.max())} >= num_classes {num_classes} in {name or 'prediction'}")
        return m
    if m.size and (int(m.min()) < 0 or int(m.max()) >= num_classes):
        if not is_gt:
            raise ValueError(
                f"label {int(m.max())} out of range [0, {num_classes}) in {name or 'prediction'}"
            )
        m = np.where((m < 0) | (m >= num_classes), IGNORE, m)
    return m.astype(np.uint8)


def person_from_crop(box: Optional[Box], crop: np.ndarray) -> PersonLabel:
    """Wrap an already box-local uint8 crop; the box is tightened to its non-zero pixels."""
    if box is None or crop.size == 0:
        return PersonLabel(None, np.zeros((0, 0), np.uint8), np.zeros(256, np.int64))
    inner = nonzero_box(crop)
    if inner is None:
        return PersonLabel(None, np.zeros((0, 0), np.uint8), np.zeros(256, np.int64))
    y0, x0 = box[0], box[1]
    crop = np.ascontiguousarray(crop[inner[0] : inner[2], inner[1] : inner[3]])
    tight = (y0 + inner[0], x0 + inner[1], y0 + inner[2], x0 + inner[3])
    h = hist1d(crop, 256)
    h[0] = 0
    return PersonLabel(tight, crop, h)


def person_from_map(m: np.ndarray, num_classes: int, *, is_gt: bool = False, name: str = "") -> PersonLabel:
    """Box-local copy of a full-image person label map.

    GT values outside [0, C) become 255 (ignore); a prediction value >= C raises ValueError
    naming ``name``.
    """
    m = _as_uint8_labels(m, num_classes, is_gt, name)
    box = nonzero_box(m)
    if box is None:
        return person_from_crop(None, m[:0, :0])
    return person_from_crop(box, m[box[0] : box[2], box[1] : box[3]])


def gt_persons_from_maps(
    category: np.ndarray, human: np.ndarray, person_ids: Sequence[int], num_classes: int
) -> List[PersonLabel]:
    """Per-person GT of the CIHP layout: ``Category_ids * (Human_ids == id)`` (the reference rule).

    Ignore pixels (>= C) of the person stay ignore; pixels of other persons are background.
    """
    category = _as_uint8_labels(category, num_classes, True, "")
    out = []
    for pid in person_ids:
        mask = (human == pid).view(np.uint8) if human.dtype == np.uint8 else (human == pid).astype(np.uint8)
        box = nonzero_box(mask)
        if box is None:
            out.append(person_from_crop(None, category[:0, :0]))
            continue
        y0, x0, y1, x1 = box
        crop = category[y0:y1, x0:x1] * mask[y0:y1, x0:x1]
        out.append(person_from_crop(box, crop))
    return out


def _pair_confusion(a: PersonLabel, b: PersonLabel, num_pixels: int, num_classes: int) -> np.ndarray:
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


@dataclass
class APpRecords:
    """Compact phase-1 records of one or more images (one row per prediction)."""

    image: np.ndarray  # (D,) int64 image index (concatenation/sort order)
    scores: np.ndarray  # (D,) float64
    ovmax: np.ndarray  # (D,) float64, -inf without GT
    jmax: np.ndarray  # (D,) int64, -1 without GT
    pcp_num: np.ndarray  # (D, T) int16 #{c >= 1 : iou_d[c] > t}
    ncls: np.ndarray  # (D,) int16 |cls_d|

    @staticmethod
    def empty(num_thresholds: int = len(PARSING_THRESHOLDS)) -> "APpRecords":
        return APpRecords(
            np.zeros(0, np.int64),
            np.zeros(0, np.float64),
            np.zeros(0, np.float64),
            np.zeros(0, np.int64),
            np.zeros((0, num_thresholds), np.int16),
            np.zeros(0, np.int16),
        )

    @staticmethod
    def concat(parts: Sequence["APpRecords"]) -> "APpRecords":
        parts = [p for p in parts if p is not None]
        if not parts:
            return APpRecords.empty()
        return APpRecords(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                            ("image", "scores", "ovmax", "jmax", "pcp_num", "ncls")))

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def app_image_records(
    gt_persons: Sequence[PersonLabel],
    pred_persons: Sequence[PersonLabel],
    pred_scores: Sequence[float],
    image_hw: Tuple[int, int],
    num_classes: int,
    *,
    image_index: int = 0,
    score_thresh: float = 0.0,
    thresholds: Sequence[float] = PARSING_THRESHOLDS,
) -> APpRecords:
    """Phase 1 of AP^p/PCP for one image.

    Args:
        gt_persons: GT persons that take part in matching (the caller applies the GT rules of
            metrics.md §2.3: legacy keeps empty persons, default drops them and crowd).
        pred_persons, pred_scores: predictions of the image.
        image_hw: (H, W); the confusion runs over all H*W pixels.
        score_thresh: predictions below it get no IoU work (phase 2 drops them anyway).
    """
    n = len(pred_persons)
    T = len(thresholds)
    thr = np.asarray(thresholds, np.float64)
    num_pixels = int(image_hw[0]) * int(image_hw[1])
    scores = np.asarray(pred_scores, np.float64).reshape(-1)
    if scores.shape[0] != n:
        raise ValueError(f"{n} predicted persons but {scores.shape[0]} scores")
    ovmax = np.full(n, -np.inf)
    jmax = np.full(n, -1, np.int64)
    pcp_num = np.zeros((n, T), np.int16)
    ncls = np.zeros(n, np.int16)
    gt_ncls = [int(np.count_nonzero(g.hist[1:num_classes])) for g in gt_persons]
    for d in range(n):
        if scores[d] < score_thresh or not gt_persons:
            continue
        best, best_iou = -np.inf, None
        for j, g in enumerate(gt_persons):
            iou = pair_iou(g, pred_persons[d], num_pixels, num_classes)
            m = _nanmean(iou)
            if m > best:  # strict: first argmax wins, NaN never wins
                best, best_iou, jmax[d] = m, iou, j
        if best_iou is None:
            continue
        ovmax[d] = best
        fg = best_iou[1:]
        pcp_num[d] = (fg[None, :] > thr[:, None]).sum(1)
        ncls[d] = gt_ncls[jmax[d]]
    return APpRecords(np.full(n, image_index, np.int64), scores, ovmax, jmax, pcp_num, ncls)


def accumulate_app(
    records: APpRecords,
    npos: int,
    *,
    mode: str = "default",
    score_thresh: float = 0.01,
    thresholds: Sequence[float] = PARSING_THRESHOLDS,
) -> Dict[str, Dict[float, float]]:
    """Phase 2 of AP^p/PCP: ranking, greedy one-to-one assignment per threshold, VOC AP, PCP.

    Args:
        records: all predictions, concatenated in (image order, prediction index) order.
        npos: number of GT persons (recall and PCP denominator).
        mode: "legacy" ranks with the reference's unstable ``argsort(-scores)``; "default"
            sorts stably. The assignment rule is the same (it is already one-to-one).
        score_thresh: predictions with ``score < score_thresh`` are neither TP nor FP.

    Returns:
        {"AP_p": {t: AP}, "PCP": {t: PCP}} as fractions (NaN when npos == 0).
    """
    mode = check_mode(mode)
    order = sort_order(records.scores, mode, "neg")
    order = order[records.scores[order] >= score_thresh]
    key = records.image[order] * (1 << 20) + records.jmax[order]
    ovmax = records.ovmax[order]
    ap_out, pcp_out = {}, {}
    for k, t in enumerate(thresholds):
        cand = np.flatnonzero(ovmax > t)
        tp = np.zeros(order.shape[0], np.float64)
        if cand.size:
            _, first = np.unique(key[cand], return_index=True)
            tp[cand[np.sort(first)]] = 1.0
        _, _, ap = ap_from_tp(tp, npos)
        tp_idx = order[tp > 0]
        pcp_list = [
            (float(records.pcp_num[i, k]) / float(records.ncls[i])) if records.ncls[i] > 0 else 0.0
            for i in tp_idx
        ]
        pcp_list.extend([0.0] * (int(npos) - len(pcp_list)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pcp = float(np.mean(pcp_list)) if pcp_list else float("nan")
        ap_out[float(t)] = float(ap)
        pcp_out[float(t)] = pcp
    return {"AP_p": ap_out, "PCP": pcp_out}
