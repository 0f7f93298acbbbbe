"""LV-MHP-v2 loader: one PNG per person, class id (0..58) in the R channel.

```
LV-MHP-v2/
  list/ train.txt  val.txt
  train/ images/*.jpg  parsing_annos/<image>_<NN>_<KK>.png      (or annotations/)
  val/   images/*.jpg  parsing_annos/*.png
```
Per image the per-person maps are merged into CIHP-style ``Category_ids`` / ``Human_ids`` (later
persons overwrite earlier ones, the common converter's rule) and ``Instance_ids`` (16-bit PNG, one
region per (person, class), ids ``100 * KK + class``, with the ``<region_id> <class_id> <human_id>``
txt). They are written once under ``<split>/_cihp_style/`` (or the cache folder when the dataset is
read-only). Each annotation keeps its original ``person_file``.

Two ground truths, chosen on purpose:

- training targets (``load_person_label``) are ``Category_ids x (Human_ids == parsing_id)`` of the
  merged maps, as the official QANet code builds them: each pixel belongs to one person;
- the evaluator's AP^p ground truth is each person's own PNG (overlaps kept), as MHP-v2's own
  evaluation defines a person's parsing; the global map (mIoU) and AP^r use the merged maps.
"""

import logging
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from .cache import cached, derived_dir, stat_key, write_png_atomic
from .common import BadAnnotationError, DatasetNotFoundError, read_ids, read_label, require_dir
from .records import (
    check_label_size,
    check_label_values,
    image_record,
    load_records,
    person_annotation,
)

logger = logging.getLogger(__name__)

__all__ = ["load_mhp_v2", "MHP_LAYOUT_DOC"]

MHP_LAYOUT_DOC = """  <root>/   (e.g. $DETECTRON2_DATASETS/LV-MHP-v2)
    list/ train.txt  val.txt
    train/ images/*.jpg  parsing_annos/<image>_<NN>_<KK>.png   ('annotations/' also accepted)
    val/   images/*.jpg  parsing_annos/*.png
  per-person PNGs, class id (0..58) in the R channel"""

NUM_CLASSES = 59


def _index_person_files(ann_dir: Path) -> dict[str, list[Path]]:
    """Image stem -> its per-person PNGs ``<stem>_NN_KK.png``, ordered by KK."""
    groups = defaultdict(list)
    for name in os.listdir(ann_dir):
        if not name.endswith(".png") or len(name) <= 10:
            continue
        groups[name[:-10]].append(ann_dir / name)
    for v in groups.values():
        v.sort(key=lambda p: int(p.name[-6:-4]) if p.name[-6:-4].isdigit() else 0)
    return groups


def _merge_persons(rec: dict, files: list[Path]):
    """Per-person PNGs -> (category (H, W), human (H, W), annotations, issues) or an error.

    Later persons overwrite earlier ones; empty persons are skipped (counted). Returns
    ``(None, None, None, [(reason, detail)])`` when a person PNG is unusable.
    """
    h, w = rec["height"], rec["width"]
    cat = np.zeros((h, w), np.uint8)
    hum = np.zeros((h, w), np.uint8)
    anns, issues = [], []
    for f in files:
        kk = int(f.name[-6:-4]) if f.name[-6:-4].isdigit() else len(anns) + 1
        try:
            lab = read_label(f, channel=0)
            check_label_size(lab, f, rec)
            check_label_values(lab, NUM_CLASSES, f)
        except BadAnnotationError as e:
            return None, None, None, [("bad person annotation", str(e))]
        fg = (lab > 0) & (lab != 255)
        if not fg.any():
            issues.append(
                ("empty person annotation (skipped, as the official evaluator does)", str(f))
            )
            continue
        cat[fg] = lab[fg]
        hum[fg] = kk
        anns.append(person_annotation(fg, kk, person_file=str(f)))
    return cat, hum, anns, issues


