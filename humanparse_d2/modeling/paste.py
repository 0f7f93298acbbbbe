"""Crop persons out of images and paste per-person maps back: the one paste engine.

Geometry (aligned ROIAlign, detectron2's ``layers/mask_ops._do_paste_mask`` uses the same grid):
crop pixel ``(i, j)`` of an ``h x w`` grid on box ``(x0, y0, x1, y1)`` is centred on the image point
``(x0 + (j + 0.5)(x1 - x0)/w, y0 + (i + 0.5)(y1 - y0)/h)``; image pixel ``px`` (centre ``px + 0.5``)
is pasted from the box-normalised coordinate ``2 (px + 0.5 - x0)/(x1 - x0) - 1`` (``_grid_coords``)
with bilinear ``grid_sample(align_corners=False)`` and zero padding. Only the image pixels a crop
can reach (``box_extents``) are computed; that is exact since the pasted values are 0 elsewhere.

- ``crop_rois``: image crops (torchvision ``roi_align(aligned=True)``), QANet's test-time crop.
- ``crop_label_targets``: nearest-neighbour label crops, the ROI parsing head's training targets.
- ``paste_probs_local`` / ``paste_probs``: the exact inverse of ``crop_rois``, one box at a time,
  box-local (QANet, which averages several views per person) or full-image.
- ``paste_parsing``: N per-ROI probability maps -> N full-image uint8 label maps and the QAM pixel
  scores in one call (the ROI parsing head). ROIs are grouped by the size of their image extent
  (tallest first, at most ``max_padding`` x padding); each group is one ``grid_sample`` over a
  padded (n, C, Hm, Wm) block, one max over C and one scatter into the output: no per-person
  kernels (100 random persons: ~30 blocks), memory under ``chunk_elements`` floats.

Pure tensor functions, shared by QANet and the ROI parsing head.
"""

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from .qam import pixel_scores_from_max

__all__ = [
    "crop_rois",
    "crop_label_targets",
    "box_extents",
    "PastedRegion",
    "paste_probs_local",
    "paste_probs",
    "PastedParsing",
    "paste_parsing",
]

# Grid coordinate of padding positions in a block: far outside [-1, 1], so zero padding samples 0.
_OUTSIDE = -4.0


