"""Tiny QANet configs and inputs for fast CPU tests."""
from pathlib import Path

import torch

from humanparse_d2 import get_humanparse_cfg

REPO = Path(__file__).resolve().parents[2]
REPO_CONFIG = str(REPO / "projects/QANet/configs/quick/QANet_R18_synth.yaml")


def tiny_cfg(box_source="oracle", crop=(64, 64), **overrides):
    """R18-FPN QANet with 16-channel heads and 64x64 crops (no dataset needed)."""
    cfg = get_humanparse_cfg()
    cfg.merge_from_file(str(REPO / "projects/QANet/configs/Base-QANet.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    cfg.INPUT.FORMAT = "RGB"
    cfg.MODEL.PIXEL_MEAN = [123.675, 116.28, 103.53]
    cfg.MODEL.PIXEL_STD = [58.395, 57.12, 57.375]
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False
    cfg.MODEL.FPN.OUT_CHANNELS = 16
    cfg.MODEL.QANET.CONV_DIM = 16
    cfg.MODEL.QANET.IOU_FC_DIM = 16
    cfg.INPUT.PARSING.CROP_SIZE = crop
    cfg.INPUT.PARSING.ASPECT_RATIO = crop[1] / crop[0]
    cfg.MODEL.QANET.BOX_SOURCE = box_source
    cfg.DATASETS.TRAIN = ()
    cfg.DATASETS.TEST = ()
    for k, v in overrides.items():
        node = cfg
        *path, leaf = k.split(".")
        for p in path:
            node = getattr(node, p)
        setattr(node, leaf, v)
    return cfg


def train_batch(n=2, crop=(64, 64), num_classes=20):
    g = torch.Generator().manual_seed(0)
    return [
        {"image": torch.randn(3, *crop, generator=g), "parsing": torch.randint(0, num_classes, crop, generator=g)}
        for _ in range(n)
    ]


def make_image(h=96, w=80, boxes=((10.0, 12.0, 40.0, 80.0), (30.0, 5.0, 70.0, 90.0))):
    g = torch.Generator().manual_seed(1)
    return {
        "image": torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8),
        "height": h,
        "width": w,
        "image_id": "img0",
        "gt_boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
    }
