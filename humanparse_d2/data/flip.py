"""Left/right label swapping under horizontal flips: the per-dataset LUT and its application.

:func:`humanparse_core.metadata.make_flip_lut` builds a LUT from a dataset's ``flip_map`` pairs;
this module finds the LUT of registered datasets (``MetadataCatalog``) for the mappers (one per
record, :class:`FlipLUTs`) and for the models' flip test (:func:`flip_lut_for`), and applies it to
label maps (:func:`apply_flip_lut`).
"""

import logging
from collections.abc import Sequence

import cv2
import numpy as np
from detectron2.data import MetadataCatalog

from humanparse_core.metadata import make_flip_lut

__all__ = ["flip_lut_for", "FlipLUTs", "apply_flip_lut"]

logger = logging.getLogger(__name__)


def _dataset_flip_lut(name: str, num_classes: int | None = None) -> list[int] | None:
    """``flip_lut`` of the dataset's metadata, else one of ``num_classes`` (default: the dataset's
    class count) built from its ``flip_map`` pairs, else None."""
    meta = MetadataCatalog.get(name)
    lut = meta.get("flip_lut", None)
    if lut is None and meta.get("flip_map", None) is not None:
        c = num_classes or meta.get("num_parsing", None) or len(meta.get("stuff_classes", ()))
        lut = make_flip_lut(int(c), meta.flip_map)
    return None if lut is None else [int(v) for v in lut]


def flip_lut_for(
    dataset_names: Sequence[str], num_classes: int | None = None, *, key: str = "num_classes"
) -> list[int] | None:
    """The class permutation of a horizontal flip (C ints) of the first dataset that has one.

    Args:
        dataset_names: registered dataset names, in order of preference.
        num_classes: C of the model; a LUT of another length is an error naming ``key`` (the config
            key that sets C). None: no check.
        key: the config key reported when the lengths differ.

    Returns:
        ``lut`` with ``lut[c]`` the class of c after a flip, or None if no dataset has a flip map.
    """
    luts = [(name, _dataset_flip_lut(name, num_classes)) for name in dataset_names]
    found = [(name, lut) for name, lut in luts if lut is not None]
    if not found:
        return None
    if len({tuple(lut) for _, lut in found}) > 1:
        logger.info(
            "datasets %s have different flip maps; %r's is the default",
            list(dataset_names),
            found[0][0],
        )
    name, lut = found[0]
    if num_classes is not None and len(lut) != num_classes:
        raise ValueError(
            f"dataset {name!r} has {len(lut)} parsing classes (its flip_lut) "
            f"but {key}={num_classes}"
        )
    return lut


class FlipLUTs:
    """The flip LUT of each record's dataset (records carry ``dataset_name``), with a default.

    Mappers hold one: a training set may concatenate datasets with different flip maps.
    """

    def __init__(self, default: Sequence[int] | None):
        self.default = list(default) if default is not None else None
        self._cache: dict[str, list[int] | None] = {}

    def __call__(self, record: dict) -> list[int] | None:
        name = record.get("dataset_name")
        if name is None:
            return self.default
        if name not in self._cache:
            lut = _dataset_flip_lut(name)
            self._cache[name] = lut if lut is not None else self.default
        return self._cache[name]


def apply_flip_lut(label: np.ndarray, flip_lut: Sequence[int] | None) -> np.ndarray:
    """Swap left/right classes of a label map via the LUT (255 and other values >= C unchanged)."""
    if flip_lut is None:
        return label
    if label.dtype == np.uint8:
        lut = np.arange(256, dtype=np.uint8)
        lut[: len(flip_lut)] = np.asarray(flip_lut, dtype=np.uint8)
        return cv2.LUT(label, lut)
    lut = np.arange(max(256, int(label.max(initial=0)) + 1), dtype=label.dtype)
    lut[: len(flip_lut)] = np.asarray(flip_lut, dtype=label.dtype)
    return lut[label]
