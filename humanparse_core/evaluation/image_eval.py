"""Per-image evaluation and the global accumulator, shared by the detectron2 evaluators and the
folder CLI. numpy only.

:func:`evaluate_image` turns one image's ground truth and predictions into an :class:`ImageRecord`
(a confusion matrix and short per-prediction records); :class:`ParsingAccumulator` sums/concatenates
records from any number of images and processes (in any order) and computes the final metrics.
"""

import logging
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .ap import MASK_THRESHOLDS, PARSING_THRESHOLDS, check_mode, mean_over
from .parsing_ap import (
    APpRecords,
    PersonLabel,
    accumulate_app,
    app_image_records,
    app_image_records_from_maps,
    category_ignore_to_c,
)
from .parsing_ap import _joint_hist3
from .region_ap import RegionRecords, accumulate_region_ap, region_image_records
from .semseg import confusion_matrix, semantic_scores

__all__ = [
    "METRIC_ALIASES",
    "normalize_metrics",
    "select_gt_persons",
    "ImageRecord",
    "evaluate_image",
    "ParsingAccumulator",
]

logger = logging.getLogger(__name__)

METRIC_ALIASES = {
    "miou": "mIoU",
    "app": "APp",
    "ap^p": "APp",
    "pcp": "APp",
    "apr": "APr",
    "ap^r": "APr",
    "aph": "APh",
    "ap^h": "APh",
    "ipr": "IPR",
    "miou_lowres": "mIoU_lowres",
}


def normalize_metrics(metrics) -> Tuple[str, ...]:
    """Canonical metric names (mIoU, APp, APr, APh, IPR, mIoU_lowres) from a list or a
    comma-separated string; PCP comes with APp."""
    if isinstance(metrics, str):
        metrics = [m for m in metrics.replace(" ", "").split(",") if m]
    out = []
    for m in metrics:
        key = METRIC_ALIASES.get(str(m).lower())
        if key is None:
            raise ValueError(
                f"unknown metric {m!r}; known: mIoU, APp (with PCP), APr, APh, IPR, mIoU_lowres"
            )
        if key not in out:
            out.append(key)
    return tuple(out)


def select_gt_persons(
    persons: Sequence[PersonLabel], crowd: Optional[Sequence[bool]], mode: str, num_classes: int
) -> List[PersonLabel]:
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
class ImageRecord:
    """Compact result of one image (everything the global phase needs)."""

    index: int
    name: str = ""
    conf: Optional[np.ndarray] = None  # (C, C) int64, None = not counted (legacy skip)
    app: Optional[APpRecords] = None
    npos: int = 0
    apr: Optional[RegionRecords] = None
    aph: Optional[RegionRecords] = None
    num_pred_persons: int = 0
    missing: Tuple[str, ...] = ()  # prediction kinds missing for this image
    ipr: Tuple[int, int] = (0, 0)  # (isolated pixels, pixels)
    conf_lowres: Optional[np.ndarray] = None
    region_index: Optional[int] = None  # AP^r/AP^h concatenation order if not ``index`` (legacy)


