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

# Registering imports (ROI heads, parsing head, meta-architecture, TTA wrapper).
from . import (  # noqa: F401,E402  # noqa: F401,E402
    losses,  # noqa: F401
    parsing_head,
    parsing_rcnn,
    rescoring,
    roi_parsing_head,
    test_time_augmentation,
)
from .parsing_head import ROI_PARSING_HEAD_REGISTRY, build_parsing_head  # noqa: F401,E402
from .paste import (  # noqa: F401
    crop_label_targets,
    crop_rois,
    paste_parsing,
    paste_probs,
    paste_probs_local,  # noqa: F401
)
from .qam import check_qam_weights, fuse_quality, mask_pixel_score, pixel_scores  # noqa: F401
from .test_time_augmentation import QAMGeneralizedRCNNWithTTA, build_tta_model  # noqa: F401,E402
from .timm_backbone import TimmBackbone, build_timm_backbone  # noqa: F401
