"""ROI geometry of the one-stage parsing head: cutting per-ROI label targets and pasting per-ROI
class probabilities back, batched.

Both use the aligned-ROIAlign convention of ``humanparse_d2.modeling.paste`` (CONTRACTS C): crop
pixel ``(i, j)`` of an ``h x w`` grid on box ``(x0, y0, x1, y1)`` is centred on the image point
``(x0 + (j + 0.5)(x1 - x0)/w, y0 + (i + 0.5)(y1 - y0)/h)``, and image pixel ``(px, py)`` (centre
``px + 0.5``) is pasted from box-normalised coordinates ``2 (px + 0.5 - x0)/(x1 - x0) - 1`` with
bilinear ``grid_sample(align_corners=False)`` and zero padding, i.e. exactly ``paste_probs``.

- ``crop_label_targets``: nearest-neighbour label crop (the label at each crop pixel centre), the
  training target of a ROI; pasting its one-hot encoding back reproduces the map inside the box up
  to the grid resolution (tests/rcnn round-trip test).
- ``paste_parsing``: N per-ROI probability maps -> N full-image label maps (uint8) and the QAM pixel
  scores (QAM Algorithm 1 on the image-space probabilities, as ``qam.pixel_scores``), in one call.
  ROIs are grouped by the size of their image extent (tallest first, at most ``max_padding`` x
  padding); each group is one ``grid_sample`` over a padded (n, C, Hm, Wm) block, one max over C
  and one scatter into the output: no per-person kernels (100 random persons: ~30 blocks), memory
  under ``chunk_elements`` floats (never N x C x H x W).
"""

from typing import NamedTuple, Tuple

import torch
import torch.nn.functional as F

from .paste import box_extents

__all__ = ["crop_label_targets", "paste_parsing", "PastedParsing"]


def crop_label_targets(
    label_maps: torch.Tensor, map_index: torch.Tensor, boxes: torch.Tensor, out_hw: Tuple[int, int]
) -> torch.Tensor:
    """Cut ROI label targets out of full-image label maps (nearest semantics).

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


class PastedParsing(NamedTuple):
    labels: torch.Tensor  # (N, H, W) uint8, 0 = background
    instance_scores: torch.Tensor  # (N,) QAM instance pixel score S_p
    part_scores: torch.Tensor  # (N, C-1) QAM part pixel scores


def _chunks(ext_h: torch.Tensor, ext_w: torch.Tensor, per_elem: int, budget: int, slack: float):
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


def _pixel_scores_from_max(
    conf: torch.Tensor, label: torch.Tensor, num_classes: int, thresh: float
):
    """``qam.pixel_scores`` computed from the per-pixel max ``conf`` (n, h, w) and argmax ``label``
    instead of the (n, C, h, w) probabilities, so the paste-back reduces over C only once (that
    reduction dominated the CPU time). Same sums and clamps as ``pixel_scores``; the tests check
    the two agree."""
    n = conf.shape[0]
    confident = (conf >= thresh).to(conf.dtype).flatten(1)
    label = label.flatten(1)
    cat_sum = conf.new_zeros((n, num_classes)).scatter_add_(1, label, conf.flatten(1) * confident)
    cat_cnt = conf.new_zeros((n, num_classes)).scatter_add_(1, label, confident)
    instance = cat_sum.sum(1) / cat_cnt.sum(1).clamp(min=1e-6)
    return instance, cat_sum[:, 1:] / cat_cnt[:, 1:].clamp(min=1e-6)


def paste_parsing(
    probs: torch.Tensor,
    boxes: torch.Tensor,
    image_hw: Tuple[int, int],
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
    trash = N * H * W
    flat = torch.zeros((trash + 1,), dtype=torch.uint8, device=device)
    labels = flat[:trash].view(N, H, W)
    inst = probs.new_zeros((N,))
    part = probs.new_zeros((N, max(C - 1, 0)))
    if N == 0:
        return PastedParsing(labels, inst, part)
    ext = torch.tensor(box_extents(boxes, (H, W), (h, w)), dtype=torch.int64).reshape(N, 4)
    eh, ew = ext[:, 3] - ext[:, 1], ext[:, 2] - ext[:, 0]
    boxes64 = boxes.detach().to(device=device, dtype=torch.float64)
    for group, hm, wm in _chunks(eh, ew, C, chunk_elements, max_padding):
        if hm == 0 or wm == 0:
            continue
        g = torch.tensor(group, dtype=torch.int64, device=device)
        e = ext[group].to(device)
        b = boxes64[g]
        ar_x = torch.arange(wm, device=device)
        ar_y = torch.arange(hm, device=device)
        xs = e[:, 0:1] + ar_x[None]  # (n, wm) image columns
        ys = e[:, 1:2] + ar_y[None]  # (n, hm) image rows
        valid_x = ar_x[None] < ew[group].to(device)[:, None]
        valid_y = ar_y[None] < eh[group].to(device)[:, None]
        bw = (b[:, 2:3] - b[:, 0:1]).clamp(min=1e-6)
        bh = (b[:, 3:4] - b[:, 1:2]).clamp(min=1e-6)
        gx = 2.0 * (xs + 0.5 - b[:, 0:1]) / bw - 1.0
        gy = 2.0 * (ys + 0.5 - b[:, 1:2]) / bh - 1.0
        # Padding positions sample far outside the crop: zero padding makes them probability 0.
        gx = torch.where(valid_x, gx, torch.full_like(gx, -4.0)).to(probs.dtype)
        gy = torch.where(valid_y, gy, torch.full_like(gy, -4.0)).to(probs.dtype)
        n = len(group)
        grid = torch.empty((n, hm, wm, 2), dtype=probs.dtype, device=device)
        grid[..., 0] = gx[:, None, :]
        grid[..., 1] = gy[:, :, None]
        pasted = F.grid_sample(
            probs[g], grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )  # (n, C, hm, wm)
        del grid
        conf, lab = pasted.max(dim=1)  # one reduction over C serves the scores and the labels
        del pasted
        inst[g], part[g] = _pixel_scores_from_max(conf, lab, C, pixel_thresh)
        lab = torch.where(conf >= 1.0 / C, lab, torch.zeros_like(lab)).to(torch.uint8)
        # One scatter of the block into the flat output; padding positions go to a trash slot.
        lin = (g[:, None, None] * H + ys[:, :, None]) * W + xs[:, None, :]
        lin = torch.where(
            valid_y[:, :, None] & valid_x[:, None, :], lin, torch.full_like(lin, trash)
        )
        flat[lin.flatten()] = lab.flatten()
    return PastedParsing(labels, inst, part)
