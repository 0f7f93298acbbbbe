"""Config keys of MMAN and its three presets: "default", "release" and "paper".

Keys whose value differs between the presets default to an *empty* value ("" / () / -1 / 0):
``resolve_mman_config`` fills every key left empty from ``MODEL.MMAN.PRESET``, so a yaml sets only
what it wants to differ from its preset. A key set explicitly always wins over the preset.

- ``release``: what the released code (RoyalVane/MMAN, the LIP model it ships) does, its bugs
  included: the official generator (bottlenecks without inner ReLU, pre-ReLU taps, BatchNorm on
  batch statistics at train and test), Macro D detached in G's step, the Macro-D thumbnail taken
  before the crop, D steps with probability 1/10, Xavier-normal D init, S/L test passes upsampled
  with ``align_corners=True`` (PyTorch 0.3's ``nn.Upsample``).
- ``paper``: the paper's text (log-loss, lambda (25, 1, 100), its D layouts, dropout 0.5,
  N(0, 0.001) init, Adam (0.9, 0.999), test at {0.8, 1, 1.2} x the original size).
- ``default``: the release's hyper-parameters on a standard detectron2 ResNet (FrozenBN, post-ReLU
  blocks) with the release's bugs fixed (Macro D live, thumbnail of the final crop, deterministic D
  period). projects/MMAN/README.md lists every difference from the two others.

=========================  ===============  ===============  ==================
key                        default          release          paper
=========================  ===============  ===============  ==================
GENERATOR.VARIANT          standard         release          standard
GAN_MODE                   lsgan            lsgan            vanilla
LOSS_WEIGHTS               (1, 50, 1, 250)  (1, 50, 1, 250)  (1, 25, 1, 100)
MICRO.STRIDES              (2, 2, 1, 1)     (2, 2, 1, 1)     (2, 2, 1)
MACRO.STRIDES              (2, 2, 1, 1)     (2, 2, 1, 1)     (2, 2, 2, 2)
MACRO.G_STEP               live             detached         live
MACRO.CONDITION            crop             precrop          crop
GLOBAL.STRIDES             (2,)*6 RF 190    (2,)*6           (2,)*6 + (1,) RF 382
DECODER_DROPOUT            0.0              0.0              0.5
INIT                       code             code             paper
D_INIT                     xavier           xavier           paper
SOLVER.MMAN_G.BETAS        (0.5, 0.999)     (0.5, 0.999)     (0.9, 0.999)
  BACKBONE_LR_FACTOR       0.1              0.1              1.0
SOLVER.MMAN_D.BETAS        (0.5, 0.999)     (0.5, 0.999)     (0.9, 0.999)
  UPDATE_PERIOD            10               10               1
  UPDATE_MODE              period           random           period
TEST.MMAN.SCALES           (0.75, 1, 1.25)  (0.75, 1, 1.25)  (0.8, 1, 1.2)
TEST.MMAN.ALIGN_CORNERS    0 (False)        1 (True)         0 (False)
=========================  ===============  ===============  ==================

``MID.STRIDES`` left empty is Micro D's layout in every preset (the paper: the third D of
Multiple AN "has the same architecture with micro D").
"""

import logging

from detectron2.config import CfgNode as CN

__all__ = ["add_mman_config", "resolve_mman_config", "MMAN_PRESETS", "PRESET_NAMES"]

logger = logging.getLogger(__name__)

PRESET_NAMES = ("default", "release", "paper")


def _p(default, release, paper):
    return {"default": default, "release": release, "paper": paper}


