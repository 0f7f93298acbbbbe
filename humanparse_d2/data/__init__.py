"""humanparse_d2.data: dataset catalogs, synthetic humans, parsing mappers and affine crops.

Importing this package registers every built-in dataset name (contract A) in detectron2's
``DatasetCatalog`` / ``MetadataCatalog`` and the mappers in :data:`PARSING_MAPPER_REGISTRY`.
"""

from humanparse_core import metadata, synthetic  # noqa: F401
from humanparse_core.metadata import make_flip_lut, parsing_metadata  # noqa: F401
from humanparse_core.synthetic import ensure_synthetic, generate_dataset, render_scene  # noqa: F401

from .affine import (  # noqa: F401
    apply_affine_to_points,
    compose_hflip,
    expand_boxes_to_aspect,
    get_affine_matrix,
    invert_affine,
    source_roi,
    warp_crop,
    warp_window,
)
from .catalog import (  # noqa: F401  (import registers the datasets)
    BUILTIN_DATASETS,
    BadAnnotationError,
    DatasetNotFoundError,
    export_parsing_json,
    load_cihp_layout,
    load_instance_folders,
    load_lip,
    load_mhp_v2,
    load_parsing_json,
    load_ppp_semantic,
    load_ppss,
    read_image,
    read_label,
    register_parsing_dataset,
)
from .config import add_data_config  # noqa: F401
from .flip import FlipLUTs, apply_flip_lut, flip_lut_for  # noqa: F401
from .mappers import (  # noqa: F401
    PARSING_MAPPER_REGISTRY,
    SINGLE_PERSON_GEOMETRY_REGISTRY,
    InstanceParsingMapper,
    SinglePersonParsingMapper,
    WholeImageParsingMapper,
    build_parsing_mapper,
    flatten_persons,
)
from .person_labels import load_person_label  # noqa: F401
from .transforms import (  # noqa: F401
    AffineCropTransform,
    ProcessRNG,
    RandomPersonCrop,
    RandomSquareCrop,
    is_flipped,
)

__all__ = [k for k in globals() if not k.startswith("_")]
