"""The compared stages of the QANet parity runner (parity.py), one :class:`ParityRow` each.

Crop stages (:func:`crop_rows`): normalisation, the crop parser in float32 and the networks alone in
float64, the flip test. Image stages (:func:`image_rows`), in float32 only: the official paste
(``_do_paste_parsing``) casts the probabilities to float32 and samples them with grid_sample in
float32, so the stages after the network have no float64 form on the official side; the pixel
scores and QAM, discontinuous at T, are compared beyond the bound of :func:`boundary_bound`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from humanparse_d2.checkpoint import ParityRow

from .parity_numerics import GAIN_TARGET, TOL, boundary_bound, calibrate_gain, maxdiff

__all__ = ["ParitySides", "crop_rows", "image_rows"]


@dataclass
class ParitySides:
    """The two networks under comparison, with what the official side needs to run."""

    off: torch.nn.Module  # official QANet (``conv_body_net`` + ``parsing_net``)
    ocfg: object  # its (yacs) config
    ours: torch.nn.Module  # our QANet meta-architecture
    pre: object  # official ``PreprocessInputs`` in "cv2" mode (normalises given crops)
    flip_map: tuple[tuple[int, int], ...]  # the flip pairs (a, b), a < b, of our flip LUT


# ---------------------------------------------------------------------------------- crop stages
def crop_rows(s: ParitySides, crops: torch.Tensor) -> list[ParityRow]:
    """Rows of the crop stages on ``crops`` (N, 3, h, w), 0-255, the first test scale's. Scales
    both sides' classifiers by the calibrated gain (kept for the image stages)."""
    x_off = s.pre([crops], None)
    x_ours = s.ours.parser.normalize(crops)
    gain = _scale_classifiers(s.off, s.ours, x_off)
    rows = [
        ParityRow(
            "normalise (/255, mean/std)",
            maxdiff(x_ours, x_off),
            1e-5,
            f"{len(crops)} crops {s.ours.crop_size}",
        )
    ]
    rows += _network_rows(s.off, s.ours, crops, x_off, gain)
    return rows + _flip_rows(s, crops)


@torch.no_grad()
def _scale_classifiers(off, ours, x_off) -> float:
    """Calibrate the classifier gain (GAIN_TARGET) and scale both sides' classifiers by it."""
    gain = calibrate_gain(off.parsing_net(off.conv_body_net(x_off))["probs"])
    mine = ours.parser.predictor.classifier
    theirs = off.Parsing.Output.classify
    if not (torch.equal(mine.weight, theirs.weight) and torch.equal(mine.bias, theirs.bias)):
        raise RuntimeError("parity: converted classifier differs from the official one")
    for t in (mine.weight, mine.bias, theirs.weight, theirs.bias):
        t.mul_(gain)
    return gain


def _network_rows(off, ours, crops, x_off, gain) -> list[ParityRow]:
    """The crop parser in float32 (deployed), then the networks alone in float64 on the same
    normalised input: what is left there is their structure, not float32 summation order."""
    with torch.no_grad():
        o = off.parsing_net(off.conv_body_net(x_off))
        logits, iou = ours.parser(crops)
    rows = [
        ParityRow(
            "crop parser probabilities",
            maxdiff(logits.softmax(1), o["probs"]),
            TOL,
            f"classifier gain x{gain:.3g} (median max p {GAIN_TARGET})",
        ),
        ParityRow(
            "crop parser IoU score",
            maxdiff(iou, o["parsing_iou_scores"]),
            TOL,
            f"values {[round(float(v), 3) for v in iou]}",
        ),
    ]
    with torch.no_grad():
        x64 = x_off.double()
        o64 = off.double().parsing_net(off.conv_body_net(x64))
        p = ours.double().parser
        f64 = p.head(p.backbone(x64))
        lg64, iou64 = p.predictor(f64), p.iou_head(f64) if p.iou_head is not None else None
    off.float(), ours.float()
    rows.append(
        ParityRow(
            "crop network probabilities, float64",
            maxdiff(lg64.softmax(1), o64["probs"]),
            1e-10,
            "same normalised input",
        )
    )
    if iou64 is not None:
        rows.append(
            ParityRow(
                "crop network IoU score, float64", maxdiff(iou64, o64["parsing_iou_scores"]), 1e-10
            )
        )
    return rows


