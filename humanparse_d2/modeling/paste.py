"""Crop persons out of images and paste their class probabilities back (top-down parsing).

``crop_rois`` samples each box with torchvision's ``roi_align(aligned=True)`` (QANet's test-time
crop at angle 0), ``paste_probs`` is its exact inverse: every image pixel centre ``(x + 0.5)`` is
mapped to box-normalised coordinates ``2 (x + 0.5 - x0) / (x1 - x0) - 1`` and sampled with bilinear
``grid_sample(align_corners=False)``, zero outside the crop. Only the pixels inside each box's
extent are computed (``paste_probs_local`` returns just those regions), which is exact because the
pasted probabilities are 0 everywhere else.

Pure tensor functions, shared by QANet and the ROI parsing head.
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

__all__ = ["crop_rois", "paste_probs", "paste_probs_local", "box_extents", "PastedRegion"]


def _as_rois(boxes: Union[torch.Tensor, Sequence[torch.Tensor]], device, dtype) -> torch.Tensor:
    """(K, 5) [batch_idx, x0, y0, x1, y1] from a (K, 5) tensor or a per-image list of (Ki, 4)."""
    if isinstance(boxes, torch.Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ValueError(f"crop_rois expects (K, 5) [batch_idx, x0, y0, x1, y1], got {tuple(boxes.shape)}")
        return boxes.to(device=device, dtype=dtype)
    rois = []
    for i, b in enumerate(boxes):
        b = torch.as_tensor(b, device=device, dtype=dtype).reshape(-1, 4)
        rois.append(torch.cat([b.new_full((b.shape[0], 1), float(i)), b], dim=1))
    if not rois:
        return torch.zeros((0, 5), device=device, dtype=dtype)
    return torch.cat(rois, dim=0)


def crop_rois(
    images: torch.Tensor,
    boxes: Union[torch.Tensor, Sequence[torch.Tensor]],
    out_hw: Tuple[int, int],
    sampling_ratio: int = -1,
) -> torch.Tensor:
    """Crop and resize boxes out of a batch of images.

    Args:
        images: (B, C, H, W) float images (any value range; QANet crops the 0-255 RGB image and
            normalises afterwards).
        boxes: (K, 5) ``[batch_idx, x0, y0, x1, y1]`` in absolute pixel coordinates (pixel i covers
            [i, i + 1)), or a list of B tensors (Ki, 4) xyxy.
        out_hw: output size (h, w).
        sampling_ratio: sampling points per output bin; <= 0 is adaptive (``ceil(box / out)``), which
            anti-aliases strong down-sampling.

    Returns:
        (K, C, h, w) crops; output pixel (i, j) is centred on image point
        ``(x0 + (j + 0.5) (x1 - x0) / w, y0 + (i + 0.5) (y1 - y0) / h)``. Areas outside the image
        are 0.
    """
    if images.dim() != 4:
        raise ValueError(f"crop_rois expects (B, C, H, W) images, got {tuple(images.shape)}")
    rois = _as_rois(boxes, images.device, images.dtype)
    h, w = int(out_hw[0]), int(out_hw[1])
    if rois.shape[0] == 0:
        return images.new_zeros((0, images.shape[1], h, w))
    return roi_align(images, rois, (h, w), spatial_scale=1.0, sampling_ratio=sampling_ratio, aligned=True)


def box_extents(
    boxes: torch.Tensor, image_hw: Tuple[int, int], crop_hw: Tuple[int, int] = None
) -> List[Tuple[int, int, int, int]]:
    """Integer pixel extents ``(px0, py0, px1, py1)`` (end exclusive) of the image pixels a pasted
    crop can touch, clipped to the image. Bilinear sampling with zero padding reaches half a crop
    pixel beyond the box, so with ``crop_hw`` the extent grows by that margin. Empty
    (``px1 <= px0``) for a box wholly outside the image."""
    H, W = int(image_hw[0]), int(image_hw[1])
    out = []
    for x0, y0, x1, y1 in boxes.detach().cpu().double().tolist():
        mx = 0.5 * (x1 - x0) / crop_hw[1] if crop_hw else 0.0
        my = 0.5 * (y1 - y0) / crop_hw[0] if crop_hw else 0.0
        px0 = min(max(int(math.floor(x0 - mx - 0.5)), 0), W)
        py0 = min(max(int(math.floor(y0 - my - 0.5)), 0), H)
        px1 = min(max(int(math.ceil(x1 + mx + 0.5)), 0), W)
        py1 = min(max(int(math.ceil(y1 + my + 0.5)), 0), H)
        out.append((px0, py0, max(px1, px0), max(py1, py0)))
    return out


class PastedRegion:
    """Box-local result of ``paste_probs_local``: ``probs`` (C, y1 - y0, x1 - x0) for the image
    pixels ``[y0:y1, x0:x1]``; every pixel outside the region has probability 0."""

    __slots__ = ("probs", "x0", "y0", "x1", "y1")

    def __init__(self, probs: torch.Tensor, x0: int, y0: int, x1: int, y1: int):
        self.probs, self.x0, self.y0, self.x1, self.y1 = probs, x0, y0, x1, y1

    @property
    def slices(self) -> Tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def __repr__(self) -> str:
        return f"PastedRegion(probs={tuple(self.probs.shape)}, x=[{self.x0},{self.x1}), y=[{self.y0},{self.y1}))"


def paste_probs_local(
    probs: torch.Tensor,
    boxes: torch.Tensor,
    image_hw: Tuple[int, int],
    extents: Optional[Sequence[Tuple[int, int, int, int]]] = None,
) -> List[PastedRegion]:
    """Paste crop-space maps back into image space, computing only each box's extent.

    Args:
        probs: (N, C, h, w) per-crop maps (probabilities) on the ``crop_rois`` grid of ``boxes``.
        boxes: (N, 4) xyxy absolute boxes the crops were taken from.
        image_hw: (H, W) of the image.
        extents: optional per-box pixel extents ``(x0, y0, x1, y1)`` to compute (e.g. a common
            extent for several views of one person); default ``box_extents(boxes, image_hw, (h, w))``.

    Returns:
        N ``PastedRegion``; region n holds the image-space values for the pixels of box n's extent.
    """
    if probs.dim() != 4 or boxes.dim() != 2 or boxes.shape[0] != probs.shape[0]:
        raise ValueError(
            f"paste_probs expects (N, C, h, w) maps and (N, 4) boxes, got {tuple(probs.shape)} and {tuple(boxes.shape)}"
        )
    C = probs.shape[1]
    regions = []
    boxes_f = boxes.to(device=probs.device, dtype=torch.float64)
    if extents is None:
        extents = box_extents(boxes, image_hw, probs.shape[-2:])
    for n, (px0, py0, px1, py1) in enumerate(extents):
        if px1 <= px0 or py1 <= py0:
            regions.append(PastedRegion(probs.new_zeros((C, 0, 0)), px0, py0, px0, py0))
            continue
        x0, y0, x1, y1 = boxes_f[n]
        bw = (x1 - x0).clamp(min=1e-6)
        bh = (y1 - y0).clamp(min=1e-6)
        xs = torch.arange(px0, px1, device=probs.device, dtype=torch.float64) + 0.5
        ys = torch.arange(py0, py1, device=probs.device, dtype=torch.float64) + 0.5
        gx = (2.0 * (xs - x0) / bw - 1.0).to(probs.dtype)
        gy = (2.0 * (ys - y0) / bh - 1.0).to(probs.dtype)
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)  # (h', w', 2) as (x, y)
        out = F.grid_sample(
            probs[n : n + 1], grid[None], mode="bilinear", padding_mode="zeros", align_corners=False
        )[0]
        regions.append(PastedRegion(out, px0, py0, px1, py1))
    return regions


def paste_probs(probs: torch.Tensor, boxes: torch.Tensor, image_hw: Tuple[int, int]) -> torch.Tensor:
    """Paste crop-space class probabilities back to image space (exact inverse of ``crop_rois``).

    Args:
        probs: (N, C, h, w) per-crop probabilities.
        boxes: (N, 4) xyxy absolute boxes the crops were taken from.
        image_hw: (H, W).

    Returns:
        (N, C, H, W) image-space maps, 0 outside each box. Memory is N·C·H·W: prefer
        ``paste_probs_local`` for many persons on large images.
    """
    H, W = int(image_hw[0]), int(image_hw[1])
    out = probs.new_zeros((probs.shape[0], probs.shape[1], H, W))
    for n, r in enumerate(paste_probs_local(probs, boxes, image_hw)):
        if r.probs.numel():
            out[n, :, r.y0 : r.y1, r.x0 : r.x1] = r.probs
    return out
