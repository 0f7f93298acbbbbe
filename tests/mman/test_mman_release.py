"""The released MMAN generator: the converter on the release's key names and shapes (a fixture
made once from the official model), the release variant's network and BatchNorm mode, bad input."""

import gzip
import json

import pytest
import torch

import humanparse_d2  # noqa: F401
from humanparse_d2.checkpoint import (
    OFFICIAL_FORMAT_REGISTRY,
    CheckpointMismatchError,
    check_state_dict_matches,
    convert_official_checkpoint,
)
from humanparse_d2.engine import load_config

from .mman_testutils import REPO, tiny_cfg

FIXTURE = REPO / "tests/mman/fixtures/mman_release_keys.json.gz"
RELEASE_CFG = REPO / "projects/MMAN/configs/LIP/mman_R101_30ep_release.yaml"


def _fixture():
    with gzip.open(FIXTURE, "rt") as f:
        return json.load(f)


def _official_state(with_nbt=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in _fixture()["net_G"]:
        if k.endswith("num_batches_tracked"):
            if with_nbt:
                sd[k] = torch.tensor(7)
            continue
        sd[k] = torch.randn(shape, generator=g) if shape else torch.tensor(0.0)
    return sd


@pytest.fixture(scope="module")
def release_cfg():
    cfg = load_config(
        str(RELEASE_CFG), ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""], check_names=False
    )
    return cfg


@pytest.fixture(scope="module")
def release_shapes(release_cfg):
    from humanparse_d2.projects.mman import MMAN

    with torch.device("meta"):  # shapes only: no 85 M parameters to initialise
        model = MMAN(release_cfg)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_fixture_is_the_release_layout():
    fx = _fixture()
    keys = dict((k, tuple(s)) for k, s in fx["net_G"])
    assert len(keys) == 652
    assert keys["model.U4.0.weight"] == (64, 3, 7, 7)  # ResNet-101 conv1
    assert keys["model.U4.4.weight"] == (128, 20, 4, 4)  # top ConvT, C = 20
    assert [k for k, _ in fx["net_D"]] == [
        "model.0.weight",
        "model.0.bias",
        "model.2.weight",
        "model.5.weight",
        "model.8.weight",
        "model.8.bias",
    ]


@pytest.mark.parametrize("with_nbt", [True, False], ids=["torch2-file", "torch0.3-file"])
def test_converter_matches_release_model_strictly(release_cfg, release_shapes, with_nbt):
    sd = _official_state(with_nbt)
    out = OFFICIAL_FORMAT_REGISTRY.get("mman")(sd, release_cfg)
    check_state_dict_matches(out, release_shapes)  # raises on any missing / unexpected / shape
    # values are moved unchanged, except the concatenation-reading ConvTs (halves swapped)
    assert torch.equal(
        out["backbone.res4.22.conv3.norm.running_var"],
        sd["model.U4.2.U3.4.U2.4.U1.22.model_cx.5.running_var"],
    )
    w = sd["model.U4.4.weight"]
    assert torch.equal(out["decoder.top.weight"], torch.cat([w[64:], w[:64]]))
    assert torch.equal(out["decoder.ups.0.weight"], sd["model.U4.2.U3.4.U2.4.U1.23.U0.5.weight"])
    assert int(out["backbone.stem.conv1.norm.num_batches_tracked"]) == (7 if with_nbt else 0)


def test_other_architecture_names_first_mismatches(release_cfg, release_shapes, tmp_path):
    import torchvision

    f = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), f)
    with pytest.raises(CheckpointMismatchError) as e:
        convert_official_checkpoint("mman", f, release_cfg, expected=release_shapes)
    msg = str(e.value)
    assert "missing" in msg and "backbone.stem.conv1.weight" in msg
    assert "unexpected" in msg and "conv1.weight" in msg  # the torchvision names, as found
    # a release file with one wrong shape is named with both shapes
    sd = _official_state()
    sd["model.U4.4.weight"] = torch.zeros(128, 7, 4, 4)  # a 7-class model into a 20-class config
    torch.save(sd, tmp_path / "c7.pth")
    with pytest.raises(
        CheckpointMismatchError,
        match=r"decoder.top.weight: .* \(128, 7, 4, 4\) vs model \(128, 20, 4, 4\)",
    ):
        convert_official_checkpoint(
            "mman", tmp_path / "c7.pth", release_cfg, expected=release_shapes
        )


