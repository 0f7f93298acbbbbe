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
RoIAlignRotated kernel, which is not built here (at angle 0 it samples the same points). The
stages are compared in parity_stages.py, with the numerics of parity_numerics.py.
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
from .parity_numerics import maxdiff
from .parity_stages import ParitySides, crop_rows, image_rows

__all__ = ["qanet", "our_qanet", "random_official_and_ours", "default_parity_image", "PARITY_BOXES"]

logger = logging.getLogger(__name__)

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


def our_qanet(cfg, converted: dict, device: str):
    """Our QANet for ``cfg`` (boxes given explicitly, no detector) with the ``converted`` state
    dict loaded strictly, in eval mode on ``device``."""
    from detectron2.modeling import build_model

    c = cfg.clone()
    c.defrost()
    c.MODEL.QANET.BOX_SOURCE = "whole_image"  # boxes are passed explicitly; no detector to build
    c.MODEL.TIMM.PRETRAINED = False
    c.MODEL.DEVICE = device
    model = build_model(c)
    model.load_state_dict(converted, strict=True)
    return model.to(device).eval()


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
    off, ocfg, ours, n_tensors = random_official_and_ours(cfg, official_src, device, seed, workdir)
    rows = [
        ParityRow("convert (strict load)", 0.0, 0.0, f"{n_tensors} tensors, no missing/unexpected")
    ]
    img_rgb, (H, W), row = _decoded_image(cfg, image or default_parity_image())
    rows.append(row)
    boxes, box_scores = _parity_boxes(H, W)
    # crops (ours for both sides), official normalisation ("cv2" mode: normalises given crops)
    views = _crop_views(
        ours, img_rgb, expand_boxes(boxes, ours.aspect_ratio, ours.box_expand), device
    )
    lut = ours.flip_lut.cpu().tolist()
    sides = ParitySides(
        off=off,
        ocfg=ocfg,
        ours=ours,
        pre=PreprocessInputs(_with(ocfg, TEST__AFFINE_MODE="cv2")),
        flip_map=tuple((a, b) for a, b in enumerate(lut) if a < b),
    )
    rows += crop_rows(sides, views[0][2])
    return rows + image_rows(sides, views, img_rgb, boxes, box_scores, (H, W), device)


def _parity_boxes(H: int, W: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PARITY_BOXES on an H x W image: (boxes (N, 4) XYXY pixels, detector scores (N,))."""
    fr = torch.tensor(PARITY_BOXES, dtype=torch.float32)
    return fr[:, :4] * torch.tensor([W, H, W, H], dtype=torch.float32), fr[:, 4]


def random_official_and_ours(
    cfg, official_src: Path, device: str, seed: int, workdir: Path, *, iou_near: float | None = 0.7
):
    """The official network for ``cfg`` with random weights (``randomize_(seed)``), saved in the
    official ``{'model': sd}`` format under ``workdir``, converted (strict) and loaded into ours.

    ``iou_near``: bias the official IoU branch to about this value (a negative raw IoU gives NaN
    in Eq. 1); None leaves it random. Returns (official net, official cfg, our QANet, number of
    converted tensors)."""
    off, ocfg = build_official_qanet(official_src, cfg, device=device)
    randomize_(off, seed)
    with torch.no_grad():
        if iou_near is not None and ocfg.PARSING.PARSINGIOU_ON:
            off.Parsing.ParsingIoU.Output.parsing_iou.weight.mul_(0.1)
            off.Parsing.ParsingIoU.Output.parsing_iou.bias.fill_(iou_near)
    ckpt = Path(workdir) / "official_random.pth"
    torch.save({"model": {k: v.cpu() for k, v in off.state_dict().items()}}, ckpt)
    converted = convert_official_checkpoint("qanet", ckpt, cfg)
    return off, ocfg, our_qanet(cfg, converted, device), len(converted)


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
