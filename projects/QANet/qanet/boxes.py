"""Where QANet's person boxes come from at test time (``MODEL.QANET.BOX_SOURCE``).

- ``DetectorBoxes``: any detectron2 model (yaml CfgNode config or LazyConfig ``.py``) with its own
  weights; only the person class is kept.
- ``FileBoxes``: a COCO detection-results JSON ``[{image_id, category_id, bbox [x,y,w,h], score}]``.
- ``OracleBoxes``: ground-truth person boxes with score 1.0 (labelled "oracle" everywhere).
- ``WholeImageBoxes``: one box covering the image, score 1.0 (single-person images, demos).

There is no fallback between them: a source that cannot deliver raises with the reason.
Each source maps a list of model inputs (detectron2 dicts) to a list of ``(boxes (N,4) XYXY in
original image coordinates, scores (N,))``.
"""
import json
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

__all__ = ["build_box_source", "DetectorBoxes", "FileBoxes", "OracleBoxes", "WholeImageBoxes", "BOX_SOURCES"]

logger = logging.getLogger(__name__)

BoxList = List[Tuple[torch.Tensor, torch.Tensor]]
BOX_SOURCES = ("detector", "file", "oracle", "whole_image")


def _orig_hw(inp: Dict) -> Tuple[int, int]:
    img = inp.get("image")
    h = inp.get("height", img.shape[-2] if img is not None else None)
    w = inp.get("width", img.shape[-1] if img is not None else None)
    return int(h), int(w)


class OracleBoxes:
    """Ground-truth boxes, score 1.0. Reads ``gt_boxes`` (QANet test mapper), ``instances.gt_boxes``
    (detectron2 mappers) or ``annotations`` (raw dataset dicts)."""

    name = "oracle"
    description = "oracle (ground-truth person boxes, score 1.0)"
    no_box_hint = "the images have no (non-crowd) person annotation; check the dataset's annotations"

    def __call__(self, inputs: Sequence[Dict]) -> BoxList:
        out = []
        for inp in inputs:
            boxes = self._gt_boxes(inp)
            out.append((boxes, torch.ones(boxes.shape[0])))
        return out

    @staticmethod
    def _gt_boxes(inp: Dict) -> torch.Tensor:
        if "gt_boxes" in inp:
            return torch.as_tensor(inp["gt_boxes"], dtype=torch.float32).reshape(-1, 4)
        inst = inp.get("instances")
        if inst is not None and inst.has("gt_boxes"):
            boxes = inst.gt_boxes.tensor.float()
            img = inp.get("image")
            h, w = _orig_hw(inp)
            if img is not None and (img.shape[-2], img.shape[-1]) != (h, w):  # mapper resized the image
                sx, sy = w / img.shape[-1], h / img.shape[-2]
                boxes = boxes * boxes.new_tensor([sx, sy, sx, sy])
            return boxes
        if "annotations" in inp:
            from detectron2.structures import BoxMode

            boxes = [
                BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS)
                for a in inp["annotations"]
                if not a.get("iscrowd", 0) and a.get("category_id", 0) == 0
            ]
            return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        raise ValueError(
            "MODEL.QANET.BOX_SOURCE is 'oracle' but the input has no ground truth (no 'gt_boxes', "
            "'instances' or 'annotations'). Oracle boxes need an annotated dataset; use the "
            "'detector', 'file' or 'whole_image' box source for images without annotations."
        )


class WholeImageBoxes:
    name = "whole_image"
    description = "whole_image (one box = the image, score 1.0)"
    no_box_hint = "degenerate image sizes (height or width 0)"

    def __call__(self, inputs: Sequence[Dict]) -> BoxList:
        out = []
        for inp in inputs:
            h, w = _orig_hw(inp)
            out.append((torch.tensor([[0.0, 0.0, float(w), float(h)]]), torch.ones(1)))
        return out


