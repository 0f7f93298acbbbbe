"""Config keys of MMAN; every key defaults to the "default" preset.

The three presets are config files, as detectron2's variants are: ``configs/Base-MMAN.yaml`` is
"default", ``configs/Base-MMAN-release.yaml`` ("release", the released code with its bugs) and
``configs/Base-MMAN-paper.yaml`` ("paper", the paper's text) inherit from it and set exactly the
keys that differ (their headers say what each preset is; projects/MMAN/README.md, "Presets", lists
every difference). A config picks its preset by its ``_BASE_`` chain.

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
Multiple AN "has the same architecture with micro D"); ``MMANAdversary`` resolves it.
"""

from detectron2.config import CfgNode as CN

__all__ = ["add_mman_config", "check_mman_config"]

# The preset key of older versions: merging it fails with this hint (yacs's renamed-key error).
_REMOVED_PRESET_KEY = "MODEL.MMAN.PRESET"
_PRESET_HINT = (
    "the MMAN presets are config files now: instead of PRESET release / paper, inherit from "
    "projects/MMAN/configs/Base-MMAN-release.yaml / Base-MMAN-paper.yaml (as the _BASE_ of your "
    "yaml, or as --config-file); the default preset is Base-MMAN.yaml itself "
    '(projects/MMAN/README.md, "Presets")'
)
# allowed values of the keys that name a behaviour
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


def add_mman_config(cfg: CN) -> None:
    """Add the MMAN keys to ``cfg`` in place (plain assignment: calling it twice is harmless).

    ``cfg`` must be the root node: a config that still sets ``MODEL.MMAN.PRESET`` then fails to
    merge (``KeyError``) with a hint naming the base yaml to inherit from instead.
    """
    if not cfg.key_is_renamed(_REMOVED_PRESET_KEY):
        cfg.register_renamed_key(_REMOVED_PRESET_KEY, "_BASE_", _PRESET_HINT)
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
    """``MODEL.MMAN``: the generator and its losses."""
    _C = cfg
    _C.MODEL.MMAN = CN()
    _C.MODEL.MMAN.GENERATOR = CN()
    # "standard" (detectron2 bottlenecks, RESNETS.NORM) or "release" (the released network:
    # conv1,bn1,conv2,bn2,conv3,bn3 without inner ReLU, one ReLU on the block input, pre-ReLU
    # taps, BatchNorm on batch statistics in training and at test; RESNETS.NORM is not read).
    # Base-MMAN-release.yaml: "release".
    _C.MODEL.MMAN.GENERATOR.VARIANT = "standard"
    # Number of classes C including background (LIP 20, PASCAL-Person-Part 7).
    _C.MODEL.MMAN.NUM_CLASSES = 20
    # Label value ignored by every loss (padding, unlabeled pixels, out-of-range labels).
    _C.MODEL.MMAN.IGNORE_VALUE = 255
    # Inputs are padded to a multiple of this (the output stride) and outputs cropped back.
    _C.MODEL.MMAN.SIZE_DIVISIBILITY = 16
    # Discriminators see softmax(TEMPERATURE * logits) (the code's x5 sharpening, computed in fp32);
    # flip/multi-scale inference averages the same sharpened probabilities.
    _C.MODEL.MMAN.TEMPERATURE = 5.0
    # "lsgan" (MSE to 1/0) or "vanilla" (log-loss via BCEWithLogits). Base-MMAN-paper.yaml:
    # "vanilla".
    _C.MODEL.MMAN.GAN_MODE = "lsgan"
    # (macro adversarial, CE low-res, micro adversarial, CE high-res): the release's.
    # Base-MMAN-paper.yaml: the paper's lambda (1, 25, 1, 100).
    _C.MODEL.MMAN.LOSS_WEIGHTS = (1.0, 50.0, 1.0, 250.0)
    # Cross-entropy reduction: "mean" over valid pixels (code) or "sum" (paper Eq. 1, per image).
    _C.MODEL.MMAN.CE_REDUCTION = "mean"
    # Dropout after the InstanceNorm of every decoder level but the top. Base-MMAN-paper.yaml: 0.5.
    _C.MODEL.MMAN.DECODER_DROPOUT = 0.0
    # Init of the new layers: "code" (ConvT Xavier-normal, 1x1/ASPP N(0, 0.01)) or "paper"
    # (N(0, 0.001), zero bias). Base-MMAN-paper.yaml: "paper".
    _C.MODEL.MMAN.INIT = "code"
    # Init of the discriminators' convs: "xavier" (Xavier-normal gain 1 weights, as released),
    # "paper" (N(0, 0.001), zero bias) or "pytorch" (PyTorch's default). Base-MMAN-paper.yaml:
    # "paper".
    _C.MODEL.MMAN.D_INIT = "xavier"
    # Dilations of the three 3x3 ASPP branches of the low-res output (next to one 1x1 branch).
    _C.MODEL.MMAN.ASPP_DILATIONS = (2, 4, 6)


