"""The adversarial part of MMAN: its discriminators and their losses.

``MMANAdversary`` is owned by the trainer, not by the model, so ``model_final.pth`` holds only the
generator and ``build_optimizer`` never sees discriminator parameters. It turns the generator's
auxiliary outputs into discriminator inputs and computes

- ``discriminator_losses``: per D, ``0.5 * [gan(D(x, y), 1) + gan(D(x, y_hat.detach()), 0)]`` with one
  D forward on real and fake concatenated along the batch (D uses per-sample InstanceNorm);
- ``generator_losses``: per D, ``weight * gan(D(x, y_hat), 1)`` through the live fake; a D named in
  ``detached_in_g`` (Macro D under the release preset, ``MODEL.MMAN.MACRO.G_STEP: detached``) sees
  the detached fake there, so its term is logged but gives G no gradient (the released code).

Conditioning: ``x`` is the normalised RGB crop at the resolution of the map (area-downsampled
thumbnail of the same, final crop for the low-res maps), or for Macro D with
``MACRO.CONDITION: precrop`` the mapper's thumbnail of the image before the crop (the release). ``y_hat = softmax(T * logits)`` in fp32;
``y`` = one-hot ground truth (the low-res targets were sampled at the cell centres). Where the
ground truth is ignore (255: padding, unlabeled) the real map takes the fake's detached value, so
"zero vector = real" is no shortcut for D.
"""

import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from torch import nn

from .config import check_mman_config
from .discriminator import MacroDiscriminator, MicroDiscriminator, PatchDiscriminator

__all__ = [
    "MMANAdversary",
    "build_mman_adversary",
    "gan_loss",
    "init_discriminator",
    "one_hot_with_ignore",
]

logger = logging.getLogger(__name__)

# discriminator name -> generator output it judges
SOURCES = {"macro": "lo", "micro": "hi", "global": "hi", "mid": "mid"}


def gan_loss(pred: torch.Tensor, target_is_real: bool, mode: str) -> torch.Tensor:
    """Mean GAN loss of D logits ``pred``: "lsgan" = MSE to 1/0, "vanilla" = BCE with logits."""
    target = torch.ones_like(pred) if target_is_real else torch.zeros_like(pred)
    if mode == "lsgan":
        return F.mse_loss(pred, target)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(pred, target)
    raise ValueError(f"unknown GAN mode {mode!r}")


def one_hot_with_ignore(gt: torch.Tensor, fake: torch.Tensor, ignore_value: int) -> torch.Tensor:
    """One-hot (N, C, h, w) float of ``gt`` (N, h, w); ignore pixels copy ``fake`` (detached)."""
    num_classes = fake.shape[1]
    valid = gt != ignore_value
    onehot = F.one_hot(torch.where(valid, gt, torch.zeros_like(gt)).long(), num_classes)
    onehot = onehot.permute(0, 3, 1, 2).to(fake.dtype)
    return torch.where(valid[:, None], onehot, fake.detach())


