"""The per-ROI parsing head of ``ParsingROIHeads`` (roi_parsing_head.py), laid out like
detectron2's ``roi_heads/mask_head.py``: ``ROI_PARSING_HEAD_REGISTRY``
(``MODEL.ROI_PARSING_HEAD.NAME``) with ``build_parsing_head``, the default head ``ParsingRCNNHead`` (3x3 conv stack, stride-2
deconvolution, 1x1 predictor, bilinear upsampling to ``RESOLUTION``, optional parsing-IoU branch),
and the free functions ``parsing_rcnn_targets``, ``parsing_rcnn_loss`` and
``parsing_rcnn_inference``.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ConvTranspose2d, ShapeSpec, cat, get_norm
from detectron2.structures import Instances
from detectron2.utils.events import get_event_storage
from detectron2.utils.registry import Registry
from fvcore.nn import weight_init
from torch import nn

from .losses import lovasz_softmax_loss, parsing_ce_loss, parsing_iou_loss, parsing_iou_targets
from .paste import crop_label_targets

__all__ = [
    "ROI_PARSING_HEAD_REGISTRY",
    "build_parsing_head",
    "ParsingRCNNHead",
    "parsing_rcnn_targets",
    "parsing_rcnn_loss",
    "parsing_rcnn_inference",
]

ROI_PARSING_HEAD_REGISTRY = Registry("ROI_PARSING_HEAD")
ROI_PARSING_HEAD_REGISTRY.__doc__ = """
Registry for parsing heads: ROI-pooled features (R, C_in, P, P) -> per-ROI parsing logits
(R, C, RES, RES) and a regressed parsing IoU (R,) or None. The registered object is called with
``obj(cfg, input_shape)``; ``MODEL.ROI_PARSING_HEAD.NAME`` selects it.
"""


def build_parsing_head(cfg, input_shape: ShapeSpec) -> nn.Module:
    """The parsing head named by ``cfg.MODEL.ROI_PARSING_HEAD.NAME``."""
    name = cfg.MODEL.ROI_PARSING_HEAD.NAME
    return ROI_PARSING_HEAD_REGISTRY.get(name)(cfg, input_shape)


@ROI_PARSING_HEAD_REGISTRY.register()
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
        iou_fc_dim: int = 256,
    ):
        """
        Args:
            input_shape: pooled feature shape (C_in, P, P).
            num_classes: parsing classes C including background.
            conv_dims: channels of the 3x3 convs; the last one is also the deconv width.
            resolution: output side R of the logits (deconv gives 2P, bilinear resizes to R).
            norm: norm of the convs ("" = none).
            iou_on: add the IoU branch (1x1 conv, global average pool, 2 FC -> 1).
            iou_fc_dim: width of the IoU branch's hidden FC layer.
        """
        super().__init__()
        self.resolution = resolution
        ch = input_shape.channels
        convs = []
        for dim in conv_dims:
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
        head_cfg = cfg.MODEL.ROI_PARSING_HEAD
        return {
            "input_shape": input_shape,
            "num_classes": head_cfg.NUM_CLASSES,
            "conv_dims": [head_cfg.CONV_DIM] * head_cfg.NUM_CONV,
            "resolution": head_cfg.RESOLUTION,
            "norm": head_cfg.NORM,
            "iou_on": head_cfg.IOU_ON,
            "iou_fc_dim": head_cfg.IOU_FC_DIM,
        }

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(R, C_in, P, P) -> logits (R, C, RES, RES), iou (R,) or None."""
        x = F.relu(self.deconv(self.convs(x)))
        logits = self.predictor(x)
        if logits.shape[-1] != self.resolution:
            logits = F.interpolate(
                logits, size=(self.resolution,) * 2, mode="bilinear", align_corners=False
            )
        iou = self.iou_head(x)[:, 0] if self.iou_head is not None else None
        return logits, iou


def parsing_rcnn_targets(
    rois: list[Instances], targets: list[Instances], out_hw: tuple[int, int], device
) -> torch.Tensor:
    """(R, h, w) int64 label targets of the training ROIs (concatenated over images).

    Args:
        rois: per image, the training ROIs with ``proposal_boxes`` and ``gt_index`` (the matched
            person's index into that image's targets).
        targets: per image, the ground truth with ``gt_parsing`` (M, H, W).
        out_hw: the logits' grid (h, w).
    """
    gt = [
        crop_label_targets(t.gt_parsing, p.gt_index, p.proposal_boxes.tensor, out_hw)
        for p, t in zip(rois, targets)
        if len(p)
    ]
    if not gt:
        return torch.zeros((0,) + tuple(out_hw), dtype=torch.long, device=device)
    return cat(gt, dim=0).to(device)


def parsing_rcnn_loss(
    logits: torch.Tensor,
    iou: torch.Tensor | None,
    gt: torch.Tensor,
    *,
    ce_weight: float = 1.0,
    lovasz_weight: float = 0.0,
    iou_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Losses of the parsing branch; logs ``parsing_rcnn/pixel_accuracy`` to the EventStorage.

    Args:
        logits: (R, C, h, w) per-ROI parsing logits.
        iou: (R,) regressed parsing IoU, or None without the IoU branch.
        gt: (R, h, w) int64 targets (``parsing_rcnn_targets``); R may be 0.
        ce_weight, lovasz_weight, iou_weight: loss weights; ``lovasz_weight`` 0 leaves out
            ``loss_parsing_lovasz``.
    Returns:
        ``loss_parsing_ce`` and, when enabled, ``loss_parsing_lovasz`` and ``loss_parsing_iou``;
        all 0 (graph kept) when R = 0.
    """
    zero = logits.sum() * 0.0  # keeps every parameter in the graph for empty batches
    losses = {"loss_parsing_ce": ce_weight * parsing_ce_loss(logits, gt) + zero}
    if lovasz_weight > 0:
        lov = lovasz_softmax_loss(logits.softmax(dim=1), gt) if len(gt) else zero
        losses["loss_parsing_lovasz"] = lovasz_weight * lov + zero
    if iou is not None:
        loss_iou = (
            parsing_iou_loss(iou, parsing_iou_targets(logits, gt)) if len(gt) else iou.sum() * 0
        )
        losses["loss_parsing_iou"] = iou_weight * loss_iou + zero
    if len(gt):
        accuracy = (logits.detach().argmax(dim=1) == gt).float().mean()
        get_event_storage().put_scalar("parsing_rcnn/pixel_accuracy", accuracy.item())
    return losses


def parsing_rcnn_inference(
    logits: torch.Tensor, iou: torch.Tensor | None, instances: list[Instances]
) -> None:
    """Attach box-local ``pred_parsing_probs`` (Ni, C, h, w) (softmax of ``logits``) and, with the
    IoU branch, ``parsing_iou`` (Ni,) to each image's ``instances`` (in place, as detectron2's
    ``mask_rcnn_inference``). ``logits`` (R, C, h, w) and ``iou`` (R,) are concatenated over the
    images in order."""
    sizes = [len(x) for x in instances]
    probs = logits.softmax(dim=1).split(sizes)
    ious = iou.split(sizes) if iou is not None else [None] * len(instances)
    for inst, p, i in zip(instances, probs, ious):
        inst.pred_parsing_probs = p
        if i is not None:
            inst.parsing_iou = i
