"""Registration of the built-in dataset names (contract A) under ``$DETECTRON2_DATASETS``.

| Name | Folder under $DETECTRON2_DATASETS | Kind |
|---|---|---|
| cihp_train / cihp_val (+ cihp_test, images only) | CIHP/ (or instance-level_human_parsing/) | instance parsing |
| mhp_v2_train / mhp_v2_val | LV-MHP-v2/ | instance parsing (per-person PNGs) |
| lip_train / lip_val | LIP/ | semantic, single person |
| pascal_person_part_train / _test | PASCAL-Person-Part/ (prepared) or pascal_person_part/ | instance or semantic |
| ppss_train / ppss_test | PPSS/ | semantic, LIP->PPSS merge metadata |
| synth_humans_train / _val | synth_humans/ (generated on first use) | instance parsing, CIHP layout |
| synth_lip_train / _val | synth_lip/ (generated on first use) | semantic, LIP layout |
| cihp_{train,val}_json, lip_{train,val}_json, pascal_person_part_{train,test}_json | <DS>/annotations/<DS>_<split>.json | QANet JSON |

Roots are resolved when a dataset is loaded, so changing ``$DETECTRON2_DATASETS`` after import works
for loading; the metadata ``dataset_root`` records the root seen at import.
"""

import functools
import logging
from pathlib import Path

from detectron2.data import DatasetCatalog, MetadataCatalog

from humanparse_core.metadata import DATASET_FAMILIES, LIP_TO_PPSS_LUT, parsing_metadata
from humanparse_core.synthetic import SYNTH_DEFAULTS, ensure_synthetic

from .cihp import load_cihp_layout
from .coco_json import load_parsing_json
from .common import datasets_root
from .lip import load_lip
from .mhp import load_mhp_v2
from .ppp import load_ppp_prepared, load_ppp_semantic, ppp_prepared_split_dir
from .ppss import load_ppss

logger = logging.getLogger(__name__)

__all__ = ["register_all", "BUILTIN_DATASETS", "dataset_root_of"]

_CIHP_SPLITS = {
    "train": ("Training", "train_id.txt"),
    "val": ("Validation", "val_id.txt"),
    "test": ("Testing", "test_id.txt"),
}


def _cihp_root() -> Path:
    d = datasets_root()
    for cand in (
        d / "CIHP",
        d / "instance-level_human_parsing" / "instance-level_human_parsing",
        d / "instance-level_human_parsing",
    ):
        if (cand / "Training").is_dir() or (cand / "Validation").is_dir():
            return cand
    return d / "CIHP"


def dataset_root_of(name: str) -> Path:
    """Folder a built-in dataset is read from (resolved now)."""
    d = datasets_root()
    fam = name.rsplit("_", 1)[0]
    return {
        "cihp": _cihp_root(),
        "mhp_v2": d / "LV-MHP-v2",
        "lip": d / "LIP",
        "pascal_person_part": d / "PASCAL-Person-Part"
        if ppp_prepared_split_dir(d / "PASCAL-Person-Part", "train")
        else d / "pascal_person_part",
        "ppss": d / "PPSS",
        "synth_humans": d / "synth_humans",
        "synth_lip": d / "synth_lip",
    }[fam]


def _load_cihp(split, name):
    sub, ids = _CIHP_SPLITS[split]
    split_dir = _cihp_root() / sub
    return load_cihp_layout(
        split_dir,
        split_dir / ids if (split_dir / ids).is_file() else None,
        num_classes=20,
        dataset_name=name,
        require_labels=split != "test",
    )


def _load_ppp(split, name):
    d = datasets_root()
    if ppp_prepared_split_dir(d / "PASCAL-Person-Part", split) is not None:
        return load_ppp_prepared(d / "PASCAL-Person-Part", split, dataset_name=name)
    return load_ppp_semantic(d / "pascal_person_part", split, dataset_name=name)


def _load_synth(name):
    layout, split, n, seed = SYNTH_DEFAULTS[name]
    root = dataset_root_of(name)
    ensure_synthetic(root, layout, split, n, seed)
    if layout == "cihp":
        sub, ids = _CIHP_SPLITS[split]
        return load_cihp_layout(root / sub, root / sub / ids, num_classes=20, dataset_name=name)
    return load_lip(root, split, dataset_name=name)


def _load_json(family, split, name):
    d = datasets_root()
    folder = {
        "cihp": _cihp_root(),
        "lip": d / "LIP",
        "pascal_person_part": d / "PASCAL-Person-Part",
    }[family]
    tag = {"cihp": "CIHP", "lip": "LIP", "pascal_person_part": "PASCAL-Person-Part"}[family]
    sub = {"train": "Training", "val": "Validation", "test": "Testing"}[split]
    C = len(DATASET_FAMILIES[family][0])
    return load_parsing_json(
        folder / "annotations" / f"{tag}_{split}.json",
        folder / sub,
        num_classes=C,
        dataset_name=name,
    )


