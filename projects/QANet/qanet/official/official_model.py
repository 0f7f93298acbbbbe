"""Build the official QANet network (soeaver/QANet) from a checkout the user gives.

Nothing of the official code ships with this project: :func:`import_official` puts the checkout
folder first on ``sys.path`` and imports its ``qanet`` / ``lib`` packages from there. The compiled
ops of ``lib/ops`` (NMS, RoIAlign, deformable conv, ...) are not needed by the parsing network, so
``lib.ops._C`` is replaced by a stub whose functions raise if anything calls them.

:func:`official_config_from_ours` writes the official yacs config of the network that one of our
QANet configs describes (backbone, semantic-FPN width, classes, IoU branch, test views), and
:func:`build_official_qanet` builds the official ``Generalized_CNN`` from it, in eval mode.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import torch

__all__ = ["import_official", "official_config_from_ours", "build_official_qanet", "official_arch"]


class _StubOps(types.ModuleType):
    """Stands in for the official compiled extension ``lib.ops._C``."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def _missing(*args, **kwargs):
            raise RuntimeError(
                f"official compiled op lib.ops._C.{name} is stubbed (not built here)"
            )

        return _missing


def _module_dir(mod) -> str:
    """Folder of a package (the official ``qanet`` / ``lib`` are namespace packages: no __file__)."""
    paths = list(getattr(mod, "__path__", []) or [])
    where = paths[0] if paths else (getattr(mod, "__file__", "") or "")
    return str(Path(where).resolve()) if where else ""