def _flip_rows(s: ParitySides, crops) -> list[ParityRow]:
    """The flipped view, un-flipped (flip pairs swapped back), when the official test flips."""
    from lib.data.structures.parsing import flip_parsing_prob

    from ..inference import flip_back

    with torch.no_grad():
        lg_f, _ = s.ours.parser(crops.flip(-1))
    if not s.ocfg.TEST.AUG.H_FLIP:
        return []
    of = s.off.parsing_net(s.off.conv_body_net(s.pre([crops], None, flip=True)))
    ours_flipped = flip_back(lg_f.softmax(1), s.ours.flip_lut)
    return [
        ParityRow(
            "flip test (flipped view, un-flipped)",
            maxdiff(ours_flipped, flip_parsing_prob(of["probs"], s.flip_map)),
            TOL,
            f"flip pairs {list(s.flip_map)}",
        )
    ]


# --------------------------------------------------------------------------------- image stages
class _Target:
    """The two fields of the official ``InstanceBox`` that ``get_parsing_results`` reads."""

    def __init__(self, crop_boxes_xyxy: torch.Tensor, width: int, height: int):
        b = crop_boxes_xyxy
        xc, yc = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        self.ori_bbox = torch.stack([xc, yc, w, h, torch.zeros_like(w)], 1)
        self.size = (width, height)

    def __len__(self):
        return self.ori_bbox.shape[0]


def image_rows(s: ParitySides, views, img_rgb, boxes, box_scores, image_hw, device):
    """Rows of the stages after the crop network, in float32 (the deployed precision): raw max
    differences, except the pixel scores and QAM (beyond the bound of :func:`boundary_bound`).

    ``views``: [(scale, crop boxes (N, 4), crops (N, 3, h, w))] per test scale; ``img_rgb``
    (3, H, W) 0-255; ``boxes`` (N, 4) XYXY person boxes and ``box_scores`` (N,) detector scores.
    """
    from ..inference import label_maps_and_pixel_scores

    ours, (H, W) = s.ours, image_hw
    regions, iou_ours, iou_off, off_side = _both_image_space(
        s, views, img_rgb, boxes, image_hw, device
    )
    ims_probs, lab_off, inst_off, part_off = off_side
    full = torch.zeros(ims_probs.shape, dtype=torch.float64)
    for n, r in enumerate(regions):
        full[n, :, r.y0 : r.y1, r.x0 : r.x1] = r.probs.double().cpu()
    ims_probs = ims_probs.double().cpu()
    d = max(maxdiff(full, ims_probs), 1e-12)
    note = (
        f"views: scales {list(ours.test_scales)}, flip {ours.flip_test}; "
        f"{len(boxes)} boxes on {W}x{H}"
    )
    rows = [
        ParityRow("paste-back probabilities (image space)", d, TOL, note),
        ParityRow("IoU score (views averaged)", maxdiff(iou_ours, iou_off), TOL, ""),
    ]
    labels, inst_ps, part_ps = label_maps_and_pixel_scores(
        regions, (H, W), ours.num_classes, pixel_thresh=ours.pixel_thresh, device=device
    )
    labels = labels.cpu()
    row, gap = _label_row(labels, lab_off.cpu(), ims_probs, d, ours.num_classes)
    rows.append(row)
    conf = full.max(1).values
    b_i, b_p, nb = boundary_bound(
        conf, labels, conf, lab_off.cpu(), gap, ours.pixel_thresh, d, ours.num_classes
    )
    rows += _pixel_score_rows(
        (inst_ps, part_ps), (inst_off, part_off), (b_i, b_p, nb), conf, ours.pixel_thresh, d
    )
    dtype = torch.float32
    ours_scores = (iou_ours, inst_ps.to(dtype), part_ps.to(dtype))
    rows += _qam_rows(
        s.ocfg,
        ours,
        box_scores.to(device, dtype),
        box_scores,
        ours_scores,
        (iou_off, inst_off, part_off),
        b_i,
        b_p,
    )
    return rows