def init_discriminator(d: nn.Module, scheme: str) -> None:
    """Re-initialise every conv of ``d``: "xavier" (Xavier-normal gain 1 weights, biases as
    PyTorch made them: the release's ``weights_init_xavier``), "paper" (N(0, 0.001), zero bias) or
    "pytorch" (leave PyTorch's default)."""
    if scheme == "pytorch":
        return
    if scheme not in ("xavier", "paper"):
        raise ValueError(
            f"MODEL.MMAN.D_INIT must be 'xavier', 'paper' or 'pytorch', got {scheme!r}"
        )
    for m in d.modules():
        if isinstance(m, nn.Conv2d):
            if scheme == "xavier":
                nn.init.xavier_normal_(m.weight, gain=1.0)
            else:
                nn.init.normal_(m.weight, 0.0, 0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


def _pad_to(x: torch.Tensor, min_size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    if h >= min_size and w >= min_size:
        return x
    return F.pad(x, (0, max(0, min_size - w), 0, max(0, min_size - h)))


# (name, MODEL.MMAN node, class, index of its weight in MODEL.MMAN.LOSS_WEIGHTS or None for the
# node's own WEIGHT); the order is the order the discriminators are built and initialised in
_DISCRIMINATOR_TABLE = (
    ("macro", "MACRO", MacroDiscriminator, 0),
    ("micro", "MICRO", MicroDiscriminator, 2),
    ("global", "GLOBAL", PatchDiscriminator, None),
    ("mid", "MID", PatchDiscriminator, None),
)


class MMANAdversary(nn.Module):
    """The discriminators of an MMAN variant and their GAN losses.

    Attributes:
        discriminators (nn.ModuleDict): name ("macro", "micro", "global", "mid") -> D.
    """

    @configurable
    def __init__(
        self,
        *,
        discriminators: dict[str, nn.Module],
        weights: dict[str, float],
        temperature: float = 5.0,
        gan_mode: str = "lsgan",
        ignore_value: int = 255,
        detached_in_g: Sequence[str] = (),
        precrop_condition: Sequence[str] = (),
    ):
        """
        Args:
            discriminators: name -> discriminator taking (N, 3 + C, h, w); names are keys of SOURCES.
            weights: name -> weight of its adversarial term in G's loss.
            temperature: the fake is softmax(temperature * logits).
            gan_mode: "lsgan" or "vanilla".
            ignore_value: ground-truth value without a label.
            detached_in_g: Ds whose term in G's loss sees the detached fake (no gradient to G).
            precrop_condition: Ds conditioned on ``aux["thumbnail"]`` (the image before the crop).
        """
        super().__init__()
        unknown = set(discriminators) - set(SOURCES)
        if unknown:
            raise ValueError(
                f"unknown discriminator names {sorted(unknown)}; valid: {sorted(SOURCES)}"
            )
        self.discriminators = nn.ModuleDict(discriminators)
        self.weights = {k: float(weights[k]) for k in discriminators}
        self.temperature = float(temperature)
        self.gan_mode = gan_mode
        self.ignore_value = ignore_value
        self.detached_in_g = frozenset(detached_in_g)
        self.precrop_condition = frozenset(precrop_condition)
        self.loaded_from_checkpoint = False

    @classmethod
    def from_config(cls, cfg):
        check_mman_config(cfg)
        m = cfg.MODEL.MMAN
        in_ch = 3 + m.NUM_CLASSES
        ds, weights = {}, {}
        for name, key, d_class, loss_weight_index in _DISCRIMINATOR_TABLE:
            node = m[key]
            if not node.ENABLED:
                continue
            strides = node.STRIDES
            if key == "MID" and len(strides) == 0:
                strides = m.MICRO.STRIDES  # the paper: "the same architecture with micro D"
            ds[name] = d_class(
                in_ch,
                strides=strides,
                ndf=node.NDF,
                norm=node.NORM,
                max_mult=node.MAX_MULT,
            )
            weights[name] = (
                node.WEIGHT if loss_weight_index is None else m.LOSS_WEIGHTS[loss_weight_index]
            )
        for d in ds.values():
            init_discriminator(d, m.D_INIT)
        return {
            "discriminators": ds,
            "weights": weights,
            "temperature": m.TEMPERATURE,
            "gan_mode": m.GAN_MODE,
            "ignore_value": m.IGNORE_VALUE,
            "detached_in_g": ("macro",) if m.MACRO.G_STEP == "detached" and "macro" in ds else (),
            "precrop_condition": ("macro",)
            if m.MACRO.CONDITION == "precrop" and "macro" in ds
            else (),
        }

    def __len__(self) -> int:
        return len(self.discriminators)

    # ------------------------------------------------------------------ inputs
    def prepare(self, aux: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        """Fake/real maps and RGB conditions per generator output used by some D.

        Args:
            aux: the generator's auxiliary outputs: "images" (N, 3, H, W) normalised and padded,
                "logits_<src>" (N, C, h, w) and "gt_<src>" (N, h, w) for src in {"hi", "lo", "mid"}.
        Returns:
            src -> {"fake": live (N, C, h, w) fp32 probabilities, "real": (N, C, h, w) no grad,
            "rgb": (N, 3, h, w)}.
        """
        out = {}
        images = aux["images"].float()
        for src in sorted({SOURCES[k] for k in self.discriminators}):
            logits = aux.get(f"logits_{src}")
            if logits is None:
                raise KeyError(f"the generator gives no 'logits_{src}' needed by a discriminator")
            fake = F.softmax(self.temperature * logits.float(), dim=1)
            with torch.no_grad():
                real = one_hot_with_ignore(aux[f"gt_{src}"], fake, self.ignore_value)
                size = fake.shape[-2:]
                rgb = (
                    images
                    if images.shape[-2:] == size
                    else F.interpolate(images, size=size, mode="area")
                )
            out[src] = {"fake": fake, "real": real, "rgb": rgb}
        if self.precrop_condition:
            thumb = aux.get("thumbnail")
            if thumb is None:
                raise KeyError(
                    "MODEL.MMAN.MACRO.CONDITION 'precrop' needs the mapper's 'mman_thumbnail' "
                    "(SinglePersonParsingMapper with thumbnail_size > 0; MMANTrainer sets it)"
                )
            lo = out[SOURCES["macro"]]
            if tuple(thumb.shape[-2:]) != tuple(lo["fake"].shape[-2:]):
                raise ValueError(
                    f"Macro D thumbnail {tuple(thumb.shape[-2:])} and low-res map "
                    f"{tuple(lo['fake'].shape[-2:])} differ in size"
                )
            out["precrop"] = dict(lo, rgb=thumb.float())
        return out

    def _source(self, name: str, prepared):
        return prepared["precrop" if name in self.precrop_condition else SOURCES[name]]

    def _d_input(self, name: str, rgb: torch.Tensor, label_map: torch.Tensor) -> torch.Tensor:
        return _pad_to(torch.cat([rgb, label_map], dim=1), self.discriminators[name].min_input_size)

    # ------------------------------------------------------------------ losses
    def discriminator_losses(self, prepared) -> dict[str, torch.Tensor]:
        """D losses on detached fakes: {"loss_d_<name>", "d_real_<name>", "d_fake_<name>"}."""
        out = {}
        with torch.autocast(device_type=self._device_type(prepared), enabled=False):
            for name, d in self.discriminators.items():
                p = self._source(name, prepared)
                n = p["rgb"].shape[0]
                x = torch.cat(
                    [
                        self._d_input(name, p["rgb"], p["real"]),
                        self._d_input(name, p["rgb"], p["fake"].detach()),
                    ]
                )
                pred = d(x)
                pred_real, pred_fake = pred[:n], pred[n:]
                out[f"loss_d_{name}"] = 0.5 * (
                    gan_loss(pred_real, True, self.gan_mode)
                    + gan_loss(pred_fake, False, self.gan_mode)
                )
                out[f"d_real_{name}"] = pred_real.detach().mean()
                out[f"d_fake_{name}"] = pred_fake.detach().mean()
        return out

    def generator_losses(self, prepared) -> dict[str, torch.Tensor]:
        """Adversarial terms of G's loss through the live fakes: {"loss_adv_<name>"}.

        Call with the discriminators frozen (``requires_grad_(False)``) so no D gradient is made.
        """
        out = {}
        with torch.autocast(device_type=self._device_type(prepared), enabled=False):
            for name, d in self.discriminators.items():
                p = self._source(name, prepared)
                fake = p["fake"].detach() if name in self.detached_in_g else p["fake"]
                pred = d(self._d_input(name, p["rgb"], fake))
                out[f"loss_adv_{name}"] = self.weights[name] * gan_loss(pred, True, self.gan_mode)
        return out

    def forward(self, prepared, mode: str = "d") -> dict[str, torch.Tensor]:
        """``mode="d"``: discriminator losses (the call that goes through DDP); "g": G terms."""
        if mode == "d":
            return self.discriminator_losses(prepared)
        if mode == "g":
            return self.generator_losses(prepared)
        raise ValueError(f"mode must be 'd' or 'g', got {mode!r}")

    @staticmethod
    def _device_type(prepared) -> str:
        for p in prepared.values():
            return p["rgb"].device.type
        return "cpu"

    def load_state_dict(self, state_dict, strict: bool = True):
        """Records that the discriminators came from a checkpoint (the trainer logs otherwise)."""
        result = super().load_state_dict(state_dict, strict=strict)
        self.loaded_from_checkpoint = True
        return result


def build_mman_adversary(cfg) -> MMANAdversary | None:
    """The adversary of ``cfg`` on ``cfg.MODEL.DEVICE``, or None when no discriminator is enabled
    (the generator-only baseline)."""
    adversary = MMANAdversary(cfg)
    if len(adversary) == 0:
        return None
    return adversary.to(torch.device(cfg.MODEL.DEVICE))
