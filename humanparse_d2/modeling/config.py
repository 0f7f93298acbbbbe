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
