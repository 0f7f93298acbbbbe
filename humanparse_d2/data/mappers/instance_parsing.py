"""Top-down training samples: one person crop per sample (QANet)."""

import logging

import cv2
import numpy as np
import torch
from detectron2.config import configurable
from detectron2.structures import BoxMode

from humanparse_core.io import BadAnnotationError

from ..affine import source_roi, warp_crop, warp_window
from ..flip import FlipLUTs, apply_flip_lut, flip_lut_for
from ..person_labels import load_person_label
from ..transforms import AffineCropTransform, ProcessRNG, RandomPersonCrop
from .common import PARSING_MAPPER_REGISTRY, log_augmentations, read_record_image

__all__ = ["InstanceParsingMapper", "flatten_persons"]

logger = logging.getLogger(__name__)


def flatten_persons(dicts: list[dict], *, log: bool = True) -> list[dict]:
    """One record per valid person (an epoch is a pass over persons).

    Each output record holds the image-level fields plus ``annotation`` (the person); crowd
    annotations, zero-area boxes and records without persons are dropped and counted in one log
    line.
    """
    out, n_crowd, n_zero, n_empty = [], 0, 0, 0
    for d in dicts:
        anns = d.get("annotations") or []
        if not anns:
            n_empty += 1
            continue
        base = {k: v for k, v in d.items() if k != "annotations"}
        for a in anns:
            if a.get("iscrowd", 0):
                n_crowd += 1
                continue
            x0, y0, x1, y1 = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
            if not (x1 > x0 and y1 > y0) or a.get("area", 1.0) <= 0:
                n_zero += 1
                continue
            r = dict(base)
            r["annotation"] = a
            out.append(r)
    if log and (n_crowd or n_zero or n_empty):
        logger.warning(
            "flatten_persons: %d persons kept; dropped %d crowd, %d zero-area; "
            "%d images without persons",
            len(out),
            n_crowd,
            n_zero,
            n_empty,
        )
    if not out and dicts:
        raise BadAnnotationError(
            f"flatten_persons: none of the {len(dicts)} images has a usable person annotation "
            "(semantic-only datasets need person boxes for top-down training)"
        )
    return out


