"""One-stage human parsing as an ROI head (Parsing R-CNN style), scored by QAM.

The head, its registry (``MODEL.ROI_PARSING_HEAD.NAME``) and the free functions
``parsing_rcnn_loss`` / ``parsing_rcnn_inference`` live in parsing_head.py, as detectron2's
``mask_head.py``. ``ParsingROIHeads`` (registered) is ``StandardROIHeads`` plus the
parsing branch: ROI-pooled FPN features -> head (3x3 conv stack, stride-2 deconvolution, 1x1
predictor, bilinear upsampling to ``RESOLUTION``) -> per-ROI parsing logits, optionally a learned
parsing-IoU S_i.

Training: foreground proposals (IoU >= ``FG_IOU_THRESHOLD`` with their person, at most
``MAX_TRAIN_ROIS`` per image) get targets cut from that person's parsing map ``gt_parsing`` (from
``WholeImageParsingMapper``) with ``paste.crop_label_targets`` on the logits' grid;
cross-entropy + optional Lovasz + optional IoU loss (``modeling.losses``); the ROI pixel accuracy
goes to the EventStorage as ``parsing_rcnn/pixel_accuracy``. An image or batch without foreground
keeps the graph with ``x.sum() * 0`` losses.

Inference: ``parsing_rcnn_inference`` attaches box-local ``pred_parsing_probs`` (N, C, R, R) and
``parsing_iou``; ``ParsingRCNN`` (the meta-architecture, parsing_rcnn.py) pastes them at the output
resolution after detectron2's postprocessing with ``finalize_parsing``: batched paste-back, QAM, and
the evaluator's output convention: ``pred_parsing`` (N, H, W) uint8, ``scores`` (S_q),
``box_scores``, ``part_scores`` (N, C-1), ``pixel_scores``, ``iou_scores`` (with the IoU branch).
"""

import logging
from collections.abc import Sequence

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.roi_heads import (
    ROI_HEADS_REGISTRY,
    StandardROIHeads,
    select_foreground_proposals,
)
from detectron2.structures import Instances
from detectron2.structures.boxes import matched_pairwise_iou
from torch import nn

from .parsing_head import (
    build_parsing_head,
    parsing_rcnn_inference,
    parsing_rcnn_loss,
    parsing_rcnn_targets,
)
from .paste import paste_parsing
from .qam import check_qam_weights, fuse_quality

__all__ = ["ParsingROIHeads", "finalize_parsing"]

logger = logging.getLogger(__name__)


def _strip_parsing(targets: list[Instances]) -> list[Instances]:
    """Targets without ``gt_parsing`` (whose (N, H, W) maps detectron2 would copy once per sampled
    proposal) but with ``gt_index``, so proposals remember which person they matched."""
    out = []
    for t in targets:
        fields = {k: v for k, v in t.get_fields().items() if k != "gt_parsing"}
        fields["gt_index"] = torch.arange(len(t), device=t.gt_classes.device)
        out.append(Instances(t.image_size, **fields))
    return out


