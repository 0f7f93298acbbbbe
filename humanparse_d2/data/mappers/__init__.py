"""Dataset mappers for human parsing, registered by name in :data:`PARSING_MAPPER_REGISTRY`.

- :class:`InstanceParsingMapper`: top-down training, one sample per PERSON (QANet).
- :class:`WholeImageParsingMapper`: detectron2-style whole image with boxes, masks and per-person
  parsing maps (detector + parser training, evaluation, oracle boxes).
- :class:`SinglePersonParsingMapper`: whole-image single-person parsing (MMAN), its training
  geometry taken from :data:`SINGLE_PERSON_GEOMETRY_REGISTRY`.

All mappers follow detectron2's image convention: "image" is (3, H, W) uint8 in ``INPUT.FORMAT``
and the model normalises it (``MODEL.PIXEL_MEAN/STD``). They are ``@configurable``
(``Mapper(cfg, is_train)`` or explicit keyword arguments), never return ``None`` and raise
:class:`BadAnnotationError` naming the file for unreadable inputs. Left/right labels are swapped
on every horizontal flip with the record's dataset ``flip_lut`` (:mod:`humanparse_d2.data.flip`).
"""

from .common import PARSING_MAPPER_REGISTRY, build_parsing_mapper, read_record_image  # noqa: F401
from .instance_parsing import InstanceParsingMapper, flatten_persons  # noqa: F401
from .single_person import SINGLE_PERSON_GEOMETRY_REGISTRY, SinglePersonParsingMapper  # noqa: F401
from .whole_image import WholeImageParsingMapper  # noqa: F401

__all__ = [
    "PARSING_MAPPER_REGISTRY",
    "SINGLE_PERSON_GEOMETRY_REGISTRY",
    "build_parsing_mapper",
    "read_record_image",
    "flatten_persons",
    "InstanceParsingMapper",
    "WholeImageParsingMapper",
    "SinglePersonParsingMapper",
]