def _grid_coords(pixels: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Box-normalised ``grid_sample`` coordinates (float64) of integer image pixels.

    ``pixels`` (any shape) are pixel indices along one axis, ``lo``/``hi`` the box edges on that
    axis (broadcast against ``pixels``); pixel centres ``p + 0.5`` map to ``2 (p + 0.5 - lo) /
    (hi - lo) - 1``: -1 and 1 are the box edges (``align_corners=False``).
    """
    size = (hi - lo).clamp(min=1e-6)
    return 2.0 * (pixels.to(torch.float64) + 0.5 - lo) / size - 1.0


def _as_rois(boxes: torch.Tensor | Sequence[torch.Tensor], device, dtype) -> torch.Tensor:
    """(K, 5) [batch_idx, x0, y0, x1, y1] from a (K, 5) tensor or a per-image list of (Ki, 4)."""
    if isinstance(boxes, torch.Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ValueError(
                f"crop_rois expects (K, 5) [batch_idx, x0, y0, x1, y1], got {tuple(boxes.shape)}"
            )
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
    boxes: torch.Tensor | Sequence[torch.Tensor],
    out_hw: tuple[int, int],
    sampling_ratio: int = -1,
) -> torch.Tensor:
    """Crop and resize boxes out of a batch of images.

    Args:
        images: (B, C, H, W) float images (any value range; QANet crops the 0-255 RGB image and
            normalises afterwards).
        boxes: (K, 5) ``[batch_idx, x0, y0, x1, y1]`` in absolute pixel coordinates (pixel i covers
            [i, i + 1)), or a list of B tensors (Ki, 4) xyxy.
        out_hw: output size (h, w).
        sampling_ratio: sampling points per output bin; <= 0 is adaptive (``ceil(box / out)``),
            which anti-aliases strong down-sampling.

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
    return roi_align(
        images, rois, (h, w), spatial_scale=1.0, sampling_ratio=sampling_ratio, aligned=True
    )


def crop_label_targets(
    label_maps: torch.Tensor, map_index: torch.Tensor, boxes: torch.Tensor, out_hw: tuple[int, int]
) -> torch.Tensor:
    """Cut ROI label targets out of full-image label maps (nearest semantics).

    The label at each crop pixel centre of the ``crop_rois`` grid; pasting its one-hot encoding
    back reproduces the map inside the box up to the grid resolution.

    Args:
        label_maps: (M, H, W) integer label maps (e.g. one per person, ``gt_parsing``).
        map_index: (R,) which map each ROI reads.
        boxes: (R, 4) xyxy ROI boxes in the maps' pixel coordinates.
        out_hw: (h, w) target grid.
    Returns:
        (R, h, w) int64 labels; crop pixels whose centre falls outside the image are 0 (background).
    """
    h, w = int(out_hw[0]), int(out_hw[1])
    device = label_maps.device
    R = boxes.shape[0]
    if R == 0:
        return torch.zeros((0, h, w), dtype=torch.int64, device=device)
    H, W = label_maps.shape[-2:]
    b = boxes.to(device=device, dtype=torch.float64)
    steps_x = (torch.arange(w, device=device, dtype=torch.float64) + 0.5) / w
    steps_y = (torch.arange(h, device=device, dtype=torch.float64) + 0.5) / h
    xs = torch.floor(b[:, 0:1] + steps_x[None] * (b[:, 2:3] - b[:, 0:1])).long()  # (R, w)
    ys = torch.floor(b[:, 1:2] + steps_y[None] * (b[:, 3:4] - b[:, 1:2])).long()  # (R, h)
    inside = ((ys >= 0) & (ys < H))[:, :, None] & ((xs >= 0) & (xs < W))[:, None, :]
    idx = map_index.to(device=device, dtype=torch.int64)[:, None, None]
    labels = label_maps[idx, ys.clamp(0, H - 1)[:, :, None], xs.clamp(0, W - 1)[:, None, :]]
    return torch.where(inside, labels.long(), torch.zeros_like(labels, dtype=torch.int64))


def box_extents(
    boxes: torch.Tensor, image_hw: tuple[int, int], crop_hw: tuple[int, int] | None = None
) -> list[tuple[int, int, int, int]]:
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
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def __repr__(self) -> str:
        return (
            f"PastedRegion(probs={tuple(self.probs.shape)}, "
            f"x=[{self.x0},{self.x1}), y=[{self.y0},{self.y1}))"
        )


def paste_probs_local(
    probs: torch.Tensor,
    boxes: torch.Tensor,
    image_hw: tuple[int, int],
    extents: Sequence[tuple[int, int, int, int]] | None = None,
) -> list[PastedRegion]:
    """Paste crop-space maps back into image space, computing only each box's extent.

    Args:
        probs: (N, C, h, w) per-crop maps (probabilities) on the ``crop_rois`` grid of ``boxes``.
        boxes: (N, 4) xyxy absolute boxes the crops were taken from.
        image_hw: (H, W) of the image.
        extents: optional per-box pixel extents ``(x0, y0, x1, y1)`` to compute (e.g. a common
            extent for several views of one person); default
            ``box_extents(boxes, image_hw, (h, w))``.

    Returns:
        N ``PastedRegion``; region n holds the image-space values for the pixels of box n's extent.
    """
    if probs.dim() != 4 or boxes.dim() != 2 or boxes.shape[0] != probs.shape[0]:
        raise ValueError(
            "paste_probs expects (N, C, h, w) maps and (N, 4) boxes, "
            f"got {tuple(probs.shape)} and {tuple(boxes.shape)}"
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
        xs = torch.arange(px0, px1, device=probs.device)
        ys = torch.arange(py0, py1, device=probs.device)
        gx = _grid_coords(xs, x0, x1).to(probs.dtype)
        gy = _grid_coords(ys, y0, y1).to(probs.dtype)
        # (h', w', 2) as (x, y)
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)
        out = F.grid_sample(
            probs[n : n + 1], grid[None], mode="bilinear", padding_mode="zeros", align_corners=False
        )[0]
        regions.append(PastedRegion(out, px0, py0, px1, py1))
    return regions


def paste_probs(
    probs: torch.Tensor, boxes: torch.Tensor, image_hw: tuple[int, int]
) -> torch.Tensor:
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


class PastedParsing(NamedTuple):
    labels: torch.Tensor  # (N, H, W) uint8, 0 = background
    instance_scores: torch.Tensor  # (N,) QAM instance pixel score S_p
    part_scores: torch.Tensor  # (N, C-1) QAM part pixel scores


def _chunks(
    ext_h: torch.Tensor, ext_w: torch.Tensor, per_elem: int, budget: int, slack: float
) -> Iterator[tuple[list[int], int, int]]:
    """Greedy groups of ROI indices (tallest extents first) whose padded (n, hm, wm) block fits
    ``budget`` elements (x ``per_elem`` channels) and wastes at most ``slack`` x their true area."""
    order = torch.argsort(ext_h * (int(ext_w.max()) + 1) + ext_w, descending=True).tolist()
    eh, ew = ext_h.tolist(), ext_w.tolist()
    group, hm, wm, area = [], 0, 0, 0
    for k in order:
        nh, nw, a = max(hm, eh[k]), max(wm, ew[k]), eh[k] * ew[k]
        padded = (len(group) + 1) * nh * nw
        if group and (padded * per_elem > budget or padded > slack * (area + a)):
            yield group, hm, wm
            group, nh, nw, area = [], eh[k], ew[k], 0
        group.append(k)
        hm, wm, area = nh, nw, area + a
    if group:
        yield group, hm, wm


class _Block(NamedTuple):
    """Pixel coordinates of one padded block of ``paste_parsing``: n ROIs, hm x wm pixels each."""

    xs: torch.Tensor  # (n, wm) image columns
    ys: torch.Tensor  # (n, hm) image rows
    valid_x: torch.Tensor  # (n, wm) False on padding columns
    valid_y: torch.Tensor  # (n, hm) False on padding rows


def _block_coords(ext: torch.Tensor, hm: int, wm: int, device) -> _Block:
    """``ext`` (n, 4) integer extents ``(x0, y0, x1, y1)`` -> the block's pixel coordinates."""
    ar_x = torch.arange(wm, device=device)
    ar_y = torch.arange(hm, device=device)
    ext = ext.to(device)
    return _Block(
        xs=ext[:, 0:1] + ar_x[None],
        ys=ext[:, 1:2] + ar_y[None],
        valid_x=ar_x[None] < (ext[:, 2] - ext[:, 0])[:, None],
        valid_y=ar_y[None] < (ext[:, 3] - ext[:, 1])[:, None],
    )


def _sample_block(probs: torch.Tensor, boxes: torch.Tensor, blk: _Block) -> torch.Tensor:
    """(n, C, h, w) ROI maps on (n, 4) float64 ``boxes`` -> (n, C, hm, wm) image-space values."""
    gx = _grid_coords(blk.xs, boxes[:, 0:1], boxes[:, 2:3])
    gy = _grid_coords(blk.ys, boxes[:, 1:2], boxes[:, 3:4])
    gx = torch.where(blk.valid_x, gx, torch.full_like(gx, _OUTSIDE)).to(probs.dtype)
    gy = torch.where(blk.valid_y, gy, torch.full_like(gy, _OUTSIDE)).to(probs.dtype)
    n, hm, wm = probs.shape[0], gy.shape[1], gx.shape[1]
    grid = torch.empty((n, hm, wm, 2), dtype=probs.dtype, device=probs.device)
    grid[..., 0] = gx[:, None, :]
    grid[..., 1] = gy[:, :, None]
    return F.grid_sample(probs, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _scatter_block(
    flat: torch.Tensor, lab: torch.Tensor, g: torch.Tensor, blk: _Block, image_hw: tuple[int, int]
) -> None:
    """Write the block's (n, hm, wm) labels of ROIs ``g`` into ``flat`` (N·H·W + 1,) in place;
    padding positions go to the last (trash) slot."""
    H, W = image_hw
    trash = flat.numel() - 1
    lin = (g[:, None, None] * H + blk.ys[:, :, None]) * W + blk.xs[:, None, :]
    valid = blk.valid_y[:, :, None] & blk.valid_x[:, None, :]
    lin = torch.where(valid, lin, torch.full_like(lin, trash))
    flat[lin.flatten()] = lab.flatten()


def paste_parsing(
    probs: torch.Tensor,
    boxes: torch.Tensor,
    image_hw: tuple[int, int],
    pixel_thresh: float = 0.2,
    chunk_elements: int = 1 << 26,
    max_padding: float = 1.25,
) -> PastedParsing:
    """Paste per-ROI class probabilities into the image and label every person's pixels.

    Args:
        probs: (N, C, h, w) per-ROI class probabilities (softmax over C, class 0 = background).
        boxes: (N, 4) xyxy boxes the ROIs were predicted on, in the output image's coordinates.
        image_hw: (H, W) of the output image.
        pixel_thresh: confidence threshold T of the QAM pixel score.
        chunk_elements: memory budget of one padded block, in elements of (n, C, Hm, Wm).
        max_padding: a block's padded area stays below this multiple of its persons' true area
            (larger: fewer, bigger blocks; 1.25 gives ~30 blocks for 100 random persons).
    Returns:
        ``PastedParsing``: labels (N, H, W) uint8 = argmax over C of the pasted probabilities, 0
        where their max is below 1/C (so 0 outside each box); instance (N,) and part (N, C-1)
        pixel scores computed on the pasted image-space probabilities.
    """
    N, C, h, w = probs.shape
    H, W = int(image_hw[0]), int(image_hw[1])
    device = probs.device
    flat = torch.zeros((N * H * W + 1,), dtype=torch.uint8, device=device)  # + 1 trash slot
    labels = flat[: N * H * W].view(N, H, W)
    inst = probs.new_zeros((N,))
    part = probs.new_zeros((N, max(C - 1, 0)))
    if N == 0:
        return PastedParsing(labels, inst, part)
    ext = torch.tensor(box_extents(boxes, (H, W), (h, w)), dtype=torch.int64).reshape(N, 4)
    boxes64 = boxes.detach().to(device=device, dtype=torch.float64)
    ext_h, ext_w = ext[:, 3] - ext[:, 1], ext[:, 2] - ext[:, 0]
    for group, hm, wm in _chunks(ext_h, ext_w, C, chunk_elements, max_padding):
        if hm == 0 or wm == 0:
            continue
        g = torch.tensor(group, dtype=torch.int64, device=device)
        blk = _block_coords(ext[group], hm, wm, device)
        pasted = _sample_block(probs[g], boxes64[g], blk)  # (n, C, hm, wm)
        conf, lab = pasted.max(dim=1)  # one reduction over C serves the scores and the labels
        del pasted
        # padding positions have probability 0: never confident for T > 0, like pixels outside
        inst[g], part[g] = pixel_scores_from_max(conf, lab, C, pixel_thresh)
        lab = torch.where(conf >= 1.0 / C, lab, torch.zeros_like(lab)).to(torch.uint8)
        _scatter_block(flat, lab, g, blk, (H, W))
    return PastedParsing(labels, inst, part)