def _write_cihp_style(cat: np.ndarray, hum: np.ndarray, files: dict[str, Path]) -> None:
    """Category_ids, Human_ids, 16-bit Instance_ids (ids 100 * KK + class) and the region txt."""
    m = hum > 0
    keys = np.unique(hum[m].astype(np.int32) * 100 + cat[m])
    inst = np.zeros(hum.shape, np.uint16)
    rows = []
    for k in keys:
        kk, c = int(k) // 100, int(k) % 100
        inst[(hum == kk) & (cat == c)] = int(k)
        rows.append(f"{int(k)} {c} {kk}")
    write_png_atomic(files["category_file"], cat)
    write_png_atomic(files["human_file"], hum)
    write_png_atomic(files["instance_file"], inst)  # 16-bit: region count can exceed 255
    ins_t = files["instance_txt"]
    tmp = ins_t.with_name(f"{ins_t.stem}.tmp{os.getpid()}.txt")
    tmp.write_text("\n".join(rows) + "\n")
    os.replace(tmp, ins_t)


def _load_image(stem, image_dir: Path, files: list[Path], out_dirs: dict[str, Path]):
    """One image and its person PNGs -> (record or None, [(reason, detail), ...])."""
    rec, skipped = image_record(image_dir, stem)
    if rec is None:
        return None, skipped
    if not files:
        return None, [("no per-person annotation", f"{stem}_NN_KK.png")]
    issues = []
    nn = files[0].name[-9:-7]
    if nn.isdigit() and int(nn) != len(files):
        issues.append(("person files missing", f"{stem}: NN={nn}, found {len(files)}"))
    cat, hum, anns, more = _merge_persons(rec, files)
    if cat is None:
        return None, more
    issues += more
    if not anns:
        return None, issues + [("image without any non-empty person", stem)]
    out = {
        "category_file": out_dirs["Category_ids"] / f"{stem}.png",
        "human_file": out_dirs["Human_ids"] / f"{stem}.png",
        "instance_file": out_dirs["Instance_ids"] / f"{stem}.png",
        "instance_txt": out_dirs["Instance_ids"] / f"{stem}.txt",
    }
    if not all(f.is_file() for f in out.values()):
        _write_cihp_style(cat, hum, out)
    rec["sem_seg_file_name"] = str(out["category_file"])
    rec.update({k: str(v) for k, v in out.items()})
    rec["annotations"] = anns
    return rec, issues


def load_mhp_v2(root, split: str = "train", *, dataset_name: str = "mhp_v2") -> list[dict]:
    """Instance-parsing dicts of one MHP-v2 split ("train" or "val") from the raw release."""
    root = require_dir(root, dataset_name, MHP_LAYOUT_DOC)
    split_dir = require_dir(root / split, dataset_name, MHP_LAYOUT_DOC)
    image_dir = require_dir(split_dir / "images", dataset_name, MHP_LAYOUT_DOC)
    ann_dir = split_dir / "parsing_annos"
    if not ann_dir.is_dir():
        ann_dir = require_dir(split_dir / "annotations", dataset_name, MHP_LAYOUT_DOC)
    list_file = root / "list" / f"{split}.txt"
    groups = _index_person_files(ann_dir)
    if list_file.is_file():
        stems = read_ids(list_file)
    else:
        logger.warning("%s: %s not found; using every annotated image", dataset_name, list_file)
        stems = sorted(groups)
    if not stems:
        raise DatasetNotFoundError(f"Dataset '{dataset_name}': no image listed in {list_file}")
    out_root = derived_dir(split_dir, "_cihp_style")
    out_dirs = {}
    for sub in ("Category_ids", "Human_ids", "Instance_ids"):
        out_dirs[sub] = out_root / sub
        out_dirs[sub].mkdir(parents=True, exist_ok=True)

    def build():
        return load_records(
            lambda s: _load_image(s, image_dir, groups.get(s, []), out_dirs), stems, dataset_name
        )

    key = ("mhp_v2_v1", split, len(stems)) + stat_key(list_file, image_dir, ann_dir, out_root)
    dicts = cached(key, build)
    if not dicts:
        raise BadAnnotationError(
            f"Dataset '{dataset_name}': no usable image in {split_dir}; see the warnings"
        )
    logger.info(
        "Loaded %d images (%d persons) of %s",
        len(dicts),
        sum(len(d["annotations"]) for d in dicts),
        dataset_name,
    )
    return dicts
