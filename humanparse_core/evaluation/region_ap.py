"""AP^r (part-region AP, PGN lineage) and AP^h (person mask AP). Pure numpy.

Per image, one joint histogram of the predicted and GT region-id maps gives every region-pair IoU
(``J[p, g] / (area_p + area_g - J[p, g])``). Each predicted region is reduced to
(class, score, TP flag per threshold); the global phase only sorts these short records.

Matching rules:
  - ``legacy`` (reference): a prediction is TP at t if its max IoU with any GT region of its class
    in the image exceeds t; GT regions are never marked used (AP can exceed 1).
  - ``default``: greedy one-to-one per image, class and threshold, in descending score order
    (ties: lower region id first): the prediction's best GT region (first argmax over all GT
    regions of the class) must exceed t and not be matched yet at t, as in AP^p.
"""

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .ap import MASK_THRESHOLDS, PARSING_THRESHOLDS, ap_from_tp, check_mode, sort_order
from .hist import joint_hist

__all__ = [
    "RegionRecords",
    "region_image_records",
    "accumulate_region_ap",
    "regions_from_txt_classes",
]


@dataclass
class RegionRecords:
    """Phase-1 records of predicted regions (one row per region with pixels)."""

    image: np.ndarray  # (R,) int64 image index
    cls: np.ndarray  # (R,) int64 class of the region
    scores: np.ndarray  # (R,) float64
    tp: np.ndarray  # (R, T) bool TP flag per threshold
    gt_count: np.ndarray  # (C,) int64 number of GT regions per class (summed over images)
    empty_pred_regions: int = 0  # listed predicted regions without pixels (dropped)

    @staticmethod
    def empty(num_classes: int, num_thresholds: int) -> "RegionRecords":
        return RegionRecords(
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.float64),
            np.zeros((0, num_thresholds), bool),
            np.zeros(num_classes, np.int64),
            0,
        )

    @staticmethod
    def concat(
        parts: Sequence["RegionRecords"], num_classes: int, num_thresholds: int
    ) -> "RegionRecords":
        parts = [p for p in parts if p is not None]
        if not parts:
            return RegionRecords.empty(num_classes, num_thresholds)
        return RegionRecords(
            np.concatenate([p.image for p in parts]),
            np.concatenate([p.cls for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.tp for p in parts]),
            np.sum([p.gt_count for p in parts], axis=0),
            int(sum(p.empty_pred_regions for p in parts)),
        )

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def regions_from_txt_classes(gt_classes: dict[int, int], max_id: int) -> np.ndarray:
    """(max_id + 1,) class per GT region id from an id -> class dict; -1 for unlisted ids."""
    out = np.full(max_id + 1, -1, np.int64)
    for rid, c in gt_classes.items():
        if 0 <= rid <= max_id:
            out[rid] = c
    return out


def region_image_records(
    pred_map: np.ndarray,
    pred_classes: Sequence[int],
    pred_scores: Sequence[float],
    gt_map: np.ndarray,
    gt_classes,
    num_classes: int,
    *,
    mode: str = "default",
    image_index: int = 0,
    thresholds: Sequence[float] = PARSING_THRESHOLDS,
    name: str = "",
) -> RegionRecords:
    """Phase 1 of AP^r (or AP^h with a single class) for one image.

    Args:
        pred_map: (H, W) predicted region ids, 0 = background, k = line k of the prediction txt.
        pred_classes, pred_scores: (P,) class and score of predicted regions 1..P.
        gt_map: (H, W) GT region ids (same size).
        gt_classes: id -> class (dict) or (G+1,) array (-1 = unlisted). A GT region exists for
            class c when it is listed with class c and has pixels in ``gt_map``.
        num_classes: C; classes 1..C-1 are evaluated.
        mode: matching rule (module docstring).
        name: file name used in error messages.
    """
    mode = check_mode(mode)
    thr = np.asarray(thresholds, np.float64)
    pred_classes = np.asarray(pred_classes, np.int64).reshape(-1)
    pred_scores = np.asarray(pred_scores, np.float64).reshape(-1)
    _check_region_inputs(pred_map, pred_classes, pred_scores, gt_map, num_classes, name)
    P = pred_classes.shape[0]
    gmax = int(gt_map.max()) if gt_map.size else 0
    gcls = _gt_region_classes(gt_classes, gmax)
    J = joint_hist(pred_map, gt_map, P + 1, gmax + 1)
    area_p = J.sum(1)
    area_g = J.sum(0)
    gt_valid = (area_g > 0) & (gcls >= 1) & (gcls < num_classes)
    gt_valid[0] = False
    gt_count = np.bincount(gcls[gt_valid], minlength=num_classes)[:num_classes].astype(np.int64)
    present = np.flatnonzero(area_p[1:] > 0) + 1  # predicted region ids with pixels, ascending
    cls = pred_classes[present - 1]
    scores = pred_scores[present - 1]
    gids = np.flatnonzero(gt_valid)
    tp = np.zeros((present.shape[0], thr.shape[0]), bool)
    if present.size and gids.size:
        # all pairs at once; pairs of different classes get IoU -1 (never the best)
        inter = J[present][:, gids].astype(np.float64)
        union = area_p[present][:, None] + area_g[gids][None, :] - inter
        same = cls[:, None] == gcls[gids][None, :]
        iou = np.where(same, inter / union, -1.0)
        tp = _match_regions(iou, same.any(1), scores, thr, mode)
    empty = P - present.shape[0]
    return RegionRecords(
        np.full(present.shape[0], image_index, np.int64), cls, scores, tp, gt_count, int(empty)
    )