def test_converter_refuses_the_standard_generator(tmp_path):
    cfg = load_config(
        str(REPO / "projects/MMAN/configs/LIP/mman_R101_30ep.yaml"), check_names=False
    )
    with pytest.raises(ValueError, match="VARIANT 'release'"):
        OFFICIAL_FORMAT_REGISTRY.get("mman")(_official_state(), cfg)


def _release_r50(**kw):
    over = {
        "MODEL.RESNETS.DEPTH": 50,
        "MODEL.RESNETS.WIDTH_PER_GROUP": 16,
        "MODEL.RESNETS.STEM_OUT_CHANNELS": 16,
        "MODEL.RESNETS.RES2_OUT_CHANNELS": 64,
    }
    over.update(kw)
    from detectron2.modeling import build_model

    torch.manual_seed(0)
    return build_model(tiny_cfg(preset="release", **over))


def test_release_generator_network_and_bn_mode():
    from humanparse_d2.projects.mman.backbone import BatchStatBatchNorm2d, ReleaseBottleneckBlock

    model = _release_r50()
    bb = model.backbone
    norms = [m for m in bb.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(type(m) is BatchStatBatchNorm2d for m in norms)
    assert all(isinstance(b, ReleaseBottleneckBlock) for s in bb.stages for b in s)
    assert all(p.requires_grad for p in bb.parameters())  # trained affine parameters (and convs)
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        feats = bb(x)
        before = norms[5].running_mean.clone()
        hi_eval = model._generator(x)["logits_hi"]
        assert torch.equal(norms[5].running_mean, before)  # eval does not touch the statistics
    # pre-ReLU taps: stage outputs have negative values (a standard ResNet's are >= 0)
    assert all(float(feats[n].min()) < 0 for n in ("res2", "res3", "res4", "res5"))
    assert tuple(feats["res5"].shape) == (1, 512, 4, 4)  # output stride 16
    # batch statistics at test: eval output == train-mode output on the same single image
    model.train()
    with torch.no_grad():
        hi_train = model._generator(x)["logits_hi"]
    torch.testing.assert_close(hi_eval, hi_train)
    assert not torch.equal(norms[5].running_mean, before)  # training updates them


def test_standard_generator_is_post_relu_frozen_bn():
    from detectron2.layers import FrozenBatchNorm2d
    from detectron2.modeling import build_model

    model = build_model(
        tiny_cfg(
            **{
                "MODEL.RESNETS.DEPTH": 50,
                "MODEL.RESNETS.WIDTH_PER_GROUP": 16,
                "MODEL.RESNETS.RES2_OUT_CHANNELS": 64,
            }
        )
    )
    assert any(isinstance(m, FrozenBatchNorm2d) for m in model.backbone.modules())
    with torch.no_grad():
        feats = model.eval().backbone(torch.randn(1, 3, 64, 64))
    assert float(feats["res3"].min()) >= 0


def test_release_inference_runs_each_pass_on_one_image():
    model = _release_r50(**{"TEST.MMAN.SCALES": (0.75, 1.0)}).eval()
    assert model.single_image_passes and model.align_corners
    x = torch.randn(3, 64, 64)
    with torch.no_grad():
        probs, _ = model.multiscale_flip_probs(x)
        # by hand: every pass alone, the small one resized back with align_corners=True
        T = model.temperature
        total = 0
        for s in (0.75, 1.0):
            xs = (
                x[None]
                if s == 1.0
                else torch.nn.functional.interpolate(x[None], (48, 48), mode="bilinear")
            )
            for flip in (False, True):
                hi = model._padded_forward(xs.flip(-1) if flip else xs)[0]
                p = torch.softmax(T * hi, 1)
                p = p.flip(-1)[:, model.flip_lut] if flip else p
                if s != 1.0:
                    p = torch.nn.functional.interpolate(
                        p, (64, 64), mode="bilinear", align_corners=True
                    )
                total = total + p
    torch.testing.assert_close(probs, total[0] / 4)