def evaluate_image(
    index: int,
    num_classes: int,
    metrics: Sequence[str],
    *,
    mode: str = "default",
    name: str = "",
    score_thresh: float = 0.01,
    gt_category: Optional[np.ndarray] = None,
    gt_persons: Optional[Sequence[PersonLabel]] = None,
    gt_person_ids=None,
    gt_crowd: Optional[Sequence[bool]] = None,
    gt_instance: Optional[np.ndarray] = None,
    gt_instance_classes=None,
    gt_human: Optional[np.ndarray] = None,
    pred_global: Optional[np.ndarray] = None,
    pred_persons: Optional[Sequence[PersonLabel]] = None,
    pred_person_scores: Optional[Sequence[float]] = None,
    pred_regions: Optional[np.ndarray] = None,
    pred_region_classes=None,
    pred_region_scores=None,
    pred_person_map: Optional[np.ndarray] = None,
    pred_person_map_scores=None,
    missing: Sequence[str] = (),
    file_names: Optional[Dict[str, str]] = None,
    region_index: Optional[int] = None,
) -> ImageRecord:
    """Evaluate one image.

    A prediction kind listed in ``missing`` ("global_parsing", "instance_parsing",
    "person_parsing", "instance_segmentation") is handled by the mode's rule: legacy skips the
    image for mIoU/AP^r/AP^h (the reference's image list comes from the prediction files), default
    scores it as an empty prediction (all background, no regions, no persons: misses).
    AP^p GT always counts (both lineages).

    ``index`` orders the image in the split (ties in the score ranking keep this order);
    ``region_index`` optionally orders it differently for AP^r/AP^h (legacy folder evaluation
    concatenates those in the prediction folder's listing order, as the reference does).
    """
    mode = check_mode(mode)
    fn = file_names or {}
    rec = ImageRecord(index=index, name=name, missing=tuple(missing), region_index=region_index)
    ridx = index if region_index is None else region_index
    fused = None
    if (
        "mIoU" in metrics
        and "APp" in metrics
        and gt_persons is None
        and gt_person_ids is not None
        and pred_global is not None
        and "global_parsing" not in missing
        and gt_category is not None
        and gt_human is not None
        and gt_category.dtype == gt_human.dtype == pred_global.dtype == np.uint8
        and gt_category.shape == gt_human.shape == pred_global.shape
        and pred_global.size
        and int(pred_global.max()) < num_classes
    ):
        # One pass over the image serves mIoU and the AP^p GT: (person, class, prediction) counts.
        cat_m = category_ignore_to_c(gt_category, num_classes)
        ids = (
            np.zeros(0, np.int64)
            if isinstance(gt_person_ids, str)
            else np.asarray(list(gt_person_ids), np.int64)
        )
        nh = max(int(gt_human.max()), int(ids.max()) if ids.size else 0) + 1
        J = _joint_hist3(gt_human, cat_m, pred_global, nh, num_classes + 1, num_classes)
        rec.conf = J.sum(0)[:num_classes]
        fused = (cat_m, J.sum(2))
    if "mIoU" in metrics and gt_category is not None and fused is None:
        if "global_parsing" in missing or pred_global is None:
            if mode == "default":
                rec.conf = confusion_matrix(
                    gt_category, np.zeros_like(gt_category, np.uint8), num_classes
                )
        else:
            rec.conf = confusion_matrix(
                gt_category, pred_global, num_classes, name=fn.get("global_parsing", name)
            )
    if "APp" in metrics and (gt_persons is not None or gt_person_ids is not None):
        preds = list(pred_persons or [])
        scores = (
            np.zeros(0)
            if pred_person_scores is None
            else np.asarray(pred_person_scores, np.float64)
        )
        rec.num_pred_persons = len(preds)
        if gt_persons is not None:  # box-local GT persons (e.g. MHP-v2 per-person PNGs)
            gts = select_gt_persons(gt_persons, gt_crowd, mode, num_classes)
            rec.npos = len(gts)
            hw = gt_category.shape if gt_category is not None else gt_human.shape
            rec.app = app_image_records(
                gts, preds, scores, hw, num_classes, image_index=index, score_thresh=score_thresh
            )
        else:  # CIHP layout: Category_ids * (Human_ids == id)
            rec.app, rec.npos = app_image_records_from_maps(
                gt_category,
                gt_human,
                None if isinstance(gt_person_ids, str) else gt_person_ids,
                preds,
                scores,
                num_classes,
                mode=mode,
                crowd=gt_crowd,
                image_index=index,
                score_thresh=score_thresh,
                category_ignore_mapped=None if fused is None else fused[0],
                person_class_hist=None if fused is None else fused[1],
            )
    if "APr" in metrics and gt_instance is not None:
        if "instance_parsing" in missing or pred_regions is None:
            if mode == "default":
                rec.apr = region_image_records(
                    np.zeros_like(gt_instance),
                    [],
                    [],
                    gt_instance,
                    gt_instance_classes,
                    num_classes,
                    mode=mode,
                    image_index=ridx,
                    name=name,
                )
        else:
            rec.apr = region_image_records(
                pred_regions,
                pred_region_classes,
                pred_region_scores,
                gt_instance,
                gt_instance_classes,
                num_classes,
                mode=mode,
                image_index=ridx,
                name=fn.get("instance_parsing", name),
            )
    if "APh" in metrics and gt_human is not None:
        gmax = int(gt_human.max()) if gt_human.size else 0
        gcls = np.ones(gmax + 1, np.int64)
        th = MASK_THRESHOLDS
        if "instance_segmentation" in missing or pred_person_map is None:
            if mode == "default":
                rec.aph = region_image_records(
                    np.zeros_like(gt_human),
                    [],
                    [],
                    gt_human,
                    gcls,
                    2,
                    mode=mode,
                    image_index=ridx,
                    thresholds=th,
                    name=name,
                )
        else:
            k = 0 if pred_person_map_scores is None else len(pred_person_map_scores)
            rec.aph = region_image_records(
                pred_person_map,
                np.ones(k, np.int64),
                pred_person_map_scores,
                gt_human,
                gcls,
                2,
                mode=mode,
                image_index=ridx,
                thresholds=th,
                name=fn.get("instance_segmentation", name),
            )
    return rec


