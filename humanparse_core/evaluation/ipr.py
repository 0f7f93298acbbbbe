"""Isolated pixel rate (IPR, MMAN paper Table 4). Pure numpy.

The paper counts "isolated pixels", which "reflect local inconsistency such as holes", and gives no
formula or unit. Definition here: a pixel is isolated iff none of its in-image neighbours carries
its label (a singleton connected component); out-of-image neighbours count as different. IPR is
100 x isolated pixels / pixels, pooled over a dataset.

- ``connectivity=8`` (the default, reported as ``IPR``): the 8 neighbours. Equals the one-hot 3x3
  all-ones depthwise convolution test (same-label count at the pixel's own label == 1). A
  checkerboard, the artefact of a k4-s2 transposed convolution, scores **0**: each pixel has
  diagonal neighbours of its own label.
- ``connectivity=4`` (``IPR_4conn``): the 4 edge neighbours only. A checkerboard scores 100 %, and
  every single-pixel hole or speck counts whether or not it touches a same-label pixel diagonally.

Multi-pixel holes are counted by neither.
"""

import numpy as np

__all__ = ["isolated_pixel_count", "isolated_pixel_rate"]

_OFFSETS = {
    8: [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)],
    4: [(-1, 0), (1, 0), (0, -1), (0, 1)],
}


def isolated_pixel_count(label: np.ndarray, connectivity: int = 8) -> tuple[int, int]:
    """(number of isolated pixels, number of pixels) of one (H, W) label map.

    Args:
        connectivity: 8 (any of the 8 neighbours shares the label) or 4 (edge neighbours only).
    """
    if connectivity not in _OFFSETS:
        raise ValueError(f"IPR connectivity must be 4 or 8, got {connectivity!r}")
    lab = np.asarray(label)
    if lab.ndim != 2:
        raise ValueError(f"IPR expects an (H, W) label map, got shape {lab.shape}")
    h, w = lab.shape
    if lab.size == 0:
        return 0, 0
    pad = np.full((h + 2, w + 2), -1, np.int64)
    pad[1:-1, 1:-1] = lab
    center = pad[1:-1, 1:-1]
    same = np.zeros((h, w), bool)
    for dy, dx in _OFFSETS[connectivity]:
        same |= pad[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] == center
    return int(np.count_nonzero(~same)), int(lab.size)


def isolated_pixel_rate(label: np.ndarray, connectivity: int = 8) -> float:
    """IPR of one map in percent (100 * isolated / pixels)."""
    n, total = isolated_pixel_count(label, connectivity)
    return 100.0 * n / total if total else float("nan")
