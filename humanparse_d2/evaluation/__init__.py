"""humanparse_d2.evaluation: parsing metrics, the shared post-processing, submission I/O and the
detectron2 evaluators.

The metric core (``hist``, ``ap``, ``semseg``, ``parsing_ap``, ``region_ap``, ``ipr``,
``postprocess``, ``submission``, ``gt_loading``, ``folder_eval``, ``results``, all in
``humanparse_core.evaluation``) imports numpy/cv2 only; the detectron2 evaluators on top of it are
``parsing_evaluator``, ``sem_seg_parsing_evaluator`` (sharing ``evaluator_base``) and ``build``.
"""

from humanparse_core.evaluation.ap import MASK_THRESHOLDS, PARSING_THRESHOLDS, voc_ap  # noqa: F401
from humanparse_core.evaluation.ipr import isolated_pixel_count, isolated_pixel_rate  # noqa: F401
from humanparse_core.evaluation.parsing_ap import APpRecords, accumulate_app, app_image_records  # noqa: F401
from humanparse_core.evaluation.person_label import (  # noqa: F401
    PersonLabel,
    gt_persons_from_maps,
    pair_iou,
    person_from_map,
)
from humanparse_core.evaluation.region_ap import (  # noqa: F401
    RegionRecords,
    accumulate_region_ap,
    region_image_records,
)
from humanparse_core.evaluation.semseg import confusion_matrix, semantic_scores  # noqa: F401
from humanparse_core.postprocessing import (  # noqa: F401
    ParsingResult,
    cap_regions,
    parsing_nms,
    parsing_postprocess,
)

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

from humanparse_core.evaluation.accumulator import ParsingAccumulator  # noqa: F401,E402
from humanparse_core.evaluation.folder_eval import evaluate_folder  # noqa: F401,E402
from humanparse_core.evaluation.image_eval import evaluate_image  # noqa: F401,E402
from humanparse_core.evaluation.image_inputs import ImageGT, ImagePred  # noqa: F401,E402
from humanparse_core.evaluation.results import results_to_flat  # noqa: F401,E402
from humanparse_core.evaluation.submission import (  # noqa: F401,E402
    read_gt_instance_txt,
    read_instance_segmentation_txt,
    read_person_parsing,
    read_region_txt,
    read_score_txt,
    write_label_png,
    write_submission,
)

from .build import build_parsing_evaluator  # noqa: F401,E402
from .parsing_evaluator import ParsingEvaluator  # noqa: F401,E402
from .sem_seg_parsing_evaluator import SemanticParsingEvaluator  # noqa: F401,E402

__all__ += [
    "write_submission",
    "write_label_png",
    "read_region_txt",
    "read_score_txt",
    "read_instance_segmentation_txt",
    "read_gt_instance_txt",
    "read_person_parsing",
    "ParsingAccumulator",
    "evaluate_image",
    "ImageGT",
    "ImagePred",
    "evaluate_folder",
    "ParsingEvaluator",
    "SemanticParsingEvaluator",
    "build_parsing_evaluator",
    "results_to_flat",
]
