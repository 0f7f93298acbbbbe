"""Histogram and box helpers shared by every metric (numpy/cv2 only, no detectron2).

All metrics of this package reduce to joint histograms of two integer maps. ``joint_hist`` uses
OpenCV's ``calcHist`` for two uint8 maps (exact integer counts up to 2**24 pixels per bin) and
``np.bincount`` otherwise; values outside ``[0, na)`` / ``[0, nb)`` are simply not counted.
"""

from typing import Optional, Tuple

import numpy as np

try:  # cv2 is a hard dependency of the package; keep the numpy path usable without it.
    import cv2
except ImportError:  # pragma: no cover
    cv2 = None

__all__ = ["joint_hist", "hist1d", "nonzero_box", "box_intersection", "union_box", "Box"]

# (y0, x0, y1, x1), half-open, in image coordinates.
Box = Tuple[int, int, int, int]

_CV2_MAX_PIXELS = 1 << 24  # calcHist accumulates in float32: exact below 2**24 per bin


def _cv2_ok(*arrays: np.ndarray) -> bool:
    return (
        cv2 is not None
        and all(a.dtype == np.uint8 and a.ndim == 2 for a in arrays)
        and arrays[0].size < _CV2_MAX_PIXELS
        and arrays[0].size > 0
    )


def union_box(*maps: np.ndarray) -> Optional[Box]:
    """Smallest box holding every non-zero pixel of the (equally shaped, uint8) maps."""
    box = None
    for m in maps:
        b = nonzero_box(m)
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


def nonzero_box(m: np.ndarray) -> Optional[Box]:
    """Tight (y0, x0, y1, x1) half-open box of the non-zero pixels of ``m``, or None if none."""
    if m.size == 0:
        return None
    if cv2 is not None and m.dtype == np.uint8 and m.ndim == 2:
        x, y, w, h = cv2.boundingRect(m if m.strides[1] == 1 else np.ascontiguousarray(m))
        if w == 0 or h == 0:
            return None
        return (y, x, y + h, x + w)
    nz = m != 0
    rows = np.flatnonzero(nz.any(1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(nz.any(0))
    return (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def box_intersection(a: Optional[Box], b: Optional[Box]) -> Optional[Box]:
    """Intersection of two half-open boxes, None if empty."""
    if a is None or b is None:
        return None
    y0, x0 = max(a[0], b[0]), max(a[1], b[1])
    y1, x1 = min(a[2], b[2]), min(a[3], b[3])
    if y1 <= y0 or x1 <= x0:
        return None
    return (y0, x0, y1, x1)
