"""MMAN (Macro-Micro Adversarial Network, Luo et al. ECCV 2018) for detectron2.

Importing it registers the ``MMAN`` meta-architecture, the ``build_mman_resnet_backbone`` backbone,
the adversarial trainer ("MMANTrainer" in ``humanparse_d2.engine.TRAINER_REGISTRY``), the MMAN
config keys (added by ``humanparse_d2.add_humanparse_config``), the ``mman`` official-weights
converter and parity runner, the ``torchvision://`` ImageNet weights handler and the "mman"
training geometry of ``SinglePersonParsingMapper`` (``INPUT.PARSING.SINGLE.CROP_MODE``).
"""

from humanparse_d2.config import register_config_adder
from humanparse_d2.engine import register_class_count_key

from . import (
    imagenet,  # noqa: F401  (the torchvision:// weights handler)
    official,  # noqa: F401  (registers the "mman" converter and parity runner)
)
from .adversary import MMANAdversary, build_mman_adversary  # noqa: F401
from .backbone import MMANResNet, build_mman_resnet_backbone  # noqa: F401
from .config import add_mman_config, check_mman_config  # noqa: F401
from .discriminator import MacroDiscriminator, MicroDiscriminator, PatchDiscriminator  # noqa: F401
from .generator import ASPPLowRes, MMANDecoder  # noqa: F401
from .meta_arch import MMAN  # noqa: F401
from .trainer import MMANTrainer  # noqa: F401
from .transforms import MMANRandomGeometry  # noqa: F401  (registers the "mman" crop geometry)

register_config_adder(add_mman_config)
register_class_count_key("MMAN", "MODEL.MMAN.NUM_CLASSES")

__all__ = [
    "add_mman_config",
    "check_mman_config",
    "MMAN",
    "MMANAdversary",
    "MMANTrainer",
    "MacroDiscriminator",
    "MicroDiscriminator",
    "PatchDiscriminator",
    "build_mman_adversary",
]
