"""QANet's backbones: a bottom-up network + the classic FPN (P2..P5 only, no P6 top block, BN).

detectron2's ``build_resnet_fpn_backbone`` always adds ``LastLevelMaxPool`` (P6), which QANet does
not use; the builders here are the same FPN with ``top_block=None`` over

- ``build_qanet_resnet_fpn_backbone``: detectron2's ResNet (``MODEL.RESNETS``; quick configs);
- ``build_qanet_timm_fpn_backbone``: any timm CNN (``MODEL.TIMM``), used for the paper's ResNet-50c
  (timm ``resnet50c``: 3x3 deep stem 32-32-64, stride on the 3x3 conv) and ResNet-101d (timm
  ``resnet101d``: the same stem plus an average-pool shortcut). Both are the networks of the
  official ``lib/backbone/resnet.py`` (``USE_3x3x3HEAD``, ``STRIDE_3X3``, ``AVG_DOWN``) layer for
  layer; ``tools/check_official_parity.py`` measures it.
"""

from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone.fpn import FPN
from detectron2.modeling.backbone.resnet import build_resnet_backbone

from humanparse_d2.modeling.timm_backbone import build_timm_backbone

__all__ = ["build_qanet_resnet_fpn_backbone", "build_qanet_timm_fpn_backbone"]


def _fpn(cfg, bottom_up) -> FPN:
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=None,
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )


@BACKBONE_REGISTRY.register()
def build_qanet_resnet_fpn_backbone(cfg, input_shape: ShapeSpec = None):
    """detectron2 ResNet (``MODEL.RESNETS``) + FPN (``MODEL.FPN``) returning p2..p5, no top block."""
    if input_shape is None:
        input_shape = ShapeSpec(channels=len(cfg.MODEL.PIXEL_MEAN))
    return _fpn(cfg, build_resnet_backbone(cfg, input_shape))


@BACKBONE_REGISTRY.register()
def build_qanet_timm_fpn_backbone(cfg, input_shape: ShapeSpec = None):
    """timm CNN (``MODEL.TIMM``, features named res2..res5 by stride) + FPN returning p2..p5."""
    if input_shape is None:
        input_shape = ShapeSpec(channels=len(cfg.MODEL.PIXEL_MEAN))
    return _fpn(cfg, build_timm_backbone(cfg, input_shape))
