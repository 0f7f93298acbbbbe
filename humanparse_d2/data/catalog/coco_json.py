"""QANet-style COCO parsing JSON (interchange format): load and export.

Layout: ``<split_dir>/{Images,Category_ids,Human_ids,Instance_ids}`` and a JSON with ``images``
(id, file_name relative to Images/, width, height), ``annotations`` (id, image_id, category_id 1,
bbox [x,y,w,h], area, iscrowd, parsing_id) and ``categories``. Label paths are derived explicitly
(``Category_ids/<file_name stem>.png``, sub-folders kept) rather than by string replacement.
"""

import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
from detectron2.structures import BoxMode

from .common import BadAnnotationError, DatasetNotFoundError, read_label
from .records import (
    check_label_size,
    check_label_values,
    image_record,
    load_records,
    person_annotation,
)

logger = logging.getLogger(__name__)

__all__ = ["load_parsing_json", "export_parsing_json"]


def _label_path(split_dir: Path, folder: str, file_name: str) -> Path:
    return (split_dir / folder / file_name).with_suffix(".png")


def _json_annotations(anns: list[dict], human: np.ndarray, hum_f: Path, image_id):
    """Persons of one JSON image -> (annotations, [(reason, detail), ...]).

    Zero-area boxes and ``parsing_id`` values absent from the Human_ids map (H, W) are skipped.
    """
    out, issues = [], []
    for a in anns:
        x, y, bw, bh = [float(v) for v in a["bbox"]]
        if bw <= 0 or bh <= 0 or a.get("area", 1) <= 0:
            issues.append(("zero-area box", f"image {image_id} annotation {a.get('id')}"))
            continue
        pid = int(a["parsing_id"])
        m = human == pid
        if not m.any():
            issues.append(("parsing_id absent from Human_ids", f"{hum_f}: id {pid}"))
            continue
        out.append(person_annotation(m, pid, [x, y, bw, bh], iscrowd=int(a.get("iscrowd", 0))))
    return out, issues


def _load_json_image(im: dict, anns: list[dict], split_dir: Path, num_classes: int):
    """One JSON ``images`` entry and its annotations -> (record or None, [(reason, detail)])."""
    rec, skipped = image_record(split_dir / "Images", im["file_name"], im["id"], exact=True)
    if rec is None:
        return None, skipped
    h, w = rec["height"], rec["width"]
    if (im.get("height"), im.get("width")) not in ((h, w), (None, None)):
        return None, [
            (
                "size in JSON differs from the image",
                f"{rec['file_name']}: json {im.get('width')}x{im.get('height')}, file {w}x{h}",
            )
        ]
    cat_f = _label_path(split_dir, "Category_ids", im["file_name"])
    hum_f = _label_path(split_dir, "Human_ids", im["file_name"])
    ins_f = _label_path(split_dir, "Instance_ids", im["file_name"])
    if not cat_f.is_file():
        if anns:
            return None, [("missing Category_ids label", str(cat_f))]
        return rec, []  # test split: images only
    try:
        cat = read_label(cat_f)
        check_label_size(cat, cat_f, rec)
        check_label_values(cat, num_classes, cat_f)
        human = read_label(hum_f)
        check_label_size(human, hum_f, rec)
    except BadAnnotationError as e:
        return None, [("bad label", str(e))]
    ins_t = ins_f.with_suffix(".txt")
    rec.update(
        sem_seg_file_name=str(cat_f),
        category_file=str(cat_f),
        human_file=str(hum_f),
        instance_file=str(ins_f) if ins_f.is_file() else None,
        instance_txt=str(ins_t) if ins_t.is_file() else None,
    )
    rec["annotations"], issues = _json_annotations(anns, human, hum_f, im["id"])
    return rec, issues


def load_parsing_json(json_file, split_dir, *, num_classes: int, dataset_name: str) -> list[dict]:
    """Instance-parsing dicts (contract A) from a QANet COCO-style JSON plus CIHP-style folders.

    Annotations whose ``parsing_id`` is absent from the Human_ids map, or whose box has zero area,
    are skipped (counted, logged). Images whose files are missing/unreadable are skipped likewise.
    """
    json_file, split_dir = Path(json_file), Path(split_dir)
    if not json_file.is_file():
        raise DatasetNotFoundError(
            f"Dataset '{dataset_name}': {json_file} not found (QANet-style JSON)"
        )
    with open(json_file) as f:
        data = json.load(f)
    anns_by_img = defaultdict(list)
    for a in data.get("annotations", []):
        anns_by_img[a["image_id"]].append(a)
    images = data.get("images", [])
    dicts = load_records(
        lambda im: _load_json_image(im, anns_by_img.get(im["id"], []), split_dir, num_classes),
        images,
        dataset_name,
    )
    if not dicts:
        raise BadAnnotationError(f"Dataset '{dataset_name}': no usable image in {json_file}")
    return dicts


def export_parsing_json(dicts: list[dict], out_file, images_root=None) -> dict:
    """Write dataset dicts as the QANet COCO-style JSON; returns the JSON dict.

    ``file_name`` is written relative to ``images_root`` (default: each image's folder).
    """
    images, anns = [], []
    ids = {}
    for i, d in enumerate(dicts, start=1):
        ids[d["image_id"]] = i
        fn = Path(d["file_name"])
        rel = fn.relative_to(images_root).as_posix() if images_root else fn.name
        images.append({"id": i, "file_name": rel, "width": d["width"], "height": d["height"]})
        for a in d.get("annotations", []):
            box = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYWH_ABS)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": 1,
                    "bbox": [float(v) for v in box],
                    "area": float(a.get("area", box[2] * box[3])),
                    "iscrowd": int(a.get("iscrowd", 0)),
                    "parsing_id": int(a["parsing_id"]),
                }
            )
    data = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with open(out_file, "w") as f:
        json.dump(data, f)
    return data
