"""Whole-image single-person parsing samples (MMAN), with a pluggable training geometry."""

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import transforms as T
from detectron2.utils.registry import Registry
from PIL import Image

from humanparse_core.io import BadAnnotationError, read_label

from ..flip import FlipLUTs, apply_flip_lut, flip_lut_for
from ..transforms import ProcessRNG, RandomSquareCrop
from .common import PARSING_MAPPER_REGISTRY, log_augmentations, read_record_image

__all__ = ["SinglePersonParsingMapper", "SINGLE_PERSON_GEOMETRY_REGISTRY"]

SINGLE_PERSON_GEOMETRY_REGISTRY = Registry("SINGLE_PERSON_GEOMETRY")
SINGLE_PERSON_GEOMETRY_REGISTRY.__doc__ = """
Training geometry of :class:`SinglePersonParsingMapper`, selected by name with
``INPUT.PARSING.SINGLE.CROP_MODE``: "random" here; paper packages register their own (MMAN: "mman").
An entry is called as ``fn(crop_size, resize=..., rng=ProcessRNG, **geometry_options)`` and returns
a ``T.Augmentation`` applied to the resized image padded to at least ``crop_size`` on both sides; it
must draw its randomness from ``rng`` (the mapper's seeded stream). An entry whose options come from
config keys of its own package carries ``options_from_config(cfg) -> dict`` (MMAN's does).
"""


def _geometry_options(cfg, crop_mode: str) -> dict:
    """The registered geometry's keyword options from ``cfg`` ({} for none or an unknown name,
    which the mapper then rejects with the list of names)."""
    if crop_mode not in SINGLE_PERSON_GEOMETRY_REGISTRY:
        return {}
    from_cfg = getattr(SINGLE_PERSON_GEOMETRY_REGISTRY.get(crop_mode), "options_from_config", None)
    return from_cfg(cfg) if from_cfg is not None else {}


@SINGLE_PERSON_GEOMETRY_REGISTRY.register()
def random(crop_size: int, *, resize: str, rng: ProcessRNG, **_) -> T.Augmentation:
    """``CROP_MODE: random``: one random ``crop_size`` square (the MMAN paper's crop)."""
    return RandomSquareCrop(crop_size, rng=rng)


