"""Inputs of :func:`~.image_eval.evaluate_image`: one image's ground truth and predictions.

Every field is optional; a metric is computed when the ground truth it needs is given (the
prediction may then be missing, see :attr:`ImagePred.missing`).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .person_label import PersonLabel

__all__ = ["ImageGT", "ImagePred"]


@dataclass
class ImageGT:
    """Ground truth of one image.

    Attributes:
        category: (H, W) integer class map (``Category_ids``; values outside [0, C) are ignore).
            mIoU, and AP^p in the CIHP layout.
        human: (H, W) integer person-id map (``Human_ids``, 0 = background). AP^p in the CIHP
            layout (GT person = ``category * (human == id)``) and AP^h.
        person_ids: annotated person ids of ``human`` in annotation order, or "all" for every id
            present in ``human`` (ascending). AP^p in the CIHP layout.
        persons: box-local GT persons (e.g. MHP-v2 per-person PNGs, overlaps kept); AP^p uses them
            instead of ``category`` / ``human`` / ``person_ids``.
        crowd: (P,) bool per annotated person (``persons`` or ``person_ids``); crowd persons do
            not count in the default mode.
        instance: (H, W) integer part-region id map (``Instance_ids``). AP^r.
        instance_classes: region id -> class dict, or (G + 1,) int array (-1 = unlisted). AP^r.
    """

    category: np.ndarray | None = None
    human: np.ndarray | None = None
    person_ids: Sequence[int] | str | None = None
    persons: Sequence[PersonLabel] | None = None
    crowd: Sequence[bool] | None = None
    instance: np.ndarray | None = None
    instance_classes: dict[int, int] | np.ndarray | None = None


@dataclass
class ImagePred:
    """Predictions of one image (the submission layout's four kinds).

    Attributes:
        global_map: (H, W) uint8 class map (``global_parsing``). mIoU.
        persons: K box-local predicted persons (``person_parsing``). AP^p.
        person_scores: (K,) float scores of ``persons``.
        regions: (H, W) integer part-region ids 1..R, 0 = background (``instance_parsing``). AP^r.
        region_classes, region_scores: (R,) class and score of regions 1..R.
        person_map: (H, W) integer person ids 1..K', 0 = background (``instance_segmentation``).
            AP^h.
        person_map_scores: (K',) float scores of the persons of ``person_map``.
        missing: prediction kinds ("global_parsing", "instance_parsing", "person_parsing",
            "instance_segmentation") absent for this image; the mode's rule applies (legacy skips
            the image for mIoU/AP^r/AP^h, default scores an empty prediction).
        file_names: prediction kind -> file path, named in error messages.
    """

    global_map: np.ndarray | None = None
    persons: Sequence[PersonLabel] | None = None
    person_scores: Sequence[float] | None = None
    regions: np.ndarray | None = None
    region_classes: Sequence[int] | None = None
    region_scores: Sequence[float] | None = None
    person_map: np.ndarray | None = None
    person_map_scores: Sequence[float] | None = None
    missing: Sequence[str] = ()
    file_names: dict[str, str] = field(default_factory=dict)
