"""VOC all-point AP and the ordering rules of the two evaluator modes (numpy only).

``mode="legacy"`` reproduces the reference evaluators bit for bit (their numpy calls, including the
unstable default sort); ``mode="default"`` sorts stably, ties broken by (image, prediction index) as
given by the order of the concatenated records.
"""

from collections.abc import Sequence

import numpy as np

__all__ = [
    "PARSING_THRESHOLDS",
    "MASK_THRESHOLDS",
    "MODES",
    "check_mode",
    "voc_ap",
    "sort_order",
    "ap_from_tp",
]

#: AP^p, PCP and AP^r thresholds (strict ``>``). A literal list: np.arange drifts.
PARSING_THRESHOLDS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: AP^h thresholds.
MASK_THRESHOLDS: tuple[float, ...] = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
MODES = ("default", "legacy")
_EPS = np.finfo(np.float64).eps


def check_mode(mode: str) -> str:
    """Normalise a mode name; ``one_to_one``/``one-to-one`` are aliases of ``default``."""
    m = str(mode).lower().replace("-", "_")
    if m in ("default", "one_to_one", "corrected"):
        return "default"
    if m == "legacy":
        return "legacy"
    raise ValueError(f"evaluation mode must be 'default'/'one_to_one' or 'legacy', got {mode!r}")


def voc_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    """VOC all-point AP (the reference ``_voc_ap(use_07_metric=False)``, same arithmetic).

    Sentinels (0, 0) and (1, 0) are added, the precision is replaced by its running maximum from
    the right, and ``sum((rec[i+1] - rec[i]) * prec[i+1])`` is taken where recall changes.
    """
    mrec = np.concatenate(([0.0], np.asarray(rec, np.float64), [1.0]))
    mpre = np.concatenate(([0.0], np.asarray(prec, np.float64), [0.0]))
    # Running max from the right; identical to the reference loop (np.maximum is exact).
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    with np.errstate(invalid="ignore"):
        i = np.where(mrec[1:] != mrec[:-1])[0]
        return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def sort_order(scores: np.ndarray, mode: str, legacy_rule: str = "neg") -> np.ndarray:
    """Indices that sort ``scores`` descending.

    Args:
        scores: (N,) scores in concatenation order (image order, then prediction index).
        mode: "default" (stable: ties keep concatenation order) or "legacy".
        legacy_rule: the reference's exact call in legacy mode: ``"neg"`` = ``argsort(-s)``
            (AP^p), ``"rev"`` = ``argsort(s)[::-1]`` (AP^r, AP^h). Both use numpy's default,
            unstable sort.
    """
    scores = np.asarray(scores)
    if mode == "legacy":
        if legacy_rule == "neg":
            return np.argsort(-scores)
        return np.argsort(scores)[::-1]
    return np.argsort(-np.asarray(scores, np.float64), kind="stable")


def ap_from_tp(tp_sorted: np.ndarray, npos: float) -> tuple[np.ndarray, np.ndarray, float]:
    """AP of one ranked list.

    Args:
        tp_sorted: (N,) 0/1 flags in descending score order; every entry is either TP or FP.
        npos: number of ground-truth objects (the recall denominator).

    Returns:
        (recall, precision, AP). ``npos == 0`` gives NaN/inf recall exactly as the reference
        does (callers decide whether to keep such a class).
    """
    tp = np.asarray(tp_sorted, np.float64)
    fp = 1.0 - tp
    ctp = np.cumsum(tp)
    cfp = np.cumsum(fp)
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = ctp / float(npos)
        prec = ctp / np.maximum(ctp + cfp, _EPS)
    return rec, prec, voc_ap(rec, prec)


def mean_over(values: Sequence[float]) -> float:
    """nanmean that returns NaN (without a warning) when every value is NaN."""
    v = np.asarray(values, np.float64)
    if v.size == 0 or np.all(np.isnan(v)):
        return float("nan")
    return float(np.nanmean(v))
