"""Generator heads of MMAN: the ASPP low-resolution branch and the cascaded
up-sampling decoder with encoder skips ("Do-DeepLab-ASPP").

Channel sizes are derived from the encoder's output shapes, never hard-coded: with ResNet-101
(stem 64, res2 256, res3 512, res4 1024, res5 2048) and C = 20 the new layers hold 42,943,800
parameters, the released generator's figure.
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from torch import nn

__all__ = ["ASPPLowRes", "MMANDecoder", "init_mman_layer"]

# Encoder features consumed by the decoder, deepest first, with the decoder level that uses each.
SKIP_FEATURES = ("res4", "res3", "res2", "stem")


def init_mman_layer(module: nn.Module, scheme: str, kind: str) -> None:
    """Initialise a new layer.

    Args:
        scheme: "code" (released: ConvT Xavier-normal gain 1, 1x1 skip / ASPP convs N(0, 0.01),
            PyTorch default biases) or "paper" (N(0, 0.001) weights, zero biases).
        kind: "deconv" or "conv".
    """
    if scheme == "paper":
        nn.init.normal_(module.weight, 0.0, 0.001)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif scheme == "code":
        if kind == "deconv":
            nn.init.xavier_normal_(module.weight, gain=1.0)
        else:
            nn.init.normal_(module.weight, 0.0, 0.01)
    else:
        raise ValueError(f"MODEL.MMAN.INIT must be 'code' or 'paper', got {scheme!r}")


class ASPPLowRes(nn.Module):
    """Four parallel convs (one 1x1, three 3x3 dilated) to C channels, concatenated and fused by a
    1x1 conv: the low-resolution logits z (N, C, H/16, W/16). No non-linearity (as released)."""

    def __init__(self, in_channels: int, num_classes: int, dilations: Sequence[int], init: str):
        super().__init__()
        self.branches = nn.ModuleList([nn.Conv2d(in_channels, num_classes, 1)])
        for d in dilations:
            self.branches.append(nn.Conv2d(in_channels, num_classes, 3, padding=d, dilation=d))
        self.fuse = nn.Conv2d(num_classes * len(self.branches), num_classes, 1)
        for m in list(self.branches) + [self.fuse]:
            init_mman_layer(m, init, "conv")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([b(x) for b in self.branches], dim=1))


class MMANDecoder(nn.Module):
    """Cascaded up-sampling with skips from res4, res3, res2 and the stem to full resolution.

    Level i: ReLU -> ConvTranspose -> InstanceNorm (affine=False) [-> Dropout], then concatenation
    with a 1x1-conv projection of the encoder skip (channels kept). The first level keeps the
    resolution (k3 s1, res5 and res4 are both stride 16), the next three double it (k4 s2 p1); the
    top level (ReLU, k4 s2 p1 ConvT with bias, no norm) gives the logits t (N, C, H, W).

    With ``mid_head`` a 1x1 classifier reads the concatenated stride-4 map after the third level
    (the paper's Multiple AN).
    """

    def __init__(
        self,
        input_shape: dict[str, ShapeSpec],
        *,
        num_classes: int,
        dropout: float = 0.0,
        init: str = "code",
        mid_head: bool = False,
    ):
        super().__init__()
        for name in ("res5",) + SKIP_FEATURES:
            if name not in input_shape:
                raise ValueError(
                    f"MMANDecoder needs encoder feature {name!r}; got {sorted(input_shape)}"
                )
        strides = [input_shape[n].stride for n in ("res5",) + SKIP_FEATURES]
        if strides != [16, 16, 8, 4, 2]:
            raise ValueError(
                "MMANDecoder expects strides res5 16 (dilated), res4 16, res3 8, res2 4, stem 2; "
                f"got {strides} (set MODEL.RESNETS.RES5_DILATION=2)"
            )
        self.ups = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.skips = nn.ModuleList()
        in_ch = input_shape["res5"].channels
        for i, name in enumerate(SKIP_FEATURES):
            skip_ch = input_shape[name].channels
            if i == 0:
                up = nn.ConvTranspose2d(in_ch, skip_ch, kernel_size=3, stride=1, padding=1)
            else:
                up = nn.ConvTranspose2d(in_ch, skip_ch, kernel_size=4, stride=2, padding=1)
            skip = nn.Conv2d(skip_ch, skip_ch, kernel_size=1)
            init_mman_layer(up, init, "deconv")
            init_mman_layer(skip, init, "conv")
            self.ups.append(up)
            self.norms.append(nn.InstanceNorm2d(skip_ch, affine=False, track_running_stats=False))
            self.skips.append(skip)
            in_ch = 2 * skip_ch
            if name == "res2":
                mid_ch = in_ch
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.top = nn.ConvTranspose2d(in_ch, num_classes, kernel_size=4, stride=2, padding=1)
        init_mman_layer(self.top, init, "deconv")
        self.mid_classifier: nn.Conv2d | None = None
        if mid_head:
            self.mid_classifier = nn.Conv2d(mid_ch, num_classes, kernel_size=1)
            nn.init.normal_(self.mid_classifier.weight, 0.0, 0.01)
            nn.init.zeros_(self.mid_classifier.bias)

    def forward(
        self, features: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """
        Returns:
            logits_hi (N, C, H, W) and, with ``mid_head``, logits_mid (N, C, H/4, W/4) else None.
        """
        x = features["res5"]
        logits_mid = None
        for name, up, norm, skip in zip(SKIP_FEATURES, self.ups, self.norms, self.skips):
            x = self.dropout(norm(up(F.relu(x))))
            x = torch.cat([x, skip(features[name])], dim=1)
            if name == "res2" and self.mid_classifier is not None:
                logits_mid = self.mid_classifier(x)
        return self.top(F.relu(x)), logits_mid


def pad_to_multiple(size: int, divisor: int) -> int:
    return int(math.ceil(size / divisor) * divisor)
