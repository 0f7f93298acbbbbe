"""Where QANet's person boxes come from at test time (``MODEL.QANET.BOX_SOURCE``).

- ``DetectorBoxes``: any detectron2 model (yaml CfgNode config or LazyConfig ``.py``) with its own
  weights; only the person class is kept.
- ``FileBoxes`` (``box_file.py``): a COCO detection-results JSON
  ``[{image_id, category_id, bbox [x,y,w,h], score}]``.
- ``OracleBoxes``: ground-truth person boxes with score 1.0 (labelled "oracle" everywhere).
- ``WholeImageBoxes``: one box covering the image, score 1.0 (single-person images, demos).

There is no fallback between them: a source that cannot deliver raises with the reason.
Each source is registered in ``BOX_SOURCE_REGISTRY`` with its ``name`` (the config value) and
``from_config(cfg)``, and maps a list of model inputs (detectron2 dicts) to a list of
``(boxes (N,4) XYXY in original image coordinates, scores (N,))``.
"""

import logging
import os
from collections.abc import Sequence

import torch
from detectron2.utils.registry import Registry

from humanparse_d2.config import get_humanparse_cfg, merge_config_file

from .box_file import BoxList, FileBoxes

__all__ = [
    "build_box_source",
    "DetectorBoxes",
    "FileBoxes",
    "OracleBoxes",
    "WholeImageBoxes",
    "BOX_SOURCES",
    "BOX_SOURCE_REGISTRY",
]

logger = logging.getLogger(__name__)

BOX_SOURCE_REGISTRY = Registry("QANET_BOX_SOURCE")
BOX_SOURCE_REGISTRY.__doc__ = """
QANet's test-time person-box sources, registered by class name. Each class has a ``name`` (the
``MODEL.QANET.BOX_SOURCE`` value that selects it) and a ``from_config(cfg)`` constructor.
"""
BOX_SOURCE_REGISTRY.register(FileBoxes)


def _orig_hw(inp: dict) -> tuple[int, int]:
    img = inp.get("image")
    h = inp.get("height", img.shape[-2] if img is not None else None)
    w = inp.get("width", img.shape[-1] if img is not None else None)
    return int(h), int(w)


@BOX_SOURCE_REGISTRY.register()
class OracleBoxes:
    """Ground-truth boxes, score 1.0. Reads ``gt_boxes`` (QANet test mapper), ``instances.gt_boxes``
    (detectron2 mappers) or ``annotations`` (raw dataset dicts)."""

    name = "oracle"
    description = "oracle (ground-truth person boxes, score 1.0)"
    no_box_hint = (
        "the images have no (non-crowd) person annotation; check the dataset's annotations"
    )

    @classmethod
    def from_config(cls, cfg) -> "OracleBoxes":
        return cls()

    def __call__(self, inputs: Sequence[dict]) -> BoxList:
        out = []
        for inp in inputs:
            boxes = self._gt_boxes(inp)
            out.append((boxes, torch.ones(boxes.shape[0])))
        return out

    @staticmethod
    def _gt_boxes(inp: dict) -> torch.Tensor:
        if "gt_boxes" in inp:
            return torch.as_tensor(inp["gt_boxes"], dtype=torch.float32).reshape(-1, 4)
        inst = inp.get("instances")
        if inst is not None and inst.has("gt_boxes"):
            boxes = inst.gt_boxes.tensor.float()
            img = inp.get("image")
            h, w = _orig_hw(inp)
            if img is not None and (img.shape[-2], img.shape[-1]) != (
                h,
                w,
            ):  # mapper resized the image
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


@BOX_SOURCE_REGISTRY.register()
class WholeImageBoxes:
    """One box covering each image, score 1.0."""

    name = "whole_image"
    description = "whole_image (one box = the image, score 1.0)"
    no_box_hint = "degenerate image sizes (height or width 0)"

    @classmethod
    def from_config(cls, cfg) -> "WholeImageBoxes":
        return cls()

    def __call__(self, inputs: Sequence[dict]) -> BoxList:
        out = []
        for inp in inputs:
            h, w = _orig_hw(inp)
            out.append((torch.tensor([[0.0, 0.0, float(w), float(h)]]), torch.ones(1)))
        return out


def _resolve_detector_config(path: str) -> str:
    """``path`` if it is a file, else the detectron2 model-zoo config of that name."""
    if os.path.isfile(path):
        return path
    from detectron2 import model_zoo  # imports pkg_resources: only when a zoo name is given

    try:
        return model_zoo.get_config_file(path)
    except RuntimeError as e:  # "... not available in Model Zoo!"
        raise FileNotFoundError(
            f"MODEL.QANET.DETECTOR.CONFIG_FILE {path!r} is neither a file nor a detectron2 "
            "model-zoo config"
        ) from e


@BOX_SOURCE_REGISTRY.register()
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
        self.description = (
            f"detector ({os.path.basename(config_file)}, weights {weights or 'none'})"
        )
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
            raise FileNotFoundError(
                f"MODEL.QANET.DETECTOR.WEIGHTS {weights!r} does not exist. {self.ALTERNATIVES}"
            )
        self._model = None
        self._aug = None
        self._format = "BGR"

    @classmethod
    def from_config(cls, cfg) -> "DetectorBoxes":
        d = cfg.MODEL.QANET.DETECTOR
        return cls(
            d.CONFIG_FILE,
            d.WEIGHTS,
            opts=d.OPTS,
            person_class=d.PERSON_CLASS,
            score_thresh=d.SCORE_THRESH,
        )

    def _build(self, device):
        from humanparse_d2.checkpoint.checkpointer import (
            HumanParseCheckpointer,  # safe unpickling of .pkl
        )

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
            from detectron2.data import transforms as T
            from detectron2.modeling import build_model

            cfg = get_humanparse_cfg()
            merge_config_file(cfg, self.config_file)
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
    def __call__(self, inputs: Sequence[dict], images_rgb: Sequence[torch.Tensor]) -> BoxList:
        """inputs: model inputs; images_rgb: matching (3, h, w) RGB float images (0-255)."""
        from detectron2.data import transforms as T

        device = images_rgb[0].device if len(images_rgb) else torch.device("cpu")
        if self._model is None:
            self._build(device)
        elif next(self._model.parameters()).device != torch.device(
            device
        ):  # QANet moved after eval()
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


# The built-in MODEL.QANET.BOX_SOURCE values.
BOX_SOURCES = tuple(sorted(src.name for _, src in BOX_SOURCE_REGISTRY))


def build_box_source(cfg):
    """The registered box source whose ``name`` is ``MODEL.QANET.BOX_SOURCE``."""
    name = cfg.MODEL.QANET.BOX_SOURCE
    by_name = {src.name: src for _, src in BOX_SOURCE_REGISTRY}
    if name not in by_name:
        raise ValueError(
            f"MODEL.QANET.BOX_SOURCE must be one of {tuple(sorted(by_name))}, got {name!r}"
        )
    return by_name[name].from_config(cfg)
