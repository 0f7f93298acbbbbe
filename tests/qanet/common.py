"""Tiny QANet inputs for fast CPU tests (configs: tests/tiny_configs.py)."""

from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
# The fields of every QANet `Instances` output (tests/qanet/test_model.py, test_box_sources.py).
FIELDS = (
    "pred_boxes",
    "scores",
    "box_scores",
    "iou_scores",
    "pixel_scores",
    "part_scores",
    "pred_parsing",
)
# command-line options for a QANet as narrow as tiny_qanet_cfg's: 16-channel FPN and heads
NARROW_HEADS = [
    "MODEL.FPN.OUT_CHANNELS",
    "16",
    "MODEL.QANET.CONV_DIM",
    "16",
    "MODEL.QANET.IOU_FC_DIM",
    "16",
]


def train_batch(n=2, crop=(64, 64), num_classes=20):
    g = torch.Generator().manual_seed(0)
    return [
        {
            "image": torch.randn(3, *crop, generator=g),
            "parsing": torch.randint(0, num_classes, crop, generator=g),
        }
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
