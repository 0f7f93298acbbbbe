"""Semantic metrics: global confusion, mIoU, pixel and mean accuracy.

Pure numpy. One integer confusion matrix (rows = GT, columns = prediction) is accumulated over the
whole split; per-image mIoUs are never averaged.
"""

from collections.abc import Sequence

import cv2
import numpy as np

from .ap import check_mode
from .hist import joint_hist

__all__ = [
    "confusion_matrix",
    "semantic_scores",
    "nearest_exact_resize",
    "apply_label_merge",
    "merge_exclude_classes",
]


def confusion_matrix(
    gt: np.ndarray, pred: np.ndarray, num_classes: int, *, name: str = ""
) -> np.ndarray:
    """(C, C) int64 confusion of one image; GT values outside [0, C) (255 = ignore) are skipped.

    Raises:
        ValueError: if a prediction value is outside [0, C) or the shapes differ (``name`` is put
            in the message, e.g. the prediction file).
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    where = f" in {name}" if name else ""
    if gt.shape != pred.shape:
        raise ValueError(
            f"size mismatch{where}: prediction {pred.shape[:2]} vs ground truth {gt.shape[:2]}"
        )
    if pred.size and (int(pred.max()) >= num_classes or int(pred.min()) < 0):
        raise ValueError(
            f"prediction label {int(pred.max())} out of range [0, {num_classes}){where}"
        )
    return joint_hist(gt, pred, num_classes, num_classes)


def semantic_scores(
    conf: np.ndarray, mode: str = "default", include: Sequence[int] | None = None
) -> dict[str, object]:
    """mIoU, pixel accuracy and mean accuracy of a global confusion matrix (fractions, not %).

    Args:
        conf: (C, C) confusion, rows = GT.
        mode: "legacy": ``+1e-10`` in the denominators (a class with zero union scores 0 and
            is averaged); "default": such classes are NaN, excluded and listed in
            ``classes_absent`` (IoU) / excluded from the mean accuracy (no GT pixel).
        include: optional class indices the means run over (PPSS: 7 of 8); per-class values
            are still returned for every class.

    Returns:
        dict with mIoU, pixel_acc, mean_acc (floats), IoU, Acc ((C,) float arrays) and
        classes_absent (list of int).
    """
    mode = check_mode(mode)
    h = np.asarray(conf, np.float64)
    diag = np.diag(h)
    row = h.sum(1)
    col = h.sum(0)
    union = row + col - diag
    with np.errstate(divide="ignore", invalid="ignore"):
        if mode == "legacy":
            iou = diag / (union + 1e-10)
            acc = diag / (row + 1e-10)
        else:
            iou = np.where(union > 0, diag / np.where(union > 0, union, 1), np.nan)
            acc = np.where(row > 0, diag / np.where(row > 0, row, 1), np.nan)
        total = h.sum()
        pixel_acc = float(diag.sum() / total) if total > 0 else float("nan")
    sel = np.arange(h.shape[0]) if include is None else np.asarray(list(include), np.int64)

    def _nanmean(v):
        v = v[sel]
        return float(np.nanmean(v)) if v.size and not np.all(np.isnan(v)) else float("nan")

    absent = [int(c) for c in range(h.shape[0]) if union[c] == 0]
    return {
        "mIoU": _nanmean(iou),
        "pixel_acc": pixel_acc,
        "mean_acc": _nanmean(acc),
        "IoU": iou,
        "Acc": acc,
        "classes_absent": absent if mode == "default" else [],
    }


def nearest_exact_resize(label: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Centre-nearest resize of a (H, W) label map to ``out_hw``: PIL's ``NEAREST``, the resize of
    MMAN's evaluation, which is OpenCV's ``INTER_NEAREST_EXACT`` (output pixel i samples input pixel
    ``floor((i + 0.5) * in / out)`` in fixed point; tests/evaluation/test_metrics_core.py compares
    the two on random size pairs). The dtype is kept.
    """
    h, w = label.shape[:2]
    oh, ow = int(out_hw[0]), int(out_hw[1])
    if (oh, ow) == (h, w):
        return label
    src = label.view(np.uint8) if label.dtype == np.bool_ else label  # OpenCV 4 has no bool
    out = cv2.resize(src, (ow, oh), interpolation=cv2.INTER_NEAREST_EXACT)
    return out.reshape((oh, ow) + label.shape[2:]).astype(label.dtype, copy=False)


def apply_label_merge(label: np.ndarray, lut: Sequence[int]) -> np.ndarray:
    """Map predicted labels through a merge LUT (e.g. LIP -> PPSS)."""
    lut_arr = np.asarray(lut, np.int64)
    if label.size and int(label.max()) >= lut_arr.size:
        raise ValueError(f"label {int(label.max())} outside the merge LUT of length {lut_arr.size}")
    return lut_arr[label].astype(np.uint8 if lut_arr.max() < 256 else np.int32)


def merge_exclude_classes(label_merge: dict | None, class_names: Sequence[str]) -> tuple[int, ...]:
    """Classes left out of the averages for a merged protocol.

    ``label_merge["exclude"]`` wins; otherwise the LIP -> PPSS merge excludes the shoes class
    (MMAN Table 3 averages 7 of the 8 PPSS labels).
    """
    if not label_merge:
        return ()
    if "exclude" in label_merge:
        return tuple(int(c) for c in label_merge["exclude"])
    if str(label_merge.get("from", "")).lower() == "lip":
        return tuple(i for i, n in enumerate(class_names) if str(n).lower().startswith("shoe"))
    return ()
