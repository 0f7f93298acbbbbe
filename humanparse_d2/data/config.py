"""Config keys of the data layer (datasets, mappers, augmentation)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_data_config"]


def add_data_config(cfg: CN) -> None:
    """Add the data-layer keys (``INPUT.PARSING``) to ``cfg`` in place."""
    cfg.INPUT.PARSING = CN()
    _add_mapper_names(cfg)
    _add_instance_crop_config(cfg)
    _add_whole_image_config(cfg)
    _add_single_person_config(cfg)


def _add_mapper_names(cfg: CN) -> None:
    """``INPUT.PARSING.MAPPER`` / ``TEST_MAPPER``: the dataset mappers of the loaders."""
    _C = cfg
    # Name of the dataset mapper used by the training loader, registered in
    # humanparse_d2.data.PARSING_MAPPER_REGISTRY ("InstanceParsingMapper",
    # "WholeImageParsingMapper", "SinglePersonParsingMapper", ...); "" keeps detectron2's
    # DatasetMapper. Mappers hand out
    # uint8 images in INPUT.FORMAT; the model normalises them with MODEL.PIXEL_MEAN / PIXEL_STD.
    _C.INPUT.PARSING.MAPPER = ""
    # Mapper of the test loaders (in PARSING_MAPPER_REGISTRY); "" keeps detectron2's default.
    _C.INPUT.PARSING.TEST_MAPPER = ""


def _add_instance_crop_config(cfg: CN) -> None:
    """InstanceParsingMapper: top-down person crops."""
    _C = cfg
    # Output crop size (H, W); QANet uses 512x384 (the QANet configs write it width first).
    _C.INPUT.PARSING.CROP_SIZE = (512, 384)
    # Enlargement of the aspect-corrected person box (QANet code 1.25; the paper reading is 1.0).
    _C.INPUT.PARSING.BOX_EXPAND = 1.25
    # Width/height of the crop box; the short side of each person box is extended to it (384/512).
    _C.INPUT.PARSING.ASPECT_RATIO = 0.75
    # Scale jitter f: box size x s, s = clip(N(1, f), 1-f, 1+f) or U(1-f, 1+f) (see SCALE_MODE).
    _C.INPUT.PARSING.SCALE_FACTOR = 0.3
    # "gaussian_clipped" (QANet code) or "uniform" (the paper's [-30%, +30%]).
    _C.INPUT.PARSING.SCALE_MODE = "gaussian_clipped"
    # Rotation jitter in degrees: clip(N(0, f), -2f, 2f) or U(-f, f) (see ROTATION_MODE).
    _C.INPUT.PARSING.ROTATION_FACTOR = 40.0
    # Probability that a training crop is rotated at all (QANet code 0.6).
    _C.INPUT.PARSING.ROTATION_PROB = 0.6
    # "gaussian_clipped" (QANet code, +-80 deg) or "uniform" (the paper's [-40, 40]).
    _C.INPUT.PARSING.ROTATION_MODE = "gaussian_clipped"
    # Random horizontal flip in training (left/right labels swapped with the dataset's flip_lut).
    _C.INPUT.PARSING.FLIP = True
    # Probability of the horizontal flip when FLIP is on.
    _C.INPUT.PARSING.FLIP_PROB = 0.5


def _add_whole_image_config(cfg: CN) -> None:
    """WholeImageParsingMapper: detector + parser training / evaluation."""
    _C = cfg
    # Also produce gt_masks (BitMasks of each person) next to gt_parsing.
    _C.INPUT.PARSING.WHOLE_IMAGE_MASKS = True


def _add_single_person_config(cfg: CN) -> None:
    """``INPUT.PARSING.SINGLE``, SinglePersonParsingMapper: whole-image single-person training
    (MMAN)."""
    _C = cfg
    _C.INPUT.PARSING.SINGLE = CN()
    # "squash" (resize to LOAD_SIZE x LOAD_SIZE, aspect not kept; MMAN code) or "shortest_edge"
    # (shorter side to LOAD_SIZE; MMAN paper).
    _C.INPUT.PARSING.SINGLE.RESIZE = "squash"
    # Squash size or shorter side before cropping (code 286, paper 288).
    _C.INPUT.PARSING.SINGLE.LOAD_SIZE = 286
    # Square training crop side (MMAN 256); must be a multiple of 16 for the MMAN generator.
    _C.INPUT.PARSING.SINGLE.CROP_SIZE = 256
    # Training geometry, a name in humanparse_d2.data.SINGLE_PERSON_GEOMETRY_REGISTRY: "random"
    # (one random CROP_SIZE crop, MMAN paper) or one a paper package registers; the MMAN package
    # registers "mman", adds its keys and makes it the default.
    _C.INPUT.PARSING.SINGLE.CROP_MODE = "random"
    # Random horizontal flip (probability 0.5) with left/right label swap.
    _C.INPUT.PARSING.SINGLE.FLIP = True
    # Image interpolation of the resizes: "lanczos" (MMAN code) or "bilinear"; labels use nearest.
    _C.INPUT.PARSING.SINGLE.INTERP = "lanczos"
    # Test-time resize: "squash" to TEST_SIZE x TEST_SIZE, "shortest_edge" to TEST_SIZE, or "none".
    _C.INPUT.PARSING.SINGLE.TEST_RESIZE = "squash"
    # Test-time size (MMAN code 256).
    _C.INPUT.PARSING.SINGLE.TEST_SIZE = 256
