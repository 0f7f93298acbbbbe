"""``MODEL.WEIGHTS: torchvision://<arch>.<weights tag>``: torchvision's ImageNet weights for detectron2.

detectron2's model zoo has no torchvision ResNet-101 (``ImageNetPretrained/torchvision/`` holds only
R-50), while the released MMAN starts from torchvision's ``resnet101(pretrained=True)``, i.e.
``ResNet101_Weights.IMAGENET1K_V1``. This handler of detectron2's ``PathManager`` resolves
``torchvision://resnet101.IMAGENET1K_V1`` on first use:

1. torchvision downloads the file itself (``Weights.get_state_dict``, into torch hub's cache);
2. it is renamed to detectron2's ResNet names (``conv1``/``bn1`` -> ``stem.conv1``/``.norm``,
   ``layerN`` -> ``res(N+1)``, ``bnK`` -> ``convK.norm``, ``downsample.{0,1}`` -> ``shortcut``/
   ``.norm``; ``fc`` dropped) and written next to it as a detectron2 ``.pkl`` with
   ``matching_heuristics`` (so ``DetectionCheckpointer`` places it under ``backbone.``);
3. later uses read that ``.pkl``.

Nothing is fetched when a model is only built or evaluated from another ``MODEL.WEIGHTS``: the
handler runs when a checkpointer loads this path, i.e. when training starts from ImageNet.
Use it with ``MODEL.RESNETS.STRIDE_IN_1X1 False`` (torchvision puts the stride in the 3x3 conv) and
RGB inputs normalised with the ImageNet mean/std.
"""

import logging
import os
import pickle

from detectron2.utils.file_io import PathHandler, PathManager

from humanparse_d2.utils.atomic import atomic_open

__all__ = [
    "TorchvisionImageNetHandler",
    "torchvision_to_d2",
    "resolve_torchvision_weights",
    "PREFIX",
]

logger = logging.getLogger(__name__)
PREFIX = "torchvision://"


def resolve_torchvision_weights(name: str):
    """``"resnet101.IMAGENET1K_V1"`` -> torchvision's weights enum member; ValueError if unknown."""
    from torchvision.models import get_model_weights

    arch, _, tag = name.partition(".")
    try:
        enum = get_model_weights(arch)
    except (KeyError, ValueError) as e:
        raise ValueError(f"{PREFIX}{name}: torchvision has no model {arch!r}") from e
    if tag not in enum.__members__:
        raise ValueError(
            f"{PREFIX}{name}: torchvision's {enum.__name__} has no {tag!r} "
            f"(has {sorted(enum.__members__)})"
        )
    if not arch.startswith("resnet"):
        raise ValueError(f"{PREFIX}{name}: only torchvision ResNets convert to detectron2's ResNet")
    return enum[tag]


def torchvision_to_d2(state_dict) -> dict:
    """torchvision ResNet state dict -> detectron2 ResNet names, numpy values; ``fc`` dropped.
    A plain dict of arrays: the project's checkpointer reads ``.pkl`` files with a restricted
    unpickler (arrays and plain containers only)."""
    out = {}
    for k, v in state_dict.items():
        if k.startswith("fc.") or k.endswith("num_batches_tracked"):
            continue
        name = k if "layer" in k else "stem." + k
        for t in (1, 2, 3, 4):
            name = name.replace(f"layer{t}", f"res{t + 1}")
        for t in (1, 2, 3):
            name = name.replace(f"bn{t}", f"conv{t}.norm")
        name = name.replace("downsample.0", "shortcut").replace("downsample.1", "shortcut.norm")
        out[name] = v.detach().cpu().numpy()
    return out


def _download_state_dict(weights):
    """torchvision's own download (and cache) of ``weights``; a function so tests can stub it."""
    return weights.get_state_dict(progress=True)


class TorchvisionImageNetHandler(PathHandler):
    """``torchvision://<arch>.<tag>`` -> a local detectron2 ``.pkl`` converted on first use."""

    def _get_supported_prefixes(self):
        return [PREFIX]

    def _cache_path(self, name: str) -> str:
        import torch

        return os.path.join(
            torch.hub.get_dir(), "humanparse_d2", f"{name.replace('.', '-')}-d2.pkl"
        )

    def _get_local_path(self, path, force=False, **kwargs):
        self._check_kwargs(kwargs)
        name = path[len(PREFIX) :]
        weights = resolve_torchvision_weights(name)
        local = self._cache_path(name)
        if os.path.isfile(local) and not force:
            return local
        logger.info("%s: torchvision downloads %s, converted to %s", path, weights.url, local)
        d2 = torchvision_to_d2(_download_state_dict(weights))
        with atomic_open(local, "wb") as f:
            pickle.dump(
                {"model": d2, "__author__": f"torchvision {name}", "matching_heuristics": True}, f
            )
        return local

    def _open(self, path, mode="r", buffering=-1, **kwargs):
        return open(self._get_local_path(path), mode)

    def _isfile(self, path, **kwargs):
        return False  # never a local file until resolved (the checkpointer then asks for it)


if not any(isinstance(h, TorchvisionImageNetHandler) for h in PathManager._path_handlers.values()):
    PathManager.register_handler(TorchvisionImageNetHandler())
