"""Config keys of the parsing evaluators (``cfg.HUMANPARSE_EVALUATION``)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_evaluation_config"]


def add_evaluation_config(cfg: CN) -> None:
    """Add the evaluator keys to ``cfg`` in place (idempotent)."""
    _C = cfg
    _C.HUMANPARSE_EVALUATION = CN()
    # Metrics computed by ParsingEvaluator (mIoU, APp (+PCP), APr, APh) / SemanticParsingEvaluator
    # (mIoU, IPR, mIoU_lowres); names are case-insensitive.
    _C.HUMANPARSE_EVALUATION.METRICS = ["mIoU", "APp", "APr"]
    # "one_to_one" (corrected default) or "legacy" (the reference evaluators' behaviour for every
    # metric: non-one-to-one AP^r, image lists from the predictions, 255-region cap, ...).
    _C.HUMANPARSE_EVALUATION.APR_MATCHING = "one_to_one"
    # Global parsing map (mIoU): instances with box score >= this, painted in ascending box score.
    _C.HUMANPARSE_EVALUATION.SEMSEG_SCORE_THRESH = 0.3
    # Parsing NMS: drop an instance whose parsing mIoU with a higher-scored kept one is >= this.
    _C.HUMANPARSE_EVALUATION.PARSING_NMS_THRESH = 0.6
    # AP^p predictions and the person / part-region maps keep instances with score >= this.
    _C.HUMANPARSE_EVALUATION.SCORE_THRESH = 0.01
    # Threads that evaluate images while inference goes on (0 = evaluate inside process()).
    _C.HUMANPARSE_EVALUATION.NUM_WORKERS = 0
    # Also write the submission folders (global_parsing/, instance_parsing/, instance_segmentation/,
    # person_parsing/) under <output_folder>/submission.
    _C.HUMANPARSE_EVALUATION.OUTPUT_SUBMISSION = False
    # Single-person mIoU protocol: "native" (prediction and GT at the original size) or "mman256"
    # (GT squashed to 256x256 with centre-nearest, prediction resized to 256x256 if needed).
    _C.HUMANPARSE_EVALUATION.MIOU_PROTOCOL = "native"
    # Low-resolution mIoU (MMAN): the GT is squashed to this square size before being downsampled
    # to the low-res output size (0 = downsample the original GT directly).
    _C.HUMANPARSE_EVALUATION.LOWRES_GT_SQUASH = 256
    # Reproduce the reference parsing-NMS indexing slip (bit-exact comparisons only).
    _C.HUMANPARSE_EVALUATION.LEGACY_NMS_INDEXING = False
