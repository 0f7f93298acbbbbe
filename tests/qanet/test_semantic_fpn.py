"""QANet's semantic FPN ("PFPN") is detectron2's Panoptic-FPN ``SemSegFPNHead`` without its 1x1
predictor: same conv / upsample schedule per level, same sum. Only the parameter names (and the
init, which the loaded weights override here) differ."""

import re

import pytest
import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling.meta_arch.semantic_seg import SemSegFPNHead
from torch import nn

from humanparse_d2.projects.qanet.heads import SemanticFPNHead

STRIDES = {"p2": 4, "p3": 8, "p4": 16, "p5": 32}


@pytest.mark.parametrize("norm", ["BN", "GN", ""])
def test_equals_detectron2_semseg_fpn_head_without_predictor(norm):
    torch.manual_seed(0)
    shapes = {f: ShapeSpec(channels=12, stride=s) for f, s in STRIDES.items()}
    ours = SemanticFPNHead(shapes, in_features=list(STRIDES), conv_dim=32, norm=norm).eval()
    d2 = SemSegFPNHead(
        shapes, num_classes=1, conv_dims=32, common_stride=4, norm=norm or None
    ).eval()
    d2.predictor = nn.Identity()
    for m in ours.modules():  # non-trivial BN statistics, so that norm layers matter
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    # ours: scale_heads.<i>.<j>.*, i in stride order; detectron2: <feature>.<j>.*
    names = sorted(STRIDES, key=STRIDES.get)
    mapped = {
        re.sub(r"^scale_heads\.(\d+)\.", lambda m: f"{names[int(m.group(1))]}.", k): v
        for k, v in ours.state_dict().items()
    }
    assert sorted(mapped) == sorted(d2.state_dict()), "different layer structure"
    d2.load_state_dict(mapped)
    feats = {f: torch.randn(2, 12, 128 // s, 96 // s) for f, s in STRIDES.items()}
    with torch.no_grad():
        a, b = ours(feats), d2.layers(feats)
    assert a.shape == b.shape == (2, 32, 32, 24)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
