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
from typing import List, Optional

import numpy as np
import torch

from humanparse_d2.checkpoint import OFFICIAL_PARITY_REGISTRY, ParityRow, convert_official_checkpoint

from .official_model import build_official_qanet, import_official, randomize_

__all__ = ["qanet", "default_parity_image", "PARITY_BOXES"]

logger = logging.getLogger(__name__)

TOL = 1e-4  # max |difference| allowed on probabilities and scores (float32)
# The random classifier's maps are flat (max p < T = 0.2: no confident pixel for Algorithm 1). Its
# weight and bias are scaled, on both sides alike, by a gain calibrated per model on the first view so
# that the median max-probability is GAIN_TARGET: confident pixels exist, and the gain is not larger
# than the model's own logit scale needs (a fixed gain amplifies a deep net's float32 noise with it).
GAIN_TARGET = 0.5
# person boxes (XYXY, fractions of the image) and detector scores used on the parity image
PARITY_BOXES = ((0.25, 0.05, 0.75, 1.0, 0.9), (0.0, 0.0, 1.0, 1.0, 0.6), (0.55, 0.3, 0.95, 0.9, 0.3))


def default_parity_image() -> str:
    """scikit-image's astronaut photo (``skimage/data/astronaut.png``), shipped with skimage."""
    try:
        import skimage
    except ImportError as e:
        raise FileNotFoundError("no --image given and scikit-image is not installed for its astronaut photo") from e
    path = Path(skimage.__file__).parent / "data" / "astronaut.png"
    if not path.is_file():
        raise FileNotFoundError(f"no --image given and {path} is missing")
    return str(path)


