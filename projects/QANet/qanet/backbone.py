"""detectron2 ResNet + FPN as QANet uses it: P2..P5 only (no P6 top block), BN by default.

detectron2's ``build_resnet_fpn_backbone`` always adds ``LastLevelMaxPool`` (P6), which QANet does
not use; this builder is the same call with ``top_block=None``.
"""
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone.fpn import FPN
from detectron2.modeling.backbone.resnet import build_resnet_backbone

__all__ = ["build_qanet_resnet_fpn_backbone"]


@BACKBONE_REGISTRY.register()
def build_qanet_resnet_fpn_backbone(cfg, input_shape: ShapeSpec = None):
    """ResNet (``MODEL.RESNETS``) + FPN (``MODEL.FPN``) returning p2..p5, no top block."""
    if input_shape is None:
        input_shape = ShapeSpec(channels=len(cfg.MODEL.PIXEL_MEAN))
    bottom_up = build_resnet_backbone(cfg, input_shape)
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=None,
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
