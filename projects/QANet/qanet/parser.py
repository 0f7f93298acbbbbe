"""The QANet crop parser: backbone + semantic FPN + parsing predictor + IoU branch.

This is the part of QANet that runs on person crops; it is what training optimises and what
``torch.jit.trace`` / ONNX export take. Input: crops as 0-255 RGB floats (B, 3, h, w); the parser
converts them to the backbone's pixel format (``INPUT.FORMAT``, ``MODEL.PIXEL_MEAN/STD``) itself, so
detectron2's MSRA (BGR, caffe means) and torchvision/timm (RGB, ImageNet mean/std) weights both work.
Output: logits (B, C, h, w) at crop resolution and the IoU scores (B,).
"""

from collections.abc import Sequence

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import Backbone, build_backbone
from torch import nn

from .heads import ParsingIoUHead, ParsingPredictor, SemanticFPNHead

__all__ = ["QANetCropParser"]


class QANetCropParser(nn.Module):
    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        head: SemanticFPNHead,
        predictor: ParsingPredictor,
        iou_head: ParsingIoUHead | None,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        input_format: str = "RGB",
    ):
        """
        Args:
            backbone: a detectron2 Backbone with the features the head reads.
            head: the semantic FPN (PFPN).
            predictor: 1x1 conv + bilinear up to crop resolution.
            iou_head: the IoU branch, or None (then ``forward`` returns ones, as the code does).
            pixel_mean, pixel_std: normalisation in the backbone's channel order (0-255 scale).
            input_format: "RGB" or "BGR", the channel order the backbone weights expect.
        """
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.predictor = predictor
        self.iou_head = iou_head
        if input_format not in ("RGB", "BGR"):
            raise ValueError(f"QANet: INPUT.FORMAT must be RGB or BGR, got {input_format!r}")
        self.input_format = input_format
        self.register_buffer(
            "pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, -1, 1, 1), False
        )
        self.register_buffer(
            "pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(1, -1, 1, 1), False
        )

    @classmethod
    def from_config(cls, cfg):
        backbone = build_backbone(cfg, ShapeSpec(channels=len(cfg.MODEL.PIXEL_MEAN)))
        head = SemanticFPNHead(cfg, backbone.output_shape())
        hs = head.output_shape()
        predictor = ParsingPredictor(cfg, hs.channels, up_scale=hs.stride)
        iou_head = ParsingIoUHead(cfg, hs.channels) if cfg.MODEL.QANET.IOU_ON else None
        return {
            "backbone": backbone,
            "head": head,
            "predictor": predictor,
            "iou_head": iou_head,
            "pixel_mean": list(cfg.MODEL.PIXEL_MEAN),
            "pixel_std": list(cfg.MODEL.PIXEL_STD),
            "input_format": cfg.INPUT.FORMAT,
        }

    @property
    def size_divisibility(self) -> int:
        return max(32, int(getattr(self.backbone, "size_divisibility", 0) or 0))

    def normalize(self, crops_rgb: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) 0-255 RGB -> the backbone's normalised input."""
        x = crops_rgb
        if self.input_format == "BGR":
            x = x.flip(1)
        return (x - self.pixel_mean) / self.pixel_std

    def forward(self, crops_rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            crops_rgb: (B, 3, h, w) person crops, RGB, 0-255 float.
        Returns:
            logits (B, C, h, w), iou (B,) (ones when the IoU branch is off).
        """
        feats = self.backbone(self.normalize(crops_rgb))
        f = self.head(feats)
        logits = self.predictor(f)
        if self.iou_head is not None:
            iou = self.iou_head(f)
        else:
            iou = logits.new_ones(logits.shape[0])
        return logits, iou
