"""detectron2 ``Transform`` / ``Augmentation`` classes for human parsing.

- :class:`AffineCropTransform`: the person crop of :mod:`.affine` as a detectron2 Transform (image,
  segmentation, coordinates, inverse). A horizontal flip can be folded into the matrix
  (``flipped=True``); labels must then be swapped with the dataset's ``flip_lut``.
- :class:`RandomPersonCrop`: QANet's training augmentation: scale, rotation and flip
  of the 4:3 x1.25 person box; deterministic (no randomness) when ``is_train=False``.
- :class:`RandomSquareCrop`: one random square window (a single-person training geometry).
- :func:`is_flipped`: whether transforms flip horizontally (labels then need
  :func:`humanparse_d2.data.flip.apply_flip_lut`).
"""

import os

import numpy as np
from detectron2.data import transforms as T
from detectron2.data.transforms import HFlipTransform, Transform, TransformList

from .affine import (
    apply_affine_to_points,
    compose_hflip,
    expand_boxes_to_aspect,
    get_affine_matrix,
    invert_affine,
    warp_crop,
)

__all__ = [
    "ProcessRNG",
    "AffineCropTransform",
    "RandomPersonCrop",
    "RandomSquareCrop",
    "sample_scale",
    "sample_rotation",
    "is_flipped",
]


class ProcessRNG:
    """A numpy Generator re-created in every (DataLoader worker) process.

    ``seed``: None (draw the seed from ``np.random``, which detectron2 seeds per worker from
    ``cfg.SEED``), an int, or a Generator. In a process other than the creating one (a forked
    worker) the stream is re-derived with the worker id, so workers never repeat each other's
    augmentations, even when the mapper was used before the workers were forked.
    """

    def __init__(self, seed=None):
        self.seed = seed
        self._pid = None
        self._gen = None

    def __repr__(self) -> str:
        return f"ProcessRNG(seed={self.seed!r})"

    def get(self) -> np.random.Generator:
        pid = os.getpid()
        if self._gen is not None and pid == self._pid:
            return self._gen
        first = self._pid is None
        if isinstance(self.seed, np.random.Generator) and first:
            gen = self.seed
        else:
            import torch.utils.data

            info = torch.utils.data.get_worker_info()
            wid = info.id if info is not None else 0
            if isinstance(self.seed, np.random.Generator):
                base = int(self.seed.integers(0, 2**31 - 1))
            elif self.seed is None:
                base = int(np.random.randint(0, 2**31 - 1))
            else:
                base = int(self.seed)
            gen = np.random.default_rng([base, wid, 0 if first else 1])
        self._gen, self._pid = gen, pid
        return gen


class AffineCropTransform(Transform):
    """Affine crop to ``out_size_wh`` through ``matrix`` (image -> crop, (2, 3))."""

    def __init__(
        self,
        matrix: np.ndarray,
        out_size_wh: tuple[int, int],
        src_size_hw: tuple[int, int],
        flipped: bool = False,
        label_border: int = 0,
    ):
        super().__init__()
        self._set_attributes(locals())
        self.matrix = np.asarray(matrix, np.float64)

    def apply_image(self, img: np.ndarray, interp=None) -> np.ndarray:
        return warp_crop(img, self.matrix, self.out_size_wh, is_label=False)

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return warp_crop(
            segmentation,
            self.matrix,
            self.out_size_wh,
            is_label=True,
            border_value=self.label_border,
        )

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return apply_affine_to_points(self.matrix, coords).astype(
            coords.dtype if coords.dtype.kind == "f" else np.float64
        )

    def inverse(self) -> Transform:
        """Crop -> image (exact for coordinates; for images it resamples back into ``src_size_hw``)."""
        h, w = self.src_size_hw
        ow, oh = self.out_size_wh
        return AffineCropTransform(
            invert_affine(self.matrix), (w, h), (oh, ow), self.flipped, self.label_border
        )


def sample_scale(rng: np.random.Generator, factor: float, mode: str) -> float:
    """Box scale multiplier: clip(N(1, f), 1-f, 1+f) ("gaussian_clipped", QANet code) or U(1-f, 1+f)."""
    if factor <= 0:
        return 1.0
    if mode == "gaussian_clipped":
        return float(np.clip(rng.normal(1.0, factor), 1.0 - factor, 1.0 + factor))
    if mode == "uniform":
        return float(rng.uniform(1.0 - factor, 1.0 + factor))
    raise ValueError(f"unknown scale mode {mode!r}")


