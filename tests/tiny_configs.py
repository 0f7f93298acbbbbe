"""Tiny configs for CPU tests: ResNet-18 backbones, narrow heads, no pretrained weights, no datasets.

- ``tiny_rcnn_cfg``: Mask R-CNN / QAM R-CNN / Parsing R-CNN on the project's Base-RCNN-FPN.yaml.
- ``tiny_qanet_cfg``: QANet (R18-FPN, 16-channel heads, 64 x 64 crops).
- ``tiny_detector_cfg``: a Faster R-CNN to serve as QANet's person detector.
- ``tiny_d2_mask_rcnn_cfg``: plain detectron2 Mask R-CNN (``get_cfg()``, no project keys), for the
  stack smoke test.
"""

from pathlib import Path

from detectron2.config import CfgNode, get_cfg

from humanparse_d2.config import get_humanparse_cfg

REPO = Path(__file__).resolve().parent.parent
RCNN_BASE = REPO / "configs/Base-RCNN-FPN.yaml"
QANET_BASE = REPO / "projects/QANet/configs/Base-QANet.yaml"


def _anchor_sizes() -> list[list[int]]:
    """One anchor size per FPN level, for 64-pixel images (a fresh list per config)."""
    return [[16], [32], [64], [128], [256]]


def _resnet18_fpn(cfg: CfgNode, fpn_channels: int) -> CfgNode:
    """CPU, ResNet-18 (64 channels at res2) and an FPN of ``fpn_channels`` channels."""
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64  # detectron2 requires 64 for R18/R34
    cfg.MODEL.FPN.OUT_CHANNELS = fpn_channels
    return cfg


def tiny_rcnn_cfg(
    roi_heads: str = "QAMStandardROIHeads",
    *,
    qam: bool = True,
    mask_on: bool = True,
    iou_head: bool = False,
) -> CfgNode:
    """R-CNN with 2 classes and heads a few channels wide; ``roi_heads`` is the ROI_HEADS.NAME."""
    cfg = get_humanparse_cfg()
    cfg.merge_from_file(str(RCNN_BASE))
    _resnet18_fpn(cfg, fpn_channels=16)
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.MASK_ON = mask_on
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = _anchor_sizes()
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


def tiny_qanet_cfg(
    box_source: str = "oracle", crop: tuple[int, int] = (64, 64), **overrides
) -> CfgNode:
    """R18-FPN QANet with 16-channel heads and ``crop`` = (H, W) crops (no dataset needed).

    ``overrides`` maps full key names to values, e.g. ``**{"MODEL.QANET.BOX_FILE": path}``; they
    go through ``cfg.merge_from_list``, so unknown keys and wrong types raise.
    """
    cfg = get_humanparse_cfg()
    cfg.merge_from_file(str(QANET_BASE))
    _resnet18_fpn(cfg, fpn_channels=16)
    cfg.MODEL.WEIGHTS = ""
    cfg.INPUT.FORMAT = "RGB"
    cfg.MODEL.PIXEL_MEAN = [123.675, 116.28, 103.53]  # ImageNet, RGB order
    cfg.MODEL.PIXEL_STD = [58.395, 57.12, 57.375]
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False
    cfg.MODEL.QANET.CONV_DIM = 16
    cfg.MODEL.QANET.IOU_FC_DIM = 16
    cfg.INPUT.PARSING.CROP_SIZE = crop
    cfg.INPUT.PARSING.ASPECT_RATIO = crop[1] / crop[0]
    cfg.MODEL.QANET.BOX_SOURCE = box_source
    cfg.DATASETS.TRAIN = ()
    cfg.DATASETS.TEST = ()
    cfg.merge_from_list([x for kv in overrides.items() for x in kv])
    return cfg


def tiny_detector_cfg() -> CfgNode:
    """Faster R-CNN (2 classes, every box kept, 64-pixel test size) for QANet's detector source."""
    cfg = get_cfg()
    cfg.merge_from_file(str(RCNN_BASE))
    _resnet18_fpn(cfg, fpn_channels=16)
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 16
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 2
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    cfg.INPUT.MIN_SIZE_TEST = 64
    return cfg


def tiny_d2_mask_rcnn_cfg() -> CfgNode:
    """detectron2's own Mask R-CNN (1 class) from ``get_cfg()`` alone: no project key, no yaml."""
    cfg = _resnet18_fpn(get_cfg(), fpn_channels=32)
    cfg.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
    cfg.MODEL.BACKBONE.NAME = "build_resnet_fpn_backbone"
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.RPN.IN_FEATURES = ["p2", "p3", "p4", "p5", "p6"]
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = _anchor_sizes()
    cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    cfg.MODEL.ROI_HEADS.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 1
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 32
    cfg.MODEL.ROI_BOX_HEAD.NAME = "FastRCNNConvFCHead"
    cfg.MODEL.ROI_BOX_HEAD.NUM_FC = 2
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 64
    cfg.MODEL.ROI_MASK_HEAD.NAME = "MaskRCNNConvUpsampleHead"
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 32
    cfg.MODEL.ROI_MASK_HEAD.NUM_CONV = 1
    cfg.MODEL.MASK_ON = True
    return cfg
