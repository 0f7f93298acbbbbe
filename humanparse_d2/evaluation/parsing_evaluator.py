"""Multi-person parsing evaluator (metadata ``evaluator_type == "parsing"``): mIoU of the global
map, AP^p + PCP, AP^r and optionally AP^h, from the model outputs through the shared
:func:`~humanparse_core.postprocessing.parsing_postprocess`."""

import itertools
import os
from collections.abc import Sequence

import numpy as np

from humanparse_core.evaluation.accumulator import ParsingAccumulator
from humanparse_core.evaluation.gt_loading import GTFiles, load_image_gt
from humanparse_core.evaluation.image_eval import ImageRecord, evaluate_image
from humanparse_core.evaluation.image_inputs import ImagePred
from humanparse_core.evaluation.submission import write_submission
from humanparse_core.postprocessing import (
    ParsingResult,
    cap_regions,
    parsing_postprocess,
)

from .evaluator_base import _np, _ParsingEvaluatorBase

__all__ = ["ParsingEvaluator"]

# the prediction kinds the reference writes no file for when an image has no box (legacy skips)
_NO_BOX_FILES = ("global_parsing", "instance_parsing", "instance_segmentation")


def _stem(d: dict) -> str:
    fn = d.get("file_name") or str(d.get("image_id"))
    return os.path.splitext(os.path.basename(str(fn)))[0]