def sample_rotation(rng: np.random.Generator, factor: float, prob: float, mode: str) -> float:
    """Rotation in degrees: with probability ``prob``, clip(N(0, f), -2f, 2f) ("gaussian_clipped",
    QANet code: f=40 -> +-80) or U(-f, f) ("uniform", the paper's [-40, 40]); else 0."""
    if factor <= 0 or prob <= 0 or rng.random() >= prob:
        return 0.0
    if mode == "gaussian_clipped":
        return float(np.clip(rng.normal(0.0, factor), -2 * factor, 2 * factor))
    if mode == "uniform":
        return float(rng.uniform(-factor, factor))
    raise ValueError(f"unknown rotation mode {mode!r}")


class RandomPersonCrop(T.Augmentation):
    """QANet person-crop augmentation; ``get_transform(image, box_xyxy)`` -> AffineCropTransform.

    Args:
        crop_size: output (H, W), default (512, 384).
        box_expand / aspect_ratio: crop box = box made ``aspect_ratio`` (w/h) and x``box_expand``.
        scale_factor, scale_mode: box scale jitter (train only).
        rotation_factor, rotation_prob, rotation_mode: rotation jitter (train only).
        flip_prob: horizontal flip probability (train only; 0 disables).
        is_train: False gives the plain crop (no jitter, no flip).
        rng: None, an int seed, a numpy Generator or a :class:`ProcessRNG` (one stream per worker).
    """

    def __init__(
        self,
        crop_size=(512, 384),
        *,
        box_expand=1.25,
        aspect_ratio=0.75,
        scale_factor=0.3,
        scale_mode="gaussian_clipped",
        rotation_factor=40.0,
        rotation_prob=0.6,
        rotation_mode="gaussian_clipped",
        flip_prob=0.5,
        is_train=True,
        rng=None,
    ):
        super().__init__()
        self._init(locals())
        self.rng = rng if isinstance(rng, ProcessRNG) else ProcessRNG(rng)

    def _rng(self):
        return self.rng.get()

    def get_transform(self, image, box_xyxy) -> AffineCropTransform:
        H, W = image.shape[:2]
        return self.get_transform_for_size((H, W), box_xyxy)

    def get_transform_for_size(self, image_hw, box_xyxy) -> AffineCropTransform:
        H, W = int(image_hw[0]), int(image_hw[1])
        oh, ow = int(self.crop_size[0]), int(self.crop_size[1])
        box = np.asarray(box_xyxy, np.float64).reshape(1, 4).copy()
        flipped = False
        rot = 0.0
        if self.is_train:
            rng = self._rng()
            s = sample_scale(rng, self.scale_factor, self.scale_mode)
            rot = sample_rotation(rng, self.rotation_factor, self.rotation_prob, self.rotation_mode)
            flipped = self.flip_prob > 0 and rng.random() < self.flip_prob
        else:
            s = 1.0
        centers, sizes = expand_boxes_to_aspect(box, self.aspect_ratio, self.box_expand)
        center, size = centers[0], sizes[0] * s
        if flipped:  # QANet: flip the image, xc <- W - xc - 1; the same crop of the original image
            center = np.array([W - center[0] - 1.0, center[1]])
            M = compose_hflip(get_affine_matrix(center, size, rot, (ow, oh)), W)
        else:
            M = get_affine_matrix(center, size, rot, (ow, oh))
        return AffineCropTransform(M, (ow, oh), (H, W), flipped=flipped)


class RandomSquareCrop(T.Augmentation):
    """A random ``crop`` x ``crop`` window (top-left y0, then x0, uniform over the valid range),
    drawn from a :class:`ProcessRNG` so that a mapper's seed fixes it; the input must be at least
    ``crop`` on both sides."""

    def __init__(self, crop: int, rng=None):
        super().__init__()
        self.crop = int(crop)
        self.rng = rng if isinstance(rng, ProcessRNG) else ProcessRNG(rng)

    def get_transform(self, image) -> T.CropTransform:
        rng = self.rng.get()
        h, w = image.shape[:2]
        c = self.crop
        y0, x0 = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        return T.CropTransform(x0, y0, c, c)


def is_flipped(transforms) -> bool:
    """True if the transforms flip horizontally an odd number of times (detectron2/DensePose rule)."""
    n = 0
    tl = transforms.transforms if isinstance(transforms, TransformList) else [transforms]
    for t in tl:
        if isinstance(t, HFlipTransform):
            n += 1
        elif isinstance(t, AffineCropTransform) and t.flipped:
            n += 1
    return n % 2 == 1
