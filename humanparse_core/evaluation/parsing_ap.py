"""AP^p and PCP (person-level parsing AP, MHP lineage). Pure numpy.

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
from .hist import Box, _crop_to_foreground, box_intersection, hist1d, joint_hist, nonzero_box

try:
    import cv2 as _cv2
except ImportError:  # pragma: no cover
    _cv2 = None

__all__ = [
    "PersonLabel",
    "person_from_map",
    "person_from_crop",
    "gt_persons_from_maps",
    "pair_iou",
    "parsing_miou",
    "APpRecords",
    "app_image_records",
    "app_image_records_from_maps",
    "category_ignore_to_c",
    "accumulate_app",
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

    def __init__(self, box: Optional[Box], crop: np.ndarray, hist: Optional[np.ndarray] = None):
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


def person_from_crop(box: Optional[Box], crop: np.ndarray, tight: bool = False) -> PersonLabel:
    """Wrap an already box-local uint8 crop; the box is tightened to its non-zero pixels unless the
    caller says it already is (``tight=True``)."""
    if box is None or crop.size == 0:
        return PersonLabel(None, np.zeros((0, 0), np.uint8), np.zeros(256, np.int64))
    if tight:
        return PersonLabel(tuple(int(v) for v in box), crop)
    inner = nonzero_box(crop)
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
        box = nonzero_box(m)
        if box is None:
            return person_from_crop(None, m[:0, :0])
        crop = _as_uint8_labels(m[box[0] : box[2], box[1] : box[3]], num_classes, is_gt, name)
        return person_from_crop(box, crop, tight=True)
    m = _as_uint8_labels(m, num_classes, is_gt, name)
    box = nonzero_box(m)
    if box is None:
        return person_from_crop(None, m[:0, :0])
    return person_from_crop(box, m[box[0] : box[2], box[1] : box[3]], tight=True)


def gt_persons_from_maps(
    category: np.ndarray, human: np.ndarray, person_ids: Sequence[int], num_classes: int
) -> List[PersonLabel]:
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
        box = nonzero_box(mask)
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
        return APpRecords(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("image", "scores", "ovmax", "jmax", "pcp_num", "ncls")
            )
        )

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def _record_from_ious(ious: np.ndarray, thr: np.ndarray):
    """(ovmax, jmax, pcp_num (T,), best iou row) from a (J, C) IoU matrix (rows = GT persons)."""
    best, jbest = -np.inf, -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(ious, axis=1) if ious.shape[0] else np.zeros(0)
    for j in range(means.shape[0]):  # strict: first argmax wins, NaN never wins
        if means[j] > best:
            best, jbest = float(means[j]), j
    if jbest < 0:
        return -np.inf, -1, None
    fg = ious[jbest, 1:]
    return best, jbest, (fg[None, :] > thr[:, None]).sum(1)


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
    """Phase 1 of AP^p/PCP for one image, GT persons given as box-local maps (any GT source,
    overlapping persons allowed, e.g. MHP-v2 per-person PNGs).

    Args:
        gt_persons: GT persons that take part in matching (the caller applies the GT rules of
            legacy keeps empty persons, default drops them and crowd).
        pred_persons, pred_scores: predictions of the image.
        image_hw: (H, W); the confusion runs over all H*W pixels.
        score_thresh: predictions below it get no IoU work (phase 2 drops them anyway).
    """
    n = len(pred_persons)
    thr = np.asarray(thresholds, np.float64)
    num_pixels = int(image_hw[0]) * int(image_hw[1])
    scores = np.asarray(pred_scores, np.float64).reshape(-1)
    if scores.shape[0] != n:
        raise ValueError(f"{n} predicted persons but {scores.shape[0]} scores")
    rec = _empty_image_records(n, len(thresholds), image_index, scores)
    gt_ncls = [int(np.count_nonzero(g.hist[1:num_classes])) for g in gt_persons]
    for d in range(n):
        if scores[d] < score_thresh or not gt_persons:
            continue
        ious = np.stack([pair_iou(g, pred_persons[d], num_pixels, num_classes) for g in gt_persons])
        ov, j, pcp = _record_from_ious(ious, thr)
        if j >= 0:
            rec.ovmax[d], rec.jmax[d], rec.pcp_num[d], rec.ncls[d] = ov, j, pcp, gt_ncls[j]
    return rec


def _empty_image_records(n, T, image_index, scores) -> APpRecords:
    return APpRecords(
        np.full(n, image_index, np.int64),
        scores,
        np.full(n, -np.inf),
        np.full(n, -1, np.int64),
        np.zeros((n, T), np.int16),
        np.zeros(n, np.int16),
    )


_LUT_CACHE: Dict[int, np.ndarray] = {}


def _ignore_lut(num_classes: int) -> np.ndarray:
    lut = _LUT_CACHE.get(num_classes)
    if lut is None:
        lut = np.minimum(np.arange(256), num_classes).astype(np.uint8)
        _LUT_CACHE[num_classes] = lut
    return lut


def category_ignore_to_c(category: np.ndarray, num_classes: int) -> np.ndarray:
    """uint8 copy of a GT class map with every ignore value (outside [0, C)) set to C."""
    C = num_classes
    if category.dtype == np.uint8 and _cv2 is not None:
        return _cv2.LUT(category, _ignore_lut(C))
    return np.where((category < 0) | (category >= C), C, category).astype(np.uint8)


def app_image_records_from_maps(
    category: np.ndarray,
    human: np.ndarray,
    person_ids: Sequence[int],
    pred_persons: Sequence[PersonLabel],
    pred_scores: Sequence[float],
    num_classes: int,
    *,
    mode: str = "default",
    crowd: Optional[Sequence[bool]] = None,
    image_index: int = 0,
    score_thresh: float = 0.0,
    thresholds: Sequence[float] = PARSING_THRESHOLDS,
    category_ignore_mapped: Optional[np.ndarray] = None,
    person_class_hist: Optional[np.ndarray] = None,
) -> Tuple[APpRecords, int]:
    """Phase 1 of AP^p/PCP with the CIHP-layout GT ``Category_ids * (Human_ids == id)``.

    Same numbers as :func:`app_image_records` on :func:`gt_persons_from_maps`, faster: one
    (person, class) histogram of the image gives every GT person's class counts, and one
    (person, class, prediction) histogram over each prediction's box gives its confusion with
    every GT person at once; pixels outside the box are GT-only (prediction background) and are
    placed from the per-person counts.

    Args:
        category, human: (H, W) GT class and person-id maps.
        person_ids: annotated person ids (in annotation order), or None for every id present
            in ``human`` (ascending); the ground-truth rules of the evaluator mode are applied here (legacy: all,
            default: non-empty and not crowd).
        category_ignore_mapped, person_class_hist: optional precomputed
            :func:`category_ignore_to_c` of ``category`` and its (nh >= max id + 1, C + 1)
            histogram against ``human`` (callers that already made one pass over the image).

    Returns:
        (records, npos)
    """
    from .ap import check_mode

    mode = check_mode(mode)
    C = num_classes
    n = len(pred_persons)
    thr = np.asarray(thresholds, np.float64)
    scores = np.asarray(pred_scores, np.float64).reshape(-1)
    if scores.shape[0] != n:
        raise ValueError(f"{n} predicted persons but {scores.shape[0]} scores")
    if category.shape != human.shape:
        raise ValueError(
            f"Category_ids {category.shape} and Human_ids {human.shape} differ in size"
        )
    H, W = category.shape
    N = H * W
    ids = None if person_ids is None else np.asarray(list(person_ids), np.int64)
    hmax = int(human.max()) if human.size else 0
    if ids is None and person_class_hist is not None:
        hmax = max(hmax, person_class_hist.shape[0] - 1)
    if ids is None:
        ids = np.zeros(0, np.int64)
    nh = max(hmax, int(ids.max()) if ids.size else 0) + 1
    cat_m = (
        category_ignore_mapped
        if category_ignore_mapped is not None
        else category_ignore_to_c(category, C)
    )
    if person_class_hist is not None and person_class_hist.shape[0] >= nh:
        gh = person_class_hist
        nh = gh.shape[0]
    else:
        gh = joint_hist(human, cat_m, nh, C + 1)  # (nh, C+1): class counts per person, C = ignore
    if person_ids is None:  # every person id present in Human_ids, ascending
        ids = np.flatnonzero(gh[1:].sum(1) > 0) + 1
    if mode == "legacy":
        sel = ids
    else:
        keep = gh[ids, 1:C].sum(1) > 0 if ids.size else np.zeros(0, bool)
        if crowd is not None:
            keep &= ~np.asarray(crowd, bool)
        sel = ids[keep]
    npos = int(sel.shape[0])
    rec = _empty_image_records(n, len(thresholds), image_index, scores)
    if npos == 0:
        return rec, npos
    ghs = gh[sel]  # (k, C+1)
    gt_ncls = np.count_nonzero(ghs[:, 1:C], axis=1)
    fg_tot = ghs[:, 1:C]
    ign_tot = ghs[:, C]
    act = [d for d in range(n) if scores[d] >= score_thresh]
    if not act:
        return rec, npos
    # one (person, class, prediction) histogram per predicted box; arithmetic for all at once
    Js = np.zeros((len(act), npos, C + 1, C), np.int64)
    pb = np.zeros((len(act), C), np.int64)
    area = np.zeros(len(act), np.int64)
    for a, d in enumerate(act):
        p = pred_persons[d]
        if p.box is None:
            continue
        y0, x0, y1, x1 = p.box
        pc = p.crop
        if pc.size and int(pc.max()) >= C:
            raise ValueError(f"prediction label {int(pc.max())} >= num_classes {C}")
        J = _joint_hist3(
            human[y0:y1, x0:x1], cat_m[y0:y1, x0:x1], pc, nh, C + 1, C, crop_foreground=False
        )
        Js[a] = J[sel]
        pb[a] = J.sum((0, 1))  # pixels in the box by predicted label
        area[a] = (y1 - y0) * (x1 - x0)
    Hk = np.zeros((len(act), npos, C, C), np.int64)
    Hk[:, :, 1:, :] = Js[:, :, 1:C, :]
    Hk[:, :, 0, :] = pb[:, None, :] - Js[:, :, 1:, :].sum(2)
    fg_out = fg_tot[None] - Js[:, :, 1:C, :].sum(3)  # GT pixels outside the box: prediction 0
    Hk[:, :, 1:, 0] += fg_out
    ign_out = ign_tot[None] - Js[:, :, C, :].sum(2)
    Hk[:, :, 0, 0] += (N - area)[:, None] - ign_out - fg_out.sum(2)
    Hf = Hk.astype(np.float64)
    diag = np.diagonal(Hf, axis1=2, axis2=3)
    union = Hf.sum(3) + Hf.sum(2) - diag
    with np.errstate(divide="ignore", invalid="ignore"):
        ious = diag / union  # (D', k, C), C-contiguous rows: nanmean per row as for one vector
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(ious, axis=2)  # (D', k)
    safe = np.where(np.isnan(means), -np.inf, means)
    jbest = np.argmax(safe, axis=1)  # first maximum = the reference's strict '>' scan
    best = safe[np.arange(len(act)), jbest]
    ok = best > -np.inf
    fg = ious[np.arange(len(act)), jbest, 1:]  # (D', C-1)
    pcp = (fg[:, None, :] > thr[None, :, None]).sum(2)
    idx = np.asarray(act)[ok]
    rec.ovmax[idx] = best[ok]
    rec.jmax[idx] = jbest[ok]
    rec.pcp_num[idx] = pcp[ok]
    rec.ncls[idx] = gt_ncls[jbest[ok]]
    return rec, npos


def _joint_hist3(
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    na: int,
    nb: int,
    nc: int,
    crop_foreground: bool = True,
) -> np.ndarray:
    """(na, nb, nc) int64 joint histogram of three equally shaped maps (values out of range dropped)."""
    if (
        _cv2 is not None
        and a.dtype == b.dtype == c.dtype == np.uint8
        and max(na, nb, nc) <= 256
        and 0 < a.size < (1 << 24)
    ):
        outside = 0
        if crop_foreground:
            (a, b, c), outside = _crop_to_foreground([a, b, c])  # pixels outside are (0, 0, 0)
        if a.size:
            h = _cv2.calcHist(
                [a if a.strides[1] == 1 else np.ascontiguousarray(a),
                 b if b.strides[1] == 1 else np.ascontiguousarray(b),
                 c if c.strides[1] == 1 else np.ascontiguousarray(c)],
                [0, 1, 2],
                None,
                [na, nb, nc],
                [0, na, 0, nb, 0, nc],
            ).astype(np.int64)
        else:
            h = np.zeros((na, nb, nc), np.int64)
        h[0, 0, 0] += outside
        return h
    a, b, c = (np.asarray(x).astype(np.int64).ravel() for x in (a, b, c))
    keep = (a >= 0) & (a < na) & (b >= 0) & (b < nb) & (c >= 0) & (c < nc)
    key = (a[keep] * nb + b[keep]) * nc + c[keep]
    return np.bincount(key, minlength=na * nb * nc).reshape(na, nb, nc)


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
