"""Config keys of the shared modeling pieces (QAM, timm backbone, ROI parsing head, rescoring)."""
from detectron2.config import CfgNode as CN

__all__ = ["add_modeling_config"]


def add_modeling_config(cfg: CN) -> None:
    """Add the shared modeling keys to ``cfg`` in place."""
    _C = cfg
    _C.MODEL.QAM = CN()
    # (alpha, beta, gamma) exponents of box, IoU and pixel score in the QAM fusion. (1.0, 0.5, 3.0)
    # is the paper's grid-search best used by every released QANet config; (1, 0, 0) = box only.
    _C.MODEL.QAM.WEIGHTS = (1.0, 0.5, 3.0)
    # Confidence threshold T of the pixel score (Algorithm 1).
    _C.MODEL.QAM.PIXEL_THRESH = 0.2
    # Clamp the regressed IoU to [0, 1] before fusion (an unclamped negative value gives NaN).
    _C.MODEL.QAM.CLAMP_IOU = True

    # timm feature backbone (humanparse_d2.modeling.timm_backbone, MODEL.BACKBONE.NAME
    # "build_timm_backbone"); outputs are named res<k> by stride (4 -> res2 ... 32 -> res5).
    _C.MODEL.TIMM = CN()
    # timm model name, e.g. "hrnet_w48" (QANet's HRNet-W48), "hrnet_w18_small", "resnet50".
    _C.MODEL.TIMM.NAME = "hrnet_w48"
    # timm feature indices to return; HRNet with FEATURE_LOCATION "" has 5 levels (stride 2..32),
    # (1, 2, 3, 4) keeps strides 4..32. Empty = timm's default.
    _C.MODEL.TIMM.OUT_INDICES = [1, 2, 3, 4]
    # timm feature_location: "" gives HRNet's raw branches (QANet); "default" leaves timm's default.
    _C.MODEL.TIMM.FEATURE_LOCATION = ""
    # Load timm's ImageNet weights (downloads through timm on first use). Tests keep it False.
    _C.MODEL.TIMM.PRETRAINED = False
    # Extra keyword arguments of timm.create_model.
    _C.MODEL.TIMM.KWARGS = CN(new_allowed=True)
