"""Config keys of humanparse_d2.

``add_humanparse_config(cfg)`` adds every key of the plugin to a detectron2 ``CfgNode``. Call it on
``get_cfg()`` before ``merge_from_file``; each part lives next to the code that reads it.
"""
from detectron2.config import CfgNode

__all__ = ["add_humanparse_config", "get_humanparse_cfg"]

# Top-level nodes this plugin adds; a merge that fails on one of them means the add_* call is missing.
_PLUGIN_KEY_PREFIXES = (
    "MODEL.QANET",
    "MODEL.MMAN",
    "MODEL.QAM",
    "MODEL.ROI_PARSING_HEAD",
    "MODEL.MASK_QUALITY",
    "MODEL.TIMM",
    "INPUT.PARSING",
    "DATASETS.PARSING",
    "HUMANPARSE_EVALUATION",
    "SOLVER.MMAN",
    "TEST.MMAN",
    "TEST.PARSING",
)


def add_humanparse_config(cfg: CfgNode) -> None:
    """Add all humanparse_d2 keys to ``cfg`` in place (idempotent)."""
    from humanparse_d2.data.config import add_data_config
    from humanparse_d2.evaluation.config import add_evaluation_config
    from humanparse_d2.modeling.config import add_modeling_config
    from humanparse_d2.projects.mman.config import add_mman_config
    from humanparse_d2.projects.qanet.config import add_qanet_config

    add_data_config(cfg)
    add_evaluation_config(cfg)
    add_modeling_config(cfg)
    add_qanet_config(cfg)
    add_mman_config(cfg)
    _add_engine_config(cfg)


def _add_engine_config(cfg: CfgNode) -> None:
    """Keys read by humanparse_d2.engine (trainer and tools)."""
    _C = cfg
    # Optimizer of HumanParseTrainer: "SGD" (detectron2's), "ADAM" or "ADAMW".
    _C.SOLVER.OPTIMIZER = "SGD"
    # Adam/AdamW betas.
    _C.SOLVER.BETAS = (0.9, 0.999)
    # Name of the mapper (humanparse_d2.data.PARSING_MAPPER_REGISTRY) for test loaders; "" =
    # detectron2's DatasetMapper.
    _C.INPUT.PARSING.TEST_MAPPER = ""
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


def _install_missing_call_hint() -> None:
    """Make a yaml merge that fails on a plugin key say which function was not called.

    yacs only says "Non-existent config key: MODEL.QANET.X"; users then hunt for the cause.
    """
    original = CfgNode.merge_from_file
    if getattr(original, "_humanparse_hint", False):
        return

    def merge_from_file(self, cfg_filename, allow_unsafe=True):
        try:
            return original(self, cfg_filename, allow_unsafe=allow_unsafe)
        except KeyError as e:
            msg = str(e)
            if "Non-existent config key" in msg and any(p in msg for p in _PLUGIN_KEY_PREFIXES):
                raise KeyError(
                    f"{msg.strip(chr(39))} in {cfg_filename}: this is a humanparse_d2 key; call "
                    "humanparse_d2.add_humanparse_config(cfg) on the config before merge_from_file"
                ) from e
            raise

    merge_from_file._humanparse_hint = True
    CfgNode.merge_from_file = merge_from_file


_install_missing_call_hint()
