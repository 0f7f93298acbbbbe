"""humanparse_d2.data: dataset catalogs, synthetic humans, parsing mappers and affine crops.

Importing this package registers every built-in dataset name (contract A) in detectron2's
``DatasetCatalog`` / ``MetadataCatalog`` and the mappers in :data:`MAPPERS`.
"""
from humanparse_core import metadata, synthetic  # noqa: F401
from .affine import (  # noqa: F401
    apply_affine_to_points,
    compose_hflip,
    expand_boxes_to_aspect,
    get_affine_matrix,
    invert_affine,
    source_roi,
    warp_crop,
)
from .config import add_data_config  # noqa: F401
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
from .mappers import (  # noqa: F401
    MAPPERS,
    InstanceParsingMapper,
    SinglePersonParsingMapper,
    WholeImageParsingMapper,
    flatten_persons,
    load_person_label,
    register_mapper,
)
from humanparse_core.metadata import make_flip_lut, parsing_metadata  # noqa: F401
from humanparse_core.synthetic import ensure_synthetic, generate_dataset, render_scene  # noqa: F401
from .transforms import (  # noqa: F401
    AffineCropTransform,
    MMANRandomGeometry,
    ProcessRNG,
    RandomPersonCrop,
    apply_flip_lut,
    is_flipped,
)

__all__ = [k for k in globals() if not k.startswith("_")]