def _maxdiff(a, b) -> float:
    a = torch.as_tensor(np.asarray(a) if not torch.is_tensor(a) else a).double().cpu()
    b = torch.as_tensor(np.asarray(b) if not torch.is_tensor(b) else b).double().cpu()
    if a.shape != b.shape:
        raise ValueError(f"parity: shapes differ {tuple(a.shape)} vs {tuple(b.shape)}")
    na, nb = torch.isnan(a), torch.isnan(b)
    if not torch.equal(na, nb):  # NaN (negative raw IoU ** 0.5) must appear on both sides or neither
        return float("inf")
    d = (a - b).abs()[~na]
    return float(d.max()) if d.numel() else 0.0


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
def qanet(cfg, official_src, *, device: str = "cpu", seed: int = 0, workdir: Path, image: Optional[str] = None
          ) -> List[ParityRow]:
    """Compare our QANet with the official one (see the module docstring); one row per stage."""
    from PIL import Image

    from humanparse_d2.modeling.paste import crop_rois

    from ..inference import expand_boxes, flip_back, scale_boxes
    from ..mapper import QANetTestMapper

    official_src = Path(official_src)
    import_official(official_src)
    from lib.data.structures.parsing import flip_parsing_prob
    from qanet.core.test import PreprocessInputs

    rows: List[ParityRow] = []
    torch.manual_seed(seed)
    off, ocfg = build_official_qanet(official_src, cfg, device=device)
    randomize_(off, seed)
    with torch.no_grad():
        if ocfg.PARSING.PARSINGIOU_ON:  # IoU scores near 0.7 (a negative raw one gives NaN in Eq. 1)
            off.Parsing.ParsingIoU.Output.parsing_iou.weight.mul_(0.1)
            off.Parsing.ParsingIoU.Output.parsing_iou.bias.fill_(0.7)
    ckpt = Path(workdir) / "official_random.pth"
    torch.save({"model": {k: v.cpu() for k, v in off.state_dict().items()}}, ckpt)  # the official format
    converted = convert_official_checkpoint("qanet", ckpt, cfg)
    ours = _our_model(cfg, converted, device)
    rows.append(ParityRow("convert (strict load)", 0.0, 0.0, f"{len(converted)} tensors, no missing/unexpected"))

    # --- image decoding and colour order: official PIL RGB vs our test mapper -----------------------
    image = image or default_parity_image()
    ref = np.asarray(Image.open(image).convert("RGB"))
    mapped = QANetTestMapper(is_train=False, image_format=cfg.INPUT.FORMAT)({"file_name": image, "image_id": 0})
    img = mapped["image"].float()
    img_rgb = img.flip(0) if cfg.INPUT.FORMAT == "BGR" else img
    rows.append(ParityRow("decode (RGB, HxW)", _maxdiff(img_rgb.permute(1, 2, 0), ref), 0.0, Path(image).name))
    H, W = ref.shape[:2]
    fr = torch.tensor(PARITY_BOXES, dtype=torch.float32)
    boxes = fr[:, :4] * torch.tensor([W, H, W, H], dtype=torch.float32)
    box_scores = fr[:, 4]

    # --- crops (ours for both sides), official normalisation + flip --------------------------------
    crop_hw = ours.crop_size
    base = expand_boxes(boxes, ours.aspect_ratio, ours.box_expand)
    pre = PreprocessInputs(_with(ocfg, TEST__AFFINE_MODE="cv2"))  # "cv2" mode: normalises given crops
    views = []  # (scale, crop boxes, crops 0-255)
    for s in ours.test_scales:
        vb = scale_boxes(base, s)
        rois = torch.cat([vb.new_zeros(len(vb), 1), vb], 1)
        views.append((s, vb, crop_rois(img_rgb[None].to(device), rois.to(device), crop_hw)))
    crops = views[0][2]
    x_off = pre([crops], None)
    x_ours = ours.parser.normalize(crops)
    with torch.no_grad():  # calibrate the classifier gain (GAIN_TARGET), same tensors scaled on both sides
        gain = _calibrate_gain(off.parsing_net(off.conv_body_net(x_off))["probs"])
        mine = ours.parser.predictor.classifier
        theirs = off.Parsing.Output.classify
        if not (torch.equal(mine.weight, theirs.weight) and torch.equal(mine.bias, theirs.bias)):
            raise RuntimeError("parity: converted classifier differs from the official one")
        for t in (mine.weight, mine.bias, theirs.weight, theirs.bias):
            t.mul_(gain)
    rows.append(ParityRow("normalise (/255, mean/std)", _maxdiff(x_ours, x_off), 1e-5, f"{len(crops)} crops {crop_hw}"))

    # --- crop parser ------------------------------------------------------------------------------
    with torch.no_grad():
        o = off.parsing_net(off.conv_body_net(x_off))
        logits, iou = ours.parser(crops)
    rows.append(ParityRow("crop parser probabilities", _maxdiff(logits.softmax(1), o["probs"]), TOL,
                          f"classifier gain x{gain:.3g} (median max p {GAIN_TARGET})"))
    rows.append(ParityRow("crop parser IoU score", _maxdiff(iou, o["parsing_iou_scores"]), TOL,
                          f"values {[round(float(v), 3) for v in iou]}"))
    # the networks alone in float64 on the same normalised input: what is left is their structure,
    # not float32 summation order
    with torch.no_grad():
        x64 = x_off.double()
        o64 = off.double().parsing_net(off.conv_body_net(x64))
        p = ours.double().parser
        f64 = p.head(p.backbone(x64))
        lg64, iou64 = p.predictor(f64), p.iou_head(f64) if p.iou_head is not None else None
    off.float(), ours.float()
    rows.append(ParityRow("crop network probabilities, float64", _maxdiff(lg64.softmax(1), o64["probs"]), 1e-10,
                          "same normalised input"))
    if iou64 is not None:
        rows.append(ParityRow("crop network IoU score, float64", _maxdiff(iou64, o64["parsing_iou_scores"]), 1e-10))

    # --- flip test, multi-scale views, paste-back, label maps, pixel scores, QAM: float32, then float64
    lut = ours.flip_lut.cpu().tolist()
    flip_map = tuple((a, b) for a, b in enumerate(lut) if a < b)
    ctx = dict(off=off, ocfg=ocfg, ours=ours, pre=pre, views=views, flip_map=flip_map, img_rgb=img_rgb,
               boxes=boxes, base=base, box_scores=box_scores, device=device, H=H, W=W)
    with torch.no_grad():
        lg_f, _ = ours.parser(crops.flip(-1))
    if ocfg.TEST.AUG.H_FLIP:
        of = off.parsing_net(off.conv_body_net(pre([crops], None, flip=True)))
        ours_flipped = flip_back(lg_f.softmax(1), ours.flip_lut)
        rows.append(ParityRow("flip test (flipped view, un-flipped)",
                              _maxdiff(ours_flipped, flip_parsing_prob(of["probs"], flip_map)), TOL,
                              f"flip pairs {list(flip_map)}"))
    # float32 only: the official paste (``_do_paste_parsing``) casts the probabilities to float32 and
    # samples them with grid_sample in float32, so the stages after the network have no float64 form
    # on the official side; threshold flips are bounded instead (``_boundary_bound``)
    rows += _image_stages(torch.float32, **ctx)
    return rows