# key path -> (empty value, {preset: value})
MMAN_PRESETS = {
    "MODEL.MMAN.GENERATOR.VARIANT": ("", _p("standard", "release", "standard")),
    "MODEL.MMAN.GAN_MODE": ("", _p("lsgan", "lsgan", "vanilla")),
    "MODEL.MMAN.LOSS_WEIGHTS": (
        (),
        _p((1.0, 50.0, 1.0, 250.0), (1.0, 50.0, 1.0, 250.0), (1.0, 25.0, 1.0, 100.0)),
    ),
    "MODEL.MMAN.MICRO.STRIDES": ((), _p((2, 2, 1, 1), (2, 2, 1, 1), (2, 2, 1))),
    "MODEL.MMAN.MACRO.STRIDES": ((), _p((2, 2, 1, 1), (2, 2, 1, 1), (2, 2, 2, 2))),
    "MODEL.MMAN.MACRO.G_STEP": ("", _p("live", "detached", "live")),
    "MODEL.MMAN.MACRO.CONDITION": ("", _p("crop", "precrop", "crop")),
    "MODEL.MMAN.GLOBAL.STRIDES": ((), _p((2,) * 6, (2,) * 6, (2,) * 6 + (1,))),
    "MODEL.MMAN.DECODER_DROPOUT": (-1.0, _p(0.0, 0.0, 0.5)),
    "MODEL.MMAN.INIT": ("", _p("code", "code", "paper")),
    "MODEL.MMAN.D_INIT": ("", _p("xavier", "xavier", "paper")),
    "SOLVER.MMAN_G.BETAS": ((), _p((0.5, 0.999), (0.5, 0.999), (0.9, 0.999))),
    "SOLVER.MMAN_G.BACKBONE_LR_FACTOR": (-1.0, _p(0.1, 0.1, 1.0)),
    "SOLVER.MMAN_D.BETAS": ((), _p((0.5, 0.999), (0.5, 0.999), (0.9, 0.999))),
    "SOLVER.MMAN_D.UPDATE_PERIOD": (0, _p(10, 10, 1)),
    "SOLVER.MMAN_D.UPDATE_MODE": ("", _p("period", "random", "period")),
    "TEST.MMAN.SCALES": ((), _p((0.75, 1.0, 1.25), (0.75, 1.0, 1.25), (0.8, 1.0, 1.2))),
    "TEST.MMAN.ALIGN_CORNERS": (-1, _p(0, 1, 0)),
}
# value checks after resolution: key path -> allowed values
_CHOICES = {
    "MODEL.MMAN.GENERATOR.VARIANT": ("standard", "release"),
    "MODEL.MMAN.GAN_MODE": ("lsgan", "vanilla"),
    "MODEL.MMAN.MACRO.G_STEP": ("live", "detached"),
    "MODEL.MMAN.MACRO.CONDITION": ("crop", "precrop"),
    "MODEL.MMAN.INIT": ("code", "paper"),
    "MODEL.MMAN.D_INIT": ("xavier", "paper", "pytorch"),
    "SOLVER.MMAN_D.UPDATE_MODE": ("period", "random"),
    "TEST.MMAN.ALIGN_CORNERS": (0, 1),
}


def _empty(path):
    return MMAN_PRESETS[path][0]


def add_mman_config(cfg: CN) -> None:
    """Add the MMAN keys to ``cfg`` in place (plain assignment: calling it twice is harmless)."""
    _add_generator_config(cfg)
    _add_micro_macro_config(cfg)
    _add_global_mid_config(cfg)
    _add_generator_solver_config(cfg)
    _add_discriminator_solver_config(cfg)
    _add_test_config(cfg)
    _add_geometry_config(cfg)


def _add_geometry_config(cfg: CN) -> None:
    """``INPUT.PARSING.SINGLE``: the "mman" training geometry of SinglePersonParsingMapper
    (``mman/transforms.py``), the default of every MMAN config."""
    _C = cfg
    # The released code's three geometry branches; "random" is the paper's single random crop.
    _C.INPUT.PARSING.SINGLE.CROP_MODE = "mman"
    # Probabilities of the "mman" branches: random-resized crop, random crop, plain resize.
    _C.INPUT.PARSING.SINGLE.BRANCH_PROBS = (0.40, 0.33, 0.27)
    # Area fraction range of the random-resized-crop branch.
    _C.INPUT.PARSING.SINGLE.RRC_AREA = (0.64, 1.0)
    # Aspect-ratio (w/h) range of the random-resized-crop branch.
    _C.INPUT.PARSING.SINGLE.RRC_ASPECT = (0.8, 1.25)


