"""QANet meta-architecture (``MODEL.META_ARCHITECTURE: QANet``).

Training: a batch of person crops from ``InstanceParsingMapper`` ({"image": (3, h, w) uint8 in
``INPUT.FORMAT``, "parsing": (h, w) labels}) -> crop parser (which normalises them with
``MODEL.PIXEL_MEAN/STD``) -> CE + Lovasz + IoU losses.

Inference: per image, person boxes from the configured box source (detector / file / oracle /
whole_image, never a silent fallback), all crops of the image batched through the parser with
flip test, class probabilities pasted back to image space (box-local), QAM quality scores, and
``Instances`` in the model-output contract (docs/ARCHITECTURE.md, contract B): ``pred_boxes``, ``scores`` (QAM S_q),
``box_scores``, ``iou_scores``, ``pixel_scores``, ``part_scores`` (N, C-1), ``pred_parsing`` (N, H, W)
uint8. Parsing NMS and painting are the evaluator's ``parsing_postprocess``.
"""

import logging
from collections.abc import Sequence

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.structures import Instances
from torch import nn

from humanparse_d2.data.flip import flip_lut_for
from humanparse_d2.modeling.losses import qanet_parsing_losses

from .boxes import DetectorBoxes, build_box_source
from .fast_inference import FAST_PATHS, InferenceParser
from .inference import label_maps_and_pixel_scores, parse_batch_crops, parse_person_boxes
from .inference_inputs import filter_person_boxes, rgb_image, view_scales
from .outputs import paste_semantic, qam_instances
from .parser import QANetCropParser

__all__ = ["QANet", "view_scales"]

logger = logging.getLogger(__name__)

_NO_BOX_HINT = "check the box source (MODEL.QANET.BOX_SOURCE)"


def _checked_crop_size(crop_size: Sequence[int], div: int = 32) -> tuple[int, int]:
    hw = (int(crop_size[0]), int(crop_size[1]))
    if hw[0] % div or hw[1] % div:
        raise ValueError(f"INPUT.PARSING.CROP_SIZE {hw} must be divisible by {div}")
    return hw


def _checked_fast_path(fast_path: str) -> str:
    if fast_path not in FAST_PATHS:
        raise ValueError(
            f"MODEL.QANET.TEST.FAST_PATH must be one of {FAST_PATHS}, got {fast_path!r}"
        )
    return fast_path