def _both_image_space(s: ParitySides, views, img_rgb, boxes, image_hw, device):
    """Both sides from the person boxes to image space, in float32: ours through
    ``parse_person_boxes`` (as QANet.parse_image), the official one through its paste and
    ``get_parsing_results``. Returns (our regions, our IoU (N,), official IoU (N,),
    (official image probs (N, C, H, W), labels, instance and part pixel scores))."""
    from ..inference import expand_boxes, parse_person_boxes

    ours, (H, W), dtype = s.ours, image_hw, torch.float32
    base = expand_boxes(boxes.to(device, dtype), ours.aspect_ratio, ours.box_expand)
    with torch.no_grad():
        probs_list, iou_off = _official_view_probs(s, views)
        regions, iou_ours = parse_person_boxes(
            ours.parser,
            img_rgb.to(device, dtype),
            boxes.to(device, dtype),
            (H, W),
            crop_hw=ours.crop_size,
            aspect_wh=ours.aspect_ratio,
            box_expand=ours.box_expand,
            scales=ours.test_scales,
            flip=ours.flip_test,
            flip_lut=ours.flip_lut,
            chunk=ours.crops_per_batch,
        )
        off_side = _official_image_space(s.ocfg, probs_list, base, H, W, device)
    return regions, iou_ours, iou_off, off_side


def _official_view_probs(s: ParitySides, views):
    """The official list of per-view probabilities (order of ``paste_parsing_aug``) and IoU scores,
    on the official normalisation (``PreprocessInputs``) of our crops."""
    from lib.data.structures.parsing import flip_parsing_prob

    probs_list, ious = [], []
    for _, _, cr in views:
        for flip in (False, True) if s.ocfg.TEST.AUG.H_FLIP else (False,):
            o = s.off.parsing_net(s.off.conv_body_net(s.pre([cr], None, flip=flip)))
            probs_list.append(flip_parsing_prob(o["probs"], s.flip_map) if flip else o["probs"])
            ious.append(o["parsing_iou_scores"])
    return probs_list, torch.stack(ious).mean(0)


def _official_image_space(ocfg, probs_list, base, H, W, device):
    """Official paste (full image, one box per call) and ``get_parsing_results``, box by box.

    The official paste runs only on its GPU path: on CPU it indexes the box extent into the class
    axis and samples all N maps per chunk. So: its GPU path on whatever device this runs on.
    """
    import qanet.modeling.parsing_head.inference as official_inf

    full_paste = official_inf._do_paste_parsing
    official_inf._do_paste_parsing = lambda p, b, h, w, skip_empty=True: full_paste(
        p, b, h, w, skip_empty=False
    )
    try:
        one = (torch.arange(1, device=device),)
        per_box = []
        for n in range(len(base)):
            target = _Target(base[n : n + 1].to(device), W, H)
            pl = [p[n : n + 1] for p in probs_list]
            per_box.append(
                (
                    official_inf.paste_parsing_aug(ocfg, pl, target.ori_bbox, H, W, one),
                    official_inf.get_parsing_results(ocfg, pl, [target]),
                )
            )
    finally:
        official_inf._do_paste_parsing = full_paste
    ims_probs = torch.cat([p for p, _ in per_box])
    labels, inst, part = (torch.cat([r[i][0] for _, r in per_box]) for i in range(3))
    return ims_probs, labels, inst, part


def _label_row(labels, lab_off, ims_probs, d, num_classes):
    """Label maps may differ only where the decision is within the measured probability difference
    d: top-2 gap <= 2 d (argmax) or |max p - 1/C| <= d (the 1/C background threshold).
    Returns (row, top-2 gap (N, H, W))."""
    top2 = ims_probs.topk(2, dim=1).values
    gap = top2[:, 0] - top2[:, 1]
    clear = (gap > 2 * d) & ((top2[:, 0] - 1.0 / num_classes).abs() > d)
    differ = labels != lab_off
    row = ParityRow(
        "label maps (pixels that differ, no tie)",
        float((differ & clear).sum()),
        0.0,
        f"of {labels.numel()}; {int(differ.sum())} differ in all, at ties within {2 * d:.1g}",
    )
    return row, gap


