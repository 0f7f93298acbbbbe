"""Every pretrained-weights source named by a shipped config exists: a detectron2 model-zoo file, a
torchvision weights enum (``torchvision://``, converted on first use), a timm pretrained tag, or a
documented placeholder the user must replace. Offline: checks names against the libraries' own
registries, downloads nothing."""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(
    p
    for p in list((REPO / "configs").rglob("*.yaml"))
    + list((REPO / "projects").glob("*/configs/**/*.yaml"))
)
# detectron2's ImageNet-pretrained backbones (detectron2 MODEL_ZOO.md, "ImageNet Pretrained Models")
D2_IMAGENET = {
    "ImageNetPretrained/MSRA/R-50.pkl",
    "ImageNetPretrained/MSRA/R-101.pkl",
    "ImageNetPretrained/FAIR/X-101-32x8d.pkl",
    "ImageNetPretrained/torchvision/R-50.pkl",
}


def _sources(node, path=()):
    """(key path, kind, value) for every WEIGHTS string and every timm model name."""
    if not isinstance(node, dict):
        return
    for k, v in node.items():
        here = path + (str(k),)
        # a WEIGHTS string is a checkpoint source; "(1.0, 0.0, 1.0)" is a tuple of exponents (QAM)
        if k == "WEIGHTS" and isinstance(v, str) and not v.lstrip().startswith("("):
            yield ".".join(here), "weights", v
        elif (
            k == "TIMM"
            and isinstance(v, dict)
            and isinstance(v.get("NAME"), str)
            and v.get("PRETRAINED") is not False
        ):
            yield ".".join(here) + ".NAME", "timm", v["NAME"]
        yield from _sources(v, here)


def _d2_zoo_files():
    from detectron2.model_zoo.model_zoo import _ModelZooUrls

    return set(D2_IMAGENET) | {
        f"{cfg}/{suffix}" for cfg, suffix in _ModelZooUrls.CONFIG_PATH_TO_URL_SUFFIX.items()
    }


def check_source(kind: str, value: str) -> None:
    """Raise AssertionError unless ``value`` is a known, downloadable source (or empty)."""
    if kind == "timm":
        import timm

        arch = value.split(".")[0]
        assert timm.is_model(arch), f"timm has no model {arch!r}"
        assert timm.list_pretrained(value if "." in value else f"{value}.*"), (
            f"timm has no pretrained {value!r}"
        )
        return
    if value == "" or value.startswith(
        "REQUIRED-"
    ):  # none / a placeholder that fails with a message
        return
    if value.startswith("detectron2://"):
        name = value[len("detectron2://") :]
        assert name in _d2_zoo_files(), f"{value} is not a detectron2 model-zoo file"
        return
    if value.startswith("torchvision://"):
        from humanparse_d2.projects.mman.imagenet import resolve_torchvision_weights

        resolve_torchvision_weights(value[len("torchvision://") :])  # raises ValueError if unknown
        return
    raise AssertionError(
        f"unknown weights source {value!r} (not detectron2://, torchvision://, timm)"
    )


def test_known_sources_are_accepted_and_unknown_rejected():
    import humanparse_d2  # noqa: F401

    check_source("weights", "detectron2://ImageNetPretrained/MSRA/R-101.pkl")
    check_source("weights", "torchvision://resnet101.IMAGENET1K_V1")
    check_source("timm", "resnet50c.gluon_in1k")
    with pytest.raises(AssertionError, match="not a detectron2 model-zoo file"):
        check_source("weights", "detectron2://ImageNetPretrained/torchvision/R-101.pkl")
    with pytest.raises(ValueError, match="no 'IMAGENET9K'"):
        check_source("weights", "torchvision://resnet101.IMAGENET9K")
    with pytest.raises(AssertionError):
        check_source("timm", "resnet50c.not_a_tag")
    with pytest.raises(AssertionError, match="unknown weights source"):
        check_source("weights", "https://example.org/weights.pth")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_config_weights_are_real_sources(path):
    import humanparse_d2  # noqa: F401

    data = yaml.safe_load(path.read_text()) or {}
    for key, kind, value in _sources(data):
        try:
            check_source(kind, value)
        except (AssertionError, ValueError) as e:
            raise AssertionError(f"{path.relative_to(REPO)} {key}: {e}") from None


def test_torchvision_weights_fetched_only_when_loaded(monkeypatch, tmp_path):
    """Building a model never fetches; loading ``torchvision://`` converts torchvision's file once."""
    import torch
    import torchvision
    from detectron2.modeling import build_model

    import humanparse_d2.projects.mman.imagenet as imagenet
    from humanparse_d2.checkpoint.checkpointer import (
        HumanParseCheckpointer as DetectionCheckpointer,
    )
    from humanparse_d2.engine import load_config

    calls = []

    def fake_download(weights):
        calls.append(weights)
        torch.manual_seed(0)
        return torchvision.models.resnet18(weights=None).state_dict()

    monkeypatch.setattr(imagenet, "_download_state_dict", fake_download)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    cfg = load_config(
        str(REPO / "projects/MMAN/configs/quick/MMAN_synth_lip.yaml"),
        ["MODEL.WEIGHTS", "torchvision://resnet18.IMAGENET1K_V1"],
        check_names=False,
    )
    model = build_model(cfg)
    assert calls == []  # building (e.g. for evaluation) fetched nothing
    DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    assert len(calls) == 1
    DetectionCheckpointer(build_model(cfg)).load(cfg.MODEL.WEIGHTS)
    assert len(calls) == 1  # the converted .pkl is reused
    ref = fake_download(None)
    torch.testing.assert_close(model.backbone.res3[0].conv2.weight, ref["layer2.0.conv2.weight"])
    torch.testing.assert_close(model.backbone.stem.conv1.norm.running_var, ref["bn1.running_var"])
