"""Config keys of MMAN."""
from detectron2.config import CfgNode as CN

__all__ = ["add_mman_config"]


def add_mman_config(cfg: CN) -> None:
    """Add the MMAN keys to ``cfg`` in place."""
    _C = cfg
    _C.MODEL.MMAN = CN()
    # "code" (released hyper-parameters, bugs fixed) or "paper" (the paper's text).
    _C.MODEL.MMAN.PRESET = "code"
