"""Config loading and early checks shared by tools/train_net.py, tools/demo.py and the tests."""
import logging
from typing import Iterable, List, Optional

import torch
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog
from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY

from humanparse_d2.config import get_humanparse_cfg

__all__ = ["load_config", "check_config_names"]

logger = logging.getLogger(__name__)


def _registered(registry) -> List[str]:
    return sorted(name for name, _ in registry)


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
            problems.append(f"{key}={value!r} is not registered; registered: {_registered(registry)}")
    known = set(DatasetCatalog.list())
    for key, names in (("DATASETS.TRAIN", cfg.DATASETS.TRAIN), ("DATASETS.TEST", cfg.DATASETS.TEST)):
        for name in names:
            if name not in known:
                problems.append(f"{key} names {name!r}, which is not registered; registered: {sorted(known)}")
    if problems:
        raise KeyError("Invalid config:\n  " + "\n  ".join(problems))
    if cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN":
        # MASK_QUALITY on heads that do not rescore would silently evaluate the plain model
        from humanparse_d2.modeling.rescoring import check_rescoring_config

        check_rescoring_config(cfg)


def load_config(
    config_file: Optional[str], opts: Iterable[str] = (), *, check_names: bool = True
) -> CfgNode:
    """detectron2 defaults + humanparse_d2 keys + ``config_file`` + ``opts`` (not frozen).

    A config asking for CUDA on a machine without it is moved to CPU with a warning, so the same
    yaml runs on a laptop and on a GPU server.
    """
    cfg = get_humanparse_cfg()
    if config_file:
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("MODEL.DEVICE=%s but CUDA is not available: using cpu", cfg.MODEL.DEVICE)
        cfg.MODEL.DEVICE = "cpu"
    if check_names:
        check_config_names(cfg)
    return cfg
