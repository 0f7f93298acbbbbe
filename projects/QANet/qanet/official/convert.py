"""Official QANet checkpoints (soeaver/QANet) -> state dicts of our ``QANet`` meta-architecture.

Registered as format ``qanet`` in :data:`humanparse_d2.checkpoint.OFFICIAL_FORMAT_REGISTRY`
(``tools/convert_official_weights.py --format qanet``). Values are copied unchanged; only names
change, because the networks are the same layer for layer:

=============================================  ===============================================
official                                        ours (``QANet``)
=============================================  ===============================================
``Conv_Body.*`` (ResNet-50c / 101d)             ``parser.backbone.bottom_up.model.*`` (timm);
                                                stem ``conv1/bn1/conv2/bn2/conv3`` ->
                                                ``conv1.0/1/3/4/6``, ``bn3`` -> ``bn1``
``Conv_Body.*`` (HRNet)                         ``parser.backbone.model.*`` (timm, same names)
``Conv_Body_FPN.fpn.p5_in / p5_out``            ``parser.backbone.fpn_lateral5 / fpn_output5``
``Conv_Body_FPN.fpn.fpn_in.i / fpn_out.i``      ``fpn_lateral{4-i} / fpn_output{4-i}``
``Conv_Body_FPN.scale{k}_block.j``              ``parser.head.scale_heads.{4-k}.j``
``Parsing.Output.classify``                     ``parser.predictor.classifier``
``Parsing.ParsingIoU.Head.conv1x1.0``           ``parser.iou_head.conv``
``Parsing.ParsingIoU.Head.conv_layers.{0,1}.0``  ``parser.iou_head.fc1 / fc2``
``Parsing.ParsingIoU.Output.parsing_iou``       ``parser.iou_head.pred``
=============================================  ===============================================

In every ``conv + BN`` pair the official ``.0`` is the conv and ``.1`` the BN; ours keep the BN as
the detectron2 ``Conv2d``'s ``.norm``. The official ImageNet backbone files (``resnet50c-pretrained.pth``,
``hrnetv2_w48_imagenet_pretrained.pth``: no ``Conv_Body.`` prefix) convert to the backbone part only
(classifier layers dropped). Keys that fit no rule are kept under their own name, so the strict
check names them as unexpected (a checkpoint of another architecture fails with its first keys).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping

import torch

from humanparse_d2.checkpoint import OFFICIAL_FORMAT_REGISTRY

__all__ = ["qanet", "convert_qanet_state_dict", "BackboneStateDict"]

# deep stem: official module -> timm's ``conv1`` Sequential index / ``bn1``
_STEM = {
    "conv1": "conv1.0",
    "bn1": "conv1.1",
    "conv2": "conv1.3",
    "bn2": "conv1.4",
    "conv3": "conv1.6",
    "bn3": "bn1",
}
# ImageNet classification layers that the parsing network does not have
_CLASSIFIER = re.compile(r"^(fc|classifier|incre_modules|downsamp_modules|final_layer)\.")
_FPN_LEVEL = {"p5_in": "fpn_lateral5", "p5_out": "fpn_output5"}


class BackboneStateDict(OrderedDict):
    """A converted state dict that holds only the keys under ``prefix`` (an ImageNet file)."""

    prefix = ""


def _conv_bn(rest: str) -> str:
    """Official ``<j>.0.x`` (conv) / ``<j>.1.x`` (BN) -> detectron2 ``Conv2d`` ``x`` / ``norm.x``."""
    head, _, tail = rest.partition(".")
    return tail if head == "0" else f"norm.{tail}" if head == "1" else f"?{rest}"


def _backbone_prefix(cfg) -> str:
    name = cfg.MODEL.BACKBONE.NAME
    if name == "build_qanet_timm_fpn_backbone":
        return "parser.backbone.bottom_up.model."
    if name == "build_timm_backbone":
        return "parser.backbone.model."
    raise ValueError(
        f"format 'qanet' converts into the paper's backbones (build_qanet_timm_fpn_backbone with timm resnet50c / "
        f"resnet101d, build_timm_backbone with hrnet_w48); the config has MODEL.BACKBONE.NAME {name!r}"
    )


def _backbone_key(k: str, cfg) -> str:
    prefix = _backbone_prefix(cfg)
    mod, _, rest = k.partition(".")
    if prefix.endswith("bottom_up.model.") and mod in _STEM:  # ResNet deep stem
        return prefix + _STEM[mod] + "." + rest
    return prefix + k


def _neck_key(k: str) -> str:
    """``Conv_Body_FPN.*`` without the prefix -> ours (or ``?``-marked if no rule fits)."""
    m = re.match(r"^fpn\.(p5_in|p5_out)\.(.+)$", k)
    if m:
        return f"parser.backbone.{_FPN_LEVEL[m.group(1)]}.{_conv_bn(m.group(2))}"
    m = re.match(r"^fpn\.fpn_(in|out)\.(\d)\.(.+)$", k)
    if m:
        kind = "lateral" if m.group(1) == "in" else "output"
        return f"parser.backbone.fpn_{kind}{4 - int(m.group(2))}.{_conv_bn(m.group(3))}"
    m = re.match(r"^scale(\d)_block\.(\d+)\.(.+)$", k)
    if m:
        return f"parser.head.scale_heads.{4 - int(m.group(1))}.{m.group(2)}.{_conv_bn(m.group(3))}"
    return "?Conv_Body_FPN." + k


_PARSING = (
    (r"^Output\.classify\.", "parser.predictor.classifier."),
    (r"^ParsingIoU\.Head\.conv1x1\.0\.", "parser.iou_head.conv."),
    (r"^ParsingIoU\.Head\.conv_layers\.0\.0\.", "parser.iou_head.fc1."),
    (r"^ParsingIoU\.Head\.conv_layers\.1\.0\.", "parser.iou_head.fc2."),
    (r"^ParsingIoU\.Output\.parsing_iou\.", "parser.iou_head.pred."),
)


def _parsing_key(k: str) -> str:
    for pat, new in _PARSING:
        if re.match(pat, k):
            return re.sub(pat, new, k)
    return "?Parsing." + k


def convert_qanet_state_dict(
    state: Mapping[str, torch.Tensor], cfg
) -> OrderedDict[str, torch.Tensor]:
    """Rename an official QANet (or official ImageNet backbone) state dict for ``cfg``'s model.

    Keys that fit no rule come back as ``"?<official key>"`` (reported as unexpected by the check).
    """
    out: OrderedDict[str, torch.Tensor]
    if not any(k.startswith(("Conv_Body.", "Conv_Body_FPN.", "Parsing.")) for k in state):
        out = BackboneStateDict()  # an ImageNet classification file: the backbone part only
        out.prefix = _backbone_prefix(cfg)
        for k, v in state.items():
            if not _CLASSIFIER.match(k):
                out[_backbone_key(k, cfg)] = v
        return out
    out = OrderedDict()
    for k, v in state.items():
        if k.startswith("Conv_Body."):
            new = _backbone_key(k[len("Conv_Body.") :], cfg)
        elif k.startswith("Conv_Body_FPN."):
            new = _neck_key(k[len("Conv_Body_FPN.") :])
        elif k.startswith("Parsing."):
            new = _parsing_key(k[len("Parsing.") :])
        else:
            new = "?" + k
        out[new] = v
    return out


@OFFICIAL_FORMAT_REGISTRY.register()
def qanet(state_dict, cfg):
    """Format ``qanet``: checkpoints of soeaver/QANet (``Conv_Body.*``, ``Conv_Body_FPN.*``, ``Parsing.*``)."""
    return convert_qanet_state_dict(state_dict, cfg)