def _calibrate_gain(probs: torch.Tensor, target: float = GAIN_TARGET) -> float:
    """Gain g on the classifier (weight and bias) so that the median max-probability is ``target``.

    ``probs`` (B, C, h, w) is the softmax of the unscaled random classifier; ``log probs`` equals its
    logits up to a per-pixel constant, so ``softmax(g * log probs)`` is the map at gain g. The median
    of ``max_c`` is monotone in g: bisection on log g.
    """
    z = probs.double().clamp_min(1e-300).log()
    lo, hi = -5.0, 8.0
    for _ in range(50):
        mid = (lo + hi) / 2
        med = float((z * np.exp(mid)).softmax(1).max(1).values.median())
        lo, hi = (mid, hi) if med < target else (lo, mid)
    return float(np.exp((lo + hi) / 2))


def _official_view_probs(off, ocfg, pre, views, flip_map, dtype, normalize, img_rgb, base):
    """The official list of per-view probabilities (order of ``paste_parsing_aug``) and IoU scores.

    float32: official normalisation (``PreprocessInputs``); float64: ``normalize`` (ours) in float64
    for both sides, so that only the stages after the network are compared.
    """
    from lib.data.structures.parsing import flip_parsing_prob

    probs_list, ious = [], []
    from humanparse_d2.modeling.paste import crop_rois

    from ..inference import scale_boxes

    for s, vb, cr in views:
        if dtype != torch.float32:  # crops of the float64 image and boxes, as parse_person_boxes takes them
            vb = scale_boxes(base, s)
            rois = torch.cat([vb.new_zeros(len(vb), 1), vb], 1).to(img_rgb.device, dtype)
            cr = crop_rois(img_rgb[None].to(dtype), rois, tuple(cr.shape[-2:]))
        for flip in ((False, True) if ocfg.TEST.AUG.H_FLIP else (False,)):
            if dtype == torch.float32:
                x = pre([cr], None, flip=flip)
            else:
                x = normalize(cr.to(dtype))
                x = x.flip(3) if flip else x
            o = off.parsing_net(off.conv_body_net(x))
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
    official_inf._do_paste_parsing = lambda p, b, h, w, skip_empty=True: full_paste(p, b, h, w, skip_empty=False)
    try:
        one = (torch.arange(1, device=device),)
        per_box = []
        for n in range(len(base)):
            target = _Target(base[n:n + 1].to(device), W, H)
            pl = [p[n:n + 1] for p in probs_list]
            per_box.append((official_inf.paste_parsing_aug(ocfg, pl, target.ori_bbox, H, W, one),
                            official_inf.get_parsing_results(ocfg, pl, [target])))
    finally:
        official_inf._do_paste_parsing = full_paste
    ims_probs = torch.cat([p for p, _ in per_box])
    labels, inst, part = (torch.cat([r[i][0] for _, r in per_box]) for i in range(3))
    return ims_probs, labels, inst, part


