"""CIHP-layout loader: ``Images/ Category_ids/ Human_ids/ Instance_ids/`` + ``<split>_id.txt``.

Used for CIHP, the synthetic multi-person set, the prepared PASCAL-Person-Part layout and custom
multi-person folders. Person boxes and masks (RLE) come from ``Human_ids``; the per-person GT map is
``Category_ids * (Human_ids == parsing_id)`` and is read lazily by the mappers.
"""

import logging
from pathlib import Path

from .cache import cached, stat_key
from .common import (
    BadAnnotationError,
    DatasetNotFoundError,
    list_image_stems,
    read_ids,
    read_label,
    require_dir,
)
from .records import (
    check_label_size,
    check_label_values,
    image_record,
    load_records,
    person_annotations,
)

logger = logging.getLogger(__name__)

__all__ = ["load_cihp_layout", "load_instance_folders", "read_instance_txt", "CIHP_LAYOUT_DOC"]

CIHP_LAYOUT_DOC = """  <root>/
    Training/   Images/*.jpg  Category_ids/*.png  Human_ids/*.png  Instance_ids/*.png (+ *.txt)  train_id.txt
    Validation/ Images/*.jpg  Category_ids/*.png  Human_ids/*.png  Instance_ids/*.png (+ *.txt)  val_id.txt
  (official 'instance-level_human_parsing' archive of CIHP)"""


def read_instance_txt(path) -> list[tuple[int, int, int]]:
    """Lines ``<region_id> <class_id> <human_id>`` as a list of int triples."""
    rows = []
    with open(path) as f:
        for i, line in enumerate(f):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 3:
                raise BadAnnotationError(
                    f"{path}:{i + 1}: expected '<region_id> <class_id> <human_id>'"
                )
            rows.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return rows


def _check_instance_txt(txt, anns: list[dict], num_classes: int) -> tuple[bool, list]:
    """Rows of the region txt against the persons found: (usable, [(reason, detail), ...]).

    Persons listed in the txt but absent from Human_ids are counted (their regions are dropped);
    a class id outside [0, C) makes the image unusable.
    """
    try:
        rows = read_instance_txt(txt)
    except (BadAnnotationError, ValueError) as e:
        return False, [("bad Instance_ids txt", f"{txt}: {e}")]
    issues = []
    present = {a["parsing_id"] for a in anns}
    absent = sorted({r[2] for r in rows if r[2] not in present and r[2] != 0})
    if absent:
        issues.append(
            ("person id listed in Instance txt but absent from Human_ids", f"{txt}: ids {absent}")
        )
    bad_cls = sorted({r[1] for r in rows if not 0 <= r[1] < num_classes})
    if bad_cls:
        return False, [("bad Instance_ids txt", f"{txt}: class ids {bad_cls} out of range")]
    return True, issues


def _optional_file(folder: Path | None, name: str) -> str | None:
    p = folder / name if folder else None
    return str(p) if p is not None and p.is_file() else None


def _load_one(stem: str, dirs: dict[str, Path], num_classes: int, require_labels: bool):
    """One image -> (record or None, [(reason, detail), ...])."""
    rec, skipped = image_record(dirs["image"], stem)
    if rec is None:
        return None, skipped
    cat_file = dirs["category"] / f"{stem}.png"
    if not cat_file.is_file():
        if require_labels:
            return None, [("missing Category_ids label", str(cat_file))]
        return rec, []
    try:
        cat = read_label(cat_file)
        check_label_size(cat, cat_file, rec)
        check_label_values(cat, num_classes, cat_file)
    except BadAnnotationError as e:
        return None, [("bad Category_ids label", str(e))]
    rec["sem_seg_file_name"] = str(cat_file)
    rec["category_file"] = str(cat_file)
    rec["instance_file"] = _optional_file(dirs.get("instance"), f"{stem}.png")
    rec["instance_txt"] = _optional_file(dirs.get("instance"), f"{stem}.txt")
    human_file = dirs["human"] / f"{stem}.png" if dirs.get("human") else None
    if human_file is None or not human_file.is_file():
        if require_labels and dirs.get("human") is not None and dirs["human"].is_dir():
            return None, [("missing Human_ids label", str(human_file))]
        rec["human_file"] = None
        rec["annotations"] = []
        return rec, []
    try:
        human = read_label(human_file)
        check_label_size(human, human_file, rec)
    except BadAnnotationError as e:
        return None, [("bad Human_ids label", str(e))]
    rec["human_file"] = str(human_file)
    anns, _ = person_annotations(human)
    issues = []
    if rec["instance_txt"] is not None:
        usable, issues = _check_instance_txt(rec["instance_txt"], anns, num_classes)
        if not usable:
            return None, issues
    rec["annotations"] = anns
    return rec, issues