def _add_generator_config(cfg: CN) -> None:
    """``MODEL.MMAN``: the preset, the generator and its losses."""
    _C = cfg
    _C.MODEL.MMAN = CN()
    # "default" (release hyper-parameters, standard ResNet, release bugs fixed), "release" (the
    # released code, bugs included) or "paper" (the paper's text); fills the keys below that are
    # left empty (see resolve_mman_config and the table in this module's docstring).
    _C.MODEL.MMAN.PRESET = "default"
    _C.MODEL.MMAN.GENERATOR = CN()
    # "standard" (detectron2 bottlenecks, RESNETS.NORM) or "release" (the released network:
    # conv1,bn1,conv2,bn2,conv3,bn3 without inner ReLU, one ReLU on the block input, pre-ReLU
    # taps, BatchNorm on batch statistics in training and at test; RESNETS.NORM is not read).
    # Empty: from the preset.
    _C.MODEL.MMAN.GENERATOR.VARIANT = _empty("MODEL.MMAN.GENERATOR.VARIANT")
    # Number of classes C including background (LIP 20, PASCAL-Person-Part 7).
    _C.MODEL.MMAN.NUM_CLASSES = 20
    # Label value ignored by every loss (padding, unlabeled pixels, out-of-range labels).
    _C.MODEL.MMAN.IGNORE_VALUE = 255
    # Inputs are padded to a multiple of this (the output stride) and outputs cropped back.
    _C.MODEL.MMAN.SIZE_DIVISIBILITY = 16
    # Discriminators see softmax(TEMPERATURE * logits) (the code's x5 sharpening, computed in fp32);
    # flip/multi-scale inference averages the same sharpened probabilities.
    _C.MODEL.MMAN.TEMPERATURE = 5.0
    # "lsgan" (MSE to 1/0) or "vanilla" (log-loss via BCEWithLogits). Empty: from the preset.
    _C.MODEL.MMAN.GAN_MODE = _empty("MODEL.MMAN.GAN_MODE")
    # (macro adversarial, CE low-res, micro adversarial, CE high-res). Empty: from the preset.
    _C.MODEL.MMAN.LOSS_WEIGHTS = _empty("MODEL.MMAN.LOSS_WEIGHTS")
    # Cross-entropy reduction: "mean" over valid pixels (code) or "sum" (paper Eq. 1, per image).
    _C.MODEL.MMAN.CE_REDUCTION = "mean"
    # Dropout after the InstanceNorm of every decoder level but the top. <0: from the preset.
    _C.MODEL.MMAN.DECODER_DROPOUT = _empty("MODEL.MMAN.DECODER_DROPOUT")
    # Init of the new layers: "code" (ConvT Xavier-normal, 1x1/ASPP N(0, 0.01)) or "paper"
    # (N(0, 0.001), zero bias). Empty: from the preset.
    _C.MODEL.MMAN.INIT = _empty("MODEL.MMAN.INIT")
    # Init of the discriminators' convs: "xavier" (Xavier-normal gain 1 weights, as released),
    # "paper" (N(0, 0.001), zero bias) or "pytorch" (PyTorch's default). Empty: from the preset.
    _C.MODEL.MMAN.D_INIT = _empty("MODEL.MMAN.D_INIT")
    # Dilations of the three 3x3 ASPP branches of the low-res output (next to one 1x1 branch).
    _C.MODEL.MMAN.ASPP_DILATIONS = (2, 4, 6)


