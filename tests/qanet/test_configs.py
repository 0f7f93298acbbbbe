"""Every QANet config loads and builds (no weights, no download)."""

import glob
import os

import pytest
import torch
from detectron2.modeling import build_model

import humanparse_d2  # noqa: F401
from humanparse_d2 import get_humanparse_cfg
from tests.scripts import load_script

from .common import REPO

CONFIGS = sorted(
    glob.glob(str(REPO / "projects/QANet/configs/**/*.yaml"), recursive=True)
)  # quick/ too


def load(path):
    cfg = get_humanparse_cfg()
    cfg.merge_from_file(path)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.TIMM.PRETRAINED = False  # no download in tests
    return cfg


def get_raw(path):
    cfg = get_humanparse_cfg()
    cfg.merge_from_file(path)
    return cfg


def test_found():
    names = [os.path.relpath(c, REPO) for c in CONFIGS]
    for ds in ("CIHP", "MHP-v2", "LIP", "PASCAL-Person-Part"):
        for bb in ("R50c", "R101d", "HRNetW48"):
            assert f"projects/QANet/configs/{ds}/QANet_{bb}_512x384.yaml" in names
    for ds in ("CIHP", "LIP"):  # the released models' 544x416 HRNet configs
        assert f"projects/QANet/configs/{ds}/QANet_HRNetW48_544x416.yaml" in names
    assert "projects/QANet/configs/quick/QANet_R18_synth.yaml" in names


def test_schedule_tool():
    mod = load_script("projects/QANet/tools/schedule.py")
    max_iter, steps = mod.epoch_schedule(96152, 96)
    cfg = load(str(REPO / "projects/QANet/configs/CIHP/QANet_R50c_512x384.yaml"))
    assert max_iter == cfg.SOLVER.MAX_ITER
    assert steps == tuple(cfg.SOLVER.STEPS)


def _check_paper_recipe(cfg, path):
    """A full (non-quick) config: the paper's schedule, crop size, ImageNet start and pixel stats."""
    # the paper's schedule: Adam, LR = 2e-3 x batch / 256, steps at 90/140 and 120/140
    assert cfg.SOLVER.OPTIMIZER == "ADAM"
    assert cfg.SOLVER.BASE_LR == pytest.approx(2e-3 * cfg.SOLVER.IMS_PER_BATCH / 256, abs=0.5e-9)
    assert cfg.SOLVER.WEIGHT_DECAY == 0.0
    assert cfg.SOLVER.WARMUP_ITERS == 0
    m = cfg.SOLVER.MAX_ITER
    assert tuple(cfg.SOLVER.STEPS) == (90 * m // 140, 120 * m // 140)
    size = "544x416" if "544x416" in path else "512x384"
    assert tuple(cfg.INPUT.PARSING.CROP_SIZE) == tuple(int(v) for v in size.split("x"))
    # the paper's ImageNet starts, from timm; RGB ImageNet mean/std as the official configs
    assert cfg.MODEL.BACKBONE.NAME in ("build_timm_backbone", "build_qanet_timm_fpn_backbone")
    assert get_raw(path).MODEL.TIMM.PRETRAINED
    assert cfg.INPUT.FORMAT == "RGB"
    assert list(cfg.MODEL.PIXEL_MEAN) == [123.675, 116.28, 103.53]
    assert list(cfg.MODEL.PIXEL_STD) == [58.395, 57.12, 57.375]
    want = {"R50c": "resnet50c", "R101d": "resnet101d", "HRNetW48": "hrnet_w48"}
    bb = os.path.basename(path).split("_")[1]
    assert cfg.MODEL.TIMM.NAME.split(".")[0] == want[bb]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_each_config_builds(path):
    cfg = load(path)
    assert cfg.VERSION == 2
    if os.path.basename(path).startswith("Base-"):
        return
    assert cfg.MODEL.META_ARCHITECTURE == "QANet"
    assert cfg.MODEL.QANET.BOX_SOURCE in ("detector", "file", "oracle", "whole_image")
    model = build_model(cfg)
    nparams = sum(p.numel() for p in model.parameters())
    assert nparams > 1e6
    if "configs/quick" not in path:
        _check_paper_recipe(cfg, path)


@pytest.mark.parametrize("name, avg_down", [("R50c", False), ("R101d", True)])
def test_deep_stem_backbones(name, avg_down):
    """R-50c / R-101d: 3x3 stem 32-32-64 at stride 2, stride on the 3x3 conv, avg-down (101d)."""
    cfg = load(str(REPO / f"projects/QANet/configs/CIHP/QANet_{name}_512x384.yaml"))
    fpn = build_model(cfg).parser.backbone
    net = fpn.bottom_up.model
    stem = [m for m in net.conv1 if isinstance(m, torch.nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride) for m in stem] == [
        (3, 32, (3, 3), (2, 2)),
        (32, 32, (3, 3), (1, 1)),
        (32, 64, (3, 3), (1, 1)),
    ]
    blk = net.layer2[0]
    assert (blk.conv1.stride, blk.conv2.stride) == ((1, 1), (2, 2))
    assert isinstance(blk.downsample[0], torch.nn.AvgPool2d) == avg_down
    assert len(net.layer3) == (6 if name == "R50c" else 23)
    shapes = fpn.bottom_up.output_shape()
    assert {k: (v.channels, v.stride) for k, v in shapes.items()} == {
        "res2": (256, 4),
        "res3": (512, 8),
        "res4": (1024, 16),
        "res5": (2048, 32),
    }
    with torch.no_grad():
        out = fpn(torch.rand(1, 3, 64, 32))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "p2": (1, 256, 16, 8),
        "p3": (1, 256, 8, 4),
        "p4": (1, 256, 4, 2),
        "p5": (1, 256, 2, 1),
    }


def test_r50_shapes():
    cfg = load(str(REPO / "projects/QANet/configs/CIHP/QANet_R50c_512x384.yaml"))
    cfg.MODEL.QANET.BOX_SOURCE = "whole_image"  # eval() would fetch the detector's weights
    model = build_model(cfg).eval()
    with torch.no_grad():
        logits, iou = model.parser(torch.rand(1, 3, 512, 384) * 255)
    assert logits.shape == (1, 20, 512, 384)
    assert iou.shape == (1,)