class ParsingAccumulator:
    """Collects :class:`ImageRecord` objects and computes the split-level metrics.

    Records may arrive in any order and from several processes (:meth:`merge`); the global phase
    sorts them by image index, so the result does not depend on the order or the process count.
    """

    def __init__(
        self,
        num_classes: int,
        metrics: Sequence[str],
        *,
        mode: str = "default",
        score_thresh: float = 0.01,
        class_names: Optional[Sequence[str]] = None,
        miou_include: Optional[Sequence[int]] = None,
    ):
        self.num_classes = int(num_classes)
        self.metrics = normalize_metrics(metrics)
        self.mode = check_mode(mode)
        self.score_thresh = float(score_thresh)
        self.class_names = (
            list(class_names) if class_names else [str(c) for c in range(num_classes)]
        )
        self.miou_include = None if miou_include is None else list(miou_include)
        self.reset()

    def reset(self) -> None:
        C = self.num_classes
        self.conf = np.zeros((C, C), np.int64)
        self.conf_lowres = None
        self.ipr = [0, 0]
        self.records: List[ImageRecord] = []
        self.num_images = 0
        self.missing: Dict[str, List[str]] = {}

    def add(self, rec: ImageRecord) -> None:
        self.num_images += 1
        if rec.conf is not None:
            self.conf += rec.conf
        if rec.conf_lowres is not None:
            self.conf_lowres = (
                rec.conf_lowres.copy()
                if self.conf_lowres is None
                else self.conf_lowres + rec.conf_lowres
            )
        self.ipr[0] += rec.ipr[0]
        self.ipr[1] += rec.ipr[1]
        for kind in rec.missing:
            self.missing.setdefault(kind, []).append(rec.name or str(rec.index))
        # keep only the short records
        self.records.append(
            ImageRecord(
                index=rec.index,
                name="",
                app=rec.app,
                npos=rec.npos,
                apr=rec.apr,
                aph=rec.aph,
                num_pred_persons=rec.num_pred_persons,
                region_index=rec.region_index,
            )
        )

    def state(self) -> dict:
        """Picklable compact state (for ``comm.gather``)."""
        return {
            "conf": self.conf,
            "conf_lowres": self.conf_lowres,
            "ipr": list(self.ipr),
            "records": self.records,
            "num_images": self.num_images,
            "missing": self.missing,
        }

    def merge_state(self, st: dict) -> None:
        self.conf += st["conf"]
        if st["conf_lowres"] is not None:
            self.conf_lowres = (
                st["conf_lowres"].copy()
                if self.conf_lowres is None
                else self.conf_lowres + st["conf_lowres"]
            )
        self.ipr[0] += st["ipr"][0]
        self.ipr[1] += st["ipr"][1]
        self.records.extend(st["records"])
        self.num_images += st["num_images"]
        for k, v in st["missing"].items():
            self.missing.setdefault(k, []).extend(v)

    def summarize(self) -> dict:
        """All metrics in percent, plus counts and the mode (see the evaluator issue's JSON keys)."""
        C = self.num_classes
        out: dict = {
            "mode": "legacy" if self.mode == "legacy" else "one_to_one",
            "num_images": int(self.num_images),
        }
        recs = sorted(self.records, key=lambda r: r.index)
        rrecs = sorted(
            self.records,
            key=lambda r: (r.index if r.region_index is None else r.region_index, r.index),
        )
        out["num_gt_persons"] = int(sum(r.npos for r in recs))
        out["num_pred_persons"] = int(sum(r.num_pred_persons for r in recs))
        if self.missing:
            out["missing_predictions"] = {k: len(v) for k, v in sorted(self.missing.items())}
            out["missing_examples"] = {k: sorted(v)[:10] for k, v in sorted(self.missing.items())}
        if "mIoU" in self.metrics:
            s = semantic_scores(self.conf, self.mode, self.miou_include)
            out["mIoU"] = 100.0 * s["mIoU"]
            out["pixel_acc"] = 100.0 * s["pixel_acc"]
            out["mean_acc"] = 100.0 * s["mean_acc"]
            out["IoU"] = {self.class_names[c]: 100.0 * float(s["IoU"][c]) for c in range(C)}
            if s["classes_absent"]:
                out["classes_absent"] = [self.class_names[c] for c in s["classes_absent"]]
        if "mIoU_lowres" in self.metrics and self.conf_lowres is not None:
            s = semantic_scores(self.conf_lowres, self.mode, self.miou_include)
            out["mIoU_lowres"] = 100.0 * s["mIoU"]
        if "IPR" in self.metrics and self.ipr[1] > 0:
            out["IPR"] = 100.0 * self.ipr[0] / self.ipr[1]
            out["IPR_permille"] = 1000.0 * self.ipr[0] / self.ipr[1]
        if "APp" in self.metrics:
            app = APpRecords.concat([r.app for r in recs])
            res = accumulate_app(
                app, out["num_gt_persons"], mode=self.mode, score_thresh=self.score_thresh
            )
            out["AP_p"] = {t: 100.0 * v for t, v in res["AP_p"].items()}
            out["PCP"] = {t: 100.0 * v for t, v in res["PCP"].items()}
            out["AP_p_vol"] = mean_over(list(out["AP_p"].values()))
            out["AP_p50"] = out["AP_p"][0.5]
            out["PCP50"] = out["PCP"][0.5]
        if "APr" in self.metrics:
            T = len(PARSING_THRESHOLDS)
            apr = RegionRecords.concat([r.apr for r in rrecs], C, T)
            res = accumulate_region_ap(apr, C, mode=self.mode)
            out["AP_r"] = {t: 100.0 * v for t, v in res["AP"].items()}
            out["AP_r_vol"] = mean_over(list(out["AP_r"].values()))
            out["AP_r50"] = out["AP_r"][0.5]
            out["num_gt_regions"] = int(apr.gt_count[1:].sum())
            out["num_pred_regions"] = int(len(apr))
            if apr.empty_pred_regions:
                out["empty_pred_regions"] = int(apr.empty_pred_regions)
            if res["classes_absent"]:
                out["AP_r_classes_absent"] = [self.class_names[c] for c in res["classes_absent"]]
            out["AP_r_per_class"] = {
                self.class_names[c]: 100.0 * mean_over(res["per_class"][c - 1]) for c in range(1, C)
            }
        if "APh" in self.metrics:
            aph = RegionRecords.concat([r.aph for r in rrecs], 2, len(MASK_THRESHOLDS))
            res = accumulate_region_ap(aph, 2, mode=self.mode, thresholds=MASK_THRESHOLDS)
            out["AP_h_per_threshold"] = {t: 100.0 * v for t, v in res["AP"].items()}
            out["AP_h"] = mean_over(list(out["AP_h_per_threshold"].values()))
            out["AP_h50"] = out["AP_h_per_threshold"][0.5]
            out["AP_h75"] = out["AP_h_per_threshold"][0.75]
        return out
