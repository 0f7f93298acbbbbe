"""Export of the QANet crop parser (backbone + heads): TorchScript trace and ONNX.

The exported graph maps (B, 3, h, w) 0-255 RGB person crops to (logits (B, C, h, w), iou (B,)).
Cropping, flip test, paste-back, QAM and parsing NMS stay outside as plain functions
(``crop_rois``, ``parse_crops``, ``paste_probs``, ``pixel_scores``/``fuse_quality``,
``parsing_postprocess``).
"""

import logging

import torch

__all__ = ["trace_parser", "export_parser_onnx"]

logger = logging.getLogger(__name__)


def _example(parser, crop_hw: tuple[int, int], batch: int) -> torch.Tensor:
    dev = next(parser.parameters()).device
    g = torch.Generator().manual_seed(0)
    return (torch.rand(batch, 3, int(crop_hw[0]), int(crop_hw[1]), generator=g) * 255).to(dev)


def trace_parser(parser, crop_hw: tuple[int, int], batch: int = 2):
    """``torch.jit.trace`` of the crop parser in eval mode."""
    parser = parser.eval()
    x = _example(parser, crop_hw, batch)
    with torch.no_grad():
        return torch.jit.trace(parser, (x,), check_trace=False)


def export_parser_onnx(
    parser,
    path: str,
    crop_hw: tuple[int, int],
    batch: int = 2,
    dynamic_batch: bool = True,
    opset: int = 18,
    dynamo: bool = None,
):
    """Export the crop parser to ONNX (inputs "crops", outputs "logits", "iou").

    Needs the ``onnx`` and ``onnxscript`` packages with torch >= 2.9 (its default exporter is the
    dynamo one); ``dynamo=False`` selects the TorchScript-based exporter.
    """
    parser = parser.eval()
    x = _example(parser, crop_hw, batch)
    kwargs = dict(input_names=["crops"], output_names=["logits", "iou"], opset_version=opset)
    if dynamo is not None:
        kwargs["dynamo"] = dynamo
    if dynamic_batch:
        if dynamo is False:
            kwargs["dynamic_axes"] = {
                "crops": {0: "batch"},
                "logits": {0: "batch"},
                "iou": {0: "batch"},
            }
        else:
            kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=1024)},)
    with torch.no_grad():
        torch.onnx.export(parser, (x,), path, **kwargs)
    return path
