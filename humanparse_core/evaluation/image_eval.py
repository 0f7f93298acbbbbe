"""Per-image evaluation, shared by the detectron2 evaluators and the folder CLI. numpy only.

:func:`evaluate_image` turns one image's ground truth and predictions (:class:`~.image_inputs.
ImageGT`, :class:`~.image_inputs.ImagePred`) into an :class:`ImageRecord`: a confusion matrix and
short per-prediction records, which :class:`~.accumulator.ParsingAccumulator` sums/concatenates
over any number of images and processes.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .ap import MASK_THRESHOLDS, PARSING_THRESHOLDS, check_mode
from .hist import category_ignore_to_c, joint_hist3
from .image_inputs import ImageGT, ImagePred
from .parsing_ap import (
    APpRecords,
    app_image_records,
    app_image_records_from_maps,
    select_gt_persons,
)
from .region_ap import RegionRecords, region_image_records
from .semseg import confusion_matrix

__all__ = ["ImageRecord", "evaluate_image"]


@dataclass
class ImageRecord:
    """Compact result of one image (everything the global phase needs)."""

    index: int
    name: str = ""
    conf: np.ndarray | None = None  # (C, C) int64, None = not counted (legacy skip)
    app: APpRecords | None = None
    npos: int = 0
    apr: RegionRecords | None = None
    aph: RegionRecords | None = None
    num_pred_persons: int = 0
    missing: tuple[str, ...] = ()  # prediction kinds missing for this image
    ipr: tuple[int, int] = (0, 0)  # (isolated pixels, pixels)
    conf_lowres: np.ndarray | None = None
    region_index: int | None = None  # AP^r/AP^h concatenation order if not ``index`` (legacy)


@dataclass
class _JointPass:
    """One (person, class, prediction) histogram of the image, serving mIoU and the AP^p GT."""

    conf: np.ndarray  # (C, C) int64 semantic confusion
    category_mapped: np.ndarray  # (H, W) uint8 GT classes, ignore -> C
    person_class_hist: np.ndarray  # (nh, C + 1) int64 (person id, class) counts


def evaluate_image(
    index: int,
    num_classes: int,
    metrics: Sequence[str],
    gt: ImageGT,
    pred: ImagePred,
    *,
    mode: str = "default",
    name: str = "",
    score_thresh: float = 0.01,
    region_index: int | None = None,
) -> ImageRecord:
    """Evaluate one image.

    A prediction kind listed in ``pred.missing`` is handled by the mode's rule: legacy skips the
    image for mIoU/AP^r/AP^h (the reference's image list comes from the prediction files), default
    scores it as an empty prediction (all background, no regions, no persons: misses).
    AP^p GT always counts (both lineages).

    ``index`` orders the image in the split (ties in the score ranking keep this order);
    ``region_index`` optionally orders it differently for AP^r/AP^h (legacy folder evaluation
    concatenates those in the prediction folder's listing order, as the reference does).
    """
    mode = check_mode(mode)
    rec = ImageRecord(index, name, missing=tuple(pred.missing), region_index=region_index)
    ridx = index if region_index is None else region_index
    joint = None
    if "mIoU" in metrics and "APp" in metrics:
        joint = _joint_pass(gt, pred, num_classes)
    if "mIoU" in metrics and gt.category is not None:
        rec.conf = (
            joint.conf if joint is not None else _semantic_record(gt, pred, num_classes, mode, name)
        )
    if "APp" in metrics and (gt.persons is not None or gt.person_ids is not None):
        rec.app, rec.npos, rec.num_pred_persons = _app_record(
            gt, pred, num_classes, mode, index, score_thresh, joint
        )
    if "APr" in metrics and gt.instance is not None:
        rec.apr = _region_record("APr", gt, pred, num_classes, mode, ridx, name)
    if "APh" in metrics and gt.human is not None:
        rec.aph = _region_record("APh", gt, pred, num_classes, mode, ridx, name)
    return rec


def _joint_pass(gt: ImageGT, pred: ImagePred, num_classes: int) -> _JointPass | None:
    """The one-pass histogram when the CIHP-layout GT and the global map allow it, else None."""
    cat, hum, glob = gt.category, gt.human, pred.global_map
    if (
        gt.persons is not None
        or gt.person_ids is None
        or glob is None
        or "global_parsing" in pred.missing
        or cat is None
        or hum is None
        or not (cat.dtype == hum.dtype == glob.dtype == np.uint8)
        or not (cat.shape == hum.shape == glob.shape)
        or not glob.size
        or int(glob.max()) >= num_classes
    ):
        return None
    cat_m = category_ignore_to_c(cat, num_classes)
    ids = (
        np.zeros(0, np.int64)
        if isinstance(gt.person_ids, str)
        else np.asarray(list(gt.person_ids), np.int64)
    )
    nh = max(int(hum.max()), int(ids.max()) if ids.size else 0) + 1
    J = joint_hist3(hum, cat_m, glob, nh, num_classes + 1, num_classes)
    return _JointPass(J.sum(0)[:num_classes], cat_m, J.sum(2))


def _semantic_record(
    gt: ImageGT, pred: ImagePred, num_classes: int, mode: str, name: str
) -> np.ndarray | None:
    """(C, C) confusion of the global map; a missing one is all background (default) or skips
    the image (legacy: None)."""
    if "global_parsing" in pred.missing or pred.global_map is None:
        if mode != "default":
            return None
        return confusion_matrix(gt.category, np.zeros_like(gt.category, np.uint8), num_classes)
    fname = pred.file_names.get("global_parsing", name)
    return confusion_matrix(gt.category, pred.global_map, num_classes, name=fname)


def _app_record(
    gt: ImageGT,
    pred: ImagePred,
    num_classes: int,
    mode: str,
    index: int,
    score_thresh: float,
    joint: _JointPass | None,
) -> tuple[APpRecords, int, int]:
    """(AP^p records, number of GT persons, number of predicted persons)."""
    preds = list(pred.persons or [])
    scores = np.zeros(0)
    if pred.person_scores is not None:
        scores = np.asarray(pred.person_scores, np.float64)
    if gt.persons is not None:  # box-local GT persons (e.g. MHP-v2 per-person PNGs)
        gts = select_gt_persons(gt.persons, gt.crowd, mode, num_classes)
        hw = gt.category.shape if gt.category is not None else gt.human.shape
        app = app_image_records(
            gts, preds, scores, hw, num_classes, image_index=index, score_thresh=score_thresh
        )
        return app, len(gts), len(preds)
    app, npos = app_image_records_from_maps(  # CIHP layout: Category_ids * (Human_ids == id)
        gt.category,
        gt.human,
        None if isinstance(gt.person_ids, str) else gt.person_ids,
        preds,
        scores,
        num_classes,
        mode=mode,
        crowd=gt.crowd,
        image_index=index,
        score_thresh=score_thresh,
        category_ignore_mapped=None if joint is None else joint.category_mapped,
        person_class_hist=None if joint is None else joint.person_class_hist,
    )
    return app, npos, len(preds)


def _region_record(
    kind: str,
    gt: ImageGT,
    pred: ImagePred,
    num_classes: int,
    mode: str,
    image_index: int,
    name: str,
) -> RegionRecords | None:
    """AP^r ("APr": part regions) or AP^h ("APh": one class, 1 = person) records of the image;
    a missing prediction has no regions (default) or skips the image (legacy: None)."""
    if kind == "APr":
        file_kind, C, thresholds = "instance_parsing", num_classes, PARSING_THRESHOLDS
        gt_map, gt_classes = gt.instance, gt.instance_classes
        pred_map, pred_classes, pred_scores = pred.regions, pred.region_classes, pred.region_scores
    else:
        file_kind, C, thresholds = "instance_segmentation", 2, MASK_THRESHOLDS
        gt_map = gt.human
        gt_classes = np.ones((int(gt_map.max()) if gt_map.size else 0) + 1, np.int64)
        pred_map, pred_scores = pred.person_map, pred.person_map_scores
        pred_classes = np.ones(0 if pred_scores is None else len(pred_scores), np.int64)
    if file_kind in pred.missing or pred_map is None:
        if mode != "default":
            return None
        pred_map, pred_classes, pred_scores, fname = np.zeros_like(gt_map), [], [], name
    else:
        fname = pred.file_names.get(file_kind, name)
    return region_image_records(
        pred_map,
        pred_classes,
        pred_scores,
        gt_map,
        gt_classes,
        C,
        mode=mode,
        image_index=image_index,
        thresholds=thresholds,
        name=fname,
    )
