"""Reporting of an evaluation summary (the dict of :meth:`ParsingAccumulator.summarize`): the
headline metrics, detectron2's flat float dict and the JSON file. Shared by the detectron2
evaluators and ``tools/eval_parsing.py``.
"""

import json
import math
import os
from collections import OrderedDict

import numpy as np

__all__ = ["HEADLINE_METRICS", "headline", "json_safe", "results_to_flat", "write_json"]

# The metrics of the one-line evaluator log and the CLI's first table, in this order; each is
# shown when the summary has it.
HEADLINE_METRICS = (
    ("mIoU", "pixel_acc", "mean_acc")  # mIoU with pixel / mean accuracy
    + ("mIoU_lowres", "IPR")  # the single-person extras of MMAN
    + ("AP_p_vol", "AP_p50", "PCP50")  # AP^p, PCP at IoU 0.5
    + ("AP_r_vol", "AP_r50", "AP_h", "AP_h50")  # AP^r, AP^h
)

# detectron2's flat dict, in print order: per group the scalar keys, then the per-class or
# per-threshold dicts of the summary as "<prefix><class name or threshold>" keys.
_FLAT_LAYOUT = (
    (("mIoU", "pixel_acc", "mean_acc"), (("IoU", "IoU-"),)),
    (("mIoU_lowres", "IPR"), ()),
    (("AP_p_vol", "AP_p50", "PCP50"), (("AP_p", "AP_p@"), ("PCP", "PCP@"))),
    (("AP_r_vol", "AP_r50"), (("AP_r", "AP_r@"),)),
    (("AP_h", "AP_h50", "AP_h75"), ()),
)


def _key(k) -> str:
    """A summary dict key as text: thresholds as ``0.1``, class names unchanged."""
    return f"{k:g}" if isinstance(k, float) else str(k)


def headline(summary: dict) -> list[tuple[str, float]]:
    """``(name, value)`` of the :data:`HEADLINE_METRICS` the summary has, in that order."""
    return [(k, summary[k]) for k in HEADLINE_METRICS if k in summary]


def results_to_flat(summary: dict) -> "OrderedDict[str, float]":
    """The summary as detectron2's flat ``{name: float}`` dict (what EvalHook and
    ``print_csv_format`` need), e.g. ``mIoU``, ``IoU-Hair``, ``AP_p@0.5``, ``AP_r_vol``."""
    out: OrderedDict[str, float] = OrderedDict()
    for scalars, per_key in _FLAT_LAYOUT:
        for k in scalars:
            if k in summary:
                out[k] = float(summary[k])
        for k, prefix in per_key:
            for t, v in summary.get(k, {}).items():
                out[prefix + _key(t)] = float(v)
    return out


def json_safe(x):
    """A JSON-ready copy: NaN / inf -> None, numpy scalars -> Python numbers, float keys ->
    ``'0.1'``."""
    if isinstance(x, dict):
        return {_key(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        return None if (math.isnan(x) or math.isinf(x)) else x
    return x


def write_json(path: str, summary: dict) -> None:
    """Write :func:`json_safe` of ``summary`` to ``path`` (indent 2), creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(json_safe(summary), f, indent=2)