def _boundary_bound(conf, lab, conf_o, lab_o, top2gap, thresh, d, num_classes):
    """Per-score bound on what threshold flips alone can move a float32 pixel score.

    A pixel score is the mean of the confident (``max p >= T``) pixels of a class; a pixel whose
    max p is within d (the measured probability difference) of T, or whose top-2 gap is <= 2 d, may
    be in the set on one side only. With k such pixels and m >= n - k pixels shared by both sets
    (n confident on our side), the two means (of values in [0, 1]) differ by at most k / m.
    Returns (instance (N,), part (N, C-1)) bounds and the number of boundary pixels.
    """
    near_t = (conf - thresh).abs() <= d
    near_tie = top2gap <= 2 * d
    hcm = conf >= thresh
    k_inst = near_t.flatten(1).sum(1).double()
    n_inst = hcm.flatten(1).sum(1).double()
    b_inst = k_inst / (n_inst - k_inst).clamp_min(1)
    b_part = torch.zeros(conf.shape[0], num_classes - 1, dtype=torch.float64)
    for c in range(1, num_classes):
        in_c = (lab == c) | (lab_o == c)
        k = ((near_t | near_tie) & in_c).flatten(1).sum(1).double()
        n = (hcm & (lab == c)).flatten(1).sum(1).double()
        b_part[:, c - 1] = k / (n - k).clamp_min(1)
    return b_inst, b_part, int((near_t | near_tie).sum())