def import_official(official_src: str | Path):
    """Import the official packages from ``official_src``; returns the official ``qanet`` module.

    Raises ``FileNotFoundError`` if the folder is not a QANet checkout and ``ImportError`` if other
    ``qanet`` / ``lib`` packages are already imported from elsewhere.
    """
    src = Path(official_src).resolve()
    if (
        not (src / "qanet" / "modeling" / "model_builder.py").is_file()
        or not (src / "lib" / "ops").is_dir()
    ):
        raise FileNotFoundError(
            f"{src} is not an official QANet checkout (expected qanet/modeling/model_builder.py and lib/ops/); "
            "get it from https://github.com/soeaver/QANet"
        )
    for name in ("qanet", "lib"):
        mod = sys.modules.get(name)
        if mod is not None and not _module_dir(mod).startswith(str(src)):
            raise ImportError(
                f"a different '{name}' package is already imported ({mod!r}); run in a fresh process"
            )
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    sys.modules.setdefault("lib.ops._C", _StubOps("lib.ops._C"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the official ops use deprecated torch.cuda.amp decorators
        import qanet.core.config  # noqa: F401
        import qanet.modeling.model_builder  # noqa: F401
        import qanet.modeling.parsing_head.inference  # noqa: F401
    import qanet

    if not _module_dir(qanet).startswith(str(src)):
        raise ImportError(f"'qanet' was imported from {_module_dir(qanet)}, not from {src}")
    return qanet


def official_arch(cfg) -> tuple[str, dict]:
    """("resnet" | "hrnet", official BACKBONE overrides) for our ``cfg``'s backbone."""
    name = cfg.MODEL.BACKBONE.NAME
    timm_name = cfg.MODEL.TIMM.NAME.split(".")[0]
    if name == "build_qanet_timm_fpn_backbone" and timm_name in ("resnet50c", "resnet101d"):
        layers = (3, 4, 6, 3) if timm_name == "resnet50c" else (3, 4, 23, 3)
        return "resnet", {
            "LAYERS": layers,
            "STRIDE_3X3": True,
            "USE_3x3x3HEAD": True,
            "AVG_DOWN": timm_name == "resnet101d",
        }
    if name == "build_timm_backbone" and timm_name.startswith("hrnet_w"):
        return "hrnet", {"WIDTH": int(timm_name[len("hrnet_w") :])}
    raise ValueError(
        f"no official QANet network for MODEL.BACKBONE.NAME {name!r} with MODEL.TIMM.NAME {cfg.MODEL.TIMM.NAME!r}; "
        "the official models are ResNet-50c / ResNet-101d (build_qanet_timm_fpn_backbone with resnet50c / "
        "resnet101d) and HRNet (build_timm_backbone with hrnet_w48)"
    )


def official_config_from_ours(cfg, official_src: str | Path):
    """The official yacs config of the QANet network (and test views) that ``cfg`` describes."""
    qanet = import_official(official_src)
    ocfg = qanet.core.config.get_cfg()
    body, bb = official_arch(cfg)
    q = cfg.MODEL.QANET
    ocfg.defrost()
    ocfg.MODEL.FPN_ON = True
    ocfg.MODEL.PARSING_ON = True
    ocfg.BACKBONE.CONV_BODY = body
    for k, v in bb.items():
        setattr(ocfg.BACKBONE.RESNET if body == "resnet" else ocfg.BACKBONE.HRNET, k, v)
    ocfg.FPN.BODY = "pfpn"
    ocfg.FPN.NORM = "BN"
    ocfg.FPN.DIM = int(cfg.MODEL.FPN.OUT_CHANNELS)
    ocfg.FPN.PANOPTIC.NORM = "BN"
    ocfg.FPN.PANOPTIC.CONV_DIM = int(q.CONV_DIM)
    ocfg.FPN.PANOPTIC.USE_FPN = body == "resnet"
    ocfg.PARSING.NUM_PARSING = int(q.NUM_CLASSES)
    ocfg.PARSING.PARSINGIOU_ON = bool(q.IOU_ON)
    ocfg.PARSING.PARSINGIOU.NUM_CONVS = 2
    ocfg.PARSING.PARSINGIOU.CONV_DIM = int(q.IOU_FC_DIM)
    ocfg.PARSING.QUALITY_WEIGHTS = tuple(float(w) for w in cfg.MODEL.QAM.WEIGHTS)
    ocfg.PARSING.PIXEL_SCORE_TH = float(cfg.MODEL.QAM.PIXEL_THRESH)
    h, w = (int(v) for v in cfg.INPUT.PARSING.CROP_SIZE)
    ocfg.TEST.SCALE = [w, h]  # official (W, H)
    ocfg.TEST.AUG.H_FLIP = bool(q.TEST.FLIP)
    ocfg.TEST.AUG.SCALES = tuple(float(s) for s in q.TEST.SCALES if float(s) != 1.0)
    ocfg.PIXEL_MEANS = [float(m) / 255.0 for m in cfg.MODEL.PIXEL_MEAN]
    ocfg.PIXEL_STDS = [float(s) / 255.0 for s in cfg.MODEL.PIXEL_STD]
    ocfg.DEVICE = str(cfg.MODEL.DEVICE)
    ocfg.freeze()
    return ocfg


def build_official_qanet(official_src: str | Path, cfg, *, device: str = "cpu"):
    """The official ``Generalized_CNN`` for our ``cfg`` (eval mode) and its official config.

    Returns ``(model, official_cfg)``. ``model.conv_body_net(x)`` + ``model.parsing_net(f)`` give
    ``{"probs": (B, C, h, w) softmax, "parsing_iou_scores": (B,)}`` for normalised crops ``x``.
    """
    qanet = import_official(official_src)
    ocfg = official_config_from_ours(cfg, official_src)
    model = qanet.modeling.model_builder.Generalized_CNN(ocfg)
    return model.to(device).eval(), ocfg


@torch.no_grad()
def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights and random BatchNorm statistics (running mean/var, affine), in place."""
    g = torch.Generator().manual_seed(int(seed))
    for name, t in model.state_dict().items():
        if not t.is_floating_point():
            continue
        if name.endswith("running_var"):
            t.copy_(torch.rand(t.shape, generator=g) * 1.5 + 0.5)
        elif name.endswith("running_mean"):
            t.copy_(torch.randn(t.shape, generator=g) * 0.1)
        elif t.dim() >= 2:  # conv / linear weights: fan-in scaled so activations stay O(1)
            fan_in = max(1, t[0].numel())
            t.copy_(torch.randn(t.shape, generator=g) * (1.0 / fan_in) ** 0.5)
        elif name.endswith("weight"):  # BN gamma
            t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.5)
        else:  # biases, BN beta
            t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return model
