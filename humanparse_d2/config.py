"""Config keys of humanparse_d2.

``add_humanparse_config(cfg)`` adds every key of the plugin to a detectron2 ``CfgNode``: the
library's own keys (each part lives next to the code that reads it) and those of every paper
package, which registers its ``add_*_config`` with :func:`register_config_adder` when it is
imported (``import humanparse_d2`` imports all of them). Call it on ``get_cfg()`` before
``merge_from_file``, or use :func:`get_humanparse_cfg` / :func:`merge_config_file`.
"""

from collections.abc import Callable

from detectron2.config import CfgNode

__all__ = [
    "add_humanparse_config",
    "flat_keys",
    "get_humanparse_cfg",
    "merge_config_file",
    "register_config_adder",
]

ConfigAdder = Callable[[CfgNode], None]

# add_*_config functions of the paper packages, in registration (import) order.
_CONFIG_ADDERS: list[ConfigAdder] = []


def register_config_adder(fn: ConfigAdder) -> ConfigAdder:
    """Make :func:`add_humanparse_config` also call ``fn(cfg)`` (after the data, evaluation and
    modeling keys).

    A paper package calls it from its ``__init__``; registering the same function again is a
    no-op. Returns ``fn``, so it also works as a decorator.
    """
    if fn not in _CONFIG_ADDERS:
        _CONFIG_ADDERS.append(fn)
    return fn


def add_humanparse_config(cfg: CfgNode) -> None:
    """Add all humanparse_d2 keys to ``cfg`` in place (idempotent)."""
    from humanparse_d2.data.config import add_data_config
    from humanparse_d2.evaluation.config import add_evaluation_config
    from humanparse_d2.modeling.config import add_modeling_config

    add_data_config(cfg)
    add_evaluation_config(cfg)
    add_modeling_config(cfg)
    for add in _CONFIG_ADDERS:
        add(cfg)
    _add_engine_config(cfg)


def _add_engine_config(cfg: CfgNode) -> None:
    """Keys read by humanparse_d2.engine (trainer and tools)."""
    _C = cfg
    # Optimizer of HumanParseTrainer: "SGD" (detectron2's), "ADAM" or "ADAMW".
    _C.SOLVER.OPTIMIZER = "SGD"
    # Adam/AdamW betas.
    _C.SOLVER.BETAS = (0.9, 0.999)
    # Training files that may fail to load (truncated, unreadable, label mismatch) before the run
    # stops with their list; each one is skipped, logged and counted across loader workers.
    _C.DATALOADER.MAX_BAD_FILES = 100
    # "module:function" callables run by tools/train_net.py before the datasets are looked up; each
    # registers your own datasets (e.g. with register_parsing_dataset), called as function() or
    # function(cfg). The module is imported by name, or from a .py path ("path/to/file.py:function").
    _C.DATASETS.REGISTER = ()


def get_humanparse_cfg() -> CfgNode:
    """detectron2's default config plus every humanparse_d2 key."""
    from detectron2.config import get_cfg

    cfg = get_cfg()
    add_humanparse_config(cfg)
    return cfg


def flat_keys(node: CfgNode, prefix: str = "") -> list[str]:
    """Dotted names of every leaf key under ``node`` (``["MODEL.DEVICE", ...]``)."""
    out = []
    for k, v in node.items():
        out += flat_keys(v, f"{prefix}{k}.") if isinstance(v, CfgNode) else [prefix + k]
    return out


def _is_plugin_key(key: str) -> bool:
    """Whether ``key`` (a leaf or a node) is added by :func:`add_humanparse_config`."""
    from detectron2.config import get_cfg

    plugin = set(flat_keys(get_humanparse_cfg())) - set(flat_keys(get_cfg()))
    return any(k == key or k.startswith(key + ".") for k in plugin)


def merge_config_file(cfg: CfgNode, filename: str) -> None:
    """``cfg.merge_from_file(filename)``; a yaml setting a humanparse_d2 key that ``cfg`` lacks
    fails with a ``KeyError`` that says to call :func:`add_humanparse_config`.

    yacs only says "Non-existent config key: MODEL.QANET.X"; users then hunt for the cause.
    """
    try:
        cfg.merge_from_file(filename)
    except KeyError as e:
        msg = str(e).strip("'\"")
        prefix = "Non-existent config key:"
        if not msg.startswith(prefix) or not _is_plugin_key(msg[len(prefix) :].strip()):
            raise
        raise KeyError(
            f"{msg} in {filename}: this is a humanparse_d2 key; call "
            "humanparse_d2.add_humanparse_config(cfg) on the config before merge_from_file"
        ) from e
