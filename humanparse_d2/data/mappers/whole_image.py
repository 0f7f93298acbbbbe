"""Whole images with their persons, detectron2 style (detector + parser training and evaluation)."""

import copy

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BitMasks, Instances

from humanparse_core.io import read_label

from ..flip import FlipLUTs, apply_flip_lut, flip_lut_for
from ..transforms import is_flipped
from .common import PARSING_MAPPER_REGISTRY, log_augmentations, read_record_image

__all__ = ["WholeImageParsingMapper"]


@PARSING_MAPPER_REGISTRY.register()
class WholeImageParsingMapper:
    """Whole image + persons, detectron2 style (detector + parser training and evaluation).

    Augmentations come from ``detectron2.data.detection_utils.build_augmentation`` (resize shortest
    edge, random flip in training). Boxes are recomputed from the transformed person masks (exact
    after crops); persons that vanish are dropped.

    Returns:
        dict with "image" (3, H, W) uint8 in ``image_format``, "height"/"width" (original size),
        "file_name", "image_id", "sem_seg" (H, W) int64 (when labels exist) and "instances":
        Instances(gt_boxes, gt_classes (all 0), gt_parsing (N, H, W) uint8 per-person label maps,
        gt_masks BitMasks when ``use_masks``). Kept in test mode too (oracle boxes).
    """

    @configurable
    def __init__(
        self,
        is_train: bool = True,
        *,
        augmentations,
        image_format: str = "BGR",
        use_masks: bool = True,
        flip_lut: list[int] | None = None,
    ):
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.use_masks = use_masks
        self.flip_luts = FlipLUTs(flip_lut)
        log_augmentations(self, augmentations, is_train)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        return {
            "is_train": is_train,
            "augmentations": utils.build_augmentation(cfg, is_train),
            "image_format": cfg.INPUT.FORMAT,
            "use_masks": cfg.INPUT.PARSING.WHOLE_IMAGE_MASKS,
            "flip_lut": flip_lut_for(cfg.DATASETS.TRAIN if is_train else cfg.DATASETS.TEST),
        }

    def __call__(self, record: dict) -> dict:
        record = copy.copy(record)
        fmt = self.image_format if self.image_format in ("RGB", "BGR") else "RGB"
        image = read_record_image(record, fmt)
        H0, W0 = image.shape[:2]
        cat_file = record.get("category_file") or record.get("sem_seg_file_name")
        aug_input = T.AugInput(image, sem_seg=read_label(cat_file) if cat_file else None)
        transforms = self.augmentations(aug_input)
        image, sem = aug_input.image, aug_input.sem_seg
        lut = self.flip_luts(record) if is_flipped(transforms) else None
        if sem is not None and lut is not None:
            sem = apply_flip_lut(sem, lut)
        out = {
            "file_name": record["file_name"],
            "image_id": record["image_id"],
            "height": record.get("height", H0),
            "width": record.get("width", W0),
            "image": torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1))),
        }
        if sem is not None:
            out["sem_seg"] = torch.as_tensor(sem.astype(np.int64))
        out["instances"] = self._instances(record, transforms, sem, lut, image.shape[:2])
        return out

    def _person_maps(self, record: dict, transforms, sem, lut) -> tuple[list, list]:
        """Per non-crowd person of the record: its (H, W) uint8 label map and bool mask, after the
        transforms; persons whose mask is empty after them are dropped."""
        anns = [a for a in record.get("annotations", []) if not a.get("iscrowd", 0)]
        hum = None
        if record.get("human_file"):  # MHP-v2 too: one person per pixel, as the official targets
            hum = transforms.apply_segmentation(read_label(record["human_file"]))
        maps, masks = [], []
        for a in anns:
            if hum is not None:
                m = hum == a["parsing_id"]
                lab = np.where(m, sem, 0).astype(np.uint8)
            elif a.get("person_file"):
                lab = transforms.apply_segmentation(read_label(a["person_file"], channel=0))
                if lut is not None:
                    lab = apply_flip_lut(lab, lut)
                m = (lab > 0) & (lab != 255)
            else:  # single person: the labelled foreground
                m = (sem > 0) & (sem != 255)
                lab = np.where(m, sem, 0).astype(np.uint8)
            if m.any():
                maps.append(lab)
                masks.append(m)
        return maps, masks

    def _instances(self, record: dict, transforms, sem, lut, hw: tuple[int, int]) -> Instances:
        maps, masks = self._person_maps(record, transforms, sem, lut)
        H, W = hw
        masks = np.stack(masks) if masks else np.zeros((0, H, W), bool)
        bit_masks = BitMasks(torch.as_tensor(masks))
        inst = Instances((H, W))
        inst.gt_boxes = bit_masks.get_bounding_boxes()  # pixel extent: one pixel is 1 x 1
        inst.gt_classes = torch.zeros(len(maps), dtype=torch.int64)
        inst.gt_parsing = torch.as_tensor(np.stack(maps) if maps else np.zeros((0, H, W), np.uint8))
        if self.use_masks:
            inst.gt_masks = bit_masks
        return inst
