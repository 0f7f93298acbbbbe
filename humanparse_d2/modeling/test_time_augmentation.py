"""Test-time augmentation that keeps QAM rescoring (detectron2's module name).

detectron2's ``GeneralizedRCNNWithTTA`` rebuilds the merged instances from the merged box scores
and the averaged masks, which drops the rescoring of ``QAMRescoringMixin`` heads (rescoring.py).
``QAMGeneralizedRCNNWithTTA`` averages ``mask_quality`` (and ``mask_iou``) over the augmentations
and rescores the merged instances; ``build_tta_model`` picks it for QAM models.
"""

import torch
from detectron2.modeling import GeneralizedRCNNWithTTA
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Instances

from .rescoring import QAMRescoringMixin, rescore_instances

__all__ = ["QAMGeneralizedRCNNWithTTA", "build_tta_model"]


def _average_field(outputs: list[Instances], name: str) -> torch.Tensor | None:
    """Mean of the (N,) field ``name`` over the augmented outputs; None if one lacks it."""
    if not outputs or not all(o.has(name) for o in outputs):
        return None
    return torch.stack([o.get(name) for o in outputs], dim=0).mean(dim=0)


class QAMGeneralizedRCNNWithTTA(GeneralizedRCNNWithTTA):
    """``GeneralizedRCNNWithTTA`` that keeps QAM: mask quality averaged over the augmentations,
    fused with the merged box scores, applied to the merged instances before postprocessing.
    The flow is detectron2's ``_inference_one_image`` with that one step added."""

    def _inference_one_image(self, input):
        orig_shape = (input["height"], input["width"])
        augmented_inputs, tfms = self._get_augmented_inputs(input)
        with self._turn_off_roi_heads(["mask_on", "keypoint_on"]):
            all_boxes, all_scores, all_classes = self._get_augmented_boxes(augmented_inputs, tfms)
        merged = self._merge_detections(all_boxes, all_scores, all_classes, orig_shape)
        if not self.cfg.MODEL.MASK_ON:
            return {"instances": merged}
        augmented_instances = self._rescale_detected_boxes(augmented_inputs, merged, tfms)
        outputs = self._batch_inference(augmented_inputs, augmented_instances)
        del augmented_inputs, augmented_instances
        quality = _average_field(outputs, "mask_quality")
        iou = _average_field(outputs, "mask_iou")
        merged.pred_masks = self._reduce_pred_masks(outputs, tfms)
        if quality is not None:
            weights = getattr(self.model.roi_heads, "qam_weights", (1.0, 0.0, 1.0))
            merged = rescore_instances(merged, quality, iou, weights)
        merged = detector_postprocess(merged, *orig_shape)
        return {"instances": merged}


def build_tta_model(cfg, model, tta_mapper=None, batch_size: int = 3):
    """detectron2's TTA wrapper, or the QAM-aware one when the ROI heads rescore."""
    core = getattr(model, "module", model)
    if isinstance(core.roi_heads, QAMRescoringMixin):
        return QAMGeneralizedRCNNWithTTA(cfg, model, tta_mapper, batch_size)
    return GeneralizedRCNNWithTTA(cfg, model, tta_mapper, batch_size)
