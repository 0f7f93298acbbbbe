"""PASCAL-Person-Part loaders.

Semantic release (Chen et al., with DeepLab)::

    pascal_person_part/
      pascal_person_part_gt/<voc_id>.png                 (values 0..6; 'SegmentationPart/' also accepted)
      pascal_person_part_trainval_list/train.txt, val.txt ('val' is the test split)
      JPEGImages/<voc_id>.jpg  (or $DETECTRON2_DATASETS/VOC2010/JPEGImages, VOCdevkit/VOC20xx/JPEGImages)

Prepared instance-level layout (QANet / PGN), used when present::

    PASCAL-Person-Part/{Training,Testing}/{Images,Category_ids,Human_ids,Instance_ids}  (+ *_id.txt)
"""

import logging
from pathlib import Path

from .cihp import load_cihp_layout
from .common import DatasetNotFoundError, datasets_root, read_ids, require_dir
from .lip import load_semantic_pairs

logger = logging.getLogger(__name__)

__all__ = ["load_ppp_semantic", "load_ppp_prepared", "ppp_prepared_split_dir", "PPP_LAYOUT_DOC"]

NUM_CLASSES = 7
PPP_LAYOUT_DOC = """  $DETECTRON2_DATASETS/pascal_person_part/
      pascal_person_part_gt/<voc_id>.png            (7-class release; values 0..6)
      pascal_person_part_trainval_list/{train,val}.txt
      JPEGImages/<voc_id>.jpg                        (or $DETECTRON2_DATASETS/VOC2010/JPEGImages
                                                      or VOCdevkit/VOC2010/JPEGImages)
  or the prepared instance layout
  $DETECTRON2_DATASETS/PASCAL-Person-Part/{Training,Testing}/{Images,Category_ids,Human_ids,Instance_ids}"""

_SPLIT_DIRS = {"train": ("Training",), "test": ("Testing", "Validation")}


def ppp_prepared_split_dir(base: Path | None, split: str) -> Path | None:
    """The prepared-layout split folder if it exists, else None."""
    if base is None:
        return None
    for name in _SPLIT_DIRS[split]:
        d = Path(base) / name
        if (d / "Images").is_dir() and (d / "Category_ids").is_dir():
            return d
    return None


def load_ppp_prepared(base, split: str, *, dataset_name: str) -> list[dict]:
    d = ppp_prepared_split_dir(base, split)
    if d is None:
        raise DatasetNotFoundError(
            f"Dataset '{dataset_name}': prepared layout not found under {base}.\n{PPP_LAYOUT_DOC}"
        )
    id_file = None
    for cand in (d / f"{split}_id.txt", d / ("val_id.txt" if split == "test" else "train_id.txt")):
        if cand.is_file():
            id_file = cand
            break
    return load_cihp_layout(
        d, id_file, num_classes=NUM_CLASSES, dataset_name=dataset_name, layout_doc=PPP_LAYOUT_DOC
    )


def _image_dir_candidates(root: Path):
    d = datasets_root()
    return [
        root / "JPEGImages",
        d / "VOC2010" / "JPEGImages",
        d / "VOCdevkit" / "VOC2010" / "JPEGImages",
        d / "VOCdevkit" / "VOC2012" / "JPEGImages",
        d / "VOC2012" / "JPEGImages",
    ]


def load_ppp_semantic(root, split: str, *, dataset_name: str, image_dir=None) -> list[dict]:
    """Semantic dicts of the 7-class release; split "train" or "test" (the release's val list)."""
    root = require_dir(root, dataset_name, PPP_LAYOUT_DOC)
    gt = root / "pascal_person_part_gt"
    if not gt.is_dir():
        gt = require_dir(root / "SegmentationPart", dataset_name, PPP_LAYOUT_DOC)
    lists = require_dir(root / "pascal_person_part_trainval_list", dataset_name, PPP_LAYOUT_DOC)
    list_file = lists / ("train.txt" if split == "train" else "val.txt")
    if not list_file.is_file():
        raise DatasetNotFoundError(
            f"Dataset '{dataset_name}': {list_file} not found.\n{PPP_LAYOUT_DOC}"
        )
    if image_dir is None:
        for cand in _image_dir_candidates(root):
            if cand.is_dir():
                image_dir = cand
                break
        else:
            raise DatasetNotFoundError(
                f"Dataset '{dataset_name}': PASCAL VOC images not found; looked in "
                + ", ".join(str(c) for c in _image_dir_candidates(root))
                + f".\n{PPP_LAYOUT_DOC}"
            )
    stems = read_ids(list_file)
    # multi-person images without instance information: no person annotations
    return load_semantic_pairs(
        stems, image_dir, gt, num_classes=NUM_CLASSES, dataset_name=dataset_name, with_person=False
    )
