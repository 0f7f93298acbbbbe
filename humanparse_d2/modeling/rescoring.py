"""QAM rescoring for Mask R-CNN (QANet paper, Table 7).

Adding QAM to a Mask R-CNN model you already have is a config change, no retraining::

    MODEL:
      ROI_HEADS: {NAME: "QAMStandardROIHeads"}   # QAMCascadeROIHeads / QAMRes5ROIHeads
      MASK_QUALITY: {ENABLED: True}

After NMS and the top-k of ``TEST.DETECTIONS_PER_IMAGE`` (both chosen on box scores, and after
``ROI_HEADS.SCORE_THRESH_TEST``), each detection's score becomes
``S_q = (S_b^a * S_i^b * S_p^c)^(1/(a+b+c))``: S_b the box score, S_p the mask pixel score of the
soft M x M mask before pasting (``qam.mask_pixel_score``), S_i an optional learned mask IoU.
The instances carry ``scores`` (new tensor), ``box_scores`` (the old scores), ``mask_quality``
(S_p) and, with the IoU branch, ``mask_iou``. Boxes, classes and masks are untouched and no tensor is modified
in place (under test-time augmentation every augmented ``Instances`` shares one ``scores`` tensor).

Pieces:
- ``rescore_instances``: the pure function.
- ``QAMRescoringMixin``: put it before any ROI heads class that has ``mask_on`` and
  ``forward_with_given_boxes`` (detectron2's Standard, Cascade and Res5 heads and subclasses).
  ``QAMStandardROIHeads``, ``QAMCascadeROIHeads``, ``QAMRes5ROIHeads`` are registered.
- ``check_rescoring_config`` and the ``MaskQualityStats`` evaluator.

Test-time augmentation that keeps the rescoring: ``test_time_augmentation.py``.
"""

import logging
from collections.abc import Sequence

import torch
from detectron2.config import configurable
from detectron2.evaluation import DatasetEvaluator
from detectron2.layers import ShapeSpec, cat
from detectron2.modeling.roi_heads import (
    ROI_HEADS_REGISTRY,
    CascadeROIHeads,
    Res5ROIHeads,
    StandardROIHeads,
    select_foreground_proposals,
)
from detectron2.modeling.roi_heads.mask_head import mask_rcnn_inference, mask_rcnn_loss
from detectron2.structures import Instances
from detectron2.utils import comm

from .mask_iou_head import MaskIoUHead, mask_iou_loss, mask_iou_targets, select_class
from .qam import check_qam_weights, fuse_quality, mask_pixel_score

__all__ = [
    "rescore_instances",
    "QAMRescoringMixin",
    "QAMStandardROIHeads",
    "QAMCascadeROIHeads",
    "QAMRes5ROIHeads",
    "check_rescoring_config",
    "MaskQualityStats",
]

logger = logging.getLogger(__name__)

_NO_MASK_HEAD = (
    "MODEL.MASK_QUALITY.ENABLED=True rescores detections with the quality of their soft masks, but "
    "this model has no mask head (MODEL.MASK_ON=False). Set MODEL.MASK_ON=True with a Mask R-CNN "
    "config, or MODEL.MASK_QUALITY.ENABLED=False."
)


def rescore_instances(
    instances: Instances,
    pixel_scores: torch.Tensor,
    iou_scores: torch.Tensor | None = None,
    weights: Sequence[float] = (1.0, 0.0, 1.0),
) -> Instances:
    """QAM-rescored copy of ``instances`` (never modifies a tensor in place).

    Args:
        instances: N detections with ``scores`` (and ``box_scores`` if already rescored: those are
            then the S_b, so rescoring twice does not compound).
        pixel_scores: (N,) mask pixel scores S_p.
        iou_scores: (N,) learned mask IoU S_i or None (factor 1).
        weights: (a, b, c) exponents of S_b, S_i, S_p; (1, 0, 0) returns the box scores exactly.
    Returns:
        A new ``Instances`` sharing every field, with ``scores`` = fused quality (new tensor),
        ``box_scores`` = S_b, ``mask_quality`` = S_p and ``mask_iou`` = S_i when given.
    """
    box = instances.box_scores if instances.has("box_scores") else instances.scores
    out = Instances(instances.image_size, **instances.get_fields())
    out.box_scores = box
    out.mask_quality = pixel_scores
    if iou_scores is not None:
        out.mask_iou = iou_scores
    fused = fuse_quality(box, iou_scores, pixel_scores.to(box.dtype), weights, clamp_iou=True)
    out.scores = fused.to(box.dtype)
    return out


