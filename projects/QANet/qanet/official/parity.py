"""Parity runner ``qanet``: our QANet against the official network, stage by stage.

``tools/check_official_parity.py --official-src DIR --config-file CFG`` calls :func:`qanet`:

1. build the official network for ``CFG`` from the checkout ``DIR`` (compiled ops stubbed), give it
   random weights and random BatchNorm statistics, save it as the official ``{'model': sd}`` file;
2. convert that file with the ``qanet`` converter (strict) and load it into our model;
3. compare on one image file and a few person boxes: decoding (colour order), normalisation
   (/255, mean/std), crop-parser probabilities and IoU score, the flip test, the multi-scale views,
   the paste-back to the image, label maps, pixel scores (Algorithm 1) and the fused QAM scores,
   in float32 (the official paste is float32 by construction); pixel scores and QAM are compared
   beyond a bound on what pixels within the measured difference of T (or of a tie) can move.

Both sides get the same crops (our aligned ``roi_align``): the official crop op is a compiled
RoIAlignRotated kernel, which is not built here (at angle 0 it samples the same points).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from humanparse_d2.checkpoint import (
    OFFICIAL_PARITY_REGISTRY,
    ParityRow,
    convert_official_checkpoint,
)

from .official_model import build_official_qanet, import_official, randomize_
from .parity_numerics import GAIN_TARGET, boundary_bound, calibrate_gain, maxdiff

__all__ = ["qanet", "default_parity_image", "PARITY_BOXES"]

logger = logging.getLogger(__name__)

TOL = 1e-4  # max |difference| allowed on probabilities and scores (float32)
# person boxes (XYXY, fractions of the image) and detector scores used on the parity image
PARITY_BOXES = (
    (0.25, 0.05, 0.75, 1.0, 0.9),
    (0.0, 0.0, 1.0, 1.0, 0.6),
    (0.55, 0.3, 0.95, 0.9, 0.3),
)


def default_parity_image() -> str:
    """scikit-image's astronaut photo (``skimage/data/astronaut.png``), shipped with skimage."""
    try:
        import skimage
    except ImportError as e:
        raise FileNotFoundError(
            "no --image given and scikit-image is not installed for its astronaut photo"
        ) from e
    path = Path(skimage.__file__).parent / "data" / "astronaut.png"
    if not path.is_file():
        raise FileNotFoundError(f"no --image given and {path} is missing")
    return str(path)


def _our_model(cfg, converted, device):
    from detectron2.modeling import build_model

    c = cfg.clone()
    c.defrost()
    c.MODEL.QANET.BOX_SOURCE = "whole_image"  # boxes are passed explicitly; no detector to build
    c.MODEL.TIMM.PRETRAINED = False
    c.MODEL.DEVICE = device
    model = build_model(c)
    model.load_state_dict(converted, strict=True)
    return model.to(device).eval()


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


