"""QANet's per-image outputs: QAM-scored ``Instances`` (docs/ARCHITECTURE.md, contract B) and the
optional single-person semantic map, built from the parsed person regions."""

from collections.abc import Sequence

import torch
from detectron2.structures import Boxes, Instances

from humanparse_d2.modeling.paste import PastedRegion
from humanparse_d2.modeling.qam import fuse_quality

__all__ = ["qam_instances", "paste_semantic"]


def qam_instances(
    boxes: torch.Tensor,
    box_scores: torch.Tensor,
    iou: torch.Tensor,
    inst_ps: torch.Tensor,
    part_ps: torch.Tensor,
    labels: torch.Tensor,
    image_hw: tuple[int, int],
    *,
    num_classes: int,
    qam_weights: Sequence[float],
    clamp_iou: bool,
) -> Instances:
    """``Instances`` of N persons with their QAM scores.

    Args:
        boxes: (N, 4) XYXY; box_scores, iou, inst_ps: (N,) box, IoU and pixel scores.
        part_ps: (N, C-1) part pixel scores; labels: (N, H, W) uint8 label maps.
        qam_weights: (alpha, beta, gamma) of the fusion.
    Returns:
        Instances with pred_boxes, box_scores, iou_scores, pixel_scores, scores (N,),
        part_scores, part_pixel_scores (N, C-1) and pred_parsing (N, H, W).
    """
    w = tuple(qam_weights)
    n = boxes.shape[0]
    inst = Instances(tuple(int(v) for v in image_hw))
    inst.pred_boxes = Boxes(boxes.reshape(n, 4))
    inst.box_scores = box_scores.reshape(n)
    inst.iou_scores = iou.reshape(n).to(box_scores.dtype)
    inst.pixel_scores = inst_ps.reshape(n)
    inst.scores = fuse_quality(inst.box_scores, inst.iou_scores, inst.pixel_scores, w, clamp_iou)
    part_ps = part_ps.reshape(n, num_classes - 1)
    inst.part_scores = fuse_quality(inst.box_scores, inst.iou_scores, part_ps, w, clamp_iou)
    inst.part_pixel_scores = part_ps
    inst.pred_parsing = labels
    return inst


def paste_semantic(
    regions: Sequence[PastedRegion],
    box_scores: torch.Tensor,
    num_classes: int,
    image_hw: tuple[int, int],
    device: torch.device,
) -> torch.Tensor:
    """(C, H, W) image-space probabilities of the persons, pasted in ascending box score (the
    best person ends on top), background 1 outside every box."""
    sem = torch.zeros((num_classes,) + tuple(int(v) for v in image_hw), device=device)
    sem[0] = 1.0
    for n in box_scores.argsort().tolist():
        r = regions[n]
        if r.probs.numel():
            sem[:, r.y0 : r.y1, r.x0 : r.x1] = r.probs
    return sem
