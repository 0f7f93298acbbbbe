"""One-stage human parsing as an ROI head (Parsing R-CNN style), scored by QAM.

``ParsingROIHeads`` (registered) is ``StandardROIHeads`` plus a parsing branch: ROI-pooled FPN
features -> ``ParsingRCNNHead`` (3x3 conv stack, stride-2 deconvolution, 1x1 predictor, bilinear
upsampling to ``RESOLUTION``) -> per-ROI parsing logits, optionally a learned parsing-IoU S_i.

Training: foreground proposals (IoU >= ``FG_IOU_THRESHOLD`` with their person, at most
``MAX_TRAIN_ROIS`` per image) get targets cut from that person's parsing map ``gt_parsing`` (from
``WholeImageParsingMapper``) with ``roi_paste.crop_label_targets`` on the logits' grid;
cross-entropy + optional Lovasz + optional IoU loss (``modeling.losses``). An image or batch without
foreground keeps the graph with ``x.sum() * 0`` losses.

Inference: the head attaches box-local ``pred_parsing_probs`` (N, C, R, R) and ``parsing_iou``;
``ParsingRCNN`` (the meta-architecture, parsing_rcnn.py) pastes them at the output resolution after
detectron2's postprocessing with ``finalize_parsing``: batched paste-back, QAM, and the evaluator's
output convention (CONTRACTS B): ``pred_parsing`` (N, H, W) uint8, ``scores`` (S_q), ``box_scores``,
``part_scores`` (N, C-1), ``pixel_scores``, ``iou_scores`` (with the IoU branch).
"""

import logging
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ConvTranspose2d, ShapeSpec, cat, get_norm
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.roi_heads import (
    ROI_HEADS_REGISTRY,
    StandardROIHeads,
    select_foreground_proposals,
)
from detectron2.structures import Instances
from detectron2.structures.boxes import matched_pairwise_iou
from fvcore.nn import weight_init
from torch import nn

from .losses import lovasz_softmax_loss, parsing_ce_loss, parsing_iou_loss, parsing_iou_targets
from .qam import fuse_quality
from .paste import crop_label_targets, paste_parsing

__all__ = ["ParsingRCNNHead", "ParsingROIHeads", "finalize_parsing"]

logger = logging.getLogger(__name__)


class ParsingRCNNHead(nn.Module):
    """Per-ROI parsing logits (and optional IoU) from pooled features (R, C_in, P, P)."""

    @configurable
    def __init__(
        self,
        input_shape: ShapeSpec,
        *,
        num_classes: int,
        conv_dims: Sequence[int],
        resolution: int,
        norm: str = "",
        iou_on: bool = False,
        iou_fc_dim: int = 256
    ):
        """
        Args:
            input_shape: pooled feature shape (C_in, P, P).
            num_classes: parsing classes C including background.
            conv_dims: channels of the 3x3 convs; the last one is also the deconv width.
            resolution: output side R of the logits (deconv gives 2P, bilinear resizes to R).
            norm: norm of the convs ("" = none).
            iou_on: add the IoU branch (1x1 conv, global average pool, 2 FC -> 1).
        """
        super().__init__()
        self.resolution = resolution
        ch = input_shape.channels
        convs = []
        for k, dim in enumerate(conv_dims):
            conv = Conv2d(
                ch, dim, 3, padding=1, bias=not norm, norm=get_norm(norm, dim), activation=F.relu
            )
            weight_init.c2_msra_fill(conv)
            convs.append(conv)
            ch = dim
        self.convs = nn.Sequential(*convs)
        self.deconv = ConvTranspose2d(ch, ch, kernel_size=2, stride=2)
        weight_init.c2_msra_fill(self.deconv)
        self.predictor = Conv2d(ch, num_classes, kernel_size=1)
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.constant_(self.predictor.bias, 0.0)
        self.iou_head = None
        if iou_on:
            self.iou_head = nn.Sequential(
                Conv2d(ch, ch, 1, activation=F.relu),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(1),
                nn.Linear(ch, iou_fc_dim),
                nn.ReLU(inplace=True),
                nn.Linear(iou_fc_dim, 1),
            )
            nn.init.normal_(self.iou_head[-1].weight, std=0.01)
            nn.init.constant_(self.iou_head[-1].bias, 0.0)

    @classmethod
    def from_config(cls, cfg, input_shape):
        p = cfg.MODEL.ROI_PARSING_HEAD
        return {
            "input_shape": input_shape,
            "num_classes": p.NUM_CLASSES,
            "conv_dims": [p.CONV_DIM] * p.NUM_CONV,
            "resolution": p.RESOLUTION,
            "norm": p.NORM,
            "iou_on": p.IOU_ON,
        }

    def forward(self, x: torch.Tensor):
        """(R, C_in, P, P) -> logits (R, C, RES, RES), iou (R,) or None."""
        x = F.relu(self.deconv(self.convs(x)))
        logits = self.predictor(x)
        if logits.shape[-1] != self.resolution:
            logits = F.interpolate(
                logits, size=(self.resolution,) * 2, mode="bilinear", align_corners=False
            )
        iou = self.iou_head(x)[:, 0] if self.iou_head is not None else None
        return logits, iou