@OFFICIAL_PARITY_REGISTRY.register()
def qanet(
    cfg,
    official_src,
    *,
    device: str = "cpu",
    seed: int = 0,
    workdir: Path,
    image: str | None = None,
) -> list[ParityRow]:
    """Compare our QANet with the official one (see the module docstring); one row per stage."""
    from ..inference import expand_boxes

    official_src = Path(official_src)
    import_official(official_src)
    from qanet.core.test import PreprocessInputs

    torch.manual_seed(seed)
    off, ocfg, ours, rows = _official_and_ours(cfg, official_src, device, seed, workdir)
    img_rgb, (H, W), row = _decoded_image(cfg, image or default_parity_image())
    rows.append(row)
    fr = torch.tensor(PARITY_BOXES, dtype=torch.float32)
    boxes = fr[:, :4] * torch.tensor([W, H, W, H], dtype=torch.float32)
    box_scores = fr[:, 4]

    # crops (ours for both sides), official normalisation ("cv2" mode: normalises given crops)
    base = expand_boxes(boxes, ours.aspect_ratio, ours.box_expand)
    views = _crop_views(ours, img_rgb, base, device)
    crops = views[0][2]
    pre = PreprocessInputs(_with(ocfg, TEST__AFFINE_MODE="cv2"))
    x_off = pre([crops], None)
    x_ours = ours.parser.normalize(crops)
    gain = _scale_classifiers(off, ours, x_off)
    rows.append(
        ParityRow(
            "normalise (/255, mean/std)",
            maxdiff(x_ours, x_off),
            1e-5,
            f"{len(crops)} crops {ours.crop_size}",
        )
    )
    rows += _network_rows(off, ours, crops, x_off, gain)

    # flip test, multi-scale views, paste-back, label maps, pixel scores, QAM: float32 only. The
    # official paste (``_do_paste_parsing``) casts the probabilities to float32 and samples them
    # with grid_sample in float32, so the stages after the network have no float64 form on the
    # official side; threshold flips are bounded instead (``boundary_bound``)
    lut = ours.flip_lut.cpu().tolist()
    flip_map = tuple((a, b) for a, b in enumerate(lut) if a < b)
    rows += _flip_rows(off, ocfg, ours, pre, crops, flip_map)
    rows += _image_stages(
        off=off,
        ocfg=ocfg,
        ours=ours,
        pre=pre,
        views=views,
        flip_map=flip_map,
        img_rgb=img_rgb,
        boxes=boxes,
        box_scores=box_scores,
        device=device,
        H=H,
        W=W,
    )
    return rows


def _official_and_ours(cfg, official_src: Path, device, seed, workdir):
    """The random official network (IoU branch biased to ~0.7), saved in the official format,
    converted (strict) and loaded into ours. Returns (off, official cfg, ours, [convert row])."""
    off, ocfg = build_official_qanet(official_src, cfg, device=device)
    randomize_(off, seed)
    with torch.no_grad():
        if ocfg.PARSING.PARSINGIOU_ON:  # IoU near 0.7 (a negative raw one gives NaN in Eq. 1)
            off.Parsing.ParsingIoU.Output.parsing_iou.weight.mul_(0.1)
            off.Parsing.ParsingIoU.Output.parsing_iou.bias.fill_(0.7)
    ckpt = Path(workdir) / "official_random.pth"
    # the official format
    torch.save({"model": {k: v.cpu() for k, v in off.state_dict().items()}}, ckpt)
    converted = convert_official_checkpoint("qanet", ckpt, cfg)
    ours = _our_model(cfg, converted, device)
    row = ParityRow(
        "convert (strict load)", 0.0, 0.0, f"{len(converted)} tensors, no missing/unexpected"
    )
    return off, ocfg, ours, [row]


def _decoded_image(cfg, image: str):
    """Image decoding and colour order: official PIL RGB vs our test mapper.
    Returns (img_rgb (3, H, W) float 0-255, (H, W), row)."""
    from PIL import Image

    from ..mapper import QANetTestMapper

    ref = np.asarray(Image.open(image).convert("RGB"))
    mapper = QANetTestMapper(is_train=False, image_format=cfg.INPUT.FORMAT)
    img = mapper({"file_name": image, "image_id": 0})["image"].float()
    img_rgb = img.flip(0) if cfg.INPUT.FORMAT == "BGR" else img
    diff = maxdiff(img_rgb.permute(1, 2, 0), ref)
    return img_rgb, ref.shape[:2], ParityRow("decode (RGB, HxW)", diff, 0.0, Path(image).name)


def _crop_views(ours, img_rgb, base, device):
    """[(scale, crop boxes (N, 4), crops (N, 3, h, w) 0-255)] per test scale (our aligned crop,
    given to both sides)."""
    from humanparse_d2.modeling.paste import crop_rois

    from ..inference import scale_boxes

    views = []
    for s in ours.test_scales:
        vb = scale_boxes(base, s)
        rois = torch.cat([vb.new_zeros(len(vb), 1), vb], 1)
        views.append((s, vb, crop_rois(img_rgb[None].to(device), rois.to(device), ours.crop_size)))
    return views


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


