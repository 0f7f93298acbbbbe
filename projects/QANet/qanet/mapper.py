"""Test-time mapper for QANet: the original image (no resize) plus the ground-truth person boxes.

detectron2's ``DatasetMapper(is_train=False)`` drops annotations, so oracle boxes would be lost;
QANet also parses at the original resolution (crops are resized anyway), so no test resize.
Registered in ``humanparse_d2.data.MAPPERS`` as "QANetTestMapper" (``INPUT.PARSING.TEST_MAPPER``).
"""
import copy
import logging

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.structures import BoxMode

__all__ = ["QANetTestMapper", "read_image_rgb_safe"]

logger = logging.getLogger(__name__)


def read_image_rgb_safe(path: str, fmt: str = "RGB", *, exif: bool = True) -> np.ndarray:
    """Read any image as HxWx3 uint8 in ``fmt`` ("RGB"/"BGR"): grayscale, palette, RGBA (alpha
    dropped) and 16-bit (scaled to 8 bits) included. Raises ``ValueError`` for unreadable files.

    ``exif``: apply the EXIF orientation tag (user photos in the demo). Dataset images are read
    with ``exif=False``: their labels are aligned with the stored pixels, as training and the
    official code read them (a 90 degree tag would swap H and W, a 180 degree one misalign).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                peak = 65535.0 if arr.max() > 255 else 255.0
                arr = np.clip(arr / peak * 255.0, 0, 255).astype(np.uint8)
                arr = np.stack([arr] * 3, axis=-1)
            elif im.mode == "F":
                arr = np.asarray(im, dtype=np.float64)
                arr = np.clip(arr / max(arr.max(), 1e-6) * 255.0, 0, 255).astype(np.uint8)
                arr = np.stack([arr] * 3, axis=-1)
            else:
                if exif:
                    from PIL import ImageOps

                    im = ImageOps.exif_transpose(im)
                arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from e
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"cannot read image {path}: empty image")
    if fmt == "BGR":
        arr = arr[:, :, ::-1]
    return np.ascontiguousarray(arr)


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
        img = read_image_rgb_safe(d["file_name"], self.image_format, exif=False)  # labels match raw pixels
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
