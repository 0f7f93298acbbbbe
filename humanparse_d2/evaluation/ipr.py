"""Isolated pixel rate (MMAN, metrics.md §7.2). Pure numpy.

A pixel is isolated iff none of its in-image 8-neighbours carries its label (a singleton
8-connected component); out-of-image neighbours count as different. This equals the one-hot
3x3 all-ones depthwise convolution test (same-label count at the pixel's own label == 1).
"""

from typing import Tuple

import numpy as np

__all__ = ["isolated_pixel_count", "isolated_pixel_rate"]


def isolated_pixel_count(label: np.ndarray) -> Tuple[int, int]:
    """(number of isolated pixels, number of pixels) of one (H, W) label map."""
    lab = np.asarray(label)
    if lab.ndim != 2:
        raise ValueError(f"IPR expects an (H, W) label map, got shape {lab.shape}")
    h, w = lab.shape
    if lab.size == 0:
        return 0, 0
    pad = np.full((h + 2, w + 2), -1, np.int32)
    pad[1:-1, 1:-1] = lab
    center = pad[1:-1, 1:-1]
    same = np.zeros((h, w), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            same |= pad[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] == center
    return int(np.count_nonzero(~same)), int(lab.size)


def isolated_pixel_rate(label: np.ndarray) -> float:
    """IPR of one map in percent (100 * isolated / pixels)."""
    n, total = isolated_pixel_count(label)
    return 100.0 * n / total if total else float("nan")
