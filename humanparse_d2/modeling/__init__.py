"""Shared modeling pieces: QAM, paste-back, backbones, heads, rescoring, post-processing.

Importing the package registers the ROI heads (``QAM*ROIHeads``, ``ParsingROIHeads``), the parsing
head ``ParsingRCNNHead`` and the meta-architecture ``ParsingRCNN``. The torch-free parsing
post-processing (parsing NMS, global map; ``humanparse_core.postprocessing``) is re-exported here,
next to the model whose outputs it turns into final persons, as detectron2 keeps
``modeling/postprocessing.py``.
"""

from humanparse_core.postprocessing import (  # noqa: F401
    ParsingResult,
    cap_regions,
    parsing_nms,
    parsing_postprocess,
)

from . import losses  # noqa: F401
from .paste import crop_label_targets, crop_rois, paste_parsing, paste_probs  # noqa: F401
from .paste import paste_probs_local  # noqa: F401
from .qam import check_qam_weights, fuse_quality, mask_pixel_score, pixel_scores  # noqa: F401
from .timm_backbone import TimmBackbone, build_timm_backbone  # noqa: F401

# Registering imports (ROI heads, parsing head, meta-architecture, TTA wrapper).
from . import rescoring, test_time_augmentation  # noqa: F401,E402
from . import parsing_head, roi_parsing_head, parsing_rcnn  # noqa: F401,E402
from .parsing_head import ROI_PARSING_HEAD_REGISTRY, build_parsing_head  # noqa: F401,E402
from .test_time_augmentation import QAMGeneralizedRCNNWithTTA, build_tta_model  # noqa: F401,E402
