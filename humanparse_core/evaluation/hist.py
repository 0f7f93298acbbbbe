"""Histogram and box helpers shared by every metric (numpy/cv2 only, no detectron2).

All metrics of this package reduce to joint histograms of two integer maps. ``joint_hist`` uses
OpenCV's ``calcHist`` for two uint8 maps (exact integer counts up to 2**24 pixels per bin) and
``np.bincount`` otherwise; values outside ``[0, na)`` / ``[0, nb)`` are simply not counted.
"""

import cv2
import numpy as np

from ..io import mask_box

__all__ = [
    "joint_hist",
    "joint_hist3",
    "hist1d",
    "category_ignore_to_c",
    "box_intersection",
    "union_box",
    "Box",
]

# (y0, x0, y1, x1), half-open, in image coordinates (``mask_box(m, "yxyx")``).
Box = tuple[int, int, int, int]

_CV2_MAX_PIXELS = 1 << 24  # calcHist accumulates in float32: exact below 2**24 per bin


def _cv2_ok(*arrays: np.ndarray) -> bool:
    return (
        all(a.dtype == np.uint8 and a.ndim == 2 for a in arrays)
        and arrays[0].size < _CV2_MAX_PIXELS
        and arrays[0].size > 0
    )


def union_box(*maps: np.ndarray) -> Box | None:
    """Smallest box holding every non-zero pixel of the (equally shaped, uint8) maps."""
    box = None
    for m in maps:
        b = mask_box(m, "yxyx")
        if b is None:
            continue
        box = (
            b
            if box is None
            else (min(box[0], b[0]), min(box[1], b[1]), max(box[2], b[2]), max(box[3], b[3]))
        )
    return box


def _crop_to_foreground(maps):
    """(cropped maps, number of pixels left out) when all maps are zero outside a smaller box."""
    h, w = maps[0].shape[:2]
    box = union_box(*maps)
    if box is None:
        return [m[:0, :0] for m in maps], h * w
    y0, x0, y1, x1 = box
    area = (y1 - y0) * (x1 - x0)
    if area > 0.9 * h * w:
        return maps, 0
    return [m[y0:y1, x0:x1] for m in maps], h * w - area


def joint_hist(a: np.ndarray, b: np.ndarray, na: int, nb: int) -> np.ndarray:
    """Joint histogram of two equally shaped integer maps.

    Args:
        a, b: (H, W) integer maps.
        na, nb: number of bins; ``a`` values outside ``[0, na)`` and ``b`` values outside
            ``[0, nb)`` are not counted.

    Returns:
        (na, nb) int64 array: ``out[i, j] = #{p : a[p] == i and b[p] == j}``.
    """
    if a.shape != b.shape:
        raise ValueError(f"joint_hist: shapes differ {a.shape} vs {b.shape}")
    if a.size == 0:
        return np.zeros((na, nb), np.int64)
    if na <= 256 and nb <= 256 and _cv2_ok(a, b):
        (a, b), outside = _crop_to_foreground([a, b])  # pixels outside are (0, 0)
        if a.size:
            h = cv2.calcHist(
                [np.ascontiguousarray(a), np.ascontiguousarray(b)],
                [0, 1],
                None,
                [na, nb],
                [0, na, 0, nb],
            ).astype(np.int64)
        else:
            h = np.zeros((na, nb), np.int64)
        h[0, 0] += outside
        return h
    a = np.asarray(a).ravel()
    b = np.asarray(b).ravel()
    keep = None
    if a.min() < 0 or a.max() >= na:
        keep = (a >= 0) & (a < na)
    if b.min() < 0 or b.max() >= nb:
        kb = (b >= 0) & (b < nb)
        keep = kb if keep is None else keep & kb
    if keep is not None:
        a, b = a[keep], b[keep]
    key = a.astype(np.int64) * nb + b
    return np.bincount(key, minlength=na * nb)[: na * nb].reshape(na, nb)


def hist1d(a: np.ndarray, n: int) -> np.ndarray:
    """Histogram of an integer map: (n,) int64 counts of the values in ``[0, n)``."""
    if a.size == 0:
        return np.zeros(n, np.int64)
    if n <= 256 and _cv2_ok(a):
        return (
            cv2.calcHist([np.ascontiguousarray(a)], [0], None, [n], [0, n]).ravel().astype(np.int64)
        )
    a = np.asarray(a).ravel()
    if a.min() < 0 or a.max() >= n:
        a = a[(a >= 0) & (a < n)]
    return np.bincount(a.astype(np.int64), minlength=n)[:n]


def box_intersection(a: Box | None, b: Box | None) -> Box | None:
    """Intersection of two half-open boxes, None if empty."""
    if a is None or b is None:
        return None
    y0, x0 = max(a[0], b[0]), max(a[1], b[1])
    y1, x1 = min(a[2], b[2]), min(a[3], b[3])
    if y1 <= y0 or x1 <= x0:
        return None
    return (y0, x0, y1, x1)


def joint_hist3(
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    na: int,
    nb: int,
    nc: int,
    crop_foreground: bool = True,
) -> np.ndarray:
    """Joint histogram of three equally shaped (H, W) integer maps.

    Returns:
        (na, nb, nc) int64 counts; values outside ``[0, na)`` / ``[0, nb)`` / ``[0, nc)`` are not
        counted. ``crop_foreground`` first crops the uint8 maps to their non-zero box (a saving
        for sparse maps; callers passing box crops already turn it off).
    """
    if a.dtype == b.dtype == c.dtype == np.uint8 and max(na, nb, nc) <= 256 and _cv2_ok(a):
        outside = 0
        if crop_foreground:
            (a, b, c), outside = _crop_to_foreground([a, b, c])  # pixels outside are (0, 0, 0)
        if a.size:
            h = cv2.calcHist(
                [x if x.strides[1] == 1 else np.ascontiguousarray(x) for x in (a, b, c)],
                [0, 1, 2],
                None,
                [na, nb, nc],
                [0, na, 0, nb, 0, nc],
            ).astype(np.int64)
        else:
            h = np.zeros((na, nb, nc), np.int64)
        h[0, 0, 0] += outside
        return h
    a, b, c = (np.asarray(x).astype(np.int64).ravel() for x in (a, b, c))
    keep = (a >= 0) & (a < na) & (b >= 0) & (b < nb) & (c >= 0) & (c < nc)
    key = (a[keep] * nb + b[keep]) * nc + c[keep]
    return np.bincount(key, minlength=na * nb * nc).reshape(na, nb, nc)


_IGNORE_LUTS: dict[int, np.ndarray] = {}


def category_ignore_to_c(category: np.ndarray, num_classes: int) -> np.ndarray:
    """(H, W) uint8 copy of a GT class map with every ignore value (outside [0, C)) set to C."""
    C = num_classes
    if category.dtype == np.uint8:
        lut = _IGNORE_LUTS.get(C)
        if lut is None:
            lut = _IGNORE_LUTS[C] = np.minimum(np.arange(256), C).astype(np.uint8)
        return cv2.LUT(category, lut)
    return np.where((category < 0) | (category >= C), C, category).astype(np.uint8)
