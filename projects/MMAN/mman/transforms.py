"""MMAN's training geometry (the released code's three crop branches), for the single-person mapper.

Importing this module registers ``"mman"`` in
:data:`humanparse_d2.data.mappers.SINGLE_PERSON_GEOMETRY_REGISTRY`, the geometry
``SinglePersonParsingMapper`` uses when ``INPUT.PARSING.SINGLE.CROP_MODE`` is "mman".
"""

import numpy as np
from detectron2.data import transforms as T
from detectron2.data.transforms import TransformList

from humanparse_d2.data.mappers import SINGLE_PERSON_GEOMETRY_REGISTRY
from humanparse_d2.data.transforms import ProcessRNG

__all__ = ["MMANRandomGeometry", "mman"]


class MMANRandomGeometry(T.Augmentation):
    """MMAN's training geometry on an already squashed ``load`` x ``load`` image.

    Branch a (p0): random-resized crop with area fraction U(area) and aspect U(aspect), w/h swapped
    with p 0.5, sides capped at the image; resize to ``crop`` x ``crop``. Branch b (p1): random
    ``crop`` x ``crop`` window. Branch c (p2): resize to ``crop`` x ``crop``.
    """

    def __init__(
        self,
        crop: int = 256,
        probs=(0.40, 0.33, 0.27),
        area=(0.64, 1.0),
        aspect=(0.8, 1.25),
        rng=None,
    ):
        super().__init__()
        self._init(locals())
        self.rng = rng if isinstance(rng, ProcessRNG) else ProcessRNG(rng)

    def get_transform(self, image):
        rng = self.rng.get()
        H, W = image.shape[:2]
        p = np.asarray(self.probs, np.float64)
        b = int(np.searchsorted(np.cumsum(p / p.sum()), rng.random(), side="right"))
        c = self.crop
        if b == 0:
            area = rng.uniform(*self.area) * H * W
            ar = rng.uniform(*self.aspect)
            w = int(round(np.sqrt(area * ar)))
            h = int(round(np.sqrt(area / ar)))
            if rng.random() < 0.5:
                w, h = h, w
            w, h = min(max(w, 1), W), min(max(h, 1), H)
            x0 = int(rng.integers(0, W - w + 1))
            y0 = int(rng.integers(0, H - h + 1))
            return TransformList([T.CropTransform(x0, y0, w, h), T.ResizeTransform(h, w, c, c)])
        if b == 1 and H >= c and W >= c:
            x0 = int(rng.integers(0, W - c + 1))
            y0 = int(rng.integers(0, H - c + 1))
            return T.CropTransform(x0, y0, c, c)
        return T.ResizeTransform(H, W, c, c)


@SINGLE_PERSON_GEOMETRY_REGISTRY.register()
def mman(
    crop_size: int,
    *,
    resize: str,
    rng: ProcessRNG,
    branch_probs=(0.40, 0.33, 0.27),
    rrc_area=(0.64, 1.0),
    rrc_aspect=(0.8, 1.25),
    **_,
) -> T.Augmentation:
    """``CROP_MODE: mman``: the three branches on a squashed image; the branches assume a square
    input, so after a shortest-edge resize one random square crop is taken instead."""
    if resize == "squash":
        probs, area, aspect = tuple(branch_probs), tuple(rrc_area), tuple(rrc_aspect)
        return MMANRandomGeometry(crop_size, probs, area, aspect, rng=rng)
    return T.RandomCrop("absolute", (crop_size, crop_size))


def _mman_options_from_config(cfg) -> dict:
    """The keys ``add_mman_config`` adds under ``INPUT.PARSING.SINGLE``."""
    s = cfg.INPUT.PARSING.SINGLE
    return {
        "branch_probs": tuple(s.BRANCH_PROBS),
        "rrc_area": tuple(s.RRC_AREA),
        "rrc_aspect": tuple(s.RRC_ASPECT),
    }


mman.options_from_config = _mman_options_from_config
