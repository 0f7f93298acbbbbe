"""Ground truth of one image for :func:`~.image_eval.evaluate_image`, from CIHP-layout files.

One loader serves both evaluation paths: the folder evaluator (``<gt_root>/Category_ids``,
``Human_ids``, ``Instance_ids``) and the detectron2 evaluator (the dataset dict's
``category_file``, ``human_file``, ``instance_file``, ``instance_txt``, ``annotations``).
"""

import os
from dataclasses import dataclass

import numpy as np

from ..io import read_label
from .image_inputs import ImageGT
from .person_label import person_from_map
from .submission import SubmissionError, gt_instance_classes_from_maps, read_gt_instance_txt

__all__ = ["GTFiles", "check_size", "load_image_gt"]


@dataclass
class GTFiles:
    """Where the ground truth of one image lies (None: the dataset has no such file).

    ``person_ids`` are the AP^p GT persons: their ids in ``human`` or "all" (every id present);
    ``crowd`` flags them (None: no crowd information). ``person_files`` are per-person PNGs with
    the ids in the R channel (MHP-v2, overlapping persons); default mode uses them instead of
    ``human``.
    """

    name: str  # named in errors
    category: str | None = None  # Category_ids PNG: class per pixel
    human: str | None = None  # Human_ids PNG: person id per pixel
    instance: str | None = None  # Instance_ids PNG: part-region id per pixel
    instance_txt: str | None = None  # region id -> (class, person); else derived from the maps
    person_ids: list[int] | str = "all"
    crowd: list[bool] | None = None
    person_files: list[str] | None = None

    @classmethod
    def cihp(cls, gt_root: str, name: str) -> "GTFiles":
        """The files of image ``name`` under a CIHP-layout ``gt_root``."""

        def sub(d, ext=".png"):
            return os.path.join(gt_root, d, name + ext)

        return cls(
            name,
            sub("Category_ids"),
            sub("Human_ids"),
            sub("Instance_ids"),
            sub("Instance_ids", ".txt"),
        )

    @classmethod
    def from_dataset_dict(cls, d: dict) -> "GTFiles":
        """The files of a dataset dict of this plugin (``sem_seg_file_name`` stands in for a
        missing ``category_file``; AP^p persons are the ``parsing_id`` of ``annotations``)."""
        anns = d.get("annotations", [])
        person_files = [a.get("person_file") for a in anns]
        return cls(
            name=str(d.get("file_name")),
            category=d.get("category_file") or d.get("sem_seg_file_name"),
            human=d.get("human_file"),
            instance=d.get("instance_file"),
            instance_txt=d.get("instance_txt"),
            person_ids=[int(a["parsing_id"]) for a in anns] if anns else [],
            crowd=[bool(a.get("iscrowd", 0)) for a in anns],
            person_files=person_files if anns and all(person_files) else None,
        )


def check_size(arr: np.ndarray, hw: tuple[int, int], path: str) -> None:
    """Raise a SubmissionError naming ``path`` unless ``arr`` is ``hw`` = (H, W)."""
    if arr.shape[:2] != tuple(hw):
        raise SubmissionError(
            f"size mismatch: {path} is {arr.shape[1]}x{arr.shape[0]} (WxH) but the ground truth is "
            f"{hw[1]}x{hw[0]}"
        )


def load_image_gt(
    files: GTFiles, metrics, num_classes: int, *, mode: str = "default", copy: bool = True
) -> ImageGT:
    """Read what ``metrics`` need of one image: ``category`` (H, W) (mIoU, AP^p), ``human``
    (H, W) with ``person_ids`` / ``crowd`` or ``persons`` (AP^p), ``instance`` (H, W) with
    ``instance_classes`` {region id: class} (AP^r), ``human`` (AP^h). ``copy=False`` allows
    read-only arrays (bulk evaluation).
    """

    def read(p):
        return read_label(p, copy=copy)

    need_cat = "mIoU" in metrics or "APp" in metrics
    cat = read(files.category) if need_cat and files.category else None
    need_hum = "APp" in metrics or "APh" in metrics
    hum = read(files.human) if need_hum and files.human else None
    gt = {} if cat is None else {"category": cat}
    if "APp" in metrics:
        gt.update(_person_gt(files, cat, hum, num_classes, mode))
    if "APr" in metrics:
        gt.update(_region_gt(files, cat, read))
    if "APh" in metrics:
        gt["human"] = hum
    return ImageGT(**gt)


def _person_gt(files: GTFiles, cat, hum, num_classes: int, mode: str) -> dict:
    gt = {} if files.crowd is None else {"crowd": files.crowd}
    if mode == "default" and files.person_files:
        # MHP-v2: per-person PNGs (ids in the R channel), overlaps kept
        gt["persons"] = [
            person_from_map(read_label(p, channel=0), num_classes, is_gt=True)
            for p in files.person_files
        ]
        return gt
    if hum is None:
        raise KeyError(f"{files.name}: APp needs human_file (Human_ids) in the dataset dict")
    if cat is not None:
        check_size(cat, hum.shape, files.category)
    gt.update(human=hum, person_ids=files.person_ids)
    return gt


def _region_gt(files: GTFiles, cat, read) -> dict:
    if not files.instance:
        raise KeyError(f"{files.name}: APr needs instance_file (Instance_ids) in the dataset dict")
    inst = read(files.instance)
    if files.instance_txt and os.path.exists(files.instance_txt):
        table = read_gt_instance_txt(files.instance_txt)
    else:
        cat = cat if cat is not None else read(files.category)
        table = gt_instance_classes_from_maps(inst, cat)
    return {"instance": inst, "instance_classes": {k: v[0] for k, v in table.items()}}
