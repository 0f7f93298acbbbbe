"""Converting the papers' released checkpoints into detectron2 checkpoints of our models.

A format is named after the meta-architecture it feeds, lower-cased ("qanet", "mman"). Each project
registers a converter under that name in :data:`OFFICIAL_FORMAT_REGISTRY` (the function's name is
the key, as everywhere in detectron2's registries)::

    @OFFICIAL_FORMAT_REGISTRY.register()
    def qanet(state_dict: dict[str, Tensor], cfg: CfgNode) -> dict[str, Tensor]:
        ...  # official key names -> our key names (values untouched or reshaped)

and a parity runner of the same name in :data:`OFFICIAL_PARITY_REGISTRY`,
``qanet(cfg, official_src, *, device, seed, workdir, image) -> list[ParityRow]``, that builds the
official network from a checkout the user gives (importing it from that folder; nothing of it ships
here) and compares it with ours stage by stage.
``tools/convert_official_weights.py`` and ``tools/check_official_parity.py`` are the front ends.

Conversion is strict: the converted dict must have exactly the model's keys and shapes, else
:class:`CheckpointMismatchError` names the first offenders (a checkpoint of another architecture
than the config fails here, not later as a silently half-loaded model).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from detectron2.utils.registry import Registry

from humanparse_d2.utils.atomic import atomic_torch_save

__all__ = [
    "format_for_config",
    "OFFICIAL_FORMAT_REGISTRY",
    "OFFICIAL_PARITY_REGISTRY",
    "CheckpointMismatchError",
    "ParityRow",
    "check_state_dict_matches",
    "convert_official_checkpoint",
    "read_official_state_dict",
    "save_converted_checkpoint",
]

logger = logging.getLogger(__name__)

OFFICIAL_FORMAT_REGISTRY = Registry("OFFICIAL_FORMAT")
OFFICIAL_FORMAT_REGISTRY.__doc__ = "Converters: official state dict + cfg -> our state dict."
OFFICIAL_PARITY_REGISTRY = Registry("OFFICIAL_PARITY")
OFFICIAL_PARITY_REGISTRY.__doc__ = "Per meta-architecture: our forward vs the official forward."

# Wrappers the official code bases put around the state dict, tried in this order.
_WRAPPER_KEYS = ("model", "state_dict", "net", "generator")
_SHOW = 8  # offenders named per kind in a mismatch error


class CheckpointMismatchError(ValueError):
    """The converted keys or shapes are not exactly those of the model the config builds."""


@dataclass
class ParityRow:
    """One compared stage: ``max_abs_diff`` of our output against the official one."""

    stage: str
    max_abs_diff: float
    tolerance: float
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def format_for_config(cfg) -> str:
    """The official format that feeds ``cfg``'s meta-architecture (see the module docstring)."""
    return cfg.MODEL.META_ARCHITECTURE.lower()


def read_official_state_dict(path: str | Path) -> OrderedDict[str, torch.Tensor]:
    """Tensors of an official checkpoint, unwrapped and without DataParallel's ``module.``.

    Accepts a plain state dict or one wrapped as ``{'model': sd, ...}`` (QANet) and the like.
    Loaded with ``weights_only=True``: a checkpoint is data and must not run code.
    """
    obj = torch.load(str(path), map_location="cpu", weights_only=True)
    while isinstance(obj, Mapping):
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise ValueError(
            f"{path}: expected a state dict (mapping of tensors), got {type(obj).__name__}"
        )
    tensors = OrderedDict((k, v) for k, v in obj.items() if isinstance(v, torch.Tensor))
    if not tensors:
        raise ValueError(f"{path}: no tensors found (keys: {list(obj)[:_SHOW]})")
    if all(k.startswith("module.") for k in tensors):
        tensors = OrderedDict((k[len("module.") :], v) for k, v in tensors.items())
    return tensors


def _shape(v) -> tuple:
    return tuple(v.shape) if hasattr(v, "shape") else tuple(v)


def check_state_dict_matches(
    converted: Mapping[str, torch.Tensor], expected: Mapping, source: str = "checkpoint"
) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``converted`` has exactly ``expected``'s keys
    and shapes. ``expected`` maps key -> tensor or shape (a model's ``state_dict()`` or a fixture).
    """
    missing = [k for k in expected if k not in converted]
    unexpected = [k for k in converted if k not in expected]
    wrong = [
        f"{k}: {source} {_shape(converted[k])} vs model {_shape(expected[k])}"
        for k in expected
        if k in converted and _shape(converted[k]) != _shape(expected[k])
    ]
    if not (missing or unexpected or wrong):
        return
    lines = [f"{source} does not match the model the config builds:"]
    for title, items in (
        ("shape mismatches", wrong),
        ("missing", missing),
        ("unexpected", unexpected),
    ):
        if items:
            more = f" (+{len(items) - _SHOW} more)" if len(items) > _SHOW else ""
            lines.append(f"  {len(items)} {title}{more}: " + "; ".join(items[:_SHOW]))
    lines.append(
        "  Is it a checkpoint of the architecture the config names (backbone, depth, head width)?"
    )
    raise CheckpointMismatchError("\n".join(lines))


def convert_official_checkpoint(fmt: str, path: str | Path, cfg, expected: Mapping | None = None):
    """Read ``path``, convert it with the ``fmt`` converter and check it against ``expected``
    (default: the state dict of the model ``cfg`` builds). Returns our state dict."""
    state = read_official_state_dict(path)
    converted = OFFICIAL_FORMAT_REGISTRY.get(fmt)(state, cfg)
    if expected is None:
        from detectron2.modeling import build_model

        expected = build_model(cfg).state_dict()
    # a converter that read a backbone-only file (an ImageNet start) marks its result with the
    # model prefix it fills; it is checked strictly against that part of the model
    prefix = getattr(converted, "prefix", "")
    if prefix:
        expected = {k: v for k, v in expected.items() if k.startswith(prefix)}
    check_state_dict_matches(converted, expected, source=f"{path} (converted as {fmt!r})")
    return converted


def save_converted_checkpoint(state: Mapping[str, torch.Tensor], path: str | Path, **meta) -> None:
    """Write a checkpoint that ``MODEL.WEIGHTS`` / ``DetectionCheckpointer`` loads as is."""
    payload = {
        "model": OrderedDict(state),
        "__author__": "humanparse_d2 official-weights converter",
    }
    payload.update(meta)
    atomic_torch_save(payload, path)
    logger.info("wrote %s (%d tensors)", path, len(state))
