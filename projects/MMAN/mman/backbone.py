"""The MMAN encoder: a detectron2 ResNet with a dilated res5 and the stride-2 stem output.

Output stride 16 (res5 keeps stride 16 with dilation 2) and an extra skip taken from
``stem.conv1`` (conv + norm, **before** the ReLU, stride 2). Module names are detectron2's
(``stem.conv1``, ``res2.0.conv1`` ...), so ImageNet ``.pkl`` weights load through
``DetectionCheckpointer`` unchanged.

detectron2's ``build_resnet_backbone`` refuses ``RES5_DILATION=2`` for R18/R34 (no dilated
BasicBlock); here the res5 3x3 convs of a BasicBlock stage are dilated in place, so R18/R34 generators
have the same geometry as R101 (used for the quick CPU configs).

``MODEL.MMAN.GENERATOR.VARIANT: release`` builds the encoder of the released MMAN generator on the
same module names (so the same ImageNet weights and converted checkpoints load), with its three
differences from a standard ResNet (RoyalVane/MMAN ``models/networks.py``, ``Bottleneck`` and
``UnetSkipConnectionBlock``):

- every bottleneck is ``conv1, bn1, conv2, bn2, conv3, bn3`` with no ReLU inside, and one ReLU on the
  block *input* (:class:`ReleaseBottleneckBlock`): ``y = F(relu(x)) + S(relu(x))``;
- so every stage output (the skip taps res2..res4 and the ASPP input res5) is pre-ReLU;
- every BatchNorm normalises with the statistics of the current batch, in training and at test
  (the release never calls ``eval()`` on them), with trained affine parameters
  (:class:`BatchStatBatchNorm2d`).
"""

import torch.nn.functional as F
from detectron2.layers import BatchNorm2d, ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone.resnet import (
    BasicBlock,
    BasicStem,
    BottleneckBlock,
    ResNet,
)

__all__ = [
    "MMANResNet",
    "build_mman_resnet_backbone",
    "BatchStatBatchNorm2d",
    "ReleaseBottleneckBlock",
]


class BatchStatBatchNorm2d(BatchNorm2d):
    """BatchNorm that always normalises with the current batch's statistics (train and eval).

    The running statistics are still updated in training (as PyTorch does), never in eval mode, so
    evaluating does not change the checkpoint. At batch 1 this is per-image normalisation, which is
    what the released MMAN computed at test time: run test passes one image at a time.
    """

    def forward(self, x):
        """x: (N, C, H, W) -> (N, C, H, W), normalised over (N, H, W) of this batch."""
        if x.dim() != 4:
            raise ValueError(f"BatchStatBatchNorm2d expects (N, C, H, W), got {tuple(x.shape)}")
        track = self.training and self.track_running_stats
        if track:
            self.num_batches_tracked.add_(1)
        return F.batch_norm(
            x,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            training=True,
            momentum=self.momentum,
            eps=self.eps,
        )


class ReleaseBottleneckBlock(BottleneckBlock):
    """The released MMAN bottleneck: ``F(relu(x)) + S(relu(x))``, ``F`` = conv-BN x3 without ReLU.

    Same parameters and names as detectron2's ``BottleneckBlock``; only ``forward`` differs.
    The output is not ReLU'd (the next block, the decoder and the ASPP head see it pre-ReLU).
    """

    def forward(self, x):
        x = F.relu(x)
        out = self.conv3(self.conv2(self.conv1(x)))
        return out + (self.shortcut(x) if self.shortcut is not None else x)


class MMANResNet(ResNet):
    """``ResNet`` whose "stem" output is the stride-2 pre-ReLU conv1 map (not the pooled one)."""

    def __init__(self, stem, stages, out_features=None, freeze_at=0):
        super().__init__(stem, stages, out_features=out_features, freeze_at=freeze_at)
        self._out_feature_strides["stem"] = 2

    def forward(self, x) -> dict[str, "torch.Tensor"]:  # noqa: F821
        """
        Args:
            x: (N, 3, H, W), H and W multiples of 16.
        Returns:
            dict of the requested features: "stem" (N, 64, H/2, W/2) pre-ReLU, "res2".."res5".
        """
        assert x.dim() == 4, f"MMANResNet takes (N, C, H, W), got {tuple(x.shape)}"
        outputs = {}
        stem = self.stem.conv1(x)  # conv + norm; the ReLU below must not be in place
        if "stem" in self._out_features:
            outputs["stem"] = stem
        x = F.max_pool2d(F.relu(stem), kernel_size=3, stride=2, padding=1)
        for name, stage in zip(self.stage_names, self.stages):
            x = stage(x)
            if name in self._out_features:
                outputs[name] = x
        return outputs

    def output_shape(self):
        return {
            name: ShapeSpec(
                channels=self._out_feature_channels[name], stride=self._out_feature_strides[name]
            )
            for name in self._out_features
        }