def _image_stages(dtype, *, off, ocfg, ours, pre, views, flip_map, img_rgb, boxes, base, box_scores, device, H, W):
    """Rows of the stages after the crop network, with both sides' networks in ``dtype``.

    float32 is the deployed precision: raw max differences, except the pixel scores, which are
    discontinuous at T (see :func:`_boundary_bound`). float64: the official paste stores image-space
    probabilities in float32 buffers and both sides return float32 pixel scores, so these rows carry
    float32 rounding of values <= 1 (6e-8) and of a pairwise float32 sum (~log2(n) eps ~ 1e-6), and
    no threshold flip is left (the probabilities agree to ~1e-14 before that rounding): 1e-5.
    """
    from humanparse_d2.modeling.qam import fuse_quality

    from ..inference import label_maps_and_pixel_scores, parse_person_boxes

    from ..inference import expand_boxes

    f64 = dtype == torch.float64
    base = expand_boxes(boxes.to(device, dtype), ours.aspect_ratio, ours.box_expand)  # as parse_person_boxes
    tag = ", float64" if f64 else ""
    tol = 1e-5 if f64 else TOL
    rows = []
    with torch.no_grad():
        probs_list, iou_off = _official_view_probs(off, ocfg, pre, views, flip_map, dtype, ours.parser.normalize,
                                                 img_rgb.to(device), base)
        regions, iou_ours = parse_person_boxes(
            ours.parser, img_rgb.to(device, dtype), boxes.to(device, dtype), (H, W), crop_hw=ours.crop_size,
            aspect_wh=ours.aspect_ratio, box_expand=ours.box_expand, scales=ours.test_scales,
            flip=ours.flip_test, flip_lut=ours.flip_lut, chunk=ours.crops_per_batch)
        ims_probs, lab_off, inst_off, part_off = _official_image_space(ocfg, probs_list, base, H, W, device)
    full = torch.zeros(ims_probs.shape, dtype=torch.float64)
    for n, r in enumerate(regions):
        full[n, :, r.y0:r.y1, r.x0:r.x1] = r.probs.double().cpu()
    ims_probs = ims_probs.double().cpu()
    d = max(_maxdiff(full, ims_probs), 1e-12)
    note = f"views: scales {list(ours.test_scales)}, flip {ours.flip_test}; {len(boxes)} boxes on {W}x{H}"
    if f64:
        note = "official paste buffers are float32: float32 rounding"
    rows.append(ParityRow("paste-back probabilities (image space)" + tag, d, 1e-6 if f64 else TOL, note))
    rows.append(ParityRow("IoU score (views averaged)" + tag, _maxdiff(iou_ours, iou_off), 1e-10 if f64 else TOL,
                          "network output, no float32 buffer" if f64 else ""))
    labels, inst_ps, part_ps = label_maps_and_pixel_scores(regions, (H, W), ours.num_classes,
                                                          pixel_thresh=ours.pixel_thresh, device=device)
    labels, lab_off = labels.cpu(), lab_off.cpu()
    # a label may flip only where the decision is within the measured probability difference d:
    # top-2 gap <= 2 d (argmax) or |max p - 1/C| <= d (the 1/C background threshold)
    top2 = ims_probs.topk(2, dim=1).values
    gap = top2[:, 0] - top2[:, 1]
    clear = (gap > 2 * d) & ((top2[:, 0] - 1.0 / ours.num_classes).abs() > d)
    differ = labels != lab_off
    rows.append(ParityRow("label maps (pixels that differ, no tie)" + tag, float((differ & clear).sum()), 0.0,
                          f"of {labels.numel()}; {int(differ.sum())} differ in all, at ties within {2 * d:.1g}"))
    conf = float((full.max(1).values >= ours.pixel_thresh).double().mean())
    di = (inst_ps.double().cpu() - inst_off.double().cpu()).abs()
    dp = (part_ps.double().cpu() - part_off.double().cpu()).abs()
    if f64:
        rows.append(ParityRow("instance pixel score" + tag, float(di.max()), tol,
                              f"values {[round(float(v), 3) for v in inst_ps]}; {conf:.0%} of pixels >= T"))
        rows.append(ParityRow("part pixel scores" + tag, float(dp.max()), tol))
    else:
        b_i, b_p, nb = _boundary_bound(full.max(1).values, labels, full.max(1).values, lab_off, gap,
                                       ours.pixel_thresh, d, ours.num_classes)
        rows.append(ParityRow("instance pixel score (beyond T-flip bound)", float((di - b_i).clamp_min(0).max()),
                              TOL, f"raw max {float(di.max()):.2g}, bound <= {float(b_i.max()):.2g}; "
                              f"{conf:.0%} of pixels >= T"))
        rows.append(ParityRow("part pixel scores (beyond T-flip bound)", float((dp - b_p).clamp_min(0).max()), TOL,
                              f"raw max {float(dp.max()):.2g}, bound <= {float(b_p.max()):.2g}; "
                              f"{nb} pixels within d={d:.1g} of T or of a tie"))

    # --- QAM fusion (Eq. 1; the official evaluation.py computes it from the raw scores) -------------
    a, b, g = (float(w) for w in ocfg.PARSING.QUALITY_WEIGHTS)
    n_box = len(boxes)
    bs, io_ = box_scores.double(), iou_off[0:n_box].double().cpu()
    ip, pp = inst_off.double().cpu(), part_off.double().cpu()
    inst_q_off = (bs ** a * io_ ** b * ip ** g) ** (1.0 / (a + b + g))
    part_q_off = ((bs ** a * io_ ** b)[:, None] * pp ** g) ** (1.0 / (a + b + g))
    bsd = box_scores.to(device, dtype)
    inst_q = fuse_quality(bsd, iou_ours, inst_ps.to(dtype), (a, b, g), ours.clamp_iou)
    part_q = fuse_quality(bsd, iou_ours, part_ps.to(dtype), (a, b, g), ours.clamp_iou)
    clamp = "IoU clamped (MODEL.QAM.CLAMP_IOU True)" if ours.clamp_iou else "raw IoU"
    if f64:
        rows.append(ParityRow("QAM instance score" + tag, _maxdiff(inst_q, inst_q_off), tol,
                              "from the float32 pixel scores: their rounding"))
        rows.append(ParityRow("QAM part scores" + tag, _maxdiff(part_q, part_q_off), tol))
    else:
        # Eq. 1 with gamma = 3 of a (1 / 4.5)-th power: dQ ~ (g / (a+b+g)) Q / s * ds, so the fused score
        # inherits the pixel scores' T flips; compare beyond the same bound, propagated
        qi = (inst_q.double().cpu() - inst_q_off).abs()
        qp = (part_q.double().cpu() - part_q_off).abs()
        k = g / (a + b + g)
        bqi = k * inst_q_off / ip.clamp_min(1e-6) * b_i
        bqp = k * part_q_off / pp.clamp_min(1e-6) * b_p
        rows.append(ParityRow("QAM instance score (beyond T-flip bound)", float((qi - bqi).clamp_min(0).max()), TOL,
                              f"{clamp}; raw max {float(qi.max()):.2g}; values {[round(float(v), 3) for v in inst_q]}"))
        rows.append(ParityRow("QAM part scores (beyond T-flip bound)", float((qp - bqp).clamp_min(0).max()), TOL,
                              f"raw max {float(qp.max()):.2g}"))
    return rows


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
