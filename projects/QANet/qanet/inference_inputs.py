"""What QANet's inference takes in: the RGB image, the test-time crop scales and the person boxes
it keeps (the flip-test class swap comes from ``humanparse_d2.data.flip.flip_lut_for``)."""

import math
from collections.abc import Sequence

import torch

__all__ = ["view_scales", "filter_person_boxes", "rgb_image"]


def view_scales(extra_scales: Sequence[float]) -> tuple[float, ...]:
    """Test-time crop scales: the 1.0 view, then ``MODEL.QANET.TEST.SCALES`` (extra views, as the
    official TEST.AUG.SCALES; a 1.0 among them is not counted twice)."""
    extra = []
    for s in extra_scales:
        s = float(s)
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"MODEL.QANET.TEST.SCALES must be positive, got {list(extra_scales)}")
        if s != 1.0 and s not in extra:
            extra.append(s)
    return (1.0,) + tuple(extra)


def filter_person_boxes(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    hw: tuple[int, int],
    *,
    score_thresh: float,
    max_boxes: int,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Drop non-finite, empty and wholly-outside boxes, then scores below ``score_thresh``; keep the
    top ``max_boxes`` (all if <= 0), highest score first.

    Args: boxes (N, 4) XYXY, scores (N,), hw the image (H, W).
    Returns: boxes (K, 4), scores (K,), the number of degenerate / out-of-image boxes dropped.
    """
    H, W = hw
    if boxes.numel() == 0:
        return boxes.reshape(0, 4), scores.reshape(0), 0
    ok = torch.isfinite(boxes).all(1) & torch.isfinite(scores)
    ok &= (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    ok &= (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & (boxes[:, 0] < W) & (boxes[:, 1] < H)
    n_bad = int((~ok).sum())
    ok &= scores >= score_thresh
    boxes, scores = boxes[ok], scores[ok]
    order = scores.argsort(descending=True)
    if max_boxes > 0:
        order = order[:max_boxes]
    return boxes[order], scores[order], n_bad


def rgb_image(image: torch.Tensor, input_format: str, device: torch.device) -> torch.Tensor:
    """A (1|3|4, H, W) test or training image in ``input_format`` -> (3, H, W) float RGB 0-255
    (grey replicated, alpha dropped)."""
    img = image.to(device).float()
    if img.dim() != 3 or img.shape[0] not in (1, 3, 4):
        raise ValueError(f"QANet expects a (3, H, W) image, got {tuple(img.shape)}")
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    elif img.shape[0] == 4:
        img = img[:3]
    if input_format == "BGR":
        img = img.flip(0)
    return img
