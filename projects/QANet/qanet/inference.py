"""QANet test-time pipeline as pure functions.

boxes -> crop boxes (aspect + x1.25) -> crops (aligned RoIAlign) -> parser (+ flip view, flip pairs
swapped back) -> softmax -> paste to image space (box-local) -> average views -> label maps and QAM
pixel scores. The parsing NMS and painting live in ``humanparse_core.postprocessing``.
"""

from collections.abc import Sequence

import torch

from humanparse_d2.data.affine import crop_box_size
from humanparse_d2.modeling.paste import PastedRegion, box_extents, crop_rois, paste_probs_local
from humanparse_d2.modeling.qam import pixel_scores_from_max

__all__ = [
    "expand_boxes",
    "scale_boxes",
    "flip_back",
    "parse_crops",
    "person_crops",
    "parse_person_boxes",
    "parse_batch_crops",
    "label_maps_and_pixel_scores",
]


def expand_boxes(boxes: torch.Tensor, aspect_wh: float, scale: float = 1.25) -> torch.Tensor:
    """QANet's crop box: extend (N, 4) xyxy boxes to width/height ``aspect_wh``
    around their centre, then grow both sides by ``scale`` (``affine.crop_box_size``, the formula
    of the training crops). Returns (N, 4) xyxy."""
    x0, y0, x1, y1 = boxes.unbind(-1)
    cx, cy = (x0 + x1) * 0.5, (y0 + y1) * 0.5
    w2, h2 = crop_box_size(x1 - x0, y1 - y0, aspect_wh, scale)
    return torch.stack([cx - w2 * 0.5, cy - h2 * 0.5, cx + w2 * 0.5, cy + h2 * 0.5], dim=-1)


def scale_boxes(boxes: torch.Tensor, s: float) -> torch.Tensor:
    """Grow (N, 4) xyxy boxes by ``s`` about their centres."""
    if s == 1.0:
        return boxes
    c = (boxes[:, :2] + boxes[:, 2:]) * 0.5
    half = (boxes[:, 2:] - boxes[:, :2]) * (0.5 * s)
    return torch.cat([c - half, c + half], dim=1)


def flip_back(probs: torch.Tensor, flip_lut: torch.Tensor | None) -> torch.Tensor:
    """Un-flip the prediction on a mirrored crop: swap the flip-pair channels, then flip the width.

    Args:
        probs: (K, C, h, w) on the mirrored crop.
        flip_lut: (C,) long, ``flip_lut[c]`` = label of class c after a horizontal flip (an
            involution); None = no pairs.
    """
    if flip_lut is not None:
        probs = probs.index_select(1, flip_lut.to(probs.device))
    return probs.flip(-1)