class QAMRescoringMixin:
    """Adds QAM rescoring (and the optional mask-IoU branch) to a mask-producing ROI heads class.

    Use as the first base: ``class MyQAMHeads(QAMRescoringMixin, MyROIHeads)``. With
    ``qam_enabled=False`` and no IoU branch the class behaves exactly like its parent and has the
    same parameters, so plain Mask R-CNN checkpoints load without missing keys.
    """

    @configurable
    def __init__(
        self,
        *,
        qam_enabled: bool = False,
        qam_weights: Sequence[float] = (1.0, 0.0, 1.0),
        mask_score_mode: str = "ratio",
        ratio_thresholds: Sequence[float] = (0.25, 0.75),
        mask_iou_head: torch.nn.Module | None = None,
        mask_iou_loss_weight: float = 1.0,
        **kwargs,
    ):
        """
        Args:
            qam_enabled: rescore detections at inference.
            qam_weights: (a, b, c) of ``fuse_quality``.
            mask_score_mode: "ratio" or "mean" (``qam.mask_pixel_score``).
            ratio_thresholds: (low, high) of the "ratio" mode.
            mask_iou_head: optional ``MaskIoUHead``; trained with ``loss_mask_iou``.
            mask_iou_loss_weight: weight of ``loss_mask_iou``.
            kwargs: arguments of the parent ROI heads.
        """
        super().__init__(**kwargs)
        if mask_score_mode not in ("ratio", "mean"):
            raise ValueError(f"MASK_SCORE_MODE must be 'ratio' or 'mean', got {mask_score_mode!r}")
        qam_weights = check_qam_weights(qam_weights)
        if (qam_enabled or mask_iou_head is not None) and not getattr(self, "mask_on", False):
            raise ValueError(_NO_MASK_HEAD)
        if mask_iou_head is not None and (
            getattr(self, "mask_pooler", None) is None or not hasattr(self.mask_head, "layers")
        ):
            raise ValueError(
                "MODEL.MASK_QUALITY.IOU_HEAD_ON needs a pooled mask head with layers() "
                "(e.g. MaskRCNNConvUpsampleHead under Standard/Cascade ROI heads); "
                f"{type(self).__name__} with "
                f"{type(getattr(self, 'mask_head', None)).__name__} has none."
            )
        self.qam_enabled = qam_enabled
        self.qam_weights = tuple(float(w) for w in qam_weights)
        self.mask_score_mode = mask_score_mode
        self.ratio_thresholds = tuple(float(t) for t in ratio_thresholds)
        self.mask_iou_head = mask_iou_head
        self.mask_iou_loss_weight = mask_iou_loss_weight
        if qam_enabled and self.qam_weights[1] > 0 and mask_iou_head is None:
            logger.warning("QAM weight b=%s on S_i but no IoU branch: S_i = 1", self.qam_weights[1])

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        q = cfg.MODEL.MASK_QUALITY
        if (q.ENABLED or q.IOU_HEAD_ON) and not cfg.MODEL.MASK_ON:
            raise ValueError(_NO_MASK_HEAD)
        ret.update(
            qam_enabled=q.ENABLED,
            qam_weights=tuple(q.WEIGHTS),
            mask_score_mode=q.MASK_SCORE_MODE,
            ratio_thresholds=tuple(q.RATIO_THRESHOLDS),
            mask_iou_loss_weight=q.IOU_LOSS_WEIGHT,
        )
        if q.IOU_HEAD_ON:
            in_features = cfg.MODEL.ROI_HEADS.IN_FEATURES
            res = cfg.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION
            shape = ShapeSpec(channels=input_shape[in_features[0]].channels, height=res, width=res)
            ret["mask_iou_head"] = MaskIoUHead(cfg, shape)
        return ret

    # ---- inference -------------------------------------------------------------------------
    def mask_quality(self, pred_masks: torch.Tensor) -> torch.Tensor:
        """(N, 1, M, M) soft masks -> (N,) pixel scores S_p."""
        low, high = self.ratio_thresholds
        return mask_pixel_score(pred_masks, self.mask_score_mode, low=low, high=high)

    def forward_with_given_boxes(self, features, instances: list[Instances]) -> list[Instances]:
        instances = super().forward_with_given_boxes(features, instances)
        # TTA's box pass turns mask_on off: no masks, nothing to rescore.
        if not (self.qam_enabled and self.mask_on) or not instances[0].has("pred_masks"):
            return instances
        return [
            rescore_instances(
                inst,
                self.mask_quality(inst.pred_masks),
                inst.mask_iou if inst.has("mask_iou") else None,
                self.qam_weights,
            )
            for inst in instances
        ]

    # ---- optional mask-IoU branch ----------------------------------------------------------
    def _forward_mask(self, features, instances: list[Instances]):
        if self.mask_iou_head is None or not self.mask_on:
            return super()._forward_mask(features, instances)
        if self.training:
            instances, _ = select_foreground_proposals(instances, self.num_classes)
        boxes = [x.proposal_boxes if self.training else x.pred_boxes for x in instances]
        pooled = self.mask_pooler([features[f] for f in self.mask_in_features], boxes)
        logits = self.mask_head.layers(pooled)
        if self.training:
            head = self.mask_head
            losses = {
                "loss_mask": mask_rcnn_loss(logits, instances, head.vis_period) * head.loss_weight
            }
            classes = cat([x.gt_classes for x in instances], dim=0).to(torch.int64)
            probs = select_class(logits, classes)[:, None].sigmoid().detach()
            iou_pred = select_class(self.mask_iou_head(pooled, probs), classes)
            target = mask_iou_targets(logits, instances)
            losses["loss_mask_iou"] = mask_iou_loss(iou_pred, target) * self.mask_iou_loss_weight
            return losses
        mask_rcnn_inference(logits, instances)
        classes = cat([x.pred_classes for x in instances], dim=0).to(torch.int64)
        probs = cat([x.pred_masks for x in instances], dim=0)
        iou = select_class(self.mask_iou_head(pooled, probs), classes)
        for inst, iou_i in zip(instances, iou.split([len(x) for x in instances])):
            inst.mask_iou = iou_i
        return instances


