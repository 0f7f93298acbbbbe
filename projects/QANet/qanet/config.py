"""Config keys of QANet."""
from detectron2.config import CfgNode as CN

__all__ = ["add_qanet_config"]


def add_qanet_config(cfg: CN) -> None:
    """Add the QANet keys to ``cfg`` in place."""
    _C = cfg
    _C.MODEL.QANET = CN()
    # Where person boxes come from at test time: "detector", "file" or "oracle" (ground truth).
    _C.MODEL.QANET.BOX_SOURCE = "detector"
