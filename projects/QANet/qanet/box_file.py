"""QANet's "file" box source (``MODEL.QANET.BOX_SOURCE file``): person boxes from a COCO
detection-results JSON ``[{image_id, category_id, bbox [x,y,w,h], score}]``, matched to the model
inputs by image id or file stem. Registered in ``boxes.BOX_SOURCE_REGISTRY``.
"""

import json
import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["FileBoxes"]

logger = logging.getLogger(__name__)

BoxList = list[tuple[torch.Tensor, torch.Tensor]]


def _images_json_stems(path: str) -> dict[str, str]:
    """``{str(image id): file stem}`` from a COCO-style json's ``images`` list."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MODEL.QANET.BOX_FILE_IMAGES not found: {path}")
    with open(path) as f:
        images = json.load(f).get("images")
    if not isinstance(images, list) or not images:
        raise ValueError(
            f"MODEL.QANET.BOX_FILE_IMAGES {path}: no 'images' list [{{id, file_name}}]"
        )
    return {str(im["id"]): Path(str(im["file_name"])).stem for im in images}


class FileBoxes:
    """Person boxes from a COCO detection-results JSON.

    A model input finds its boxes by, in this order: its ``image_id`` equal to the file's
    ``image_id`` (datasets registered from the json the file refers to, or string ids); its file
    stem equal to the stem that ``images_json`` (``MODEL.QANET.BOX_FILE_IMAGES``) gives the file's id;
    its numeric file stem equal to the file's integer id (CIHP ``0000001.jpg`` is id 1). If none of
    the first ``CHECK_AFTER`` images finds a box, the ids do not fit the dataset: an error, not an
    AP of 0.
    """

    name = "file"
    CHECK_AFTER = 20

    def __init__(self, path: str, person_ids: Sequence[int] = (1,), images_json: str = ""):
        if not path:
            raise ValueError("MODEL.QANET.BOX_SOURCE is 'file' but MODEL.QANET.BOX_FILE is empty")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"MODEL.QANET.BOX_FILE not found: {path}")
        with open(path) as f:
            try:
                dets = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"MODEL.QANET.BOX_FILE {path} is not valid JSON: {e}") from e
        if isinstance(dets, dict) and "annotations" in dets:
            dets = dets["annotations"]
        if not isinstance(dets, list):
            raise ValueError(f"MODEL.QANET.BOX_FILE {path}: expected a list of detections")
        keep = set(int(i) for i in person_ids)
        stems = _images_json_stems(images_json) if images_json else {}
        self.boxes: dict[str, list[tuple[list[float], float]]] = defaultdict(list)
        categories, n = set(), 0
        for d in dets:
            if "category_id" in d:
                categories.add(int(d["category_id"]))
                if int(d["category_id"]) not in keep:
                    continue
            x, y, w, h = (float(v) for v in d["bbox"])
            entry = ([x, y, x + w, y + h], float(d.get("score", 1.0)))
            raw = str(d["image_id"])
            keys = {"id:" + raw}
            if raw in stems:
                keys.add("stem:" + stems[raw])
            if raw.lstrip("-").isdigit():
                keys.add("num:" + str(int(raw)))
            for k in keys:
                self.boxes[k].append(entry)
            n += 1
        self.path = path
        self.file_ids = sorted({str(d["image_id"]) for d in dets})[:5]
        self.num_images = len({k for k in self.boxes if k.startswith("id:")})
        self.description = (
            f"file ({os.path.basename(path)}: {n} person boxes on {self.num_images} images)"
        )
        self.no_box_hint = (
            f"the image_id of MODEL.QANET.BOX_FILE {path} (e.g. {self.file_ids}) do not match the dataset's images "
            "(give the images json the file refers to as MODEL.QANET.BOX_FILE_IMAGES), "
            f"MODEL.QANET.BOX_FILE_PERSON_IDS {sorted(keep)} are not the file's person ids (it has {sorted(categories)[:10]}), "
            "or MODEL.QANET.TEST.BOX_SCORE_THRESH is above the file's scores"
        )
        if n == 0:
            raise ValueError(f"MODEL.QANET.BOX_FILE {path}: no person box ({self.no_box_hint})")
        self.images_without_boxes = 0
        self._looked = self._matched = 0
        self._missed: list[str] = []
        logger.info("QANet boxes: %s", self.description)

    @classmethod
    def from_config(cls, cfg) -> "FileBoxes":
        q = cfg.MODEL.QANET
        return cls(q.BOX_FILE, q.BOX_FILE_PERSON_IDS, images_json=q.BOX_FILE_IMAGES)

    def lookup(self, inp: dict) -> list[tuple[list[float], float]]:
        """The file's boxes of one model input ([] if it has none)."""
        if "image_id" not in inp and "file_name" not in inp:
            raise ValueError(
                "MODEL.QANET.BOX_SOURCE 'file' needs 'image_id' or 'file_name' in each input"
            )
        keys = ["id:" + str(inp["image_id"])] if "image_id" in inp else []
        if inp.get("file_name"):
            stem = Path(str(inp["file_name"])).stem
            keys.append("stem:" + stem)
            if stem.isdigit():
                keys.append("num:" + str(int(stem)))
        for k in keys:
            if k in self.boxes:
                return self.boxes[k]
        return []

    def __call__(self, inputs: Sequence[dict]) -> BoxList:
        out = []
        for inp in inputs:
            entries = self.lookup(inp)
            self._looked += 1
            if entries:
                self._matched += 1
            else:
                self.images_without_boxes += 1
                if len(self._missed) < 5:
                    self._missed.append(str(inp.get("image_id", inp.get("file_name"))))
            if self._matched == 0 and self._looked >= self.CHECK_AFTER:
                raise ValueError(
                    f"MODEL.QANET.BOX_FILE {self.path}: none of the first {self._looked} images has a box in the "
                    f"file; its image_id (e.g. {self.file_ids}) match no image id / file stem of the dataset "
                    f"(e.g. {self._missed}). Give MODEL.QANET.BOX_FILE_IMAGES, the COCO-style json whose "
                    "'images' [{id, file_name}] the file refers to."
                )
            b = torch.tensor([e[0] for e in entries], dtype=torch.float32).reshape(-1, 4)
            s = torch.tensor([e[1] for e in entries], dtype=torch.float32)
            out.append((b, s))
        return out