@ROI_HEADS_REGISTRY.register()
class QAMStandardROIHeads(QAMRescoringMixin, StandardROIHeads):
    """``StandardROIHeads`` + QAM rescoring (``MODEL.MASK_QUALITY``)."""


@ROI_HEADS_REGISTRY.register()
class QAMCascadeROIHeads(QAMRescoringMixin, CascadeROIHeads):
    """``CascadeROIHeads`` + QAM rescoring (``MODEL.MASK_QUALITY``)."""


@ROI_HEADS_REGISTRY.register()
class QAMRes5ROIHeads(QAMRescoringMixin, Res5ROIHeads):
    """``Res5ROIHeads`` (C4 models) + QAM rescoring; no mask-IoU branch (no pooled mask head)."""


def check_rescoring_config(cfg) -> None:
    """Fail early on MASK_QUALITY settings that would silently do nothing or cannot work."""
    q = cfg.MODEL.MASK_QUALITY
    if not (q.ENABLED or q.IOU_HEAD_ON):
        return
    name = cfg.MODEL.ROI_HEADS.NAME
    cls = ROI_HEADS_REGISTRY.get(name) if name in ROI_HEADS_REGISTRY else None
    if cls is None or not issubclass(cls, QAMRescoringMixin):
        raise ValueError(
            f"MODEL.MASK_QUALITY is enabled but MODEL.ROI_HEADS.NAME={name!r} does not rescore; "
            "use QAMStandardROIHeads, QAMCascadeROIHeads, QAMRes5ROIHeads or a class with "
            "humanparse_d2.modeling.rescoring.QAMRescoringMixin as first base."
        )
    if not cfg.MODEL.MASK_ON:
        raise ValueError(_NO_MASK_HEAD)


class MaskQualityStats(DatasetEvaluator):
    """How many rescored detections got a zero mask pixel score S_p (``mask_quality``).

    S_p is 0 when no pixel of the soft mask is above the upper ratio threshold; the fused score is
    then 0 and the detection drops to the bottom of the ranking. That is right for a few bad masks
    and a sign of a wrong ``MASK_SCORE_MODE``/``RATIO_THRESHOLDS`` or an untrained mask head when
    it hits most detections, so :meth:`evaluate` warns above ``warn_share`` (default: half).
    Gathers over ranks; returns ``{"mask_quality": {detections, zero, zero_share, median, mean}}``
    (empty when the model does not rescore).
    """

    def __init__(self, warn_share: float = 0.5, distributed: bool = True):
        self.warn_share = float(warn_share)
        self.distributed = distributed
        self.reset()

    def reset(self):
        self.values: list[torch.Tensor] = []

    def process(self, inputs, outputs):
        for out in outputs:
            inst = out.get("instances")
            if inst is not None and inst.has("mask_quality"):
                self.values.append(inst.mask_quality.detach().float().cpu())

    def summary(self) -> dict | None:
        """The counts on this process's detections; None when no detection carried S_p."""
        if not self.values:
            return None
        q = torch.cat(self.values)
        if not len(q):
            return {"detections": 0, "zero": 0, "zero_share": 0.0}
        zero = int((q == 0).sum())
        return {
            "detections": len(q),
            "zero": zero,
            "zero_share": round(zero / len(q), 4),
            "median": round(float(q.median()), 4),
            "mean": round(float(q.mean()), 4),
        }

    def evaluate(self):
        if self.distributed and comm.get_world_size() > 1:
            parts = comm.gather(self.values, dst=0)
            if not comm.is_main_process():
                return {}
            self.values = [v for p in parts for v in p]
        s = self.summary()
        if s is None:
            return {}
        logger.info(
            "QAM mask pixel score S_p: %d of %d detections are 0 (median %s)",
            s["zero"],
            s["detections"],
            s.get("median"),
        )
        if s["detections"] and s["zero_share"] > self.warn_share:
            logger.warning(
                "QAM gave %d of %d detections (%.0f%%) a zero mask pixel score, so their fused score is "
                "0: check MODEL.MASK_QUALITY.MASK_SCORE_MODE / RATIO_THRESHOLDS and that the mask head "
                "is trained",
                s["zero"],
                s["detections"],
                100 * s["zero_share"],
            )
        return {"mask_quality": s}
