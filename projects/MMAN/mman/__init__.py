"""MMAN (Macro-Micro Adversarial Network, Luo et al. ECCV 2018) for detectron2.

Importing it registers the ``MMAN`` meta-architecture, the ``build_mman_resnet_backbone`` backbone,
the adversarial trainer (``humanparse_d2.engine.TRAINERS["MMAN"]``), the ``mman`` official-weights
converter and parity runner, the ``torchvision://`` ImageNet weights handler and the "mman"
training geometry of ``SinglePersonParsingMapper`` (``INPUT.PARSING.SINGLE.CROP_MODE``).
"""
from .config import add_mman_config, resolve_mman_config  # noqa: F401
from .backbone import MMANResNet, build_mman_resnet_backbone  # noqa: F401
from .discriminator import MacroDiscriminator, MicroDiscriminator, PatchDiscriminator  # noqa: F401
from .generator import ASPPLowRes, MMANDecoder  # noqa: F401
from .meta_arch import MMAN  # noqa: F401
from .transforms import MMANRandomGeometry  # noqa: F401  (registers the "mman" crop geometry)
from .adversary import MMANAdversary, build_mman_adversary  # noqa: F401
from . import imagenet  # noqa: F401  (the torchvision:// weights handler)
from . import official  # noqa: F401  (registers the "mman" converter and parity runner)

# Registers humanparse_d2.engine.TRAINERS["MMAN"] (the adversarial trainer); last, as it builds on
# the modules above.
from humanparse_d2.engine import adversarial as _adversarial  # noqa: F401,E402

__all__ = [
    "add_mman_config",
    "resolve_mman_config",
    "MMAN",
    "MMANAdversary",
    "MacroDiscriminator",
    "MicroDiscriminator",
    "PatchDiscriminator",
    "build_mman_adversary",
]
