"""QANet heads: semantic FPN, parsing predictor, IoU branch.

All ``@configurable``; tensors in, tensors out (no Python-side data in ``forward``) so the crop
parser traces with ``torch.jit.trace`` and exports to ONNX.
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from torch import nn

__all__ = ["SemanticFPNHead", "ParsingPredictor", "ParsingIoUHead"]


def _unit(in_ch: int, out_ch: int, norm: str) -> nn.Module:
    """U(a -> b): 3x3 conv s1 p1, no bias, norm, ReLU."""
    return Conv2d(
        in_ch, out_ch, 3, 1, 1, bias=not norm, norm=get_norm(norm, out_ch), activation=F.relu
    )


class _Up(nn.Module):
    """Bilinear x2, align_corners=False."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class SemanticFPNHead(nn.Module):
    """QANet's "PFPN": each level goes to stride 4 through U-blocks and bilinear x2, then the levels
    are summed (no conv after the sum).

    Level at stride ``4 * 2^k`` gets ``U(in -> d)`` then ``k`` times ``[Up, U(d -> d)]`` with the
    last U omitted, i.e. P5: U, Up, U, Up, U, Up; P4: U, Up, U, Up; P3: U, Up; P2: U.

    This is detectron2's Panoptic-FPN ``SemSegFPNHead`` up to its 1x1 predictor
    (tests/qanet/test_semantic_fpn.py loads the same weights into both). Not a subclass: that head
    always builds the predictor into ``layers()``, names its levels by feature (the converted
    official checkpoints use ``scale_heads.<i>``) and initialises with MSRA fill, where QANet keeps
    PyTorch's default init.
    """

    @configurable
    def __init__(
        self,
        input_shape: dict[str, ShapeSpec],
        *,
        in_features: Sequence[str],
        conv_dim: int = 256,
        norm: str = "BN",
    ):
        """
        Args:
            input_shape: shapes of the backbone outputs.
            in_features: the 4 (or any number of) feature names, any order; the smallest stride is
                the output stride.
            conv_dim: d, channels of every U-block and of the output.
            norm: detectron2 norm name ("BN", "SyncBN", "GN", "" for none).
        """
        super().__init__()
        missing = [f for f in in_features if f not in input_shape]
        if missing:
            raise KeyError(
                f"QANet head: features {missing} not in backbone outputs {sorted(input_shape)}"
            )
        self.in_features = sorted(in_features, key=lambda f: input_shape[f].stride)
        strides = [input_shape[f].stride for f in self.in_features]
        self.common_stride = strides[0]
        self.conv_dim = conv_dim
        self.scale_heads = nn.ModuleList()
        for f, s in zip(self.in_features, strides):
            n_up = int(round(math.log2(s / self.common_stride)))
            if self.common_stride * (2**n_up) != s:
                raise ValueError(
                    f"QANet head: stride {s} of {f} is not a power-of-two multiple of {self.common_stride}"
                )
            layers: list[nn.Module] = [_unit(input_shape[f].channels, conv_dim, norm)]
            for k in range(n_up):
                layers.append(_Up())
                if k < n_up - 1:
                    layers.append(_unit(conv_dim, conv_dim, norm))
            self.scale_heads.append(nn.Sequential(*layers))

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]):
        return {
            "input_shape": input_shape,
            "in_features": list(cfg.MODEL.QANET.IN_FEATURES),
            "conv_dim": cfg.MODEL.QANET.CONV_DIM,
            "norm": cfg.MODEL.QANET.NORM,
        }

    def output_shape(self) -> ShapeSpec:
        return ShapeSpec(channels=self.conv_dim, stride=self.common_stride)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """features: backbone outputs -> (B, d, H/4, W/4)."""
        out = None
        for f, head in zip(self.in_features, self.scale_heads):
            y = head(features[f])
            out = y if out is None else out + y
        return out


class ParsingPredictor(nn.Module):
    """1x1 conv d -> C (bias) and bilinear upsampling by ``up_scale`` to crop resolution."""

    @configurable
    def __init__(self, in_channels: int, *, num_classes: int, up_scale: int = 4):
        super().__init__()
        self.classifier = nn.Conv2d(in_channels, num_classes, 1)
        self.up_scale = int(up_scale)

    @classmethod
    def from_config(cls, cfg, in_channels: int, up_scale: int = 4):
        return {
            "in_channels": in_channels,
            "num_classes": cfg.MODEL.QANET.NUM_CLASSES,
            "up_scale": up_scale,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d, h, w) -> (B, C, h * s, w * s) logits."""
        x = self.classifier(x)
        if self.up_scale != 1:
            x = F.interpolate(
                x, scale_factor=float(self.up_scale), mode="bilinear", align_corners=False
            )
        return x


class ParsingIoUHead(nn.Module):
    """Regresses the crop's part mIoU from the PFPN feature (not detached).

    1x1 conv d -> d + ReLU, global average pool, 2 x [1x1 conv -> fc_dim + ReLU], Linear -> 1. No
    sigmoid, no clamp (QAM clamps at fusion).
    """

    @configurable
    def __init__(self, in_channels: int, *, fc_dim: int = 512):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 1)
        self.fc1 = nn.Conv2d(in_channels, fc_dim, 1)
        self.fc2 = nn.Conv2d(fc_dim, fc_dim, 1)
        self.pred = nn.Linear(fc_dim, 1)
        for m in (self.conv, self.fc1, self.fc2):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        nn.init.kaiming_uniform_(self.pred.weight, a=1)
        nn.init.zeros_(self.pred.bias)

    @classmethod
    def from_config(cls, cfg, in_channels: int):
        return {"in_channels": in_channels, "fc_dim": cfg.MODEL.QANET.IOU_FC_DIM}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d, h, w) -> (B,) IoU scores."""
        x = F.relu(self.conv(x))
        x = x.mean(dim=(2, 3), keepdim=True)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.pred(x.flatten(1)).reshape(-1)
