"""Config keys of the parsing evaluators."""
from detectron2.config import CfgNode as CN

__all__ = ["add_evaluation_config"]


def add_evaluation_config(cfg: CN) -> None:
    """Add the evaluator keys to ``cfg`` in place."""
    _C = cfg
    _C.HUMANPARSE_EVALUATION = CN()
    # Metrics computed by ParsingEvaluator / SemanticParsingEvaluator.
    _C.HUMANPARSE_EVALUATION.METRICS = ["mIoU", "APp", "APr"]