@META_ARCH_REGISTRY.register()
class QANet(nn.Module):
    """QANet: a crop parser over person boxes, scored with QAM.

    Args:
        parser: the crop parser (backbone + heads).
        num_classes: C, including background.
        crop_size: (h, w) of person crops (512x384 in the paper).
        box_source_fn: callable producing person boxes at test time (see ``boxes.py``); None
            means inference needs ``detected_boxes`` passed explicitly.
        box_expand: crop-box growth after the aspect extension (1.25).
        aspect_ratio: width/height the person boxes are extended to (default crop w / h).
        flip_test, test_scales: test-time views.
        flip_lut: (C,) label permutation under a horizontal flip (flip-pair swap).
        crops_per_batch: crops per parser forward at test time.
        box_score_thresh, max_boxes: box filtering before parsing.
        qam_weights: (alpha, beta, gamma) of the QAM fusion; (1, 0, 0) = box score only.
        pixel_thresh: T of the pixel score.
        clamp_iou: clamp the IoU score to [0, 1] before fusion.
        loss_weights: {"ce", "lovasz", "iou"}.
        semantic_output: also return "sem_seg" (C, H, W) probabilities (single-person sets).
        max_no_box_share: the evaluation fails when at least this share of the images got no
            person box (reported with every output as ``num_boxes`` / ``test_settings``).
        fast_path: "" (the parser as trained), "eager" or "compile": test crops go through an
            inference-only copy of the parser (``fast_inference.InferenceParser``).
    """

    @configurable
    def __init__(
        self,
        *,
        parser: QANetCropParser,
        num_classes: int,
        crop_size: tuple[int, int],
        box_source_fn=None,
        box_expand: float = 1.25,
        aspect_ratio: float | None = None,
        flip_test: bool = True,
        test_scales: Sequence[float] = (1.0,),
        flip_lut: Sequence[int] | None = None,
        crops_per_batch: int = 64,
        box_score_thresh: float = 0.0,
        max_boxes: int = 100,
        qam_weights: Sequence[float] = (1.0, 0.5, 3.0),
        pixel_thresh: float = 0.2,
        clamp_iou: bool = True,
        loss_weights: dict[str, float] | None = None,
        ignore_value: int = 255,
        semantic_output: bool = False,
        max_no_box_share: float = 1.0,
        fast_path: str = "",
    ):
        super().__init__()
        self.parser = parser
        self.num_classes = int(num_classes)
        self.crop_size = _checked_crop_size(crop_size)
        # kept out of the module tree: a detector box source has its own weights and checkpoint
        self.__dict__["_box_source"] = box_source_fn
        self.box_expand = float(box_expand)
        self.aspect_ratio = float(aspect_ratio or self.crop_size[1] / self.crop_size[0])
        self.flip_test = bool(flip_test)
        self.test_scales = tuple(float(s) for s in test_scales)
        lut = flip_lut if flip_lut is not None else range(self.num_classes)
        self.register_buffer("flip_lut", torch.tensor(lut, dtype=torch.long), False)
        self.crops_per_batch = int(crops_per_batch)
        self.box_score_thresh = float(box_score_thresh)
        self.max_boxes = int(max_boxes)
        self.qam_weights = tuple(float(w) for w in qam_weights)
        self.pixel_thresh = float(pixel_thresh)
        self.clamp_iou = bool(clamp_iou)
        self.loss_weights = {"ce": 1.0, "lovasz": 1.0, "iou": 1.0, **(loss_weights or {})}
        self.ignore_value = int(ignore_value)
        self.semantic_output = bool(semantic_output)
        self.skipped_boxes = 0
        self.max_no_box_share = float(max_no_box_share)
        self.fast_path = _checked_fast_path(fast_path)
        # built on first use, dropped by train(); not in the state dict
        self.__dict__["_fast_parser"] = None

    @classmethod
    def from_config(cls, cfg):
        q = cfg.MODEL.QANET
        num_classes = q.NUM_CLASSES
        names = list(cfg.DATASETS.TEST) + list(cfg.DATASETS.TRAIN)
        flip_lut = flip_lut_for(names, num_classes, key="MODEL.QANET.NUM_CLASSES")
        if flip_lut is None and q.TEST.FLIP:
            logger.warning(
                "QANet: no flip_map in the dataset metadata; flip test swaps no channels"
            )
        return {
            "parser": QANetCropParser(cfg),
            "num_classes": num_classes,
            "crop_size": tuple(cfg.INPUT.PARSING.CROP_SIZE),
            "box_source_fn": build_box_source(cfg),
            "box_expand": cfg.INPUT.PARSING.BOX_EXPAND,
            "aspect_ratio": cfg.INPUT.PARSING.ASPECT_RATIO,
            "flip_test": q.TEST.FLIP,
            "test_scales": view_scales(q.TEST.SCALES),
            "flip_lut": flip_lut,
            "crops_per_batch": q.TEST.CROPS_PER_BATCH,
            "box_score_thresh": q.TEST.BOX_SCORE_THRESH,
            "max_boxes": q.TEST.MAX_BOXES,
            "qam_weights": tuple(cfg.MODEL.QAM.WEIGHTS),
            "pixel_thresh": cfg.MODEL.QAM.PIXEL_THRESH,
            "clamp_iou": cfg.MODEL.QAM.CLAMP_IOU,
            "loss_weights": {"ce": q.CE_WEIGHT, "lovasz": q.LOVASZ_WEIGHT, "iou": q.IOU_WEIGHT},
            "ignore_value": q.IGNORE_VALUE,
            "semantic_output": q.TEST.SEMANTIC_OUTPUT,
            "max_no_box_share": q.TEST.MAX_NO_BOX_SHARE,
            "fast_path": q.TEST.FAST_PATH,
        }

    def test_parser(self):
        """The module test crops go through: the parser, or its fast inference copy (``fast_path``)."""
        if not self.fast_path or self.training:
            return self.parser
        fp = self._fast_parser
        # rebuilt also after model.to(other device)
        if fp is None or next(fp.parameters()).device != self.device:
            self.__dict__["_fast_parser"] = InferenceParser(self.parser, self.fast_path)
        return self._fast_parser

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        return self.flip_lut.device

    @property
    def box_source_obj(self):
        return self.__dict__.get("_box_source")

    @box_source_obj.setter
    def box_source_obj(self, src):
        self.__dict__["_box_source"] = src

    @property
    def box_source(self) -> str:
        """Name of the test-time box source ("detector", "file", "oracle", "whole_image"); the
        evaluator stores it with the results."""
        src = self.box_source_obj
        return getattr(src, "name", "given") if src is not None else "given"

    @property
    def box_source_description(self) -> str:
        src = self.box_source_obj
        return getattr(src, "description", self.box_source)

    @property
    def test_settings(self) -> dict:
        """How this model tests; returned with every output and recorded in the results JSON."""
        src = self.box_source_obj
        return {
            "box_source": self.box_source_description,
            "flip": self.flip_test,
            "scales": list(self.test_scales),
            "crop_size": list(self.crop_size),
            "qam_weights": list(self.qam_weights),
            "pixel_thresh": self.pixel_thresh,
            "clamp_iou": self.clamp_iou,
            "box_score_thresh": self.box_score_thresh,
            "max_boxes": self.max_boxes,
            "max_no_box_share": self.max_no_box_share,
            "no_box_hint": getattr(src, "no_box_hint", _NO_BOX_HINT),
        }

    def train(self, mode: bool = True):
        """``eval()`` also readies the box source (a detector fetches its weights here, before any
        progress bar, and fails with the alternatives if it cannot)."""
        # weights may change: the inference copy is rebuilt on next use
        self.__dict__["_fast_parser"] = None
        super().train(mode)
        src = self.box_source_obj
        if not mode and hasattr(src, "prepare"):
            src.prepare(self.device)
        return self

    # ------------------------------------------------------------------ forward
    def forward(self, batched_inputs: list[dict]):
        if self.training:
            return self.losses(batched_inputs)
        return self.inference(batched_inputs)

    def losses(self, batched_inputs: list[dict]) -> dict[str, torch.Tensor]:
        fmt = self.parser.input_format
        images = torch.stack([rgb_image(x["image"], fmt, self.device) for x in batched_inputs])
        targets = torch.stack([torch.as_tensor(x["parsing"]) for x in batched_inputs])
        targets = targets.to(self.device).long()
        logits, iou = self.parser(images)
        return qanet_parsing_losses(
            logits,
            targets,
            iou if self.parser.iou_head is not None else None,
            ce_weight=self.loss_weights["ce"],
            lovasz_weight=self.loss_weights["lovasz"],
            iou_weight=self.loss_weights["iou"],
            ignore_index=self.ignore_value,
        )

    # ------------------------------------------------------------------ inference
    def _valid_boxes(self, boxes: torch.Tensor, scores: torch.Tensor, hw: tuple[int, int]):
        """Drop non-finite, empty and wholly-outside boxes (counted), low scores, keep top-k."""
        boxes, scores, n_bad = filter_person_boxes(
            boxes, scores, hw, score_thresh=self.box_score_thresh, max_boxes=self.max_boxes
        )
        if n_bad:
            self.skipped_boxes += n_bad
            logger.warning("QANet: skipped %d degenerate or out-of-image boxes", n_bad)
        return boxes, scores

    @property
    def parse_options(self) -> dict:
        """The test-time options of ``inference.parse_person_boxes`` / ``parse_batch_crops``:
        the crop views of a person box, the flip test and the parser batch."""
        return {
            "crop_hw": self.crop_size,
            "aspect_wh": self.aspect_ratio,
            "box_expand": self.box_expand,
            "scales": self.test_scales,
            "flip": self.flip_test,
            "flip_lut": self.flip_lut,
            "chunk": self.crops_per_batch,
        }

    def _detected_boxes(self, batched_inputs: list[dict], images: list[torch.Tensor]):
        src = self.box_source_obj
        if src is None:
            raise ValueError(
                "QANet.inference: no box source configured and no detected_boxes given"
            )
        if isinstance(src, DetectorBoxes):
            return src(batched_inputs, images)
        return src(batched_inputs)

    @torch.no_grad()
    def inference(
        self,
        batched_inputs: list[dict],
        detected_boxes: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        input_format: str | None = None,
    ) -> list[dict[str, Instances]]:
        """
        Args:
            batched_inputs: detectron2 test dicts with "image" (3, H', W') in ``input_format``
                (cfg.INPUT.FORMAT; uint8 or float 0-255), "height", "width" (original size).
            detected_boxes: optional per-image (boxes (N,4) XYXY original coordinates, scores (N,));
                overrides the box source.
        Returns:
            [{"instances": Instances}] per image, at the original resolution.
        """
        fmt = input_format or self.parser.input_format
        images = [rgb_image(x["image"], fmt, self.device) for x in batched_inputs]
        if detected_boxes is None:
            detected_boxes = self._detected_boxes(batched_inputs, images)
        results = []
        settings = self.test_settings
        per_image = []
        for x, img, (boxes, scores) in zip(batched_inputs, images, detected_boxes):
            H = int(x.get("height", img.shape[-2]))
            W = int(x.get("width", img.shape[-1]))
            boxes = torch.as_tensor(boxes, dtype=torch.float32, device=self.device).reshape(-1, 4)
            scores = torch.as_tensor(scores, dtype=torch.float32, device=self.device).reshape(-1)
            per_image.append(self._valid_boxes(boxes, scores, (H, W)) + ((H, W),))
        parsed = parse_batch_crops(
            self.test_parser(),
            images,
            [(b, hw) for b, _, hw in per_image],
            **self.parse_options,
        )
        for img, (boxes, scores, hw), p in zip(images, per_image, parsed):
            out = {
                "box_source": self.box_source,
                "test_settings": settings,
                "num_boxes": int(boxes.shape[0]),
            }
            out["instances"] = self.parse_image(
                img, boxes, scores, hw, out if self.semantic_output else None, p
            )
            results.append(out)
        return results

    @torch.no_grad()
    def parse_image(
        self,
        image_rgb: torch.Tensor,
        boxes: torch.Tensor,
        box_scores: torch.Tensor,
        image_hw: tuple[int, int],
        extra: dict | None = None,
        parsed: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> Instances:
        """Parse the given person boxes of one image and score them with QAM.

        Args:
            image_rgb: (3, H', W') RGB 0-255 image (H', W' may differ from image_hw: resized input).
            boxes: (N, 4) XYXY in original image coordinates; box_scores (N,).
            image_hw: original (H, W).
            extra: if given, receives "sem_seg" (C, H, W): the persons' image-space probabilities
                pasted in ascending box score, background 1 outside every box.
            parsed: this image's crops already parsed with other images' (``parse_person_boxes``).
        """
        regions, iou = parse_person_boxes(
            self.test_parser(),
            image_rgb,
            boxes,
            image_hw,
            parsed=parsed,
            **self.parse_options,
        )
        labels, inst_ps, part_ps = label_maps_and_pixel_scores(
            regions, image_hw, self.num_classes, pixel_thresh=self.pixel_thresh, device=self.device
        )
        if extra is not None:
            extra["sem_seg"] = paste_semantic(
                regions, box_scores, self.num_classes, image_hw, self.device
            )
        return self.build_instances(boxes, box_scores, iou, inst_ps, part_ps, labels, image_hw)

    def build_instances(
        self, boxes, box_scores, iou, inst_ps, part_ps, labels, image_hw, qam_weights=None
    ):
        """Instances with QAM scores (``outputs.qam_instances``); ``qam_weights`` overrides the
        configured weights (used to re-score the same outputs with other weights)."""
        return qam_instances(
            boxes,
            box_scores,
            iou,
            inst_ps,
            part_ps,
            labels,
            image_hw,
            num_classes=self.num_classes,
            qam_weights=self.qam_weights if qam_weights is None else qam_weights,
            clamp_iou=self.clamp_iou,
        )