def _add_micro_macro_config(cfg: CN) -> None:
    """``MODEL.MMAN.MICRO`` / ``MACRO``: the two discriminators of MMAN."""
    _C = cfg
    # Micro D: patch discriminator on the full-resolution map (+ RGB).
    _C.MODEL.MMAN.MICRO = CN()
    _add_discriminator_keys(_C.MODEL.MMAN.MICRO, "Micro D", _empty("MODEL.MMAN.MICRO.STRIDES"), 8)

    # Macro D: discriminator on the low-resolution (output stride) map (+ RGB thumbnail).
    _C.MODEL.MMAN.MACRO = CN()
    _add_discriminator_keys(_C.MODEL.MMAN.MACRO, "Macro D", _empty("MODEL.MMAN.MACRO.STRIDES"), 8)
    # Downsampling factor of the map Macro D sees; must equal the generator's output stride.
    _C.MODEL.MMAN.MACRO.DOWNSAMPLE = 16
    # Macro D's term in G's step: "live" (gradient reaches G) or "detached" (the release: its input
    # is detached, so Macro D never changes G). Empty: from the preset.
    _C.MODEL.MMAN.MACRO.G_STEP = _empty("MODEL.MMAN.MACRO.G_STEP")
    # Macro D's RGB condition: "crop" (area-downsampled final crop) or "precrop" (the release: a
    # LANCZOS thumbnail of the squashed image before the crop, made by the mapper). Empty: preset.
    _C.MODEL.MMAN.MACRO.CONDITION = _empty("MODEL.MMAN.MACRO.CONDITION")


def _add_global_mid_config(cfg: CN) -> None:
    """``MODEL.MMAN.GLOBAL`` / ``MID``: the discriminators of the Single, Double and
    Multiple AN variants."""
    _C = cfg
    # "Global" D on the full-resolution map with a (near-)global field of view: the D of the
    # paper's Single AN (alone) and Double AN (with Micro D, Macro D moved to the top). Not in the
    # released code; designed here (6 stride-2 convs, field 190x190, responses averaged).
    _C.MODEL.MMAN.GLOBAL = CN()
    _add_discriminator_keys(
        _C.MODEL.MMAN.GLOBAL, "the global D", _empty("MODEL.MMAN.GLOBAL.STRIDES"), 4, enabled=False
    )
    # Weight of its adversarial term in G's loss.
    _C.MODEL.MMAN.GLOBAL.WEIGHT = 1.0

    # Multiple AN: a third, micro-style D on the stride-4 (64x64 for 256 input) map after the 3rd
    # deconvolution, read out by an extra 1x1 classifier. The paper is silent on supervising that
    # classifier; it gets a CE term besides the GAN term.
    _C.MODEL.MMAN.MID = CN()
    # Its STRIDES left empty: Micro D's (the paper: "the same architecture with micro D").
    _add_discriminator_keys(_C.MODEL.MMAN.MID, "the stride-4 D", (), 8, enabled=False)
    # Weight of its adversarial term in G's loss.
    _C.MODEL.MMAN.MID.WEIGHT = 1.0
    # Weight of the CE term of the stride-4 classifier; <0: the low-res CE weight.
    _C.MODEL.MMAN.MID.CE_WEIGHT = -1.0


def _add_generator_solver_config(cfg: CN) -> None:
    """``SOLVER.MMAN_G``: the generator's optimiser."""
    _C = cfg
    # Generator optimiser (Adam; SOLVER.BASE_LR, SOLVER.WEIGHT_DECAY on every parameter).
    _C.SOLVER.MMAN_G = CN()
    # Adam betas of G; empty: from the preset.
    _C.SOLVER.MMAN_G.BETAS = _empty("SOLVER.MMAN_G.BETAS")
    # LR factor of the pretrained encoder relative to the new layers. <0: from the preset.
    _C.SOLVER.MMAN_G.BACKBONE_LR_FACTOR = _empty("SOLVER.MMAN_G.BACKBONE_LR_FACTOR")


