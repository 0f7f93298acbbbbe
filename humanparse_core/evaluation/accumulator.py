"""The global phase: :class:`ParsingAccumulator` collects the per-image records of
:func:`~.image_eval.evaluate_image` and computes the split-level metrics. numpy only."""

import dataclasses
from collections.abc import Sequence

import numpy as np

from .ap import MASK_THRESHOLDS, PARSING_THRESHOLDS, check_mode, mean_over
from .image_eval import ImageRecord
from .metric_names import normalize_metrics
from .parsing_ap import APpRecords, accumulate_app
from .region_ap import RegionRecords, accumulate_region_ap
from .semseg import semantic_scores

__all__ = ["ParsingAccumulator"]


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
        class_names: Sequence[str] | None = None,
        miou_include: Sequence[int] | None = None,
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
        self.records: list[ImageRecord] = []
        self.num_images = 0
        self.missing: dict[str, list[str]] = {}

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
        # keep only the short records: the confusions and IPR are summed above
        self.records.append(
            dataclasses.replace(rec, name="", conf=None, conf_lowres=None, missing=(), ipr=(0, 0))
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
        """All metrics in percent, plus counts and the mode (the keys of the metrics JSON)."""
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
            self._summarize_semantic(out)
        if "mIoU_lowres" in self.metrics and self.conf_lowres is not None:
            s = semantic_scores(self.conf_lowres, self.mode, self.miou_include)
            out["mIoU_lowres"] = 100.0 * s["mIoU"]
        if "IPR" in self.metrics and self.ipr[1] > 0:
            out["IPR"] = 100.0 * self.ipr[0] / self.ipr[1]
            out["IPR_permille"] = 1000.0 * self.ipr[0] / self.ipr[1]
        if "APp" in self.metrics:
            self._summarize_app(out, recs)
        if "APr" in self.metrics:
            self._summarize_apr(out, rrecs)
        if "APh" in self.metrics:
            aph = RegionRecords.concat([r.aph for r in rrecs], 2, len(MASK_THRESHOLDS))
            res = accumulate_region_ap(aph, 2, mode=self.mode, thresholds=MASK_THRESHOLDS)
            out["AP_h_per_threshold"] = {t: 100.0 * v for t, v in res["AP"].items()}
            out["AP_h"] = mean_over(list(out["AP_h_per_threshold"].values()))
            out["AP_h50"] = out["AP_h_per_threshold"][0.5]
            out["AP_h75"] = out["AP_h_per_threshold"][0.75]
        return out

    def _summarize_semantic(self, out: dict) -> None:
        s = semantic_scores(self.conf, self.mode, self.miou_include)
        out["mIoU"] = 100.0 * s["mIoU"]
        out["pixel_acc"] = 100.0 * s["pixel_acc"]
        out["mean_acc"] = 100.0 * s["mean_acc"]
        out["IoU"] = {
            self.class_names[c]: 100.0 * float(s["IoU"][c]) for c in range(self.num_classes)
        }
        if s["classes_absent"]:
            out["classes_absent"] = [self.class_names[c] for c in s["classes_absent"]]

    def _summarize_app(self, out: dict, recs: Sequence[ImageRecord]) -> None:
        app = APpRecords.concat([r.app for r in recs])
        res = accumulate_app(
            app, out["num_gt_persons"], mode=self.mode, score_thresh=self.score_thresh
        )
        out["AP_p"] = {t: 100.0 * v for t, v in res["AP_p"].items()}
        out["PCP"] = {t: 100.0 * v for t, v in res["PCP"].items()}
        out["AP_p_vol"] = mean_over(list(out["AP_p"].values()))
        out["AP_p50"] = out["AP_p"][0.5]
        out["PCP50"] = out["PCP"][0.5]

    def _summarize_apr(self, out: dict, rrecs: Sequence[ImageRecord]) -> None:
        C = self.num_classes
        apr = RegionRecords.concat([r.apr for r in rrecs], C, len(PARSING_THRESHOLDS))
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
