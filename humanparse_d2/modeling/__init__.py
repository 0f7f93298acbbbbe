"""Shared modeling pieces: QAM, backbones, heads, rescoring."""
from .qam import fuse_quality, mask_pixel_score, pixel_scores  # noqa: F401
from .paste import crop_rois, paste_probs, paste_probs_local  # noqa: F401
from . import losses  # noqa: F401
from .timm_backbone import TimmBackbone, build_timm_backbone  # noqa: F401
from . import rescoring  # noqa: F401,E402  (QAM ROI heads for Mask R-CNN)
from . import roi_parsing_head, parsing_rcnn  # noqa: F401,E402  (ParsingROIHeads, ParsingRCNN)