def _check_region_inputs(pred_map, pred_classes, pred_scores, gt_map, num_classes, name):
    """Raise ValueError (naming the file) on inconsistent prediction txt / PNG / GT inputs."""
    P = pred_classes.shape[0]
    where = f" in {name}" if name else ""
    if pred_scores.shape[0] != P:
        raise ValueError(f"{P} region classes but {pred_scores.shape[0]} scores{where}")
    if pred_map.shape != gt_map.shape:
        raise ValueError(
            f"size mismatch{where}: prediction {pred_map.shape} vs ground truth {gt_map.shape}"
        )
    pmax = int(pred_map.max()) if pred_map.size else 0
    if pmax > P:
        raise ValueError(
            f"region id {pmax} in the prediction PNG but only {P} lines in its txt{where}"
        )
    if P and (pred_classes.min() < 1 or pred_classes.max() >= num_classes):
        bad = int(pred_classes[(pred_classes < 1) | (pred_classes >= num_classes)][0])
        raise ValueError(f"region class {bad} outside [1, {num_classes}){where}")


def _gt_region_classes(gt_classes, gmax: int) -> np.ndarray:
    """(gmax + 1,) int64 class per GT region id (-1 = unlisted) from a dict or an array."""
    if isinstance(gt_classes, dict):
        return regions_from_txt_classes(gt_classes, gmax)
    gcls = np.full(gmax + 1, -1, np.int64)
    g = np.asarray(gt_classes, np.int64)[: gmax + 1]
    gcls[: g.shape[0]] = g
    return gcls


def _match_regions(
    iou: np.ndarray, has_gt: np.ndarray, scores: np.ndarray, thr: np.ndarray, mode: str
) -> np.ndarray:
    """(R, T) bool TP flags of R predicted regions from their (R, G) IoU with the valid GT regions
    (-1 across classes) under the mode's matching rule (module docstring)."""
    best = np.argmax(iou, axis=1)  # first best GT region of the same class (ascending id)
    best_iou = iou[np.arange(iou.shape[0]), best]
    if mode == "legacy":
        return has_gt[:, None] & (best_iou[:, None] > thr[None, :])
    # per image, class and threshold in descending score order (ties: lower region id);
    # a GT region has one class, so one pass over all predictions is the per-class pass
    tp = np.zeros((iou.shape[0], thr.shape[0]), bool)
    matched = np.zeros((iou.shape[1], thr.shape[0]), bool)
    for r in np.argsort(-scores, kind="stable"):
        if not has_gt[r]:
            continue
        ok = (best_iou[r] > thr) & ~matched[best[r]]
        tp[r] = ok
        matched[best[r]] |= ok
    return tp


def accumulate_region_ap(
    records: RegionRecords,
    num_classes: int,
    *,
    mode: str = "default",
    thresholds: Sequence[float] = PARSING_THRESHOLDS,
) -> dict[str, object]:
    """Phase 2 of AP^r: per class and threshold VOC AP, then the class mean per threshold.

    Classes with no GT region: legacy computes them like the reference (NaN when they have
    predictions, 0 when they have none; ``nanmean`` then skips only the NaNs); default excludes
    them (NaN) and lists them in ``classes_absent``.

    Returns:
        {"AP": {t: mean AP over classes}, "per_class": (C-1, T) array, "classes_absent": [...]}.
    """
    mode = check_mode(mode)
    T = len(thresholds)
    per_class = np.full((num_classes - 1, T), np.nan)
    absent = []
    for c in range(1, num_classes):
        npos = int(records.gt_count[c]) if c < records.gt_count.shape[0] else 0
        if mode == "default" and npos == 0:
            absent.append(c)
            continue
        sel = np.flatnonzero(records.cls == c)
        order = sel[sort_order(records.scores[sel], mode, "rev")]
        for k in range(T):
            _, _, ap = ap_from_tp(records.tp[order, k], npos)
            per_class[c - 1, k] = ap
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(per_class, axis=0) if per_class.size else np.full(T, np.nan)
    return {
        "AP": {float(t): float(mean[k]) for k, t in enumerate(thresholds)},
        "per_class": per_class,
        "classes_absent": absent,
    }


def accumulate_person_ap(
    records: RegionRecords, *, mode: str = "default", thresholds: Sequence[float] = MASK_THRESHOLDS
) -> dict[float, float]:
    """AP^h: the region machinery with one class (1 = person); returns {t: AP}."""
    out = accumulate_region_ap(records, 2, mode=mode, thresholds=thresholds)
    return out["AP"]