def _images_json_stems(path: str) -> Dict[str, str]:
    """``{str(image id): file stem}`` from a COCO-style json's ``images`` list."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MODEL.QANET.BOX_FILE_IMAGES not found: {path}")
    with open(path) as f:
        images = json.load(f).get("images")
    if not isinstance(images, list) or not images:
        raise ValueError(f"MODEL.QANET.BOX_FILE_IMAGES {path}: no 'images' list [{{id, file_name}}]")
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
        self.boxes: Dict[str, List[Tuple[List[float], float]]] = defaultdict(list)
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
        self.description = f"file ({os.path.basename(path)}: {n} person boxes on {self.num_images} images)"
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
        self._missed: List[str] = []
        logger.info("QANet boxes: %s", self.description)

    def lookup(self, inp: Dict) -> List[Tuple[List[float], float]]:
        """The file's boxes of one model input ([] if it has none)."""
        if "image_id" not in inp and "file_name" not in inp:
            raise ValueError("MODEL.QANET.BOX_SOURCE 'file' needs 'image_id' or 'file_name' in each input")
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

    def __call__(self, inputs: Sequence[Dict]) -> BoxList:
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


def _resolve_detector_config(path: str) -> str:
    if os.path.isfile(path):
        return path
    import detectron2

    zoo = os.path.join(os.path.dirname(detectron2.__file__), "model_zoo", "configs", path)
    if os.path.isfile(zoo):
        return zoo
    raise FileNotFoundError(
        f"MODEL.QANET.DETECTOR.CONFIG_FILE {path!r} is neither a file nor a detectron2 model-zoo config"
    )


