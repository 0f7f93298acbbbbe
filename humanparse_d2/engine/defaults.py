"""Config loading and early checks shared by tools/train_net.py, tools/demo.py and the tests.

- :func:`setup_plugin_logger`: the ``humanparse_d2`` loggers set up as detectron2 sets up its own
  (timestamps, rank, ``log.txt`` in OUTPUT_DIR, WARNING prefix);
- :func:`load_config`: defaults + plugin keys + yaml + overrides, with errors that name the yaml
  (a ``_BASE_`` that does not exist, a plugin key without the plugin's keys) and the closest
  registered names;
- :func:`run_registrations` / :func:`check_class_counts`: ``DATASETS.REGISTER`` (your own datasets
  from ``tools/train_net.py``) and the dataset-vs-model class count check (the class-count key of
  each meta-architecture: :func:`register_class_count_key`).
"""

import difflib
import importlib
import importlib.util
import logging
import os
from collections.abc import Iterable

import torch
import yaml
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from humanparse_d2.config import flat_keys, get_humanparse_cfg, merge_config_file

__all__ = [
    "load_config",
    "check_config_names",
    "check_base_chain",
    "setup_plugin_logger",
    "run_registrations",
    "check_class_counts",
    "register_class_count_key",
    "ConfigError",
]

logger = logging.getLogger(__name__)


class ConfigError(KeyError):
    """A config names a file, dataset or registry entry that does not exist."""

    def __str__(self):  # KeyError quotes its message; this one is read by people
        return str(self.args[0]) if self.args else ""


def setup_plugin_logger(
    output_dir: str | None = None, *, rank: int | None = None
) -> logging.Logger:
    """Set up the ``humanparse_d2`` logger like detectron2's (``default_setup`` only sets up its
    own): INFO to stdout on rank 0, DEBUG to ``<output_dir>/log.txt`` (``log.txt.rank<k>`` on other
    ranks), timestamped lines, WARNING/ERROR prefixed. Idempotent for the same arguments.
    The torch-free core (``humanparse_core``) logs under its own name and gets the same handlers."""
    rank = comm.get_rank() if rank is None else rank
    setup_logger(
        output_dir or None, distributed_rank=rank, name="humanparse_core", abbrev_name="hp"
    )
    return setup_logger(
        output_dir or None, distributed_rank=rank, name="humanparse_d2", abbrev_name="hp"
    )


def _registered(registry) -> list[str]:
    return sorted(name for name, _ in registry)


def _closest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def check_base_chain(config_file: str) -> None:
    """Raise :class:`ConfigError` naming the yaml whose ``_BASE_`` points to a missing file.

    detectron2 resolves ``_BASE_`` relative to the yaml that holds it and reports a missing base
    only as a bare ``FileNotFoundError`` of the resolved path.
    """
    seen = set()
    todo = [os.path.abspath(config_file)]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        with open(f) as fh:
            data = yaml.safe_load(fh) or {}
        base = data.get("_BASE_") if isinstance(data, dict) else None
        for b in [base] if isinstance(base, str) else list(base or []):
            if b.startswith(("http://", "https://")):
                continue
            path = (
                b if os.path.isabs(os.path.expanduser(b)) else os.path.join(os.path.dirname(f), b)
            )
            path = os.path.abspath(os.path.expanduser(path))
            if not os.path.isfile(path):
                folder = os.path.dirname(path)
                near = (
                    sorted(x for x in os.listdir(folder) if x.endswith(".yaml"))
                    if os.path.isdir(folder)
                    else []
                )
                raise ConfigError(
                    f"{f}: _BASE_: {b!r} not found (looked for {path}){_closest(os.path.basename(path), near)}"
                )
            todo.append(path)


def check_config_names(cfg: CfgNode) -> None:
    """Fail early, listing the valid choices, when a config names something never registered.

    detectron2 only says "No object named 'X' found in 'META_ARCH' registry!" deep inside model
    construction, and an unknown dataset surfaces when the loader is built.
    """
    problems = []
    checks = [
        ("MODEL.META_ARCHITECTURE", cfg.MODEL.META_ARCHITECTURE, META_ARCH_REGISTRY),
        ("MODEL.BACKBONE.NAME", cfg.MODEL.BACKBONE.NAME, BACKBONE_REGISTRY),
    ]
    if cfg.MODEL.META_ARCHITECTURE in ("GeneralizedRCNN", "ProposalNetwork"):
        checks.append(("MODEL.ROI_HEADS.NAME", cfg.MODEL.ROI_HEADS.NAME, ROI_HEADS_REGISTRY))
    for key, value, registry in checks:
        if value not in registry:
            names = _registered(registry)
            problems.append(
                f"{key}={value!r} is not registered{_closest(value, names)} (registered: {names})"
            )
    known = sorted(DatasetCatalog.list())
    for key, names in (
        ("DATASETS.TRAIN", cfg.DATASETS.TRAIN),
        ("DATASETS.TEST", cfg.DATASETS.TEST),
    ):
        for name in names:
            if name not in known:
                hint = _closest(name, known) or f"; registered: {known}"
                problems.append(
                    f"{key} names {name!r}, which is not registered{hint} "
                    "(register your own with DATASETS.REGISTER or --register)"
                )
    if problems:
        raise ConfigError("Invalid config: " + "; ".join(problems))
    if cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN":
        # MASK_QUALITY on heads that do not rescore would silently evaluate the plain model
        from humanparse_d2.modeling.rescoring import check_rescoring_config

        check_rescoring_config(cfg)


