"""Tiny R-CNN configs and batches for CPU tests (64 x 80 images, R-18, narrow heads)."""

from pathlib import Path

import torch
from detectron2.structures import BitMasks, Boxes, Instances

from humanparse_d2.config import get_humanparse_cfg

REPO = Path(__file__).resolve().parents[2]
H, W = 64, 80


def tiny_cfg(roi_heads="QAMStandardROIHeads", *, qam=True, mask_on=True, iou_head=False):
    cfg = get_humanparse_cfg()
    cfg.merge_from_file(str(REPO / "configs/Base-RCNN-FPN.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.MASK_ON = mask_on
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    cfg.MODEL.FPN.OUT_CHANNELS = 16
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[16], [32], [64], [128], [256]]
    cfg.MODEL.RPN.POST_NMS_TOPK_TEST = 50
    cfg.MODEL.RPN.POST_NMS_TOPK_TRAIN = 50
    cfg.MODEL.ROI_HEADS.NAME = roi_heads
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 2
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 32
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 32
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 16
    cfg.MODEL.ROI_MASK_HEAD.NUM_CONV = 1
    cfg.MODEL.MASK_QUALITY.ENABLED = qam
    cfg.MODEL.MASK_QUALITY.IOU_HEAD_ON = iou_head
    cfg.MODEL.MASK_QUALITY.IOU_HEAD_CONV_DIM = 8
    cfg.MODEL.MASK_QUALITY.IOU_HEAD_NUM_CONV = 2
    cfg.MODEL.MASK_QUALITY.IOU_HEAD_FC_DIM = 16
    cfg.TEST.DETECTIONS_PER_IMAGE = 20
    if roi_heads.endswith("CascadeROIHeads"):
        cfg.MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG = True
    return cfg


def image(seed=0, h=H, w=W):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 255, (3, h, w), dtype=torch.uint8, generator=g)


def train_batch(num_persons=(1, 2), parsing_classes=0):
    """Images with ``num_persons[i]`` boxes; masks and (optionally) per-person parsing maps."""
    batch = []
    for i, n in enumerate(num_persons):
        inst = Instances((H, W))
        boxes = torch.tensor([[6.0 + 20 * k, 8.0, 30.0 + 20 * k, 58.0] for k in range(n)]).reshape(
            -1, 4
        )
        inst.gt_boxes = Boxes(boxes)
        inst.gt_classes = torch.zeros(n, dtype=torch.int64)
        masks = torch.zeros(n, H, W, dtype=torch.bool)
        parsing = torch.zeros(n, H, W, dtype=torch.uint8)
        for k, (x0, y0, x1, y1) in enumerate(boxes.long().tolist()):
            masks[k, y0:y1, x0:x1] = True
            if parsing_classes:
                ym = (y0 + y1) // 2
                parsing[k, y0:ym, x0:x1] = 1
                parsing[k, ym:y1, x0:x1] = parsing_classes - 1
        inst.gt_masks = BitMasks(masks)
        if parsing_classes:
            inst.gt_parsing = parsing
        batch.append({"image": image(i), "instances": inst, "height": H, "width": W})
    return batch
