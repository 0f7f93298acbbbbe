"""Key mapping from the released MMAN generator (RoyalVane/MMAN ``<epoch>_net_G.pth``) to ours.

The release saves ``netG.state_dict()`` of a ``UnetGenerator`` built from nested
``UnetSkipConnectionBlock`` s, so its keys spell the nesting: ``model.U4`` (stem conv1/bn1 + top
ConvT) holds ``.2`` = the depth-3 block (``U3``: maxpool, layer1's 3 bottlenecks, the depth-2
block at ``.4``, its ConvT at ``.6``; ``con3`` the stem skip), and so on down to ``U0`` (layer4,
``.3`` = the ASPP head ``U_1.0.U_2.0``, ``.5`` its ConvT). Bottlenecks are ``model_cx`` =
[conv1, bn1, conv2, bn2, conv3, bn3] and ``model_x`` = [downsample conv, bn].

Values are copied unchanged except the input channels of the ConvTs that read a concatenation: the
release concatenates ``[skip, upsampled]``, our decoder ``[upsampled, skip]``, so their halves are
swapped (an exact permutation). Files saved by PyTorch 0.3 have no BatchNorm
``num_batches_tracked``; it is filled with 0 (it only matters for momentum=None).
"""

from collections import OrderedDict

import torch

__all__ = ["release_key_map", "convert_release_generator", "STAGE_BLOCKS"]

# blocks per stage of the released ResNet-101 encoder (res2..res5)
STAGE_BLOCKS = (3, 4, 23, 3)
_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _stage_prefixes() -> list[tuple[str, int]]:
    """(official prefix of stage i's blocks, index of its first block) for res2..res5."""
    p3 = "model.U4.2.U3."
    p2 = p3 + "4.U2."
    p1 = p2 + "4.U1."
    p0 = p1 + "23.U0."
    return [(p3, 1), (p2, 0), (p1, 0), (p0, 0)]


def release_key_map() -> "OrderedDict[str, tuple[str, bool]]":
    """official key -> (our key, swap the two halves of dim 0)."""
    m: OrderedDict[str, tuple[str, bool]] = OrderedDict()

    def conv_bn(off_conv: str, off_bn: str, ours: str):
        m[off_conv + ".weight"] = (ours + ".weight", False)
        for b in _BN:
            m[f"{off_bn}.{b}"] = (f"{ours}.norm.{b}", False)

    conv_bn("model.U4.0", "model.U4.1", "backbone.stem.conv1")
    for stage, ((prefix, first), n) in enumerate(zip(_stage_prefixes(), STAGE_BLOCKS)):
        for j in range(n):
            off = f"{prefix}{first + j}."
            ours = f"backbone.res{stage + 2}.{j}"
            for k in range(3):
                conv_bn(
                    f"{off}model_cx.{2 * k}", f"{off}model_cx.{2 * k + 1}", f"{ours}.conv{k + 1}"
                )
            if j == 0:
                conv_bn(f"{off}model_x.0", f"{off}model_x.1", f"{ours}.shortcut")
    (p3, _), (p2, _), (p1, _), (p0, _) = _stage_prefixes()
    aspp = p0 + "3.U_1.0.U_2.0."
    layers = [(f"{aspp}conv2d_list.{k}", f"aspp.branches.{k}", False) for k in range(4)]
    layers += [
        (aspp + "conv1_1", "aspp.fuse", False),
        (p0 + "5", "decoder.ups.0", False),
        (p1 + "23.con0", "decoder.skips.0", False),
        (p1 + "25", "decoder.ups.1", True),
        (p2 + "4.con1", "decoder.skips.1", False),
        (p2 + "6", "decoder.ups.2", True),
        (p3 + "4.con2", "decoder.skips.2", False),
        (p3 + "6", "decoder.ups.3", True),
        ("model.U4.2.con3", "decoder.skips.3", False),
        ("model.U4.4", "decoder.top", True),
    ]
    for off, ours, swap in layers:
        m[off + ".weight"] = (ours + ".weight", swap)
        m[off + ".bias"] = (ours + ".bias", False)
    return m


def _swap_halves(w: torch.Tensor) -> torch.Tensor:
    if w.shape[0] % 2:
        raise ValueError(f"cannot swap the halves of dim 0 of shape {tuple(w.shape)}")
    h = w.shape[0] // 2
    return torch.cat([w[h:], w[:h]], dim=0)


def convert_release_generator(
    state_dict: dict[str, torch.Tensor],
) -> "OrderedDict[str, torch.Tensor]":
    """Our state dict from the released ``net_G`` state dict. Keys the map does not know are kept
    under their official names, so the strict check that follows names them as unexpected."""
    key_map = release_key_map()
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for k, v in state_dict.items():
        if k not in key_map:
            out[k] = v
            continue
        ours, swap = key_map[k]
        out[ours] = _swap_halves(v) if swap else v
    for k, (ours, _) in key_map.items():  # PyTorch 0.3 files: no num_batches_tracked
        if (
            k.endswith(".num_batches_tracked")
            and ours not in out
            and k[: -len("num_batches_tracked")] + "weight" in state_dict
        ):
            out[ours] = torch.tensor(0, dtype=torch.long)
    return out