def _flip_rows(off, ocfg, ours, pre, crops, flip_map) -> list[ParityRow]:
    """The flipped view, un-flipped (flip pairs swapped back), when the official test flips."""
    from lib.data.structures.parsing import flip_parsing_prob

    from ..inference import flip_back

    with torch.no_grad():
        lg_f, _ = ours.parser(crops.flip(-1))
    if not ocfg.TEST.AUG.H_FLIP:
        return []
    of = off.parsing_net(off.conv_body_net(pre([crops], None, flip=True)))
    ours_flipped = flip_back(lg_f.softmax(1), ours.flip_lut)
    return [
        ParityRow(
            "flip test (flipped view, un-flipped)",
            maxdiff(ours_flipped, flip_parsing_prob(of["probs"], flip_map)),
            TOL,
            f"flip pairs {list(flip_map)}",
        )
    ]


def _official_view_probs(off, ocfg, pre, views, flip_map):
    """The official list of per-view probabilities (order of ``paste_parsing_aug``) and IoU scores,
    on the official normalisation (``PreprocessInputs``) of our crops."""
    from lib.data.structures.parsing import flip_parsing_prob

    probs_list, ious = [], []
    for _, _, cr in views:
        for flip in (False, True) if ocfg.TEST.AUG.H_FLIP else (False,):
            o = off.parsing_net(off.conv_body_net(pre([cr], None, flip=flip)))
            probs_list.append(flip_parsing_prob(o["probs"], flip_map) if flip else o["probs"])
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


def _image_stages(
    *, off, ocfg, ours, pre, views, flip_map, img_rgb, boxes, box_scores, device, H, W
) -> list[ParityRow]:
    """Rows of the stages after the crop network, in float32 (the deployed precision): raw max
    differences, except the pixel scores and QAM, which are discontinuous at T and compared beyond
    the bound of :func:`boundary_bound`."""
    from ..inference import expand_boxes, label_maps_and_pixel_scores, parse_person_boxes

    dtype = torch.float32
    # as parse_person_boxes
    base = expand_boxes(boxes.to(device, dtype), ours.aspect_ratio, ours.box_expand)
    with torch.no_grad():
        probs_list, iou_off = _official_view_probs(off, ocfg, pre, views, flip_map)
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
        off_side = _official_image_space(ocfg, probs_list, base, H, W, device)
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
    b_i, b_p, nb = boundary_bound(
        full.max(1).values,
        labels,
        full.max(1).values,
        lab_off.cpu(),
        gap,
        ours.pixel_thresh,
        d,
        ours.num_classes,
    )
    di = (inst_ps.double().cpu() - inst_off.double().cpu()).abs()
    dp = (part_ps.double().cpu() - part_off.double().cpu()).abs()
    conf = float((full.max(1).values >= ours.pixel_thresh).double().mean())
    rows.append(
        ParityRow(
            "instance pixel score (beyond T-flip bound)",
            float((di - b_i).clamp_min(0).max()),
            TOL,
            f"raw max {float(di.max()):.2g}, bound <= {float(b_i.max()):.2g}; "
            f"{conf:.0%} of pixels >= T",
        )
    )
    rows.append(
        ParityRow(
            "part pixel scores (beyond T-flip bound)",
            float((dp - b_p).clamp_min(0).max()),
            TOL,
            f"raw max {float(dp.max()):.2g}, bound <= {float(b_p.max()):.2g}; "
            f"{nb} pixels within d={d:.1g} of T or of a tie",
        )
    )
    ours_scores = (iou_ours, inst_ps.to(dtype), part_ps.to(dtype))
    rows += _qam_rows(
        ocfg,
        ours,
        box_scores.to(device, dtype),
        box_scores,
        ours_scores,
        (iou_off, inst_off, part_off),
        b_i,
        b_p,
    )
    return rows


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


def _with(ocfg, **kv):
    """A thawed copy of the official config with ``A__B=value`` overrides."""
    c = ocfg.clone()
    c.defrost()
    for k, v in kv.items():
        node = c
        *path, leaf = k.split("__")
        for p in path:
            node = getattr(node, p)
        setattr(node, leaf, v)
    c.freeze()
    return c
