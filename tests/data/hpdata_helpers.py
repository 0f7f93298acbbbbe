"""Writers for tiny raw-layout fixtures (hand-made maps with known persons); used by tests/data."""

from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, arr: np.ndarray, mode=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)


def write_jpg(path: Path, h: int, w: int, seed: int = 0, gray: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h, w) if gray else (h, w, 3), dtype=np.uint8)
    Image.fromarray(img).save(path, quality=95)


def two_person_maps(h=40, w=32):
    """Category and Human maps: person 1 at x 2..13 (classes 5 and 14), person 2 at x 16..29 (13, 9)."""
    cat = np.zeros((h, w), np.uint8)
    hum = np.zeros((h, w), np.uint8)
    cat[5:30, 2:14] = 5
    cat[5:12, 2:6] = 14
    hum[5:30, 2:14] = 1
    cat[10:38, 16:30] = 9
    cat[10:16, 16:30] = 13
    hum[10:38, 16:30] = 2
    return cat, hum


def instance_from(cat, hum):
    inst = np.zeros_like(cat)
    rows = []
    for h in np.unique(hum[hum > 0]):
        for c in np.unique(cat[hum == h]):
            if c == 0:
                continue
            rid = 20 * (int(h) - 1) + int(c)
            inst[(hum == h) & (cat == c)] = rid
            rows.append(f"{rid} {int(c)} {int(h)}")
    return inst, rows