def _strip_parsing(targets: List[Instances]) -> List[Instances]:
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
        parsing_in_features: List[str],
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
        **kwargs
    ):
        super().__init__(**kwargs)
        self.parsing_in_features = parsing_in_features
        self.parsing_pooler = parsing_pooler
        self.parsing_head = parsing_head
        self.fg_iou_threshold = fg_iou_threshold
        self.max_train_rois = max_train_rois
        self.ce_weight, self.lovasz_weight, self.iou_weight = ce_weight, lovasz_weight, iou_weight
        fuse_quality(torch.ones(1), None, torch.ones(1), qam_weights)  # validates the weights
        self.qam_weights = tuple(float(w) for w in qam_weights)
        self.pixel_thresh = pixel_thresh
        self.paste_chunk_elements = paste_chunk_elements

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret.update(cls._init_parsing_head(cfg, input_shape))
        return ret

    @classmethod
    def _init_parsing_head(cls, cfg, input_shape) -> Dict:
        p = cfg.MODEL.ROI_PARSING_HEAD
        in_features = cfg.MODEL.ROI_HEADS.IN_FEATURES
        res = p.POOLER_RESOLUTION
        pooler = ROIPooler(
            output_size=res,
            scales=tuple(1.0 / input_shape[k].stride for k in in_features),
            sampling_ratio=p.POOLER_SAMPLING_RATIO,
            pooler_type=p.POOLER_TYPE,
        )
        shape = ShapeSpec(channels=input_shape[in_features[0]].channels, height=res, width=res)
        return {
            "parsing_in_features": in_features,
            "parsing_pooler": pooler,
            "parsing_head": ParsingRCNNHead(cfg, shape),
            "fg_iou_threshold": p.FG_IOU_THRESHOLD,
            "max_train_rois": p.MAX_TRAIN_ROIS,
            "ce_weight": p.CE_WEIGHT,
            "lovasz_weight": p.LOVASZ_WEIGHT,
            "iou_weight": p.IOU_WEIGHT,
            "qam_weights": tuple(p.QAM_WEIGHTS),
            "pixel_thresh": cfg.MODEL.QAM.PIXEL_THRESH,
            "paste_chunk_elements": p.PASTE_CHUNK_ELEMENTS,
        }

    def forward(self, images, features, proposals, targets=None):
        if not self.training:
            return super().forward(images, features, proposals, None)
        assert targets, "'targets' argument is required during training"
        proposals = self.label_and_sample_proposals(proposals, _strip_parsing(targets))
        losses = self._forward_box(features, proposals)
        losses.update(self._forward_mask(features, proposals))
        losses.update(self._forward_keypoint(features, proposals))
        losses.update(self._forward_parsing_train(features, proposals, targets))
        return proposals, losses

    def forward_with_given_boxes(self, features, instances: List[Instances]) -> List[Instances]:
        instances = super().forward_with_given_boxes(features, instances)
        boxes = [x.pred_boxes for x in instances]
        pooled = self.parsing_pooler([features[f] for f in self.parsing_in_features], boxes)
        logits, iou = self.parsing_head(pooled)
        probs = logits.softmax(dim=1)
        sizes = [len(x) for x in instances]
        for k, (inst, p) in enumerate(zip(instances, probs.split(sizes))):
            inst.pred_parsing_probs = p
            if iou is not None:
                inst.parsing_iou = iou.split(sizes)[k]
        return instances

    def _select_training_rois(self, proposals: List[Instances]) -> List[Instances]:
        fg, _ = select_foreground_proposals(proposals, self.num_classes)
        out = []
        for p in fg:
            if len(p) and p.has("gt_index"):
                p = p[matched_pairwise_iou(p.proposal_boxes, p.gt_boxes) >= self.fg_iou_threshold]
            elif len(p):
                p = p[:0]
            if self.max_train_rois > 0 and len(p) > self.max_train_rois:
                p = p[torch.randperm(len(p), device=p.gt_classes.device)[: self.max_train_rois]]
            out.append(p)
        return out

    def _forward_parsing_train(self, features, proposals, targets) -> Dict[str, torch.Tensor]:
        rois = self._select_training_rois(proposals)
        boxes = [p.proposal_boxes for p in rois]
        pooled = self.parsing_pooler([features[f] for f in self.parsing_in_features], boxes)
        logits, iou = self.parsing_head(pooled)
        res = logits.shape[-2:]
        gt = [
            crop_label_targets(t.gt_parsing, p.gt_index, p.proposal_boxes.tensor, res)
            for p, t in zip(rois, targets)
            if len(p)
        ]
        gt = (
            cat(gt, dim=0).to(logits.device)
            if gt
            else logits.new_zeros((0,) + res, dtype=torch.long)
        )
        zero = logits.sum() * 0.0
        losses = {"loss_parsing_ce": self.ce_weight * parsing_ce_loss(logits, gt) + zero}
        if self.lovasz_weight > 0:
            lov = lovasz_softmax_loss(logits.softmax(dim=1), gt) if len(gt) else zero
            losses["loss_parsing_lovasz"] = self.lovasz_weight * lov + zero
        if iou is not None:
            loss_iou = (
                parsing_iou_loss(iou, parsing_iou_targets(logits, gt)) if len(gt) else iou.sum() * 0
            )
            losses["loss_parsing_iou"] = self.iou_weight * loss_iou + zero
        return losses

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
    iou: Optional[torch.Tensor] = fields.pop("parsing_iou", None)
    out = Instances(instances.image_size, **fields)
    H, W = (int(v) for v in instances.image_size)
    pasted = paste_parsing(probs, instances.pred_boxes.tensor, (H, W), pixel_thresh, chunk_elements)
    box = instances.scores
    out.box_scores = box
    out.pred_parsing = pasted.labels
    out.pixel_scores = pasted.instance_scores
    if iou is not None:
        out.iou_scores = iou
    out.scores = fuse_quality(box, iou, pasted.instance_scores, qam_weights).to(box.dtype)
    out.part_scores = fuse_quality(box, iou, pasted.part_scores, qam_weights).to(box.dtype)
    return out
