"""Dataset loaders (official raw layouts) and the built-in registrations."""

from .builtin import BUILTIN_DATASETS, dataset_root_of, register_all
from .cihp import load_cihp_layout, load_instance_folders, read_instance_txt
from .coco_json import export_parsing_json, load_parsing_json
from .common import BadAnnotationError, DatasetNotFoundError, datasets_root, read_image, read_label
from .custom import register_parsing_dataset
from .lip import load_lip
from .mhp import load_mhp_v2
from .ppp import load_ppp_prepared, load_ppp_semantic
from .ppss import load_ppss, ppss_gray_to_label

register_all()

__all__ = [
    "BUILTIN_DATASETS",
    "BadAnnotationError",
    "DatasetNotFoundError",
    "dataset_root_of",
    "datasets_root",
    "export_parsing_json",
    "load_cihp_layout",
    "load_instance_folders",
    "load_lip",
    "load_mhp_v2",
    "load_parsing_json",
    "load_ppp_prepared",
    "load_ppp_semantic",
    "load_ppss",
    "ppss_gray_to_label",
    "read_image",
    "read_instance_txt",
    "read_label",
    "register_all",
    "register_parsing_dataset",
]