def _dilate_basic_blocks(blocks, dilation: int) -> None:
    for block in blocks:
        for conv in (block.conv1, block.conv2):
            conv.dilation = (dilation, dilation)
            conv.padding = (dilation, dilation)


_BLOCKS_PER_STAGE = {
    18: [2, 2, 2, 2],
    34: [3, 4, 6, 3],
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
}


def _make_stage(
    r, stage_idx: int, num_blocks: int, channels: tuple[int, int, int], norm, release: bool
) -> list:
    """The blocks of res{stage_idx} (2..5) from ``MODEL.RESNETS`` ``r``; ``channels`` = (in,
    out, bottleneck). res5 keeps stride 16 when dilated; basic blocks for R18/R34."""
    in_channels, out_channels, bottleneck_channels = channels
    dilation = r.RES5_DILATION if stage_idx == 5 else 1
    first_stride = 1 if stage_idx == 2 or (stage_idx == 5 and dilation == 2) else 2
    kwargs = {
        "num_blocks": num_blocks,
        "stride_per_block": [first_stride] + [1] * (num_blocks - 1),
        "in_channels": in_channels,
        "out_channels": out_channels,
        "norm": norm,
    }
    if r.DEPTH in (18, 34):  # any RES2_OUT_CHANNELS (64 for ImageNet weights; less in tests)
        blocks = ResNet.make_stage(block_class=BasicBlock, **kwargs)
        if dilation > 1:
            _dilate_basic_blocks(blocks, dilation)
        return blocks
    return ResNet.make_stage(
        block_class=ReleaseBottleneckBlock if release else BottleneckBlock,
        bottleneck_channels=bottleneck_channels,
        stride_in_1x1=r.STRIDE_IN_1X1,
        dilation=dilation,
        num_groups=r.NUM_GROUPS,
        **kwargs,
    )


@BACKBONE_REGISTRY.register()
def build_mman_resnet_backbone(cfg, input_shape: ShapeSpec) -> MMANResNet:
    """detectron2's ResNet recipe (``MODEL.RESNETS.*``) with ``RES5_DILATION`` honoured for every
    depth and ``OUT_FEATURES`` that may include "stem" (stride 2)."""
    from .config import check_mman_config

    check_mman_config(cfg)
    r = cfg.MODEL.RESNETS
    release = cfg.MODEL.MMAN.GENERATOR.VARIANT == "release"
    norm = BatchStatBatchNorm2d if release else r.NORM
    stem = BasicStem(in_channels=input_shape.channels, out_channels=r.STEM_OUT_CHANNELS, norm=norm)
    if r.RES5_DILATION not in (1, 2):
        raise ValueError(f"MODEL.RESNETS.RES5_DILATION must be 1 or 2, got {r.RES5_DILATION}")
    blocks_per_stage = _BLOCKS_PER_STAGE[r.DEPTH]
    if release and r.DEPTH in (18, 34):
        raise ValueError(
            "MODEL.MMAN.GENERATOR.VARIANT 'release' is a bottleneck ResNet (R50/R101/R152)"
        )
    channels = (r.STEM_OUT_CHANNELS, r.RES2_OUT_CHANNELS, r.NUM_GROUPS * r.WIDTH_PER_GROUP)
    stages = []
    for idx, stage_idx in enumerate(range(2, 6)):
        stages.append(_make_stage(r, stage_idx, blocks_per_stage[idx], channels, norm, release))
        in_channels, out_channels, bottleneck_channels = channels
        channels = (out_channels, out_channels * 2, bottleneck_channels * 2)
    return MMANResNet(
        stem, stages, out_features=r.OUT_FEATURES, freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT
    )