class ParsingEvaluator(_ParsingEvaluatorBase):
    """Multi-person parsing evaluator (mIoU, AP^p + PCP, AP^r, AP^h).

    Ground truth comes from the dataset dicts (``category_file`` / ``sem_seg_file_name``,
    ``human_file``, ``instance_file``, ``instance_txt``, ``annotations`` with ``parsing_id``,
    ``iscrowd`` and, for MHP-v2, ``person_file``). The summary is written to
    ``<output_dir>/parsing_metrics.json``; ``output_submission`` also writes the submission
    folders under ``<output_dir>/submission``.

    Args:
        box_source: recorded as the box source in addition to the ``box_source`` of the outputs.
    """

    metrics_file = "parsing_metrics.json"

    def __init__(
        self,
        dataset_name: str,
        *,
        metrics: Sequence[str] = ("mIoU", "APp", "APr"),
        apr_matching: str = "one_to_one",
        distributed: bool = True,
        output_dir: str | None = None,
        num_classes: int | None = None,
        semseg_score_thresh: float = 0.3,
        nms_thresh: float = 0.6,
        score_thresh: float = 0.01,
        output_submission: bool = False,
        num_workers: int = 0,
        box_source: str | None = None,
        legacy_nms_indexing: bool = False,
    ):
        super().__init__(
            dataset_name,
            metrics=metrics,
            mode=apr_matching,
            distributed=distributed,
            output_dir=output_dir,
            num_classes=num_classes,
            num_workers=num_workers,
            missing_keys="num_parsing/stuff_classes",
        )
        self.semseg_score_thresh = float(semseg_score_thresh)
        self.nms_thresh = float(nms_thresh)
        self.score_thresh = float(score_thresh)
        self.output_submission = bool(output_submission)
        self.box_source = box_source
        self.legacy_nms_indexing = bool(legacy_nms_indexing)
        self.reset()

    def _new_accumulator(self) -> ParsingAccumulator:
        return ParsingAccumulator(
            self.num_classes,
            self.metrics,
            mode=self.mode,
            score_thresh=self.score_thresh,
            class_names=self.class_names,
        )

    def reset(self):
        super().reset()
        self._box_sources = {str(self.box_source)} if self.box_source else set()
        self._num_empty = 0  # images whose output has no person (no box, or all filtered)

    # ---- per image -------------------------------------------------------------------------
    def process(self, inputs, outputs):
        """Evaluate a batch (inline, or on ``num_workers`` threads while inference goes on).

        Args:
            inputs: the model's inputs; ``image_id`` (or ``file_name``) finds the dataset dict,
                whose ``height`` / ``width`` (else the input's) is the original size (H, W).
            outputs: per image ``{"instances": Instances}`` (or the Instances) with
                ``pred_parsing`` (N, H, W) uint8 full-image label maps at the original size,
                ``scores`` (N,), ``box_scores`` (N,) and ``part_scores`` (N, C-1); optional next
                to it: ``box_source`` (str), ``test_settings`` (dict), ``num_boxes`` (int).
        """
        for inp, out in zip(inputs, outputs):
            idx, d = self._index.lookup(inp)
            if isinstance(out, dict) and out.get("box_source"):
                self._box_sources.add(str(out["box_source"]))
            self._run_info.add(inp, out)
            inst = out["instances"] if isinstance(out, dict) else out
            hw = (
                int(d.get("height", inp.get("height", 0))),
                int(d.get("width", inp.get("width", 0))),
            )
            pred = self._instances_to_numpy(inst, hw)
            self._num_empty += int(pred["maps"].shape[0] == 0)
            self._add(self._evaluate_one, idx, d, pred)

    def _instances_to_numpy(self, inst, hw: tuple[int, int]) -> dict:
        """{"maps": (N, H, W) uint8, "scores": (N,) float64, "box_scores", "part_scores"}."""
        n = len(inst)
        has = inst.has if hasattr(inst, "has") else (lambda k: True)

        def get(k):
            return _np(inst.get(k)) if has(k) else None

        maps = get("pred_parsing")
        if maps is None:
            if n:
                raise KeyError("ParsingEvaluator: instances have no pred_parsing (N, H, W) field")
            maps = np.zeros((0,) + tuple(hw), np.uint8)
        maps = maps.reshape((-1,) + maps.shape[-2:])
        if maps.shape[1:] != tuple(hw):
            raise ValueError(
                f"pred_parsing is {maps.shape[1:]} but the image is {tuple(hw)}: parsing maps must "
                "be at the original image size"
            )
        scores = get("scores")
        return {
            "maps": maps.astype(np.uint8, copy=False),
            "scores": np.zeros(0) if scores is None else scores.astype(np.float64),
            "box_scores": get("box_scores"),
            "part_scores": get("part_scores"),
        }

    def _evaluate_one(self, idx: int, d: dict, pred: dict) -> ImageRecord:
        H, W = pred["maps"].shape[1:]
        res = parsing_postprocess(
            pred["maps"],
            pred["scores"],
            pred["box_scores"],
            pred["part_scores"],
            self.num_classes,
            semseg_score_thresh=self.semseg_score_thresh,
            nms_thresh=self.nms_thresh,
            score_thresh=self.score_thresh,
            image_size=(H, W),
            legacy_nms_indexing=self.legacy_nms_indexing,
        )
        name = _stem(d)
        if self.output_submission and self.output_dir:
            write_submission(
                os.path.join(self.output_dir, "submission"), name, res, legacy=self.mode == "legacy"
            )
        # the reference writes no files for an image without boxes, so its mIoU and AP^r skip it
        no_files = self.mode == "legacy" and pred["maps"].shape[0] == 0
        files = GTFiles.from_dataset_dict(d)
        gt = load_image_gt(files, self.metrics, self.num_classes, mode=self.mode)
        if gt.category is not None and gt.category.shape != (H, W):
            raise ValueError(
                f"ground truth {files.category} is {gt.category.shape} but the prediction is "
                f"{(H, W)}"
            )
        return evaluate_image(
            idx,
            self.num_classes,
            self.metrics,
            gt,
            self._prediction(res, missing=_NO_BOX_FILES if no_files else ()),
            mode=self.mode,
            name=name,
            score_thresh=self.score_thresh,
        )

    def _prediction(self, res: ParsingResult, missing) -> ImagePred:
        """What evaluate_image needs of ``res`` for ``self.metrics``."""
        pred = ImagePred(missing=tuple(missing))
        if "APp" in self.metrics:
            pred.persons, pred.person_scores = res.person_labels(), res.person_scores
        if "mIoU" in self.metrics:
            pred.global_map = res.global_map
        if "APr" in self.metrics:
            regions = res.part_region_map, res.region_classes, res.region_scores
            if self.mode == "legacy":
                regions = cap_regions(*regions, 254)
            pred.regions, pred.region_classes, pred.region_scores = regions
        if "APh" in self.metrics:
            pred.person_map, pred.person_map_scores = res.person_map, res.person_map_scores
        return pred

    # ---- global -------------------------------------------------------------------------------
    def evaluate(self) -> dict:
        """The metrics of the split (see :meth:`_ParsingEvaluatorBase.evaluate`).

        Returns:
            ``{"parsing": {mIoU, pixel_acc, mean_acc, IoU-<class>, AP_p_vol, AP_p50, PCP50,
            AP_p@t, PCP@t, AP_r_vol, AP_r50, AP_r@t, AP_h, AP_h50, AP_h75}}`` in percent (the
            metrics asked for; floats only, as EvalHook and print_csv_format need). The summary
            also records the box sources seen, ``images_without_predictions`` and the evaluation
            protocol ("official (paper)" or "project (corrected)").
        """
        return super().evaluate()

    def _local_extra(self):
        return sorted(self._box_sources), self._num_empty

    def _merge_extra(self, parts: list):
        sources = sorted(set(itertools.chain.from_iterable(s for s, _ in parts)))
        return sources, sum(n for _, n in parts)

    def _describe(self, summary: dict, extra, settings: dict) -> None:
        sources, num_empty = extra
        summary["box_source"] = ",".join(sources) if sources else "unknown"
        summary["dataset"] = self.dataset_name
        summary["images_without_predictions"] = int(num_empty)
        summary["legacy_nms_indexing"] = self.legacy_nms_indexing
        official = (
            self.mode == "legacy"
            and self.legacy_nms_indexing
            and settings.get("clamp_iou") is False
        )
        summary["evaluation_protocol"] = "official (paper)" if official else "project (corrected)"
