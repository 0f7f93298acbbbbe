"""AP^p and PCP (person-level parsing AP, MHP lineage). Pure numpy.

Phase 1 (per image, any order, any process): each prediction is reduced to a short record: score,
``ovmax``, ``jmax``, per-threshold PCP numerators and ``|cls|``, from its confusion with every GT
person (box-local, :mod:`.person_label`).

Phase 2 (global): sort by score, greedy one-to-one assignment per threshold, VOC AP, PCP.
"""

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .ap import PARSING_THRESHOLDS, ap_from_tp, check_mode, sort_order
from .hist import category_ignore_to_c, joint_hist, joint_hist3
from .person_label import PersonLabel, pair_iou

__all__ = [
    "APpRecords",
    "select_gt_persons",
    "app_image_records",
    "app_image_records_from_maps",
    "accumulate_app",
]


def select_gt_persons(
    persons: Sequence[PersonLabel], crowd: Sequence[bool] | None, mode: str, num_classes: int
) -> list[PersonLabel]:
    """GT persons that count for AP^p.

    legacy: every annotated person (empty and crowd ones included, as QANet / Parsing R-CNN);
    default: persons with at least one foreground pixel (0 < c < C), crowd excluded.
    """
    if mode == "legacy":
        return list(persons)
    out = []
    for k, p in enumerate(persons):
        if crowd is not None and crowd[k]:
            continue
        if np.count_nonzero(p.hist[1:num_classes]) == 0:
            continue
        out.append(p)
    return out


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
    image_hw: tuple[int, int],
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
    scores = _check_scores(pred_scores, n)
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


def app_image_records_from_maps(
    category: np.ndarray,
    human: np.ndarray,
    person_ids: Sequence[int] | None,
    pred_persons: Sequence[PersonLabel],
    pred_scores: Sequence[float],
    num_classes: int,
    *,
    mode: str = "default",
    crowd: Sequence[bool] | None = None,
    image_index: int = 0,
    score_thresh: float = 0.0,
    thresholds: Sequence[float] = PARSING_THRESHOLDS,
    category_ignore_mapped: np.ndarray | None = None,
    person_class_hist: np.ndarray | None = None,
) -> tuple[APpRecords, int]:
    """Phase 1 of AP^p/PCP with the CIHP-layout GT ``Category_ids * (Human_ids == id)``.

    Same numbers as :func:`app_image_records` on :func:`gt_persons_from_maps`, faster: one
    (person, class) histogram of the image gives every GT person's class counts, and one
    (person, class, prediction) histogram over each prediction's box gives its confusion with
    every GT person at once; pixels outside the box are GT-only (prediction background) and are
    placed from the per-person counts.

    Args:
        category, human: (H, W) GT class and person-id maps.
        person_ids: annotated person ids (in annotation order), or None for every id present
            in ``human`` (ascending); the ground-truth rules of the evaluator mode are applied
            here (legacy: all, default: non-empty and not crowd).
        category_ignore_mapped, person_class_hist: optional precomputed
            :func:`category_ignore_to_c` of ``category`` and its (nh >= max id + 1, C + 1)
            histogram against ``human`` (callers that already made one pass over the image).

    Returns:
        (records, npos)
    """
    mode = check_mode(mode)
    C = num_classes
    n = len(pred_persons)
    scores = _check_scores(pred_scores, n)
    cat_m = _mapped_category(category, human, C, category_ignore_mapped)
    gh, sel = _gt_person_hist(human, cat_m, person_ids, C, mode, crowd, person_class_hist)
    npos = int(sel.shape[0])
    rec = _empty_image_records(n, len(thresholds), image_index, scores)
    act = [d for d in range(n) if scores[d] >= score_thresh]
    if npos == 0 or not act:
        return rec, npos
    conf = _box_confusions(human, cat_m, [pred_persons[d] for d in act], gh, sel, C)
    best, jbest, pcp = _best_gt_from_confusions(conf, np.asarray(thresholds, np.float64))
    ok = best > -np.inf
    idx = np.asarray(act)[ok]
    rec.ovmax[idx] = best[ok]
    rec.jmax[idx] = jbest[ok]
    rec.pcp_num[idx] = pcp[ok]
    rec.ncls[idx] = np.count_nonzero(gh[sel, 1:C], axis=1)[jbest[ok]]
    return rec, npos


def _mapped_category(
    category: np.ndarray, human: np.ndarray, C: int, category_ignore_mapped: np.ndarray | None
) -> np.ndarray:
    """(H, W) GT classes with ignore -> C (the caller's precomputed map if given); ``category``
    and ``human`` must be the same size."""
    if category.shape != human.shape:
        raise ValueError(
            f"Category_ids {category.shape} and Human_ids {human.shape} differ in size"
        )
    if category_ignore_mapped is not None:
        return category_ignore_mapped
    return category_ignore_to_c(category, C)


