"""Canonical metric names and their accepted spellings (CLI, configs, evaluator arguments)."""

from collections.abc import Iterable

__all__ = ["METRIC_ALIASES", "normalize_metrics"]

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


def normalize_metrics(metrics: str | Iterable[str]) -> tuple[str, ...]:
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