def _add_discriminator_solver_config(cfg: CN) -> None:
    """``SOLVER.MMAN_D``: the discriminators' optimiser and update schedule."""
    _C = cfg
    # Discriminator optimiser (Adam); its LR follows the same schedule (SOLVER.STEPS ...) as G.
    _C.SOLVER.MMAN_D = CN()
    # LR of every discriminator.
    _C.SOLVER.MMAN_D.BASE_LR = 2e-4
    # Adam betas of the discriminators; empty: from the preset.
    _C.SOLVER.MMAN_D.BETAS = _empty("SOLVER.MMAN_D.BETAS")
    # L2 weight decay of the discriminators.
    _C.SOLVER.MMAN_D.WEIGHT_DECAY = 1e-4
    # D steps on iterations with iter % UPDATE_PERIOD == 0 (same on every rank). 0: from the preset.
    _C.SOLVER.MMAN_D.UPDATE_PERIOD = _empty("SOLVER.MMAN_D.UPDATE_PERIOD")
    # "period": D steps when iter % UPDATE_PERIOD == 0; "random": with probability 1/UPDATE_PERIOD
    # (the release's random.random() < 0.1), drawn from (SEED, iter) so every rank agrees.
    # Empty: from the preset.
    _C.SOLVER.MMAN_D.UPDATE_MODE = _empty("SOLVER.MMAN_D.UPDATE_MODE")


def _add_test_config(cfg: CN) -> None:
    """``TEST.MMAN``: multi-scale and flip inference."""
    _C = cfg
    _C.TEST.MMAN = CN()
    # Test scales relative to the input size (each padded to a multiple of 16, cropped back);
    # empty: from the preset.
    _C.TEST.MMAN.SCALES = _empty("TEST.MMAN.SCALES")
    # Add horizontally flipped passes (un-flipped, left/right channels swapped by the train
    # dataset's metadata flip_lut).
    _C.TEST.MMAN.FLIP = True
    # 1: the rescaled passes are resized back with align_corners=True (the release ran PyTorch
    # 0.3, whose bilinear nn.Upsample had those semantics); 0: align_corners=False. <0: preset.
    _C.TEST.MMAN.ALIGN_CORNERS = _empty("TEST.MMAN.ALIGN_CORNERS")


def _add_discriminator_keys(
    node: CN, what: str, strides, max_mult: int, enabled: bool = True
) -> None:
    _C = node
    # Whether {what} is built and trained.
    _C.ENABLED = enabled
    # Strides of the k4/p1 convs (the last conv gives 1 channel); empty: from the preset.
    _C.STRIDES = strides
    # Channels of the first conv; later convs double it.
    _C.NDF = 64
    # Channel cap of the later convs, in units of NDF.
    _C.MAX_MULT = max_mult
    # "IN" (InstanceNorm, no affine, no running stats) or "none".
    _C.NORM = "IN"


def _get(cfg, path):
    node = cfg
    for p in path.split("."):
        node = node[p]
    return node


def _set(cfg, path, value):
    node = cfg
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value


def resolve_mman_config(cfg: CN) -> CN:
    """A clone of ``cfg`` with every preset-dependent key left empty filled from the preset.

    Idempotent; the input is not modified. Raises ``ValueError`` on an unknown preset.
    """
    preset = cfg.MODEL.MMAN.PRESET
    if preset not in PRESET_NAMES:
        hint = " ('code' was renamed 'default')" if preset == "code" else ""
        raise ValueError(f"MODEL.MMAN.PRESET must be one of {PRESET_NAMES}, got {preset!r}{hint}")
    out = cfg.clone()
    was_frozen = out.is_frozen()
    out.defrost()
    for path, (empty, values) in MMAN_PRESETS.items():
        value = _get(out, path)
        if value == empty or (isinstance(empty, tuple) and len(value) == 0):
            _set(out, path, values[preset])
    if len(out.MODEL.MMAN.MID.STRIDES) == 0:
        out.MODEL.MMAN.MID.STRIDES = tuple(out.MODEL.MMAN.MICRO.STRIDES)
    for path, allowed in _CHOICES.items():
        if _get(out, path) not in allowed:
            raise ValueError(f"{path} must be one of {allowed}, got {_get(out, path)!r}")
    if len(out.MODEL.MMAN.LOSS_WEIGHTS) != 4:
        raise ValueError(
            "MODEL.MMAN.LOSS_WEIGHTS must have 4 entries (macro adv, CE low-res, micro adv, CE "
            f"high-res), got {tuple(out.MODEL.MMAN.LOSS_WEIGHTS)}"
        )
    if was_frozen:
        out.freeze()
    return out