def _check_scores(pred_scores: Sequence[float], n: int) -> np.ndarray:
    scores = np.asarray(pred_scores, np.float64).reshape(-1)
    if scores.shape[0] != n:
        raise ValueError(f"{n} predicted persons but {scores.shape[0]} scores")
    return scores


def _gt_person_hist(human, cat_m, person_ids, C, mode, crowd, person_class_hist):
    """(gh, sel): the (nh, C + 1) (person id, class) histogram, C = ignore, and the ids of the GT
    persons that count (the mode's rule) in annotation order."""
    ids = None if person_ids is None else np.asarray(list(person_ids), np.int64)
    hmax = int(human.max()) if human.size else 0
    if ids is None and person_class_hist is not None:
        hmax = max(hmax, person_class_hist.shape[0] - 1)
    if ids is None:
        ids = np.zeros(0, np.int64)
    nh = max(hmax, int(ids.max()) if ids.size else 0) + 1
    if person_class_hist is not None and person_class_hist.shape[0] >= nh:
        gh = person_class_hist
    else:
        gh = joint_hist(human, cat_m, nh, C + 1)
    if person_ids is None:  # every person id present in Human_ids, ascending
        ids = np.flatnonzero(gh[1:].sum(1) > 0) + 1
    if mode == "legacy":
        return gh, ids
    keep = gh[ids, 1:C].sum(1) > 0 if ids.size else np.zeros(0, bool)
    if crowd is not None:
        keep &= ~np.asarray(crowd, bool)
    return gh, ids[keep]


def _box_confusions(
    human: np.ndarray,
    cat_m: np.ndarray,
    preds: Sequence[PersonLabel],
    gh: np.ndarray,
    sel: np.ndarray,
    C: int,
) -> np.ndarray:
    """(D, k, C, C) full-image confusions (rows = GT) of D predictions with the k GT persons
    ``sel``: one (person, class, prediction) histogram per predicted box, the pixels outside the
    box (prediction background) placed from the per-person counts ``gh`` (nh, C + 1)."""
    nh, D, k = gh.shape[0], len(preds), sel.shape[0]
    Js = np.zeros((D, k, C + 1, C), np.int64)
    pb = np.zeros((D, C), np.int64)
    area = np.zeros(D, np.int64)
    for a, p in enumerate(preds):
        if p.box is None:
            continue
        y0, x0, y1, x1 = p.box
        pc = p.crop
        if pc.size and int(pc.max()) >= C:
            raise ValueError(f"prediction label {int(pc.max())} >= num_classes {C}")
        J = joint_hist3(
            human[y0:y1, x0:x1], cat_m[y0:y1, x0:x1], pc, nh, C + 1, C, crop_foreground=False
        )
        Js[a] = J[sel]
        pb[a] = J.sum((0, 1))  # pixels in the box by predicted label
        area[a] = (y1 - y0) * (x1 - x0)
    ghs = gh[sel]  # (k, C+1)
    Hk = np.zeros((D, k, C, C), np.int64)
    Hk[:, :, 1:, :] = Js[:, :, 1:C, :]
    Hk[:, :, 0, :] = pb[:, None, :] - Js[:, :, 1:, :].sum(2)
    fg_out = ghs[None, :, 1:C] - Js[:, :, 1:C, :].sum(3)  # GT pixels outside the box: pred 0
    Hk[:, :, 1:, 0] += fg_out
    ign_out = ghs[None, :, C] - Js[:, :, C, :].sum(2)
    Hk[:, :, 0, 0] += (human.size - area)[:, None] - ign_out - fg_out.sum(2)
    return Hk


def _best_gt_from_confusions(conf: np.ndarray, thr: np.ndarray):
    """(best (D,), jbest (D,), pcp (D, T)) from (D, k, C, C) confusions: the best GT person by
    mean IoU (-inf when every mean is NaN) and the PCP numerators at each threshold."""
    Hf = conf.astype(np.float64)
    diag = np.diagonal(Hf, axis1=2, axis2=3)
    union = Hf.sum(3) + Hf.sum(2) - diag
    with np.errstate(divide="ignore", invalid="ignore"):
        ious = diag / union  # (D, k, C), C-contiguous rows: nanmean per row as for one vector
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(ious, axis=2)  # (D, k)
    safe = np.where(np.isnan(means), -np.inf, means)
    rows = np.arange(conf.shape[0])
    jbest = np.argmax(safe, axis=1)  # first maximum = the reference's strict '>' scan
    best = safe[rows, jbest]
    fg = ious[rows, jbest, 1:]  # (D, C-1)
    pcp = (fg[:, None, :] > thr[None, :, None]).sum(2)
    return best, jbest, pcp


def accumulate_app(
    records: APpRecords,
    npos: int,
    *,
    mode: str = "default",
    score_thresh: float = 0.01,
    thresholds: Sequence[float] = PARSING_THRESHOLDS,
) -> dict[str, dict[float, float]]:
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