@PARSING_MAPPER_REGISTRY.register()
class InstanceParsingMapper:
    """Top-down person crops (QANet training).

    Per person: the box is made ``aspect_ratio`` (w/h, 4:3 h:w) and enlarged x``box_expand``; scale,
    rotation and flip jitter (train only) give the crop box; ``cv2.warpAffine`` on the needed image
    window produces the ``crop_size`` crop (bilinear on the uint8 image, border 0) and the label
    map (nearest, border 0); a flip swaps the dataset's left/right labels.

    Input: one record of :func:`flatten_persons` (image fields + ``annotation``); the trainer calls
    :meth:`prepare_dataset` to flatten.

    Returns:
        dict with "image" (3, H, W) uint8 in ``image_format`` (the model normalises it),
        "parsing" (H, W) int64 (255 = ignore from the dataset), "affine" (2, 3) float32
        image -> crop matrix (a flip is folded in: det < 0), "box" (4,) float32 XYXY person box,
        "flipped", "file_name", "image_id", "parsing_id", "height", "width".
    """

    @configurable
    def __init__(
        self,
        is_train: bool = True,
        *,
        crop_size=(512, 384),
        box_expand: float = 1.25,
        aspect_ratio: float = 0.75,
        scale_factor: float = 0.3,
        scale_mode: str = "gaussian_clipped",
        rotation_factor: float = 40.0,
        rotation_prob: float = 0.6,
        rotation_mode: str = "gaussian_clipped",
        flip_prob: float = 0.5,
        image_format: str = "RGB",
        flip_lut: list[int] | None = None,
        seed: int | None = None,
    ):
        """
        Args:
            is_train: jitter and flip only in training.
            crop_size: (H, W) of the output.
            image_format: channel order of the output, "RGB" or "BGR" (``INPUT.FORMAT``).
            flip_lut: default left/right LUT for records without ``dataset_name``.
            seed: seeds the augmentation RNG (None: from np.random, which detectron2 seeds per
                worker); each DataLoader worker gets its own stream either way.
            Other args: see ``INPUT.PARSING.*`` in humanparse_d2/data/config.py.
        """
        for m in (scale_mode, rotation_mode):
            if m not in ("gaussian_clipped", "uniform"):
                raise ValueError(
                    f"augmentation mode must be 'gaussian_clipped' or 'uniform', got {m!r}"
                )
        if image_format not in ("RGB", "BGR"):
            raise ValueError(f"image_format must be RGB or BGR, got {image_format!r}")
        self.is_train = is_train
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.augmentation = RandomPersonCrop(
            self.crop_size,
            box_expand=box_expand,
            aspect_ratio=aspect_ratio,
            scale_factor=scale_factor,
            scale_mode=scale_mode,
            rotation_factor=rotation_factor,
            rotation_prob=rotation_prob,
            rotation_mode=rotation_mode,
            flip_prob=flip_prob,
            is_train=is_train,
            rng=ProcessRNG(seed),
        )
        self.image_format = image_format
        self.flip_luts = FlipLUTs(flip_lut)
        log_augmentations(self, [self.augmentation], is_train)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        p = cfg.INPUT.PARSING
        return {
            "is_train": is_train,
            "crop_size": tuple(p.CROP_SIZE),
            "box_expand": p.BOX_EXPAND,
            "aspect_ratio": p.ASPECT_RATIO,
            "scale_factor": p.SCALE_FACTOR,
            "scale_mode": p.SCALE_MODE,
            "rotation_factor": p.ROTATION_FACTOR,
            "rotation_prob": p.ROTATION_PROB,
            "rotation_mode": p.ROTATION_MODE,
            "flip_prob": p.FLIP_PROB if p.FLIP else 0.0,
            "image_format": cfg.INPUT.FORMAT,
            "flip_lut": flip_lut_for(cfg.DATASETS.TRAIN if is_train else cfg.DATASETS.TEST),
        }

    @staticmethod
    def prepare_dataset(dicts: list[dict]) -> list[dict]:
        """Flatten image records to person records (called by the trainer's loader)."""
        return flatten_persons(dicts)

    def to_chw(self, crop_bgr: np.ndarray) -> torch.Tensor:
        """(H, W, 3 or 4) uint8 BGR[A] -> (3, H, W) uint8 in ``image_format``."""
        b, g, r = cv2.split(crop_bgr)[:3]
        planes = (r, g, b) if self.image_format == "RGB" else (b, g, r)
        return torch.from_numpy(np.stack(planes))

    def _person_label(
        self, record: dict, ann: dict, tfm: AffineCropTransform, image_hw
    ) -> np.ndarray:
        """The person's (h, w) uint8 label map warped like the crop (nearest, border 0); only the
        window the crop reads is loaded."""
        out_wh = tfm.out_size_wh
        roi = source_roi(tfm.matrix, out_wh, image_hw)
        if roi is None:  # the crop lies outside the image
            return np.zeros((out_wh[1], out_wh[0]), np.uint8)
        window = load_person_label(record, ann, roi)
        return warp_window(window, roi, image_hw, tfm.matrix, out_wh, is_label=True)

    def __call__(self, record: dict) -> dict:
        ann = record.get("annotation")
        if ann is None:
            raise ValueError(
                "InstanceParsingMapper expects person records: flatten the dataset with "
                "humanparse_d2.data.flatten_persons (the trainer does it via prepare_dataset)"
            )
        img = read_record_image(record, "BGR")
        H, W = img.shape[:2]
        box = BoxMode.convert(list(ann["bbox"]), ann["bbox_mode"], BoxMode.XYXY_ABS)
        box = np.asarray(box, np.float64)
        if not (box[2] > box[0] and box[3] > box[1]):
            raise BadAnnotationError(
                f"zero-area person box {box.tolist()} in {record['file_name']}"
            )
        tfm = self.augmentation.get_transform_for_size((H, W), box)
        crop = warp_crop(img, tfm.matrix, tfm.out_size_wh, four_channel_out=True)  # BGRA
        label = self._person_label(record, ann, tfm, (H, W))
        if tfm.flipped:
            label = apply_flip_lut(label, self.flip_luts(record))
        return {
            "image": self.to_chw(crop),
            "parsing": torch.from_numpy(label).long(),
            "affine": torch.from_numpy(tfm.matrix.astype(np.float32)),
            "box": torch.from_numpy(box.astype(np.float32)),
            "flipped": bool(tfm.flipped),
            "file_name": record["file_name"],
            "image_id": record["image_id"],
            "parsing_id": ann.get("parsing_id"),
            "height": H,
            "width": W,
        }
