"""Config keys of the data layer (datasets, mappers, augmentation)."""
from detectron2.config import CfgNode as CN

__all__ = ["add_data_config"]


def add_data_config(cfg: CN) -> None:
    """Add the data-layer keys to ``cfg`` in place."""
    _C = cfg
    _C.INPUT.PARSING = CN()
    # Name of the dataset mapper used by the training loader (a key of humanparse_d2.data.MAPPERS);
    # "" keeps detectron2's DatasetMapper.
    _C.INPUT.PARSING.MAPPER = ""
