"""Test-time mapper for QANet: the original image (no resize) plus the ground-truth person boxes.

detectron2's ``DatasetMapper(is_train=False)`` drops annotations, so oracle boxes would be lost;
QANet also parses at the original resolution (crops are resized anyway), so no test resize.
Registered in ``humanparse_d2.data.PARSING_MAPPER_REGISTRY`` as "QANetTestMapper"
(``INPUT.PARSING.TEST_MAPPER``).
"""

import copy
import logging

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.structures import BoxMode

from humanparse_core.io import read_image
from humanparse_d2.data import PARSING_MAPPER_REGISTRY

__all__ = ["QANetTestMapper"]

logger = logging.getLogger(__name__)


@PARSING_MAPPER_REGISTRY.register()
class QANetTestMapper:
    @configurable
    def __init__(self, is_train: bool = False, *, image_format: str = "BGR"):
        self.is_train = is_train
        self.image_format = image_format

    @classmethod
    def from_config(cls, cfg, is_train: bool = False):
        return {"is_train": is_train, "image_format": cfg.INPUT.FORMAT}

    def __call__(self, dataset_dict):
        d = copy.copy(dataset_dict)
        img = read_image(d["file_name"], self.image_format)  # EXIF ignored: labels match raw pixels
        utils.check_image_size(d, img)
        d["image"] = torch.as_tensor(np.ascontiguousarray(img.transpose(2, 0, 1)))
        d.setdefault("height", img.shape[0])
        d.setdefault("width", img.shape[1])
        anns = d.pop("annotations", None)
        if anns is not None:
            boxes = [
                BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
                for a in anns
                if not a.get("iscrowd", 0) and a.get("category_id", 0) == 0
            ]
            d["gt_boxes"] = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        return d
