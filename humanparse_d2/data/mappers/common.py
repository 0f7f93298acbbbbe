"""What the parsing mappers share: their registry, the record image reader, the augmentation log."""

import logging

import numpy as np
from detectron2.utils.registry import Registry

from humanparse_core.io import BadAnnotationError, read_image

__all__ = [
    "PARSING_MAPPER_REGISTRY",
    "build_parsing_mapper",
    "read_record_image",
    "log_augmentations",
]

PARSING_MAPPER_REGISTRY = Registry("PARSING_MAPPER")
PARSING_MAPPER_REGISTRY.__doc__ = """
Dataset mappers of human parsing, selected by name with ``INPUT.PARSING.MAPPER`` (training) and
``INPUT.PARSING.TEST_MAPPER`` (test loaders). Each is ``@configurable``: ``Mapper(cfg, is_train)``.
"""


def build_parsing_mapper(name: str, cfg, is_train: bool):
    """``PARSING_MAPPER_REGISTRY.get(name)(cfg, is_train=is_train)``; an unknown name is a KeyError
    that lists the registered ones."""
    if name not in PARSING_MAPPER_REGISTRY:
        key = "MAPPER" if is_train else "TEST_MAPPER"
        raise KeyError(
            f"INPUT.PARSING.{key}={name!r} is not a registered mapper; "
            f"registered: {sorted(n for n, _ in PARSING_MAPPER_REGISTRY)}"
        )
    return PARSING_MAPPER_REGISTRY.get(name)(cfg, is_train=is_train)


def read_record_image(record: dict, fmt: str) -> np.ndarray:
    """The record's image, (H, W, 3) uint8 in ``fmt`` ("RGB"/"BGR"), EXIF ignored (aligned with
    the labels), checked against the record's ``height``/``width``.

    Not detectron2's ``check_image_size``: that one raises ``SizeMismatchError``, which the
    training loader's bad-file guard does not count as a bad file, and fills missing sizes in.
    """
    img = read_image(record["file_name"], fmt)
    h, w = record.get("height"), record.get("width")
    if h is not None and (img.shape[0], img.shape[1]) != (h, w):
        raise BadAnnotationError(
            f"image {record['file_name']} is {img.shape[1]}x{img.shape[0]} "
            f"but its record says {w}x{h}"
        )
    return img


def log_augmentations(mapper, augmentations, is_train: bool) -> None:
    """detectron2's DatasetMapper line: ``[Name] Augmentations used in training: [...]``."""
    mode = "training" if is_train else "inference"
    logging.getLogger(type(mapper).__module__).info(
        "[%s] Augmentations used in %s: %s", type(mapper).__name__, mode, augmentations
    )