@torch.no_grad()
def parse_crops(
    parser,
    crops: torch.Tensor,
    *,
    flip: bool = True,
    flip_lut: torch.Tensor | None = None,
    chunk: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the parser on (K, 3, h, w) 0-255 RGB crops (and their mirror images).

    Returns:
        probs (K, C, h, w) softmax averaged over the views; iou (K,) averaged over the views.
    """
    K = crops.shape[0]
    views = [crops, crops.flip(-1)] if flip else [crops]
    batch = torch.cat(views, dim=0)
    logits, ious = [], []
    step = max(int(chunk), 1)
    for i in range(0, batch.shape[0], step):
        lg, io = parser(batch[i : i + step])
        logits.append(lg)
        ious.append(io.reshape(-1))
    probs = torch.cat(logits).softmax(dim=1)
    iou = torch.cat(ious)
    if flip:
        probs = 0.5 * (probs[:K] + flip_back(probs[K:], flip_lut))
        iou = 0.5 * (iou[:K] + iou[K:])
    return probs, iou


def _view_boxes(boxes, crop_hw, aspect_wh, box_expand, scales) -> list[torch.Tensor]:
    """The V = len(scales) (N, 4) crop boxes of N person boxes, one per test scale."""
    aspect = aspect_wh if aspect_wh else crop_hw[1] / float(crop_hw[0])
    base = expand_boxes(boxes, aspect, box_expand)
    return [scale_boxes(base, s) for s in scales]


def _crops_of_views(image_rgb, view_boxes, image_hw, crop_hw) -> torch.Tensor:
    """(V * N, 3, h, w) view-major crops of the view boxes (original coordinates) out of the
    (possibly resized) image."""
    H, W = image_hw
    sx, sy = image_rgb.shape[-1] / float(W), image_rgb.shape[-2] / float(H)
    all_boxes = torch.cat(view_boxes, 0)
    to_input = all_boxes.new_tensor([sx, sy, sx, sy])
    rois = torch.cat([all_boxes.new_zeros(all_boxes.shape[0], 1), all_boxes * to_input], 1)
    return crop_rois(image_rgb[None].float(), rois, crop_hw)


@torch.no_grad()
def person_crops(
    image_rgb: torch.Tensor,
    boxes: torch.Tensor,
    image_hw: tuple[int, int],
    *,
    crop_hw: tuple[int, int],
    aspect_wh: float | None = None,
    box_expand: float = 1.25,
    scales: Sequence[float] = (1.0,),
) -> torch.Tensor:
    """The (V * N, 3, h, w) crops of N person boxes (original coordinates) for V = len(scales)
    views, view-major, as :func:`parse_person_boxes` parses them; callers may batch several images' crops
    through :func:`parse_crops` and hand each image its slice back as ``parsed``."""
    view_boxes = _view_boxes(boxes, crop_hw, aspect_wh, box_expand, scales)
    return _crops_of_views(image_rgb, view_boxes, image_hw, crop_hw)


def _union_extents(view_boxes, image_hw, crop_hw) -> list[tuple[int, int, int, int]]:
    """Per person, the union of the pixel extents of its views (one paste region for all)."""
    per_view = [box_extents(vb, image_hw, crop_hw) for vb in view_boxes]
    return [
        (min(e[0] for e in ex), min(e[1] for e in ex), max(e[2] for e in ex), max(e[3] for e in ex))
        for ex in zip(*per_view)
    ]


def _paste_views_averaged(probs, view_boxes, image_hw, crop_hw) -> list[PastedRegion]:
    """(V * N, C, h, w) view-major crop probabilities -> N regions, the views averaged."""
    N = view_boxes[0].shape[0]
    extents = _union_extents(view_boxes, image_hw, crop_hw)
    acc = None
    for v, vb in enumerate(view_boxes):
        regs = paste_probs_local(probs[v * N : (v + 1) * N], vb, image_hw, extents=extents)
        if acc is None:
            acc = regs
        else:
            for a, r in zip(acc, regs):
                a.probs = a.probs + r.probs
    for a in acc:
        a.probs = a.probs / len(view_boxes)
    return acc


@torch.no_grad()
def parse_person_boxes(
    parser,
    image_rgb: torch.Tensor,
    boxes: torch.Tensor,
    image_hw: tuple[int, int],
    *,
    crop_hw: tuple[int, int],
    aspect_wh: float | None = None,
    box_expand: float = 1.25,
    scales: Sequence[float] = (1.0,),
    flip: bool = True,
    flip_lut: torch.Tensor | None = None,
    chunk: int = 64,
    parsed: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[list[PastedRegion], torch.Tensor]:
    """Parse every person box of one image: all crops of all views batched through the parser.

    Args:
        image_rgb: (3, h', w') RGB 0-255 float image (may be a resized copy of the original).
        boxes: (N, 4) person boxes in original image coordinates.
        image_hw: original (H, W); outputs are in this space.
        parsed: (probs (V * N, C, h, w), iou (V * N,)) of this image's :func:`person_crops` from
            :func:`parse_crops` when the caller batched them with other images' (then ``parser``
            is not called).
    Returns:
        regions: N box-local image-space probability maps (views averaged);
        iou: (N,) IoU scores averaged over views.
    """
    N = boxes.shape[0]
    if N == 0:
        return [], boxes.new_zeros(0)
    view_boxes = _view_boxes(boxes, crop_hw, aspect_wh, box_expand, scales)
    if parsed is None:
        crops = _crops_of_views(image_rgb, view_boxes, image_hw, crop_hw)
        parsed = parse_crops(parser, crops, flip=flip, flip_lut=flip_lut, chunk=chunk)
    probs, iou = parsed
    if len(scales) == 1:
        return paste_probs_local(probs, view_boxes[0], image_hw), iou
    # several scales: paste each into the union extent of the person's views, then average
    regions = _paste_views_averaged(probs, view_boxes, image_hw, crop_hw)
    return regions, iou.reshape(len(scales), N).mean(0)


@torch.no_grad()
def parse_batch_crops(
    parser,
    images: Sequence[torch.Tensor],
    boxes_hw: Sequence[tuple[torch.Tensor, tuple[int, int]]],
    *,
    flip: bool = True,
    flip_lut: torch.Tensor | None = None,
    chunk: int = 64,
    **views,
) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
    """The crops of all persons of all images through the parser together (chunks of ``chunk``,
    not one forward per image).

    Args:
        images: per image (3, h', w') RGB 0-255; boxes_hw: per image ((N, 4) person boxes in
            original coordinates, original (H, W)).
        views: ``crop_hw``, ``aspect_wh``, ``box_expand``, ``scales`` of :func:`person_crops`.
    Returns:
        per image (probs (V * N, C, h, w), iou (V * N,)) for :func:`parse_person_boxes`'s
        ``parsed``, or None (no box).
    """
    crops = [
        person_crops(img, b, hw, **views) if len(b) else None
        for img, (b, hw) in zip(images, boxes_hw)
    ]
    counts = [0 if c is None else c.shape[0] for c in crops]
    if not sum(counts):
        return [None] * len(images)
    probs, iou = parse_crops(
        parser,
        torch.cat([c for c in crops if c is not None]),
        flip=flip,
        flip_lut=flip_lut,
        chunk=chunk,
    )
    out = list(zip(probs.split(counts), iou.split(counts)))
    return [p if n else None for p, n in zip(out, counts)]


def label_maps_and_pixel_scores(
    regions: Sequence[PastedRegion],
    image_hw: tuple[int, int],
    num_classes: int,
    *,
    pixel_thresh: float = 0.2,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-person full-image label maps and QAM pixel scores from box-local probabilities.

    ``label = argmax_c P``, 0 where ``max_c P < 1/C`` (and outside the box). Pixel scores follow
    Algorithm 1 on the image-space probabilities (the box-local sums are exact: outside pixels have
    P = 0 < T; for T <= 0 the outside pixels are counted as confident background of confidence 0).

    Returns:
        label_maps (N, H, W) uint8, instance pixel scores (N,), part pixel scores (N, C-1).
    """
    H, W = int(image_hw[0]), int(image_hw[1])
    N = len(regions)
    dev = device if device is not None else (regions[0].probs.device if N else "cpu")
    labels = torch.zeros((N, H, W), dtype=torch.uint8, device=dev)
    inst = torch.zeros(N, device=dev)
    part = torch.zeros((N, num_classes - 1), device=dev)
    for n, r in enumerate(regions):
        area = (r.y1 - r.y0) * (r.x1 - r.x0)
        if area == 0:
            if pixel_thresh <= 0:  # every pixel is confident background with confidence 0
                inst[n] = 0.0
            continue
        p = r.probs
        conf, lab = p.max(dim=0)  # shared by the label map and the pixel score
        lab = lab.to(
            torch.uint8
        )  # the label map's type; QAM bins it at a third of int64's memory traffic
        outside = torch.tensor([H * W - area], device=p.device)
        i_s, p_s = pixel_scores_from_max(
            conf[None].float(), lab[None], num_classes, pixel_thresh, num_outside=outside
        )
        labels[n, r.y0 : r.y1, r.x0 : r.x1] = torch.where(
            conf < 1.0 / num_classes, torch.zeros_like(lab), lab
        )
        inst[n] = i_s[0]
        part[n] = p_s[0]
    return labels, inst, part