@ROI_HEADS_REGISTRY.register()
class ParsingROIHeads(StandardROIHeads):
    """``StandardROIHeads`` + the parsing branch (see the module docstring)."""

    @configurable
    def __init__(
        self,
        *,
        parsing_in_features: list[str],
        parsing_pooler: ROIPooler,
        parsing_head: nn.Module,
        fg_iou_threshold: float = 0.5,
        max_train_rois: int = 64,
        ce_weight: float = 1.0,
        lovasz_weight: float = 0.0,
        iou_weight: float = 1.0,
        qam_weights: Sequence[float] = (1.0, 0.0, 1.0),
        pixel_thresh: float = 0.2,
        paste_chunk_elements: int = 1 << 26,
        **kwargs,
    ):
        """
        Args:
            parsing_in_features: FPN levels the parsing pooler reads.
            parsing_pooler: ROI pooler of the parsing branch.
            parsing_head: the head (``build_parsing_head``).
            fg_iou_threshold: minimum IoU of a training ROI with its matched person.
            max_train_rois: at most this many training ROIs per image (0 = all).
            ce_weight, lovasz_weight, iou_weight: loss weights (``parsing_rcnn_loss``).
            qam_weights: (a, b, c) QAM exponents of box, IoU and pixel score.
            pixel_thresh: confidence threshold T of the pixel score.
            paste_chunk_elements: memory budget of one block of the batched paste-back.
            kwargs: arguments of ``StandardROIHeads``.
        """
        super().__init__(**kwargs)
        self.parsing_in_features = parsing_in_features
        self.parsing_pooler = parsing_pooler
        self.parsing_head = parsing_head
        self.fg_iou_threshold = fg_iou_threshold
        self.max_train_rois = max_train_rois
        self.ce_weight, self.lovasz_weight, self.iou_weight = ce_weight, lovasz_weight, iou_weight
        self.qam_weights = check_qam_weights(qam_weights)
        self.pixel_thresh = pixel_thresh
        self.paste_chunk_elements = paste_chunk_elements

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret.update(cls._init_parsing_head(cfg, input_shape))
        return ret

    @classmethod
    def _init_parsing_head(cls, cfg, input_shape) -> dict:
        head_cfg = cfg.MODEL.ROI_PARSING_HEAD
        in_features = cfg.MODEL.ROI_HEADS.IN_FEATURES
        pooled = head_cfg.POOLER_RESOLUTION
        pooler = ROIPooler(
            output_size=pooled,
            scales=tuple(1.0 / input_shape[k].stride for k in in_features),
            sampling_ratio=head_cfg.POOLER_SAMPLING_RATIO,
            pooler_type=head_cfg.POOLER_TYPE,
        )
        channels = input_shape[in_features[0]].channels
        shape = ShapeSpec(channels=channels, height=pooled, width=pooled)
        return {
            "parsing_in_features": in_features,
            "parsing_pooler": pooler,
            "parsing_head": build_parsing_head(cfg, shape),
            "fg_iou_threshold": head_cfg.FG_IOU_THRESHOLD,
            "max_train_rois": head_cfg.MAX_TRAIN_ROIS,
            "ce_weight": head_cfg.CE_WEIGHT,
            "lovasz_weight": head_cfg.LOVASZ_WEIGHT,
            "iou_weight": head_cfg.IOU_WEIGHT,
            "qam_weights": tuple(head_cfg.QAM_WEIGHTS),
            "pixel_thresh": cfg.MODEL.QAM.PIXEL_THRESH,
            "paste_chunk_elements": head_cfg.PASTE_CHUNK_ELEMENTS,
        }

    def forward(self, images, features, proposals, targets=None):
        """detectron2's ``StandardROIHeads.forward`` plus the parsing losses in training.

        In training, ``targets`` carry ``gt_parsing`` (M, H, W); it is kept out of the per-proposal
        copies (``_strip_parsing``) and read once per image by ``parsing_rcnn_targets``. At
        inference the parent's flow runs ``forward_with_given_boxes``.
        """
        if not self.training:
            return super().forward(images, features, proposals, None)
        assert targets, "'targets' argument is required during training"
        proposals = self.label_and_sample_proposals(proposals, _strip_parsing(targets))
        losses = self._forward_box(features, proposals)
        losses.update(self._forward_mask(features, proposals))
        losses.update(self._forward_keypoint(features, proposals))
        losses.update(self._forward_parsing_train(features, proposals, targets))
        return proposals, losses

    def _parsing_outputs(self, features, boxes) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-image ``Boxes`` -> logits (R, C, RES, RES) and iou (R,) or None."""
        pooled = self.parsing_pooler([features[f] for f in self.parsing_in_features], boxes)
        return self.parsing_head(pooled)

    def forward_with_given_boxes(self, features, instances: list[Instances]) -> list[Instances]:
        """Parent's mask/keypoint outputs plus box-local ``pred_parsing_probs``/``parsing_iou``."""
        instances = super().forward_with_given_boxes(features, instances)
        logits, iou = self._parsing_outputs(features, [x.pred_boxes for x in instances])
        parsing_rcnn_inference(logits, iou, instances)
        return instances

    def _select_training_rois(self, proposals: list[Instances]) -> list[Instances]:
        """Per image, the foreground proposals that train the parsing branch: IoU with the matched
        person >= ``fg_iou_threshold``, a random subset of at most ``max_train_rois``."""
        fg, _ = select_foreground_proposals(proposals, self.num_classes)
        out = []
        for p in fg:
            if len(p) and p.has("gt_index"):
                p = p[matched_pairwise_iou(p.proposal_boxes, p.gt_boxes) >= self.fg_iou_threshold]
            elif len(p):  # proposals without a matched person (no targets in this image)
                p = p[:0]
            if self.max_train_rois > 0 and len(p) > self.max_train_rois:
                p = p[torch.randperm(len(p), device=p.gt_classes.device)[: self.max_train_rois]]
            out.append(p)
        return out

    def _forward_parsing_train(self, features, proposals, targets) -> dict[str, torch.Tensor]:
        """Losses of the parsing branch on the training ROIs of ``proposals``."""
        rois = self._select_training_rois(proposals)
        logits, iou = self._parsing_outputs(features, [p.proposal_boxes for p in rois])
        gt = parsing_rcnn_targets(rois, targets, logits.shape[-2:], logits.device)
        return parsing_rcnn_loss(
            logits,
            iou,
            gt,
            ce_weight=self.ce_weight,
            lovasz_weight=self.lovasz_weight,
            iou_weight=self.iou_weight,
        )

    def finalize(self, instances: Instances) -> Instances:
        """Paste, label and QAM-score one image's detections at their (output) image size."""
        return finalize_parsing(
            instances, self.qam_weights, self.pixel_thresh, self.paste_chunk_elements
        )


def finalize_parsing(
    instances: Instances,
    qam_weights: Sequence[float] = (1.0, 0.0, 1.0),
    pixel_thresh: float = 0.2,
    chunk_elements: int = 1 << 26,
) -> Instances:
    """Box-local ``pred_parsing_probs`` -> the evaluator's output convention (new ``Instances``).

    Args:
        instances: detections at the output resolution with ``pred_boxes``, ``scores``,
            ``pred_parsing_probs`` (N, C, R, R) and optionally ``parsing_iou`` (N,).
    Returns:
        New ``Instances`` without ``pred_parsing_probs``/``parsing_iou`` and with ``pred_parsing``
        (N, H, W) uint8, ``scores`` = S_q, ``box_scores``, ``part_scores`` (N, C-1),
        ``pixel_scores`` (N,) and ``iou_scores`` (N,) when the IoU branch exists.
    """
    fields = dict(instances.get_fields())
    probs = fields.pop("pred_parsing_probs")
    iou: torch.Tensor | None = fields.pop("parsing_iou", None)
    out = Instances(instances.image_size, **fields)
    H, W = (int(v) for v in instances.image_size)
    boxes = instances.pred_boxes.tensor
    pasted = paste_parsing(probs, boxes, (H, W), pixel_thresh, chunk_elements)
    box = instances.scores
    out.box_scores = box
    out.pred_parsing = pasted.labels
    out.pixel_scores = pasted.instance_scores
    if iou is not None:
        out.iou_scores = iou
    out.scores = fuse_quality(box, iou, pasted.instance_scores, qam_weights).to(box.dtype)
    out.part_scores = fuse_quality(box, iou, pasted.part_scores, qam_weights).to(box.dtype)
    return out
