"""Optional learned mask-IoU branch for QAM rescoring (Mask Scoring R-CNN style S_i).

The branch regresses, per ROI and class, the IoU between the predicted binary mask and the ground
truth. Its input is the ROI-pooled mask feature concatenated with the predicted soft mask
(max-pooled to the feature resolution), as in Mask Scoring R-CNN (Huang et al., CVPR 2019).

Deviation, documented: the training target is the IoU on the 28x28 mask grid of each proposal
(``gt_masks.crop_and_resize``), not Mask Scoring R-CNN's full-object area correction.
"""

import logging

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, cat
from detectron2.structures import Instances
from fvcore.nn import weight_init
from torch import nn

__all__ = ["MaskIoUHead", "mask_iou_targets", "mask_iou_loss"]

logger = logging.getLogger(__name__)


class MaskIoUHead(nn.Module):
    """convs (last stride 2) -> 2 FC -> per-class IoU.

    Args (keyword):
        input_shape: ShapeSpec of the pooled mask features (C, P, P).
        num_classes: foreground classes (one IoU per class); 1 for a class-agnostic mask head.
        conv_dim, num_conv, fc_dim: widths and depth.
    """

    @configurable
    def __init__(
        self,
        input_shape: ShapeSpec,
        *,
        num_classes: int,
        conv_dim: int = 256,
        num_conv: int = 4,
        fc_dim: int = 1024,
    ):
        super().__init__()
        self.num_classes = num_classes
        in_ch = input_shape.channels + 1
        convs = []
        for k in range(num_conv):
            stride = 2 if k == num_conv - 1 else 1
            conv = Conv2d(in_ch, conv_dim, 3, stride=stride, padding=1, activation=F.relu)
            weight_init.c2_msra_fill(conv)
            convs.append(conv)
            in_ch = conv_dim
        self.convs = nn.Sequential(*convs)
        side = input_shape.height
        if num_conv > 0:
            side = (side + 1) // 2
        self.fc1 = nn.Linear(in_ch * side * side, fc_dim)
        self.fc2 = nn.Linear(fc_dim, fc_dim)
        self.predictor = nn.Linear(fc_dim, num_classes)
        for fc in (self.fc1, self.fc2):
            weight_init.c2_xavier_fill(fc)
        nn.init.normal_(self.predictor.weight, std=0.01)
        nn.init.constant_(self.predictor.bias, 0.0)

    @classmethod
    def from_config(cls, cfg, input_shape):
        q = cfg.MODEL.MASK_QUALITY
        agnostic = cfg.MODEL.ROI_MASK_HEAD.CLS_AGNOSTIC_MASK
        return {
            "input_shape": input_shape,
            "num_classes": 1 if agnostic else cfg.MODEL.ROI_HEADS.NUM_CLASSES,
            "conv_dim": q.IOU_HEAD_CONV_DIM,
            "num_conv": q.IOU_HEAD_NUM_CONV,
            "fc_dim": q.IOU_HEAD_FC_DIM,
        }

    def forward(self, features: torch.Tensor, mask_probs: torch.Tensor) -> torch.Tensor:
        """
        Args:
            features: (R, C, P, P) pooled mask features.
            mask_probs: (R, 1, M, M) predicted soft masks of the chosen class (M = 2P usually).
        Returns:
            (R, num_classes) regressed IoU (raw; QAM clamps it to [0, 1]).
        """
        if mask_probs.shape[-1] != features.shape[-1]:
            mask_probs = F.adaptive_max_pool2d(mask_probs, features.shape[-2:])
        x = self.convs(torch.cat([features, mask_probs.to(features.dtype)], dim=1))
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        return self.predictor(x)


def select_class(values: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """(R, K) or (R, K, ...) -> (R, ...) at ``classes`` (class-agnostic when K == 1)."""
    if values.shape[1] == 1 or values.shape[0] == 0:
        return values[:, 0]
    return values[torch.arange(values.shape[0], device=values.device), classes]


@torch.no_grad()
def mask_iou_targets(mask_logits: torch.Tensor, instances: list[Instances]) -> torch.Tensor:
    """IoU of the binarised predicted masks with the ground truth on the M x M ROI grid.

    Args:
        mask_logits: (R, K, M, M) mask head logits of the foreground proposals in ``instances``.
        instances: per-image proposals with ``proposal_boxes``, ``gt_classes``, ``gt_masks``.
    Returns:
        (R,) IoU in [0, 1] (0 when both masks are empty).
    """
    side = mask_logits.shape[-1]
    gt_masks, gt_classes = [], []
    for inst in instances:
        if len(inst) == 0:
            continue
        gt_classes.append(inst.gt_classes.to(torch.int64))
        gt_masks.append(inst.gt_masks.crop_and_resize(inst.proposal_boxes.tensor, side))
    if not gt_masks:
        return mask_logits.new_zeros((0,))
    gt = cat(gt_masks, dim=0).to(mask_logits.device) > 0.5
    pred = select_class(mask_logits, cat(gt_classes, dim=0)) > 0
    inter = (pred & gt).flatten(1).sum(1).float()
    union = (pred | gt).flatten(1).sum(1).float()
    return inter / union.clamp(min=1.0)


def mask_iou_loss(iou_pred: torch.Tensor, iou_target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between (R,) regressed and target IoU; ``0 * sum`` when R == 0."""
    if iou_pred.numel() == 0:
        return iou_pred.sum() * 0.0
    return F.mse_loss(iou_pred, iou_target.to(iou_pred.dtype), reduction="mean")