def load_instance_folders(
    image_dir,
    category_dir,
    human_dir=None,
    instance_dir=None,
    split_file=None,
    *,
    num_classes: int,
    dataset_name: str,
    require_labels: bool = True,
    layout_doc: str = CIHP_LAYOUT_DOC,
) -> list[dict]:
    """Instance-parsing dicts from explicit folders (images, Category_ids, optional Human/Instance_ids).

    Images and labels are paired by file stem. Without ``human_dir`` the records have no persons
    (``annotations`` = []). Bad inputs (missing/unreadable/mis-sized files, out-of-range values, txt
    rows naming absent persons) are skipped, counted and logged with the first examples; an empty
    result raises.
    """
    dirs = {
        "image": require_dir(image_dir, dataset_name, layout_doc),
        "category": Path(category_dir),
        "human": Path(human_dir) if human_dir else None,
        "instance": Path(instance_dir) if instance_dir else None,
    }
    if require_labels:
        require_dir(dirs["category"], dataset_name, layout_doc)
    if split_file is not None:
        split_file = Path(split_file)
        if not split_file.is_file():
            raise DatasetNotFoundError(
                f"Dataset '{dataset_name}': id list {split_file.resolve()} not found. Layout:\n{layout_doc}"
            )
        stems = read_ids(split_file)
    else:
        stems = list_image_stems(dirs["image"])

    def build():
        return load_records(
            lambda s: _load_one(s, dirs, num_classes, require_labels), stems, dataset_name
        )

    key = ("instance_folders_v1", dataset_name, num_classes, require_labels, len(stems)) + stat_key(
        split_file, dirs["image"], dirs["category"], dirs["human"], dirs["instance"]
    )
    dicts = cached(key, build)
    if not dicts:
        raise BadAnnotationError(
            f"Dataset '{dataset_name}': no usable image in {dirs['image']} ({len(stems)} listed); see the "
            "warnings above for the skipped files"
        )
    logger.info(
        "Loaded %d images (%d persons) of %s from %s",
        len(dicts),
        sum(len(d.get("annotations", [])) for d in dicts),
        dataset_name,
        dirs["image"],
    )
    return dicts


def load_cihp_layout(
    split_dir,
    split_file=None,
    *,
    num_classes: int = 20,
    dataset_name: str = "cihp",
    require_labels: bool = True,
    layout_doc: str = CIHP_LAYOUT_DOC,
) -> list[dict]:
    """Instance-parsing dataset dicts (contract A) from one split folder of the CIHP layout.

    Args:
        split_dir: e.g. ``CIHP/Training`` holding ``Images/ Category_ids/ Human_ids/ Instance_ids/``.
        split_file: id list (one stem per line); default: every file in ``Images/``.
        num_classes: C; Category values must be < C or 255.
        require_labels: skip (count + log) images whose Category PNG is missing; False for
            unlabelled test splits.
    """
    split_dir = require_dir(split_dir, dataset_name, layout_doc)
    return load_instance_folders(
        split_dir / "Images",
        split_dir / "Category_ids",
        split_dir / "Human_ids",
        split_dir / "Instance_ids",
        split_file,
        num_classes=num_classes,
        dataset_name=dataset_name,
        require_labels=require_labels,
        layout_doc=layout_doc,
    )
