"""The parsing evaluator of a dataset, from its metadata ``evaluator_type`` and the config."""

from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator

from humanparse_core.evaluation.metric_names import normalize_metrics

from .parsing_evaluator import ParsingEvaluator
from .sem_seg_parsing_evaluator import SemanticParsingEvaluator

__all__ = ["build_parsing_evaluator"]


def build_parsing_evaluator(
    cfg, dataset_name: str, output_folder: str | None = None
) -> DatasetEvaluator:
    """The parsing evaluator for ``dataset_name`` (``cfg.HUMANPARSE_EVALUATION.*``).

    ``evaluator_type`` "parsing": :class:`ParsingEvaluator` with the metrics of mIoU, APp, APr,
    APh asked for; "sem_seg": :class:`SemanticParsingEvaluator`, which adds IPR and the low-res
    mIoU to mIoU. The box source is recorded from the model outputs (``box_source``).
    """
    et = MetadataCatalog.get(dataset_name).get("evaluator_type", "parsing")
    ev = cfg.HUMANPARSE_EVALUATION
    metrics = normalize_metrics(ev.METRICS)
    if et == "parsing":
        return ParsingEvaluator(
            dataset_name,
            metrics=[m for m in metrics if m in ("mIoU", "APp", "APr", "APh")],
            apr_matching=ev.APR_MATCHING,
            output_dir=output_folder,
            semseg_score_thresh=ev.SEMSEG_SCORE_THRESH,
            nms_thresh=ev.PARSING_NMS_THRESH,
            score_thresh=ev.SCORE_THRESH,
            output_submission=ev.OUTPUT_SUBMISSION,
            num_workers=ev.NUM_WORKERS,
            legacy_nms_indexing=ev.LEGACY_NMS_INDEXING,
        )
    if et == "sem_seg":
        metrics = [m for m in metrics if m in ("mIoU", "IPR", "mIoU_lowres")] or ["mIoU"]
        if "mIoU" in metrics:
            metrics = list(dict.fromkeys(metrics + ["IPR", "mIoU_lowres"]))
        return SemanticParsingEvaluator(
            dataset_name,
            metrics=metrics,
            mode=ev.APR_MATCHING,
            protocol=ev.MIOU_PROTOCOL,
            lowres_gt_squash=ev.LOWRES_GT_SQUASH,
            output_dir=output_folder,
            num_workers=ev.NUM_WORKERS,
        )
    raise ValueError(
        f"build_parsing_evaluator: dataset {dataset_name} has evaluator_type {et!r}; expected "
        "'parsing' or 'sem_seg'"
    )
