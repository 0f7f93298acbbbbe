"""Parity runner ``qanet``: our QANet against the official network, stage by stage.

``tools/check_official_parity.py --official-src DIR --config-file CFG`` calls :func:`qanet`:

1. build the official network for ``CFG`` from the checkout ``DIR`` (compiled ops stubbed), give it
   random weights and random BatchNorm statistics, save it as the official ``{'model': sd}`` file;
2. convert that file with the ``qanet`` converter (strict) and load it into our model;
3. compare on one image file and a few person boxes: decoding (colour order), normalisation
   (/255, mean/std), crop-parser probabilities and IoU score, the flip test, the multi-scale views,
   the paste-back to the image, label maps, pixel scores (Algorithm 1) and the fused QAM scores.

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
LOGIT_GAIN = 8.0  # scales the random classifier: without it softmax maps are flat (max p < T = 0.2)
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
    from humanparse_d2.modeling.qam import fuse_quality

    from ..inference import expand_boxes, flip_back, label_maps_and_pixel_scores, parse_person_boxes, scale_boxes
    from ..mapper import QANetTestMapper

    official_src = Path(official_src)
    import_official(official_src)
    from lib.data.structures.parsing import flip_parsing_prob
    from qanet.core.test import PreprocessInputs
    from qanet.modeling.parsing_head.inference import get_parsing_results, paste_parsing_aug

    rows: List[ParityRow] = []
    torch.manual_seed(seed)
    off, ocfg = build_official_qanet(official_src, cfg, device=device)
    randomize_(off, seed)
    with torch.no_grad():  # peaked class maps, so that the pixel scores (T = 0.2) see confident pixels
        off.Parsing.Output.classify.weight.mul_(LOGIT_GAIN)
        off.Parsing.Output.classify.bias.mul_(LOGIT_GAIN)
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
    rows.append(ParityRow("normalise (/255, mean/std)", _maxdiff(x_ours, x_off), 1e-5, f"{len(crops)} crops {crop_hw}"))

    # --- crop parser ------------------------------------------------------------------------------
    with torch.no_grad():
        o = off.parsing_net(off.conv_body_net(x_off))
        logits, iou = ours.parser(crops)
    rows.append(ParityRow("crop parser probabilities", _maxdiff(logits.softmax(1), o["probs"]), TOL))
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

    # --- flip test and multi-scale views: official list of per-view probabilities -------------------
    lut = ours.flip_lut.cpu().tolist()
    flip_map = tuple((a, b) for a, b in enumerate(lut) if a < b)
    probs_list, ious = [], []
    with torch.no_grad():
        for s, vb, cr in views:
            xs = pre([cr], None)
            os_ = off.parsing_net(off.conv_body_net(xs))
            probs_list.append(os_["probs"])
            ious.append(os_["parsing_iou_scores"])
            if ocfg.TEST.AUG.H_FLIP:
                of = off.parsing_net(off.conv_body_net(pre([cr], None, flip=True)))
                probs_list.append(flip_parsing_prob(of["probs"], flip_map))
                ious.append(of["parsing_iou_scores"])
        lg_f, _ = ours.parser(crops.flip(-1))
    if ocfg.TEST.AUG.H_FLIP:
        ours_flipped = flip_back(lg_f.softmax(1), ours.flip_lut)
        rows.append(ParityRow("flip test (flipped view, un-flipped)", _maxdiff(ours_flipped, probs_list[1]), TOL,
                              f"flip pairs {list(flip_map)}"))
    iou_off = torch.stack(ious).mean(0)

    # --- paste-back to the image, label maps, pixel scores --------------------------------------------
    with torch.no_grad():
        regions, iou_ours = parse_person_boxes(
            ours.parser, img_rgb.to(device), boxes.to(device), (H, W), crop_hw=crop_hw, aspect_wh=ours.aspect_ratio,
            box_expand=ours.box_expand, scales=ours.test_scales, flip=ours.flip_test, flip_lut=ours.flip_lut,
            chunk=ours.crops_per_batch)
        # The official paste runs only on its GPU path: on CPU it indexes the box extent into the
        # class axis and samples all N maps per chunk. So: its GPU path (full image, one box per
        # call) on whatever device this runs on.
        import qanet.modeling.parsing_head.inference as official_inf

        full_paste = official_inf._do_paste_parsing
        official_inf._do_paste_parsing = lambda p, b, h, w, skip_empty=True: full_paste(p, b, h, w, skip_empty=False)
        one = (torch.arange(1, device=device),)
        per_box = []
        for n in range(len(boxes)):
            target = _Target(base[n:n + 1].to(device), W, H)
            pl = [p[n:n + 1] for p in probs_list]
            per_box.append((paste_parsing_aug(ocfg, pl, target.ori_bbox, H, W, one),
                            get_parsing_results(ocfg, pl, [target])))
        ims_probs = torch.cat([p for p, _ in per_box])
        labels_off = [torch.cat([r[0][0] for _, r in per_box])]
        inst_off = [torch.cat([r[1][0] for _, r in per_box])]
        part_off = [torch.cat([r[2][0] for _, r in per_box])]
        official_inf._do_paste_parsing = full_paste
    full = torch.zeros_like(ims_probs)
    for n, r in enumerate(regions):
        full[n, :, r.y0:r.y1, r.x0:r.x1] = r.probs
    note = f"views: scales {list(ours.test_scales)}, flip {ours.flip_test}; {len(boxes)} boxes on {W}x{H}"
    rows.append(ParityRow("paste-back probabilities (image space)", _maxdiff(full, ims_probs), TOL, note))
    rows.append(ParityRow("IoU score (views averaged)", _maxdiff(iou_ours, iou_off), TOL))
    labels, inst_ps, part_ps = label_maps_and_pixel_scores(regions, (H, W), ours.num_classes,
                                                          pixel_thresh=ours.pixel_thresh, device=device)
    lab_off = labels_off[0].to(labels.device)
    # a label may flip only where the decision is within the measured probability difference d:
    # top-2 gap <= 2 d (argmax) or |max p - 1/C| <= d (the 1/C background threshold)
    d = max(_maxdiff(full, ims_probs), 1e-12)
    top2 = ims_probs.topk(2, dim=1).values
    clear = ((top2[:, 0] - top2[:, 1]) > 2 * d) & ((top2[:, 0] - 1.0 / ours.num_classes).abs() > d)
    differ = labels != lab_off
    rows.append(ParityRow("label maps (pixels that differ, no tie)", float((differ & clear).sum()), 0.0,
                          f"of {labels.numel()}; {int(differ.sum())} differ in all, at ties within {2 * d:.1g}"))
    conf = float((full.max(1).values >= ours.pixel_thresh).float().mean())
    rows.append(ParityRow("instance pixel score", _maxdiff(inst_ps, inst_off[0]), TOL,
                          f"values {[round(float(v), 3) for v in inst_ps]}; {conf:.0%} of pixels >= T"))
    rows.append(ParityRow("part pixel scores", _maxdiff(part_ps, part_off[0]), TOL))

    # --- QAM fusion (Eq. 1; the official evaluation.py computes it from the raw scores) -------------
    a, b, g = (float(w) for w in ocfg.PARSING.QUALITY_WEIGHTS)
    bs, io_, ip, pp = box_scores.double(), iou_off[0:len(boxes)].double().cpu(), inst_off[0].double(), part_off[0].double()
    inst_q_off = (bs ** a * io_ ** b * ip ** g) ** (1.0 / (a + b + g))
    part_q_off = ((bs ** a * io_ ** b)[:, None] * pp ** g) ** (1.0 / (a + b + g))
    inst_q = fuse_quality(box_scores.to(device), iou_ours, inst_ps, (a, b, g), ours.clamp_iou)
    part_q = fuse_quality(box_scores.to(device), iou_ours, part_ps, (a, b, g), ours.clamp_iou)
    clamp = "IoU clamped (MODEL.QAM.CLAMP_IOU True)" if ours.clamp_iou else "raw IoU"
    rows.append(ParityRow("QAM instance score", _maxdiff(inst_q, inst_q_off), TOL,
                          f"{clamp}; values {[round(float(v), 3) for v in inst_q]}"))
    rows.append(ParityRow("QAM part scores", _maxdiff(part_q, part_q_off), TOL, clamp))
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