def _pixel_score_rows(ours_ps, off_ps, bounds, conf, thresh, d) -> list[ParityRow]:
    """Instance (N,) and part (N, C-1) pixel scores beyond the T-flip bounds (b_i, b_p, number of
    boundary pixels); ``conf`` (N, H, W) is our image-space max probability."""
    (inst_ps, part_ps), (inst_off, part_off), (b_i, b_p, nb) = ours_ps, off_ps, bounds
    di = (inst_ps.double().cpu() - inst_off.double().cpu()).abs()
    dp = (part_ps.double().cpu() - part_off.double().cpu()).abs()
    confident = float((conf >= thresh).double().mean())
    return [
        ParityRow(
            "instance pixel score (beyond T-flip bound)",
            float((di - b_i).clamp_min(0).max()),
            TOL,
            f"raw max {float(di.max()):.2g}, bound <= {float(b_i.max()):.2g}; "
            f"{confident:.0%} of pixels >= T",
        ),
        ParityRow(
            "part pixel scores (beyond T-flip bound)",
            float((dp - b_p).clamp_min(0).max()),
            TOL,
            f"raw max {float(dp.max()):.2g}, bound <= {float(b_p.max()):.2g}; "
            f"{nb} pixels within d={d:.1g} of T or of a tie",
        ),
    ]


def _qam_rows(ocfg, ours, bsd, box_scores, ours_scores, off_scores, b_i, b_p) -> list[ParityRow]:
    """QAM fusion (Eq. 1; the official evaluation.py computes it from the raw scores), compared
    beyond the pixel scores' T-flip bound propagated through Eq. 1: with gamma = 3 of a
    (1 / 4.5)-th power, dQ ~ (g / (a+b+g)) Q / s * ds."""
    from humanparse_d2.modeling.qam import fuse_quality

    iou_ours, inst_ps, part_ps = ours_scores
    iou_off, inst_off, part_off = off_scores
    a, b, g = (float(w) for w in ocfg.PARSING.QUALITY_WEIGHTS)
    n_box = len(box_scores)
    bs, io_ = box_scores.double(), iou_off[0:n_box].double().cpu()
    ip, pp = inst_off.double().cpu(), part_off.double().cpu()
    inst_q_off = (bs**a * io_**b * ip**g) ** (1.0 / (a + b + g))
    part_q_off = ((bs**a * io_**b)[:, None] * pp**g) ** (1.0 / (a + b + g))
    inst_q = fuse_quality(bsd, iou_ours, inst_ps, (a, b, g), ours.clamp_iou)
    part_q = fuse_quality(bsd, iou_ours, part_ps, (a, b, g), ours.clamp_iou)
    clamp = "IoU clamped (MODEL.QAM.CLAMP_IOU True)" if ours.clamp_iou else "raw IoU"
    qi = (inst_q.double().cpu() - inst_q_off).abs()
    qp = (part_q.double().cpu() - part_q_off).abs()
    k = g / (a + b + g)
    bqi = k * inst_q_off / ip.clamp_min(1e-6) * b_i
    bqp = k * part_q_off / pp.clamp_min(1e-6) * b_p
    values = [round(float(v), 3) for v in inst_q]
    return [
        ParityRow(
            "QAM instance score (beyond T-flip bound)",
            float((qi - bqi).clamp_min(0).max()),
            TOL,
            f"{clamp}; raw max {float(qi.max()):.2g}; values {values}",
        ),
        ParityRow(
            "QAM part scores (beyond T-flip bound)",
            float((qp - bqp).clamp_min(0).max()),
            TOL,
            f"raw max {float(qp.max()):.2g}",
        ),
    ]
