"""The ``qanet`` converter on the official key names and shapes of every released model.

The fixtures (tests/qanet/fixtures/*.keys.json.gz) were written once from the official network by
projects/QANet/tools/make_official_fixtures.py; no official code runs here.
"""

import gzip
import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

import humanparse_d2  # noqa: F401
from humanparse_d2 import get_humanparse_cfg
from humanparse_d2.checkpoint import (
    CheckpointMismatchError,
    check_state_dict_matches,
    convert_official_checkpoint,
)
from humanparse_d2.projects.qanet.official import BackboneStateDict, convert_qanet_state_dict
from tests.scripts import load_script

from .common import REPO

FIXTURES = Path(__file__).parent / "fixtures"
RELEASED = sorted(p.name.split(".")[0] for p in FIXTURES.glob("*.keys.json.gz"))


def fixture(name):
    with gzip.open(FIXTURES / f"{name}.keys.json.gz", "rt") as f:
        return json.load(f)


def cfg_for(our_config, device="meta"):
    cfg = get_humanparse_cfg()
    cfg.merge_from_file(str(REPO / "projects/QANet/configs" / our_config))
    cfg.MODEL.DEVICE = device
    return cfg


def meta_model_state(cfg):
    with torch.device("meta"):  # shapes only: no memory, no init cost
        return build_model(cfg).state_dict()


def official_state(fx, device="meta", prefix=""):
    return OrderedDict((prefix + k, torch.zeros(s, device=device)) for k, s in fx["shapes"].items())


def test_every_released_model_has_a_fixture():
    assert len(RELEASED) == 6


@pytest.mark.parametrize("name", RELEASED)
def test_every_released_model_converts_strictly(name):
    fx = fixture(name)
    cfg = cfg_for(fx["our_config"])
    converted = convert_qanet_state_dict(official_state(fx), cfg)
    assert not [k for k in converted if k.startswith("?")]
    check_state_dict_matches(converted, meta_model_state(cfg), source=name)


def test_tool_wrapped_module_prefix_and_strict_load(tmp_path):
    """{'model': sd} with DataParallel's module. -> convert_official_weights -> MODEL.WEIGHTS loads."""
    convert_main = load_script("tools/convert_official_weights.py").main

    fx = fixture("CIHP_QANet_R50c_512x384")
    g = torch.Generator().manual_seed(0)
    sd = OrderedDict(
        (k, torch.rand(t.shape, generator=g))
        for k, t in official_state(fx, "cpu", "module.").items()
    )
    cfg_file = str(REPO / "projects/QANet/configs" / fx["our_config"])
    src, out = tmp_path / "official.pth", tmp_path / "ours.pth"
    torch.save({"model": sd, "epoch": 140}, src)
    assert convert_main(["--config-file", cfg_file, str(src), str(out)]) == 0
    cfg = cfg_for(fx["our_config"], "cpu")
    cfg.MODEL.QANET.BOX_SOURCE = "whole_image"
    model = build_model(cfg)
    ckpt = torch.load(str(out), map_location="cpu", weights_only=True)
    incompatible = model.load_state_dict(ckpt["model"], strict=True)
    assert (incompatible.missing_keys, incompatible.unexpected_keys) == ([], [])
    model = build_model(cfg)
    DetectionCheckpointer(model).load(str(out))  # what MODEL.WEIGHTS OUT.pth does
    got = model.state_dict()
    # values travel unchanged: the deep stem's third conv, an FPN lateral, the IoU predictor
    for theirs, ours in (
        ("Conv_Body.conv3.weight", "parser.backbone.bottom_up.model.conv1.6.weight"),
        (
            "Conv_Body_FPN.fpn.fpn_in.2.1.running_var",
            "parser.backbone.fpn_lateral2.norm.running_var",
        ),
        ("Conv_Body_FPN.scale1_block.4.0.weight", "parser.head.scale_heads.3.4.weight"),
        ("Parsing.ParsingIoU.Output.parsing_iou.weight", "parser.iou_head.pred.weight"),
    ):
        assert torch.equal(got[ours], sd["module." + theirs]), ours
    assert not model.parser.backbone.bottom_up.pretrained_pending  # no ImageNet download later


def test_wrong_architecture_names_first_mismatches(tmp_path):
    fx = fixture("CIHP_QANet_R50c_512x384")
    cfg = cfg_for("CIHP/QANet_R101d_512x384.yaml")
    p = tmp_path / "r50c.pth"
    torch.save({"model": official_state(fx, "cpu")}, p)
    with pytest.raises(CheckpointMismatchError) as ctx:
        convert_official_checkpoint("qanet", p, cfg, expected=meta_model_state(cfg))
    msg = str(ctx.value)
    assert "missing" in msg
    assert (
        "shape mismatches" in msg
    )  # R-101d avg-down shortcut: conv at .1, the R-50c file has BN there
    assert "layer1.0.downsample.1.weight" in msg
    # an HRNet file against the ResNet config: shape mismatches and unexpected keys named
    hr = fixture("CIHP_QANet_HRNetW48_544x416")
    with pytest.raises(CheckpointMismatchError) as ctx:
        check_state_dict_matches(
            convert_qanet_state_dict(official_state(hr), cfg), meta_model_state(cfg)
        )
    assert "unexpected" in str(ctx.value)
    assert "shape mismatches" in str(ctx.value)  # the HRNet stem is 64-64, the deep stem 32-32-64


def test_imagenet_backbone_file():
    """The official ImageNet file (no Conv_Body. prefix, with its classifier) -> backbone only."""
    fx = fixture("CIHP_QANet_R50c_512x384")
    sd = OrderedDict(
        (k[len("Conv_Body.") :], v)
        for k, v in official_state(fx).items()
        if k.startswith("Conv_Body.")
    )
    sd["fc.weight"], sd["fc.bias"] = (
        torch.zeros(1000, 2048, device="meta"),
        torch.zeros(1000, device="meta"),
    )
    cfg = cfg_for(fx["our_config"])
    converted = convert_qanet_state_dict(sd, cfg)
    assert isinstance(converted, BackboneStateDict)
    assert converted.prefix == "parser.backbone.bottom_up.model."
    expected = {k: v for k, v in meta_model_state(cfg).items() if k.startswith(converted.prefix)}
    check_state_dict_matches(converted, expected)
    assert "parser.backbone.bottom_up.model.fc.weight" not in converted
