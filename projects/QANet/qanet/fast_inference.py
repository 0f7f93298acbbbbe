"""Inference-only fast path of the QANet crop parser (``MODEL.QANET.TEST.FAST_PATH``).

The crop parser is ~75 % convolutions on CPU (torch.profiler, R-50c 512x384, batch 4); the rest is
BatchNorm, ReLU, upsampling and adds, each a full pass over memory. The fast path keeps the same
network and the same arithmetic up to float32 rounding:

- ``"eager"``: a copy of the parser with every eval-mode BatchNorm folded into the conv before it
  (``torch.nn.utils.fusion.fuse_conv_bn_weights``), weights and crops in channels_last (oneDNN's
  native NHWC convolutions), no autograd;
- ``"compile"``: the same copy through ``torch.compile`` (inductor, ``freezing``: weights prepacked
  for oneDNN, ReLU / residual adds / upsampling fused into the convs' post-ops or into generated
  C++ loops). The first forward of each batch shape compiles (about a minute for R-50c on 2 cores).

The copy is made from the parser's weights when it is first used and dropped whenever the model's
train/eval mode changes (``QANet.train``), so training never sees it and later weight loads followed
by ``model.eval()`` are picked up. Outputs equal the plain parser's within 1e-4 (measured by
``tests/projects/test_qanet_fast_inference.py`` and ``benchmarks/qanet_speed.py --vs-official``).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

__all__ = ["FAST_PATHS", "fold_batchnorm_", "InferenceParser"]

FAST_PATHS = ("", "eager", "compile")

_BN_TYPES: tuple[type, ...] = (nn.BatchNorm2d,)
try:  # detectron2's frozen BN (eval-only statistics) folds the same way
    from detectron2.layers import FrozenBatchNorm2d

    _BN_TYPES = _BN_TYPES + (FrozenBatchNorm2d,)
except ImportError:  # pragma: no cover
    pass

# Blocks whose forward is conv_i -> bn_i (nothing in between) for every i: timm ResNet / HRNet blocks
# and stems. Only these are folded by attribute name; anything else keeps its BatchNorm (correct, slower).
# (timm's FeatureListNet runs its children in order, so its stem conv1 -> bn1 qualifies too.)
_PAIRED_BLOCKS = {
    "Bottleneck",
    "BasicBlock",
    "ResNet",
    "HighResolutionNet",
    "HighResolutionNetFeatures",
    "FeatureListNet",
}
_PAIRS = (("conv", "bn"), ("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))


def _fold(conv: nn.Conv2d, bn: nn.Module) -> None:
    """conv <- bn(conv(.)) in place (bn in eval mode: its running statistics)."""
    w, b = fuse_conv_bn_weights(
        conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
    )
    conv.weight, conv.bias = w, b


def _last_conv(m: nn.Module):
    """``m`` if it is a Conv2d, the last module of a Sequential if that is one (timm deep stem), else None."""
    if isinstance(m, nn.Conv2d):
        return m
    if isinstance(m, nn.Sequential) and len(m) and isinstance(m[-1], nn.Conv2d):
        return m[-1]
    return None


@torch.no_grad()
def fold_batchnorm_(module: nn.Module) -> int:
    """Fold every foldable eval-mode BatchNorm of ``module`` into its conv, in place; returns how many.

    Folded: detectron2 ``Conv2d(norm=BN)``; ``Conv2d`` directly followed by a BN inside an
    ``nn.Sequential``; ``conv_i`` / ``bn_i`` pairs of the timm blocks in ``_PAIRED_BLOCKS``.
    The BN is replaced by ``nn.Identity`` (detectron2's ``norm`` by None).
    """
    if module.training:
        raise RuntimeError(
            "fold_batchnorm_: the module is in training mode (BatchNorm uses batch statistics)"
        )
    from detectron2.layers import Conv2d as D2Conv2d

    n = 0
    for m in list(module.modules()):
        if isinstance(m, D2Conv2d) and isinstance(m.norm, _BN_TYPES):
            _fold(m, m.norm)
            m.norm = None
            n += 1
        if isinstance(m, nn.Sequential):
            for i in range(len(m) - 1):
                if (
                    isinstance(m[i], nn.Conv2d)
                    and not isinstance(m[i], D2Conv2d)
                    and isinstance(m[i + 1], _BN_TYPES)
                ):
                    _fold(m[i], m[i + 1])
                    m[i + 1] = nn.Identity()
                    n += 1
        if type(m).__name__ in _PAIRED_BLOCKS:
            for c_name, b_name in _PAIRS:
                conv, bn = _last_conv(getattr(m, c_name, None)), getattr(m, b_name, None)
                if conv is not None and isinstance(bn, _BN_TYPES):
                    _fold(conv, bn)
                    setattr(m, b_name, nn.Identity())
                    n += 1
    return n


class InferenceParser(nn.Module):
    """An eval-only copy of a ``QANetCropParser``: BN folded, channels_last, optionally compiled.

    Called like the parser: (B, 3, h, w) 0-255 RGB crops -> logits (B, C, h, w) (contiguous), iou (B,).
    """

    def __init__(self, parser: nn.Module, mode: str = "eager"):
        super().__init__()
        if mode not in FAST_PATHS[1:]:
            raise ValueError(
                f"MODEL.QANET.TEST.FAST_PATH must be one of {FAST_PATHS}, got {mode!r}"
            )
        net = copy.deepcopy(parser).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        self.num_folded = fold_batchnorm_(net)
        self.net = net.to(memory_format=torch.channels_last)
        self.mode = mode
        self.input_format = parser.input_format
        self._run = self.net
        if mode == "compile":
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True  # constant weights: prepacked, folded at compile time
            self._run = torch.compile(self.net, dynamic=False)

    def train(self, mode: bool = True):
        if mode:
            raise RuntimeError(
                "InferenceParser is inference-only; train the QANetCropParser it was copied from"
            )
        return super().train(False)

    def forward(self, crops_rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # no_grad, not inference_mode: callers may update the outputs in place outside either mode
        with torch.no_grad():
            logits, iou = self._run(crops_rgb.contiguous(memory_format=torch.channels_last))
            return logits.contiguous(), iou