def _meta(family, evaluator_type, root, **extra):
    classes, colors, flip = DATASET_FAMILIES[family]
    return parsing_metadata(
        classes,
        colors,
        flip,
        evaluator_type=evaluator_type,
        dataset_root=str(root),
        image_root=str(root),
        **extra,
    )


def _ppp_evaluator_type() -> str:
    return (
        "parsing"
        if ppp_prepared_split_dir(datasets_root() / "PASCAL-Person-Part", "train")
        else "sem_seg"
    )


# name -> (loader, metadata-family, evaluator_type, extra metadata)
BUILTIN_DATASETS = {
    "cihp_train": (functools.partial(_load_cihp, "train", "cihp_train"), "cihp", "parsing", {}),
    "cihp_val": (functools.partial(_load_cihp, "val", "cihp_val"), "cihp", "parsing", {}),
    "cihp_test": (functools.partial(_load_cihp, "test", "cihp_test"), "cihp", "parsing", {}),
    "mhp_v2_train": (
        lambda: load_mhp_v2(dataset_root_of("mhp_v2_train"), "train", dataset_name="mhp_v2_train"),
        "mhp_v2",
        "parsing",
        {},
    ),
    "mhp_v2_val": (
        lambda: load_mhp_v2(dataset_root_of("mhp_v2_val"), "val", dataset_name="mhp_v2_val"),
        "mhp_v2",
        "parsing",
        {},
    ),
    "lip_train": (
        lambda: load_lip(dataset_root_of("lip_train"), "train", dataset_name="lip_train"),
        "lip",
        "sem_seg",
        {"box_source_default": "gt"},
    ),
    "lip_val": (
        lambda: load_lip(dataset_root_of("lip_val"), "val", dataset_name="lip_val"),
        "lip",
        "sem_seg",
        {"box_source_default": "gt"},
    ),
    "pascal_person_part_train": (
        functools.partial(_load_ppp, "train", "pascal_person_part_train"),
        "pascal_person_part",
        None,
        {},
    ),
    "pascal_person_part_test": (
        functools.partial(_load_ppp, "test", "pascal_person_part_test"),
        "pascal_person_part",
        None,
        {},
    ),
    "ppss_train": (
        lambda: load_ppss(dataset_root_of("ppss_train"), "train", dataset_name="ppss_train"),
        "ppss",
        "sem_seg",
        {"label_merge": {"from": "lip", "lut": list(LIP_TO_PPSS_LUT)}, "box_source_default": "gt"},
    ),
    "ppss_test": (
        lambda: load_ppss(dataset_root_of("ppss_test"), "test", dataset_name="ppss_test"),
        "ppss",
        "sem_seg",
        {"label_merge": {"from": "lip", "lut": list(LIP_TO_PPSS_LUT)}, "box_source_default": "gt"},
    ),
    "synth_humans_train": (
        functools.partial(_load_synth, "synth_humans_train"),
        "cihp",
        "parsing",
        {"synthetic": True},
    ),
    "synth_humans_val": (
        functools.partial(_load_synth, "synth_humans_val"),
        "cihp",
        "parsing",
        {"synthetic": True},
    ),
    "synth_lip_train": (
        functools.partial(_load_synth, "synth_lip_train"),
        "lip",
        "sem_seg",
        {"synthetic": True, "box_source_default": "gt"},
    ),
    "synth_lip_val": (
        functools.partial(_load_synth, "synth_lip_val"),
        "lip",
        "sem_seg",
        {"synthetic": True, "box_source_default": "gt"},
    ),
}
for _fam, _splits in (
    ("cihp", ("train", "val")),
    ("lip", ("train", "val")),
    ("pascal_person_part", ("train", "test")),
):
    for _s in _splits:
        _n = f"{_fam}_{_s}_json"
        BUILTIN_DATASETS[_n] = (
            functools.partial(_load_json, _fam, _s, _n),
            _fam,
            "parsing" if _fam != "lip" else "sem_seg",
            {"box_source_default": "gt"} if _fam == "lip" else {},
        )


def _tagged(loader, name):
    """Run ``loader`` and add ``dataset_name`` to every record (mappers pick the flip_lut by it)."""
    dicts = loader()
    for d in dicts:
        d["dataset_name"] = name
    return dicts


def register_all() -> None:
    """Register every built-in name (guarded: importing twice is harmless)."""
    for name, (loader, family, ev, extra) in BUILTIN_DATASETS.items():
        if name not in DatasetCatalog.list():
            DatasetCatalog.register(name, functools.partial(_tagged, loader, name))
        try:
            root = dataset_root_of(name.replace("_json", ""))
        except KeyError:
            root = datasets_root()
        extra = dict(extra)
        extra.setdefault("box_source_default", "detector")
        meta = _meta(family, ev or _ppp_evaluator_type(), root, **extra)
        m = MetadataCatalog.get(name)
        for k, v in meta.items():
            if getattr(m, k, None) != v:
                try:
                    setattr(m, k, v)
                except AssertionError:  # detectron2 refuses to change a set value: keep the first
                    logger.debug("metadata %s.%s already set", name, k)
