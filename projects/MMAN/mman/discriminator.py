"""Conditional patch discriminators of MMAN.

``PatchDiscriminator(in_channels, ndf, strides, norm)``: 4x4 convs with padding 1; the first has a
bias and no norm, the middle ones no bias + InstanceNorm + LeakyReLU(0.2), the last gives one
channel (bias, no norm, no sigmoid). Channels double per layer (capped at ``ndf * max_mult``).

========================  ============  =========  ======================  ===========
layout                    strides       field      out on 256 / on 16      params (23)
========================  ============  =========  ======================  ===========
code (both Ds)            (2, 2, 1, 1)  34 x 34    62 x 62 / 2 x 2         683,073
paper Micro               (2, 2, 1)     22 x 22    63 x 63 / -             156,737
paper Macro               (2, 2, 2, 2)  46 x 46    - / 1 x 1               -
========================  ============  =========  ======================  ===========

Inputs smaller than ``min_input_size`` (e.g. the 1x1 low-res map of a tiny image) are zero-padded
by the adversary, identically for real and fake samples.
"""

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["PatchDiscriminator", "MacroDiscriminator", "MicroDiscriminator"]

KERNEL = 4
PAD = 1


class PatchDiscriminator(nn.Module):
    """pix2pix-style patch discriminator on a (N, 3 + C, h, w) map; returns (N, 1, h', w') logits."""

    def __init__(
        self,
        in_channels: int,
        *,
        ndf: int = 64,
        strides: Sequence[int] = (2, 2, 1, 1),
        norm: str = "IN",
        max_mult: int = 8,
        slope: float = 0.2,
    ):
        super().__init__()
        strides = tuple(int(s) for s in strides)
        if len(strides) < 2:
            raise ValueError(f"a discriminator needs at least 2 convs, got strides {strides}")
        if norm not in ("IN", "none", ""):
            raise ValueError(f"discriminator NORM must be 'IN' or 'none', got {norm!r}")
        self.strides = strides
        layers = [
            nn.Conv2d(in_channels, ndf, KERNEL, strides[0], PAD, bias=True),
            nn.LeakyReLU(slope, True),
        ]
        ch = ndf
        for i, s in enumerate(strides[1:-1], start=1):
            out = ndf * min(2**i, max_mult)
            layers.append(nn.Conv2d(ch, out, KERNEL, s, PAD, bias=norm != "IN"))
            if norm == "IN":
                layers.append(nn.InstanceNorm2d(out, affine=False, track_running_stats=False))
            layers.append(nn.LeakyReLU(slope, True))
            ch = out
        layers.append(nn.Conv2d(ch, 1, KERNEL, strides[-1], PAD, bias=True))
        self.model = nn.Sequential(*layers)
        self._uses_norm = norm == "IN"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    @property
    def receptive_field(self) -> int:
        """Side of the input square that one output cell sees."""
        rf, jump = 1, 1
        for s in self.strides:
            rf += (KERNEL - 1) * jump
            jump *= s
        return rf

    def output_size(self, size: int) -> int:
        """Output side for an input side ``size`` (0 if the input is too small)."""
        for s in self.strides:
            size = (size + 2 * PAD - KERNEL) // s + 1
            if size <= 0:
                return 0
        return size

    @property
    def min_input_size(self) -> int:
        """Smallest input side giving a >= 1 output and > 1 element in every normalised map
        (InstanceNorm over a single element is undefined; PyTorch raises in training)."""
        size = 1
        while not self._valid(size):
            size += 1
        return size

    def _valid(self, size: int) -> bool:
        for i, s in enumerate(self.strides):
            size = (size + 2 * PAD - KERNEL) // s + 1
            if size <= 0:
                return False
            if self._uses_norm and 0 < i < len(self.strides) - 1 and size < 2:
                return False
        return True


class MicroDiscriminator(PatchDiscriminator):
    """Micro D: patches of the full-resolution map; its responses are averaged in the loss.

    Default layout is the released one ((2,2,1,1), field 34); the paper's is (2,2,1), field 22.
    """

    def __init__(self, in_channels: int, *, strides: Sequence[int] = (2, 2, 1, 1), **kwargs):
        super().__init__(in_channels, strides=strides, **kwargs)


class MacroDiscriminator(PatchDiscriminator):
    """Macro D: the whole low-resolution (1/16) map. Released layout (2,2,1,1) (2x2 output on 16);
    the paper's (2,2,2,2) reaches 1x1 with a plain last conv (IN on 1x1 is undefined)."""

    def __init__(self, in_channels: int, *, strides: Sequence[int] = (2, 2, 1, 1), **kwargs):
        super().__init__(in_channels, strides=strides, **kwargs)