def _add_micro_macro_config(cfg: CN) -> None:
    """``MODEL.MMAN.MICRO`` / ``MACRO``: the two discriminators of MMAN."""
    _C = cfg
    # Micro D: patch discriminator on the full-resolution map (+ RGB). STRIDES (2, 2, 1, 1), the
    # release's 4 convs; Base-MMAN-paper.yaml: the paper's 3 convs (2, 2, 1).
    _C.MODEL.MMAN.MICRO = CN()
    _add_discriminator_keys(_C.MODEL.MMAN.MICRO, "Micro D", (2, 2, 1, 1), 8)

    # Macro D: discriminator on the low-resolution (output stride) map (+ RGB thumbnail). STRIDES
    # (2, 2, 1, 1), the release's; Base-MMAN-paper.yaml: (2, 2, 2, 2), a 1x1 output on 16x16.
    _C.MODEL.MMAN.MACRO = CN()
    _add_discriminator_keys(_C.MODEL.MMAN.MACRO, "Macro D", (2, 2, 1, 1), 8)
    # Downsampling factor of the map Macro D sees; must equal the generator's output stride.
    _C.MODEL.MMAN.MACRO.DOWNSAMPLE = 16
    # Macro D's term in G's step: "live" (gradient reaches G) or "detached" (the release: its input
    # is detached, so Macro D never changes G). Base-MMAN-release.yaml: "detached".
    _C.MODEL.MMAN.MACRO.G_STEP = "live"
    # Macro D's RGB condition: "crop" (area-downsampled final crop) or "precrop" (the release: a
    # LANCZOS thumbnail of the squashed image before the crop, made by the mapper).
    # Base-MMAN-release.yaml: "precrop".
    _C.MODEL.MMAN.MACRO.CONDITION = "crop"


def _add_global_mid_config(cfg: CN) -> None:
    """``MODEL.MMAN.GLOBAL`` / ``MID``: the discriminators of the Single, Double and
    Multiple AN variants."""
    _C = cfg
    # "Global" D on the full-resolution map with a (near-)global field of view: the D of the
    # paper's Single AN (alone) and Double AN (with Micro D, Macro D moved to the top). Not in the
    # released code; designed here (6 stride-2 convs, field 190x190, responses averaged).
    # Base-MMAN-paper.yaml adds a stride-1 conv: field 382, every cell sees all of a 256x256 map.
    _C.MODEL.MMAN.GLOBAL = CN()
    _add_discriminator_keys(_C.MODEL.MMAN.GLOBAL, "the global D", (2,) * 6, 4, enabled=False)
    # Weight of its adversarial term in G's loss.
    _C.MODEL.MMAN.GLOBAL.WEIGHT = 1.0

    # Multiple AN: a third, micro-style D on the stride-4 (64x64 for 256 input) map after the 3rd
    # deconvolution, read out by an extra 1x1 classifier. The paper is silent on supervising that
    # classifier; it gets a CE term besides the GAN term.
    _C.MODEL.MMAN.MID = CN()
    # Its STRIDES left empty: Micro D's, in every preset (the paper: "the same architecture with
    # micro D"); resolved where the adversary is built.
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
    # Adam betas of G (the release's). Base-MMAN-paper.yaml: (0.9, 0.999).
    _C.SOLVER.MMAN_G.BETAS = (0.5, 0.999)
    # LR factor of the pretrained encoder relative to the new layers. Base-MMAN-paper.yaml: 1.0
    # (one LR for all layers).
    _C.SOLVER.MMAN_G.BACKBONE_LR_FACTOR = 0.1