_INTERP = {"lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR}


@PARSING_MAPPER_REGISTRY.register()
class SinglePersonParsingMapper:
    """Whole-image single-person parsing (MMAN).

    Training: resize ("squash" to ``load_size``^2, or shorter side to ``load_size``), pad to at
    least ``crop_size`` (image 0, label 255), the ``crop_mode`` geometry (a
    :data:`SINGLE_PERSON_GEOMETRY_REGISTRY` entry), horizontal flip with left/right swap. Test:
    resize per ``test_resize``. Every step works on the uint8 image (PIL resizes).

    Returns:
        dict with "image" (3, h, w) uint8 in ``image_format`` (the model normalises it), "sem_seg"
        (h, w) int64 aligned with the image (255 = ignore/padding), "height"/"width" (original
        size), "file_name", "image_id", "flipped"; with ``thumbnail_size`` > 0 in training also
        "mman_thumbnail" (3, t, t) uint8, a LANCZOS thumbnail of the resized image *before* the crop
        (flipped with it): the condition of MMAN's released Macro D.
    """

    @configurable
    def __init__(
        self,
        is_train: bool = True,
        *,
        resize: str = "squash",
        load_size: int = 286,
        crop_size: int = 256,
        crop_mode: str = "mman",
        geometry_options: dict | None = None,
        flip: bool = True,
        interp: str = "lanczos",
        test_resize: str = "squash",
        test_size: int = 256,
        image_format: str = "RGB",
        flip_lut: list[int] | None = None,
        ignore_label: int = 255,
        seed: int | None = None,
        thumbnail_size: int = 0,
    ):
        """
        Args:
            crop_mode: name of the training geometry in :data:`SINGLE_PERSON_GEOMETRY_REGISTRY`.
            geometry_options: keyword arguments of that geometry (MMAN: branch_probs, rrc_area,
                rrc_aspect).
            image_format: channel order of the output images, "RGB" or "BGR" (``INPUT.FORMAT``).
            seed: seeds the augmentation RNG (one stream per DataLoader worker either way).
            Other args: see ``INPUT.PARSING.SINGLE.*`` in humanparse_d2/data/config.py.
        """
        if resize not in ("squash", "shortest_edge"):
            raise ValueError(f"resize must be 'squash' or 'shortest_edge', got {resize!r}")
        if crop_mode not in SINGLE_PERSON_GEOMETRY_REGISTRY:
            names = sorted(n for n, _ in SINGLE_PERSON_GEOMETRY_REGISTRY)
            raise ValueError(f"crop_mode must be one of {names}, got {crop_mode!r}")
        if test_resize not in ("squash", "shortest_edge", "none"):
            raise ValueError(
                f"test_resize must be 'squash', 'shortest_edge' or 'none', got {test_resize!r}"
            )
        if image_format not in ("RGB", "BGR"):
            raise ValueError(f"image_format must be RGB or BGR, got {image_format!r}")
        self.is_train = is_train
        self.resize, self.load_size, self.crop_size = resize, int(load_size), int(crop_size)
        self.crop_mode = crop_mode
        self.flip = flip
        self.interp = _INTERP[interp]
        self.test_resize, self.test_size = test_resize, int(test_size)
        self.image_format = image_format
        self.ignore_label = ignore_label
        self.rng = ProcessRNG(seed)  # shared with the geometry augmentation; one stream per worker
        self.geometry = SINGLE_PERSON_GEOMETRY_REGISTRY.get(crop_mode)(
            self.crop_size, resize=resize, rng=self.rng, **(geometry_options or {})
        )
        self.thumbnail_size = int(thumbnail_size)
        self.flip_luts = FlipLUTs(flip_lut)
        if is_train:
            log_augmentations(self, [self._resize_aug(self.load_size, resize), self.geometry], True)
        else:
            augs = [self._resize_aug(self.test_size, test_resize)]
            log_augmentations(self, [a for a in augs if a is not None], False)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        s = cfg.INPUT.PARSING.SINGLE
        return {
            "is_train": is_train,
            "resize": s.RESIZE,
            "load_size": s.LOAD_SIZE,
            "crop_size": s.CROP_SIZE,
            "crop_mode": s.CROP_MODE,
            "geometry_options": _geometry_options(cfg, s.CROP_MODE),
            "flip": s.FLIP,
            "interp": s.INTERP,
            "test_resize": s.TEST_RESIZE,
            "test_size": s.TEST_SIZE,
            "image_format": cfg.INPUT.FORMAT,
            "flip_lut": flip_lut_for(cfg.DATASETS.TRAIN if is_train else cfg.DATASETS.TEST),
        }

    def _resize_aug(self, size: int, mode: str):
        if mode == "squash":
            return T.Resize((size, size), interp=self.interp)
        if mode == "shortest_edge":
            return T.ResizeShortestEdge(size, max_size=10**9, interp=self.interp)
        return None

    def _read(self, record: dict) -> tuple[np.ndarray, np.ndarray]:
        """The (H, W, 3) uint8 image and its (H, W) uint8 label map (all ignore when unlabelled)."""
        image = read_record_image(record, self.image_format)
        h, w = image.shape[:2]
        lab_file = record.get("sem_seg_file_name") or record.get("category_file")
        if lab_file:
            label = read_label(lab_file).astype(np.uint8)
        else:
            label = np.full((h, w), self.ignore_label, np.uint8)
        if label.shape != (h, w):
            raise BadAnnotationError(
                f"{lab_file} size differs from the image {record['file_name']}"
            )
        return image, label

    def _train_geometry(self, aug_input: T.AugInput):
        """Resize, thumbnail, pad, crop geometry, flip. Returns (aug_input, flipped, thumbnail)."""
        rng = self.rng.get()
        T.AugmentationList([self._resize_aug(self.load_size, self.resize)])(aug_input)
        img, lab = aug_input.image, aug_input.sem_seg
        t = self.thumbnail_size
        thumb = np.asarray(Image.fromarray(img).resize((t, t), Image.LANCZOS)) if t > 0 else None
        c = self.crop_size
        if img.shape[0] < c or img.shape[1] < c:  # pad: image 0, label ignore
            ph, pw = max(c - img.shape[0], 0), max(c - img.shape[1], 0)
            img = np.pad(img, ((0, ph), (0, pw), (0, 0)))
            lab = np.pad(lab, ((0, ph), (0, pw)), constant_values=self.ignore_label)
            aug_input = T.AugInput(img, sem_seg=lab)
        self.geometry(aug_input)
        flipped = False
        if self.flip and rng.random() < 0.5:
            aug_input.transform(T.HFlipTransform(aug_input.image.shape[1]))
            flipped = True
            thumb = thumb[:, ::-1] if thumb is not None else None
        return aug_input, flipped, thumb

    def __call__(self, record: dict) -> dict:
        image, label = self._read(record)
        H0, W0 = image.shape[:2]
        aug_input = T.AugInput(image, sem_seg=label)
        flipped, thumb = False, None
        if self.is_train:
            aug_input, flipped, thumb = self._train_geometry(aug_input)
        else:
            aug = self._resize_aug(self.test_size, self.test_resize)
            if aug is not None:
                T.AugmentationList([aug])(aug_input)
        img, lab = aug_input.image, aug_input.sem_seg
        if flipped:
            lab = apply_flip_lut(lab, self.flip_luts(record))
        out = {
            "image": torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))),
            "sem_seg": torch.from_numpy(lab.astype(np.int64)),
            "height": H0,
            "width": W0,
            "file_name": record["file_name"],
            "image_id": record["image_id"],
            "flipped": flipped,
        }
        if thumb is not None:
            out["mman_thumbnail"] = torch.from_numpy(np.ascontiguousarray(thumb.transpose(2, 0, 1)))
        return out
