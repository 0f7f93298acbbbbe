"""humanparse_d2.evaluation: parsing metrics, the shared post-processing, submission I/O and the
detectron2 evaluators.

The metric core (``hist``, ``ap``, ``semseg``, ``parsing_ap``, ``region_ap``, ``ipr``,
``postprocess``, ``submission``, ``folder_eval``) imports numpy/cv2 only; ``evaluator`` is the
detectron2 layer on top of it.
"""
from .ap import MASK_THRESHOLDS, PARSING_THRESHOLDS, voc_ap  # noqa: F401
from .ipr import isolated_pixel_count, isolated_pixel_rate  # noqa: F401
from .parsing_ap import (  # noqa: F401
    APpRecords,
    PersonLabel,
    accumulate_app,
    app_image_records,
    gt_persons_from_maps,
    pair_iou,
    person_from_map,
)
from .postprocess import ParsingResult, cap_regions, parsing_nms, parsing_postprocess  # noqa: F401
from .region_ap import RegionRecords, accumulate_region_ap, region_image_records  # noqa: F401
from .semseg import confusion_matrix, semantic_scores  # noqa: F401

__all__ = [
    "PARSING_THRESHOLDS",
    "MASK_THRESHOLDS",
    "voc_ap",
    "confusion_matrix",
    "semantic_scores",
    "PersonLabel",
    "person_from_map",
    "gt_persons_from_maps",
    "pair_iou",
    "APpRecords",
    "app_image_records",
    "accumulate_app",
    "RegionRecords",
    "region_image_records",
    "accumulate_region_ap",
    "isolated_pixel_count",
    "isolated_pixel_rate",
    "ParsingResult",
    "parsing_postprocess",
    "parsing_nms",
    "cap_regions",
]
