"""The one post-processing of multi-person parsing outputs, shared by the evaluator
and the submission writer. Pure numpy (torch tensors are accepted and moved to CPU).

Steps, in code order:
  1. global map (mIoU): instances with ``box_score >= semseg_score_thresh`` painted in ascending box
     score (higher boxes overwrite), non-zero labels only. Before NMS; QAM never changes mIoU.
  2. parsing NMS: by score descending, drop an instance whose parsing mIoU (full-image label maps,
     background included, classes absent from both skipped) with a kept one is ``>= nms_thresh``.
  3. AP^p predictions: NMS survivors with ``score >= score_thresh`` (descending score).
  4. person map: the same survivors painted in ascending score, ids 1..K, each pixel one person;
     persons entirely painted over disappear and ids are made contiguous.
  5. part regions: for each painted person (ascending id) and each class present in its painted
     pixels (ascending), one region id 1..R with score ``part_scores[n, c - 1]``. No 255 cap here
     (see :func:`cap_regions` for the legacy writer's cap).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .evaluation.hist import Box, joint_hist
from .evaluation.person_label import PersonLabel, parsing_miou, person_from_crop
from .io import mask_box

__all__ = ["ParsingResult", "parsing_postprocess", "parsing_nms", "cap_regions"]


@dataclass
class ParsingResult:
    """Output of :func:`parsing_postprocess` for one image.

    Attributes:
        global_map: (H, W) uint8 class map (mIoU, ``global_parsing/``).
        person_maps: K full-image (H, W) uint8 label maps of the AP^p predictions (views of the
            input, descending score).
        person_scores: (K,) scores of ``person_maps``.
        person_map: (H, W) int32 painted person ids 1..K' (``instance_segmentation/``).
        part_region_map: (H, W) int32 region ids 1..R (``instance_parsing/``).
        region_classes: (R,) int64 class of region r (index r - 1).
        region_scores: (R,) float64 part score of region r.
        person_map_scores: (K',) score of painted person k.
        person_map_boxes: (K', 4) int64 ``y1 x1 y2 x2`` box of painted person k's full parsing
            (the ``instance_segmentation`` txt columns; y2/x2 exclusive).
        region_persons: (R,) painted person id of region r.
        person_indices: (K,) input indices of ``person_maps``.
        person_boxes: K (y0, x0, y1, x1) non-zero boxes of ``person_maps`` (None if empty).
    """

    global_map: np.ndarray
    person_maps: list[np.ndarray]
    person_scores: np.ndarray
    person_map: np.ndarray
    part_region_map: np.ndarray
    region_classes: np.ndarray
    region_scores: np.ndarray
    person_map_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    person_map_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    region_persons: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    person_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    person_boxes: list = field(default_factory=list)

    def person_labels(self) -> list[PersonLabel]:
        """Box-local :class:`PersonLabel` of the AP^p predictions (no full-image copies)."""
        return [_person_label(m, b) for m, b in zip(self.person_maps, self.person_boxes)]


def _person_label(m: np.ndarray, box: Box | None) -> PersonLabel:
    """:class:`PersonLabel` of an (H, W) map whose non-zero box is already known."""
    if box is None:
        return person_from_crop(None, m[:0, :0])
    return person_from_crop(box, m[box[0] : box[2], box[1] : box[3]], tight=True)


def _np(x, dtype=None):
    if x is None:
        return None
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    return x.astype(dtype) if dtype is not None and x.dtype != dtype else x


def parsing_nms(
    labels: Sequence[PersonLabel],
    scores: np.ndarray,
    num_pixels: int,
    num_classes: int,
    nms_thresh: float = 0.6,
    legacy_indexing: bool = False,
) -> np.ndarray:
    """Parsing NMS; returns kept input indices in descending score order (stable on ties).

    ``legacy_indexing=True`` reproduces an indexing slip of the reference implementation (an
    instance's IoU list skips suppressed instances, but suppression is applied at the unskipped
    positions); only for bit-exact comparisons with it.
    """
    scores = np.asarray(scores, np.float64)
    order = np.argsort(-scores, kind="stable")
    n = order.shape[0]
    if nms_thresh >= 1.0 or n <= 1:
        return order
    keep = np.ones(n, bool)
    boxes = [labels[i].box for i in order]
    for a in range(n - 1):
        if not keep[a]:
            continue
        later = [b for b in range(a + 1, n) if keep[b]]
        for pos, b in enumerate(later):
            la, lb = labels[order[a]], labels[order[b]]
            # Disjoint non-empty boxes: every foreground IoU is 0, so the mIoU is <= 1/2.
            if nms_thresh > 0.5 and la.box is not None and lb.box is not None:
                ba, bb = boxes[a], boxes[b]
                if ba[2] <= bb[0] or bb[2] <= ba[0] or ba[3] <= bb[1] or bb[3] <= ba[1]:
                    continue
            if parsing_miou(la, lb, num_pixels, num_classes) >= nms_thresh:
                keep[(a + 1 + pos) if legacy_indexing else b] = False
    return order[keep]


def parsing_postprocess(
    label_maps,
    scores,
    box_scores,
    part_scores,
    num_classes: int,
    semseg_score_thresh: float = 0.3,
    nms_thresh: float = 0.6,
    score_thresh: float = 0.01,
    *,
    image_size: Sequence[int] | None = None,
    legacy_nms_indexing: bool = False,
) -> ParsingResult:
    """Turn per-instance parsing outputs into the global, person and part-region maps.

    Args:
        label_maps: (N, H, W) uint8 full-image per-person label maps (0 = background), numpy or
            torch.
        scores: (N,) final instance scores S_q (NMS order, AP^p ranking, painting order).
        box_scores: (N,) detector scores S_b (global map); None = use ``scores``.
        part_scores: (N, C-1) part scores for classes 1..C-1 (region scores); None = ``scores``.
        num_classes: C, background included.
        semseg_score_thresh, nms_thresh, score_thresh: the official QANet values (0.3, 0.6, 0.01).
        image_size: (H, W), only needed when N == 0 and ``label_maps`` has no spatial shape.
    """
    maps = _check_label_maps(label_maps, num_classes, image_size)
    s, bs, ps = _check_scores(maps.shape[0], scores, box_scores, part_scores, num_classes)
    boxes = [mask_box(m, "yxyx") for m in maps]
    global_map = _global_map(maps, boxes, bs, semseg_score_thresh)  # step 1
    kept = np.zeros(0, np.int64)
    if maps.shape[0]:  # steps 2 and 3
        labels = [_person_label(m, b) for m, b in zip(maps, boxes)]
        kept = parsing_nms(labels, s, maps[0].size, num_classes, nms_thresh, legacy_nms_indexing)
        kept = kept[s[kept] >= score_thresh]
    person_map, class_map, vis_src = _paint_persons(maps, boxes, s, kept)  # step 4
    regions = _part_regions(person_map, class_map, ps[vis_src], num_classes)  # step 5
    return ParsingResult(
        global_map=global_map,
        person_maps=[maps[i] for i in kept],
        person_scores=s[kept].astype(np.float64) if kept.size else np.zeros(0),
        person_map=person_map,
        part_region_map=regions[0],
        region_classes=regions[1],
        region_scores=regions[2],
        person_map_scores=s[vis_src] if vis_src.size else np.zeros(0),
        person_map_boxes=np.array([boxes[i] for i in vis_src], np.int64).reshape(-1, 4),
        region_persons=regions[3],
        person_indices=np.asarray(kept, np.int64),
        person_boxes=[boxes[i] for i in kept],
    )


def _check_label_maps(label_maps, num_classes: int, image_size) -> np.ndarray:
    """(N, H, W) uint8 label maps, values < C."""
    maps = _np(label_maps)
    if maps is None or maps.ndim != 3:
        if image_size is None:
            raise ValueError("parsing_postprocess: label_maps must be (N, H, W) or give image_size")
        maps = np.zeros((0, int(image_size[0]), int(image_size[1])), np.uint8)
    if maps.dtype != np.uint8:
        if maps.size and (maps.min() < 0 or maps.max() > 255):
            raise ValueError("parsing_postprocess: label values must fit uint8")
        maps = maps.astype(np.uint8)
    if maps.size and int(maps.max()) >= num_classes:
        raise ValueError(
            f"parsing_postprocess: label {int(maps.max())} >= num_classes {num_classes}"
        )
    return maps


def _check_scores(n: int, scores, box_scores, part_scores, num_classes: int):
    """(scores (N,), box scores (N,), part scores (N, C-1)) as float64, defaults filled in."""
    s = _np(scores, np.float64).reshape(-1) if n else np.zeros(0)
    bs = s if box_scores is None else _np(box_scores, np.float64).reshape(-1)
    ps = _np(part_scores, np.float64) if part_scores is not None else None
    if ps is None or ps.size == 0:
        ps = np.repeat(s[:, None], num_classes - 1, axis=1) if n else np.zeros((0, num_classes - 1))
    if not (s.shape[0] == bs.shape[0] == ps.shape[0] == n):
        raise ValueError(
            f"parsing_postprocess: {n} label maps, {s.shape[0]} scores, {bs.shape[0]} box scores, "
            f"{ps.shape[0]} part-score rows"
        )
    return s, bs, ps


def _global_map(maps: np.ndarray, boxes, box_scores: np.ndarray, thresh: float) -> np.ndarray:
    """Step 1: (H, W) uint8; ascending box score, non-zero labels overwrite."""
    global_map = np.zeros(maps.shape[1:], np.uint8)
    for i in np.argsort(box_scores, kind="stable"):
        if box_scores[i] < thresh or boxes[i] is None:
            continue
        y0, x0, y1, x1 = boxes[i]
        src = maps[i, y0:y1, x0:x1]
        np.copyto(global_map[y0:y1, x0:x1], src, where=src > 0)
    return global_map


def _paint_persons(maps: np.ndarray, boxes, s: np.ndarray, kept: np.ndarray):
    """Step 4: (person_map (H, W) int32 ids 1..K', class_map (H, W) uint8, vis_src (K',) input
    index of painted person k). Ascending score (the reverse of the stable descending order keeps
    ties stable); persons painted over entirely disappear and the ids are made contiguous."""
    person_map = np.zeros(maps.shape[1:], np.int32)
    class_map = np.zeros(maps.shape[1:], np.uint8)
    paint = kept[np.argsort(s[kept], kind="stable")] if kept.size else kept
    for pid, i in enumerate(paint, start=1):
        if boxes[i] is None:
            continue
        y0, x0, y1, x1 = boxes[i]
        src = maps[i, y0:y1, x0:x1]
        fg = src > 0
        np.copyto(person_map[y0:y1, x0:x1], pid, where=fg)
        np.copyto(class_map[y0:y1, x0:x1], src, where=fg)
    counts = (
        np.bincount(person_map.ravel(), minlength=len(paint) + 1)
        if paint.size
        else np.zeros(1, np.int64)
    )
    visible = np.flatnonzero(counts[1:] > 0) + 1  # old ids, ascending
    if visible.shape[0] != len(paint):
        remap = np.zeros(len(paint) + 1, np.int32)
        remap[visible] = np.arange(1, visible.shape[0] + 1, dtype=np.int32)
        person_map = remap[person_map]
    vis_src = paint[visible - 1] if visible.size else np.zeros(0, np.int64)
    return person_map, class_map, vis_src


def _part_regions(
    person_map: np.ndarray, class_map: np.ndarray, part_scores: np.ndarray, num_classes: int
):
    """Step 5: (region_map (H, W) int32, classes (R,) int64, scores (R,) float64, persons (R,)
    int64); one region per (painted person, class) pair present, ascending person then class.
    ``part_scores``: (K', C-1) part scores of the painted persons."""
    K = part_scores.shape[0]
    if not K:
        return (
            np.zeros(person_map.shape, np.int32),
            np.zeros(0, np.int64),
            np.zeros(0, np.float64),
            np.zeros(0, np.int64),
        )
    pair = joint_hist(person_map, class_map, K + 1, num_classes)
    pair[0, :] = 0
    pair[:, 0] = 0
    rp, rc = np.nonzero(pair)  # row-major: ascending person, then class
    lut = np.zeros((K + 1, num_classes), np.int32)
    lut[rp, rc] = np.arange(1, rp.shape[0] + 1, dtype=np.int32)
    scores = part_scores[rp - 1, rc - 1].astype(np.float64)
    return lut[person_map, class_map], rc.astype(np.int64), scores, rp.astype(np.int64)


def cap_regions(region_map: np.ndarray, region_classes, region_scores, max_id: int = 254):
    """The reference writer's uint8 cap: regions with id > ``max_id`` become background.

    Returns (region_map, region_classes, region_scores) restricted to ids 1..max_id.
    """
    region_classes = np.asarray(region_classes)
    if region_classes.shape[0] <= max_id:
        return region_map, region_classes, np.asarray(region_scores)
    rm = np.where(region_map > max_id, 0, region_map)
    return rm, region_classes[:max_id], np.asarray(region_scores)[:max_id]