def _add_discriminator_solver_config(cfg: CN) -> None:
    """``SOLVER.MMAN_D``: the discriminators' optimiser and update schedule."""
    _C = cfg
    # Discriminator optimiser (Adam); its LR follows the same schedule (SOLVER.STEPS ...) as G.
    _C.SOLVER.MMAN_D = CN()
    # LR of every discriminator.
    _C.SOLVER.MMAN_D.BASE_LR = 2e-4
    # Adam betas of the discriminators (the release's). Base-MMAN-paper.yaml: (0.9, 0.999).
    _C.SOLVER.MMAN_D.BETAS = (0.5, 0.999)
    # L2 weight decay of the discriminators.
    _C.SOLVER.MMAN_D.WEIGHT_DECAY = 1e-4
    # D steps on iterations with iter % UPDATE_PERIOD == 0 (same on every rank).
    # Base-MMAN-paper.yaml: 1 (every iteration).
    _C.SOLVER.MMAN_D.UPDATE_PERIOD = 10
    # "period": D steps when iter % UPDATE_PERIOD == 0; "random": with probability 1/UPDATE_PERIOD
    # (the release's random.random() < 0.1), drawn from (SEED, iter) so every rank agrees.
    # Base-MMAN-release.yaml: "random".
    _C.SOLVER.MMAN_D.UPDATE_MODE = "period"


def _add_test_config(cfg: CN) -> None:
    """``TEST.MMAN``: multi-scale and flip inference."""
    _C = cfg
    _C.TEST.MMAN = CN()
    # Test scales relative to the input size (each padded to a multiple of 16, cropped back).
    # Base-MMAN-paper.yaml: (0.8, 1.0, 1.2).
    _C.TEST.MMAN.SCALES = (0.75, 1.0, 1.25)
    # Add horizontally flipped passes (un-flipped, left/right channels swapped by the train
    # dataset's metadata flip_lut).
    _C.TEST.MMAN.FLIP = True
    # 1: the rescaled passes are resized back with align_corners=True (the release ran PyTorch
    # 0.3, whose bilinear nn.Upsample had those semantics); 0: align_corners=False.
    # Base-MMAN-release.yaml: 1.
    _C.TEST.MMAN.ALIGN_CORNERS = 0


def _add_discriminator_keys(
    node: CN, what: str, strides, max_mult: int, enabled: bool = True
) -> None:
    _C = node
    # Whether {what} is built and trained.
    _C.ENABLED = enabled
    # Strides of the k4/p1 convs (the last conv gives 1 channel); per D and preset: above.
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


def check_mman_config(cfg: CN) -> None:
    """Raise ``ValueError`` on an MMAN key outside its allowed values or ``LOSS_WEIGHTS`` without
    4 entries. Called by the modules that read them (model, adversary, backbone, trainer)."""
    for path, allowed in _CHOICES.items():
        if _get(cfg, path) not in allowed:
            raise ValueError(f"{path} must be one of {allowed}, got {_get(cfg, path)!r}")
    if len(cfg.MODEL.MMAN.LOSS_WEIGHTS) != 4:
        raise ValueError(
            "MODEL.MMAN.LOSS_WEIGHTS must have 4 entries (macro adv, CE low-res, micro adv, CE "
            f"high-res), got {tuple(cfg.MODEL.MMAN.LOSS_WEIGHTS)}"
        )