def load_config(
    config_file: str | None, opts: Iterable[str] = (), *, check_names: bool = True
) -> CfgNode:
    """detectron2 defaults + humanparse_d2 keys + ``config_file`` + ``opts`` (not frozen).

    A config asking for CUDA on a machine without it is moved to CPU with a warning, so the same
    yaml runs on a laptop and on a GPU server.
    """
    cfg = get_humanparse_cfg()
    if config_file:
        if not os.path.isfile(config_file):
            raise ConfigError(f"config file not found: {config_file}")
        check_base_chain(config_file)
        merge_config_file(cfg, config_file)
    try:
        cfg.merge_from_list(list(opts))
    except (KeyError, AssertionError) as e:
        key = str(e).strip("'\"").rsplit(":", 1)[-1].strip()
        if "Non-existent" not in str(e):
            raise
        raise ConfigError(f"unknown config key {key}{_closest(key, flat_keys(cfg))}") from e
    run_registrations(cfg)
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("MODEL.DEVICE=%s but CUDA is not available: using cpu", cfg.MODEL.DEVICE)
        cfg.MODEL.DEVICE = "cpu"
    if check_names:
        check_config_names(cfg)
        check_class_counts(cfg)
    return cfg


def _import_callable(spec: str):
    """``"pkg.module:function"`` or ``"path/to/file.py:function"`` -> the function."""
    if ":" not in spec:
        raise ConfigError(
            f"DATASETS.REGISTER entry {spec!r} must be 'module:function' or 'file.py:function'"
        )
    mod_name, fn_name = spec.rsplit(":", 1)
    if mod_name.endswith(".py"):
        if not os.path.isfile(mod_name):
            raise ConfigError(f"DATASETS.REGISTER: file not found: {mod_name}")
        sp = importlib.util.spec_from_file_location(
            os.path.splitext(os.path.basename(mod_name))[0], mod_name
        )
        module = importlib.util.module_from_spec(sp)
        sp.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            raise ConfigError(f"DATASETS.REGISTER: cannot import {mod_name!r} ({e})") from e
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        names = [n for n in dir(module) if callable(getattr(module, n)) and not n.startswith("_")]
        raise ConfigError(
            f"DATASETS.REGISTER: {mod_name} has no function {fn_name!r}{_closest(fn_name, names)}"
        )
    return fn


def run_registrations(cfg: CfgNode) -> None:
    """Call every ``DATASETS.REGISTER`` entry (``fn(cfg)`` if it takes an argument, else ``fn()``).

    This is how ``tools/train_net.py`` trains on your own data without a wrapper script: a
    function that calls ``register_parsing_dataset`` (or detectron2's ``register_coco_instances``)
    and the dataset names in ``DATASETS.TRAIN/TEST``.
    """
    import inspect

    for spec in cfg.DATASETS.REGISTER:
        fn = _import_callable(spec)
        nargs = len(inspect.signature(fn).parameters)
        fn(cfg) if nargs else fn()
        logger.info("DATASETS.REGISTER: ran %s", spec)


# meta-architecture -> the config key holding the number of parsing classes it predicts; the
# paper packages add theirs with register_class_count_key when they are imported
_CLASS_KEYS = {"ParsingRCNN": "MODEL.ROI_PARSING_HEAD.NUM_CLASSES"}


def register_class_count_key(meta_architecture: str, key: str) -> None:
    """Make :func:`check_class_counts` compare the datasets' class count with the config key
    ``key`` (e.g. "MODEL.QANET.NUM_CLASSES") for models of ``meta_architecture``."""
    _CLASS_KEYS[meta_architecture] = key


def check_class_counts(cfg: CfgNode) -> None:
    """Raise :class:`ConfigError` when a dataset's class count differs from the model's.

    Without the check a dataset with more classes trains on out-of-range labels (a CUDA assert or
    a silent ignore) and one with fewer evaluates empty classes.
    """
    key = _CLASS_KEYS.get(cfg.MODEL.META_ARCHITECTURE)
    if key is None:
        return
    node = cfg
    for part in key.split("."):
        node = node[part]
    model_c = int(node)
    for name in list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST):
        meta = MetadataCatalog.get(name)
        c = meta.get("num_parsing", None)
        if c is None and meta.get("stuff_classes", None) is not None:
            c = len(meta.stuff_classes)
        if c is not None and int(c) != model_c:
            raise ConfigError(
                f"dataset {name!r} has {c} parsing classes but {key}={model_c}; set {key} {c}"
            )