class DetectorBoxes:
    """Run a detectron2 detector and keep its person detections.

    The detector is kept outside the QANet module tree, so QANet checkpoints hold only the parser
    and the detector loads its own ``WEIGHTS``. Empty weights or a local file that does not exist
    fail when the model is built; a URL (``detectron2://``, ``https://``) is fetched, and the
    detector built, by :meth:`prepare` when the model is switched to eval mode (before any
    progress bar), so that an offline machine fails there with the alternatives named.
    """

    name = "detector"
    ALTERNATIVES = (
        "Alternatives: a local weights file as MODEL.QANET.DETECTOR.WEIGHTS, a box file "
        "(MODEL.QANET.BOX_SOURCE file, MODEL.QANET.BOX_FILE; tools/demo.py --box-file), or one box per image "
        "(MODEL.QANET.BOX_SOURCE whole_image; tools/demo.py --whole-image-box)."
    )

    def __init__(
        self,
        config_file: str,
        weights: str,
        *,
        opts: Sequence[str] = (),
        person_class: int = 0,
        score_thresh: float = 0.0,
    ):
        self.config_file = _resolve_detector_config(config_file)
        self.weights = weights
        self.opts = list(opts)
        self.person_class = int(person_class)
        self.score_thresh = float(score_thresh)
        self.description = f"detector ({os.path.basename(config_file)}, weights {weights or 'none'})"
        self.no_box_hint = (
            f"the detector finds no person: MODEL.QANET.DETECTOR.PERSON_CLASS {self.person_class} is not its person "
            f"class, MODEL.QANET.DETECTOR.SCORE_THRESH {self.score_thresh:g} is too high, or "
            f"MODEL.QANET.DETECTOR.WEIGHTS {weights!r} do not fit MODEL.QANET.DETECTOR.CONFIG_FILE {config_file!r}"
        )
        if not weights:
            raise ValueError(
                "MODEL.QANET.BOX_SOURCE is 'detector' but MODEL.QANET.DETECTOR.WEIGHTS is empty (an untrained "
                f"detector gives meaningless boxes). {self.ALTERNATIVES}"
            )
        if "://" not in weights and not os.path.isfile(weights):
            raise FileNotFoundError(f"MODEL.QANET.DETECTOR.WEIGHTS {weights!r} does not exist. {self.ALTERNATIVES}")
        self._model = None
        self._aug = None
        self._format = "BGR"

    def _build(self, device):
        from humanparse_d2.checkpoint.checkpointer import HumanParseCheckpointer  # safe unpickling of .pkl

        if self.config_file.endswith(".py"):
            from detectron2.config import LazyConfig, instantiate

            cfg = LazyConfig.load(self.config_file)
            if self.opts:
                cfg = LazyConfig.apply_overrides(cfg, self.opts)
            model = instantiate(cfg.model)
            self._format = getattr(cfg.model, "input_format", "BGR") or "BGR"
            test_aug = None
            try:
                test_aug = instantiate(cfg.dataloader.test.mapper.augmentations)
            except Exception:  # noqa: BLE001 - LazyConfigs without a test mapper: no resize
                test_aug = []
            from detectron2.data import transforms as T

            self._aug = T.AugmentationList(list(test_aug))
        else:
            from detectron2.config import get_cfg
            from detectron2.data import transforms as T
            from detectron2.modeling import build_model

            cfg = get_cfg()
            try:
                from humanparse_d2.config import add_humanparse_config

                add_humanparse_config(cfg)
            except Exception:  # noqa: BLE001
                pass
            cfg.merge_from_file(self.config_file)
            cfg.merge_from_list(self.opts)
            cfg.MODEL.DEVICE = str(device)
            model = build_model(cfg)
            self._format = cfg.INPUT.FORMAT
            self._aug = T.AugmentationList(
                [T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)]
                if cfg.INPUT.MIN_SIZE_TEST > 0
                else []
            )
        try:
            HumanParseCheckpointer(model).load(self.weights)
        except Exception as e:  # noqa: BLE001 - download / file errors come in many types
            raise RuntimeError(
                f"cannot load the detector weights MODEL.QANET.DETECTOR.WEIGHTS {self.weights!r} "
                f"({type(e).__name__}: {e}). Offline, the URL cannot be fetched. {self.ALTERNATIVES}"
            ) from e
        model.to(device).eval()
        self._model = model
        logger.info("QANet boxes: %s", self.description)

    def prepare(self, device) -> None:
        """Build the detector and load (fetch) its weights now, if not done yet."""
        if self._model is None:
            self._build(device)

    def to(self, device):
        if self._model is not None:
            self._model.to(device)
        return self

    @torch.no_grad()
    def __call__(self, inputs: Sequence[Dict], images_rgb: Sequence[torch.Tensor]) -> BoxList:
        """inputs: model inputs; images_rgb: matching (3, h, w) RGB float images (0-255)."""
        from detectron2.data import transforms as T

        device = images_rgb[0].device if len(images_rgb) else torch.device("cpu")
        if self._model is None:
            self._build(device)
        elif next(self._model.parameters()).device != torch.device(device):  # QANet moved after eval()
            self._model.to(device)
        det_inputs = []
        for inp, img in zip(inputs, images_rgb):
            h, w = _orig_hw(inp)
            arr = img.clamp(0, 255).round().byte().permute(1, 2, 0).cpu().numpy()
            if self._format == "BGR":
                arr = arr[:, :, ::-1]
            aug_in = T.AugInput(arr)
            self._aug(aug_in)
            t = torch.as_tensor(aug_in.image.copy()).permute(2, 0, 1)
            det_inputs.append({"image": t.to(device), "height": h, "width": w})
        outputs = self._model(det_inputs)
        out = []
        for o in outputs:
            inst = o["instances"].to("cpu")
            keep = inst.pred_classes == self.person_class
            keep &= inst.scores >= self.score_thresh
            inst = inst[keep]
            out.append((inst.pred_boxes.tensor.float(), inst.scores.float()))
        return out


def build_box_source(cfg):
    """The box source named by ``MODEL.QANET.BOX_SOURCE``."""
    name = cfg.MODEL.QANET.BOX_SOURCE
    q = cfg.MODEL.QANET
    if name == "oracle":
        return OracleBoxes()
    if name == "whole_image":
        return WholeImageBoxes()
    if name == "file":
        return FileBoxes(q.BOX_FILE, q.BOX_FILE_PERSON_IDS, images_json=q.BOX_FILE_IMAGES)
    if name == "detector":
        return DetectorBoxes(
            q.DETECTOR.CONFIG_FILE,
            q.DETECTOR.WEIGHTS,
            opts=q.DETECTOR.OPTS,
            person_class=q.DETECTOR.PERSON_CLASS,
            score_thresh=q.DETECTOR.SCORE_THRESH,
        )
    raise ValueError(f"MODEL.QANET.BOX_SOURCE must be one of {BOX_SOURCES}, got {name!r}")
