"""The MMAN generator as a detectron2 meta-architecture (``META_ARCHITECTURE: "MMAN"``).

Alone it is the paper's baseline, Do-DeepLab-ASPP; the discriminators live in the trainer
(``humanparse_d2.engine.adversarial``). Inputs (per image, from ``SinglePersonParsingMapper``):
"image" (3, H, W) uint8 in ``INPUT.FORMAT``, normalised here with ``MODEL.PIXEL_MEAN/STD`` (and, at
inference, resized like the test mapper does: ``INPUT.PARSING.SINGLE.TEST_RESIZE/TEST_SIZE``, a
no-op for the test mapper's own output; raw frames from ``DefaultPredictor`` or tools/demo.py get
the same), "sem_seg" (H, W) long with 255 = ignore (training), "height"/"width" = original size
(inference), "mman_thumbnail" (3, t, t) uint8 (training, release preset; normalised like "image").
A float "image" is taken as already normalised ImageNet RGB.

Training returns ``{"loss_ce_hi", "loss_ce_lo"[, "loss_ce_mid"]}`` (weighted), and with
``return_aux=True`` also the tensors the adversary needs. Sides that are not multiples of 16 are
padded (image 0, labels 255) and outputs cropped back.

Inference (eval mode) runs every scale of ``TEST.MMAN.SCALES`` (and its horizontal flip, with the
left/right channels swapped by the training dataset's ``flip_lut``), averages
``softmax(T * logits)`` at the input size and returns per image
``{"sem_seg": (C, height, width) probabilities, "sem_seg_lowres": (C, ceil(H/16), ceil(W/16))
single-scale low-res logits, "sem_seg_ipr_label": (H, W) argmax of the ensemble at input size,
"sem_seg_input_size": (C, H, W) the ensemble at the size the model saw (e.g. the 256x256 squash;
the 256x256 mIoU protocol reads it, so the prediction is never resized twice)}``.

With the release generator (BatchNorm on batch statistics) every test pass runs on one image, as
the released test code did; the rescaled passes are resized back with ``TEST.MMAN.ALIGN_CORNERS``.
"""

import logging
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone
from detectron2.structures import ImageList
from detectron2.utils.logger import log_first_n
from torch import nn

from humanparse_d2.data.flip import flip_lut_for

from .config import check_mman_config
from .generator import ASPPLowRes, MMANDecoder
from .test_ensemble import RAW_TEST_RESIZES, ensemble_result, multiscale_flip_probs, resize_raw

__all__ = ["MMAN", "downsample_labels", "sanitize_labels", "parsing_ce"]

logger = logging.getLogger(__name__)

ENCODER_FEATURES = ("stem", "res2", "res3", "res4", "res5")


def downsample_labels(labels: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Centre-nearest downsampling of (N, H, W) labels to ``size`` (PIL NEAREST: for a factor s,
    row i takes source row floor((i + 0.5) * s), i.e. s*i + s/2 for even s)."""
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    out = F.interpolate(labels[:, None].float(), size=tuple(size), mode="nearest-exact")
    return out[:, 0].to(labels.dtype)


def sanitize_labels(labels: torch.Tensor, num_classes: int, ignore_value: int) -> torch.Tensor:
    """Map label values outside [0, num_classes) (other than ``ignore_value``) to ``ignore_value``,
    with a warning: cross-entropy and one-hot would otherwise fail with an opaque index error."""
    bad = (labels != ignore_value) & ((labels < 0) | (labels >= num_classes))
    if bool(bad.any()):
        values = torch.unique(labels[bad]).tolist()
        log_first_n(
            logging.WARNING,
            f"MMAN: label values {values[:10]} are outside the class range [0, {num_classes - 1}] "
            f"(MODEL.MMAN.NUM_CLASSES={num_classes}); treating those pixels as ignore "
            f"({ignore_value}). Check the dataset's label maps and NUM_CLASSES.",
            n=5,
            name=__name__,
            key="message",
        )
        labels = labels.masked_fill(bad, ignore_value)
    return labels


def parsing_ce(
    logits: torch.Tensor, labels: torch.Tensor, ignore_value: int, reduction: str
) -> torch.Tensor:
    """Cross-entropy in fp32: "mean" over valid pixels, or "sum" over pixels / batch (Eq. 1)."""
    logits = logits.float()
    valid = labels != ignore_value
    if not bool(valid.any()):
        return logits.sum() * 0.0
    loss = F.cross_entropy(logits, labels.long(), ignore_index=ignore_value, reduction="sum")
    if reduction == "mean":
        return loss / valid.sum()
    if reduction == "sum":
        return loss / labels.shape[0]
    raise ValueError(f"MODEL.MMAN.CE_REDUCTION must be 'mean' or 'sum', got {reduction!r}")


def _flip_lut(cfg, num_classes: int) -> list[int] | None:
    """The flip LUT of the dataset the model is trained on (its classes are the model's)."""
    names = list(cfg.DATASETS.TRAIN) or list(cfg.DATASETS.TEST)
    lut = flip_lut_for(names, num_classes, key="MODEL.MMAN.NUM_CLASSES")
    if lut is None and cfg.TEST.MMAN.FLIP:
        logger.warning("no flip_lut in the metadata of %s: flip inference swaps no labels", names)
    return lut


def _check_encoder(shapes: dict[str, ShapeSpec], size_divisibility: int) -> None:
    missing = [f for f in ENCODER_FEATURES if f not in shapes]
    if missing:
        raise ValueError(
            f"MMAN needs encoder features {ENCODER_FEATURES}, the backbone gives {sorted(shapes)}; "
            "use MODEL.BACKBONE.NAME='build_mman_resnet_backbone' and "
            "MODEL.RESNETS.OUT_FEATURES=['stem','res2','res3','res4','res5']"
        )
    if shapes["res5"].stride != size_divisibility:
        raise ValueError(
            f"res5 stride is {shapes['res5'].stride}, MODEL.MMAN.SIZE_DIVISIBILITY is "
            f"{size_divisibility}; MMAN needs output stride 16 (MODEL.RESNETS.RES5_DILATION=2)"
        )


def _checked_flip_lut(flip_lut: Sequence[int] | None, num_classes: int) -> torch.Tensor:
    lut = list(range(num_classes)) if flip_lut is None else [int(v) for v in flip_lut]
    if sorted(lut) != list(range(num_classes)):
        raise ValueError(f"flip_lut must be a permutation of 0..{num_classes - 1}, got {lut}")
    return torch.tensor(lut, dtype=torch.long)


@META_ARCH_REGISTRY.register()
class MMAN(nn.Module):
    """Dual-output generator of MMAN: encoder -> (ASPP low-res logits, decoder full-res logits).

    Args:
        backbone: encoder with outputs "stem" (stride 2), "res2", "res3", "res4", "res5"
            (res4 and res5 stride 16).
        num_classes: C, background included.
        loss_weights: {"ce_hi", "ce_lo"[, "ce_mid"]} weights of the CE terms.
        pixel_mean, pixel_std: normalisation of uint8 inputs (in ``input_format`` order).
        input_format: channel order of uint8 inputs ("RGB" or "BGR"); float inputs are RGB.
        mid_head: add the stride-4 classifier of the Multiple AN variant.
        flip_lut: label permutation of a horizontal flip (identity if None).
        raw_test_resize, raw_test_size: at inference, uint8 images (raw frames, e.g. from
            tools/demo.py, not prepared by the test mapper) are first resized like the test
            mapper does: "squash" to size x size, "shortest_edge" to size, or "none".
        single_image_passes: run every test pass on one image (needed when the encoder's
            BatchNorm uses batch statistics: a batch of an image and its flip would mix them).
        align_corners: of the bilinear resize of rescaled passes back to the input size.
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        num_classes: int,
        loss_weights: dict[str, float],
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        input_format: str = "RGB",
        aspp_dilations: Sequence[int] = (2, 4, 6),
        decoder_dropout: float = 0.0,
        init: str = "code",
        mid_head: bool = False,
        ignore_value: int = 255,
        size_divisibility: int = 16,
        temperature: float = 5.0,
        ce_reduction: str = "mean",
        test_scales: Sequence[float] = (0.75, 1.0, 1.25),
        test_flip: bool = True,
        flip_lut: Sequence[int] | None = None,
        raw_test_resize: str = "none",
        raw_test_size: int = 256,
        single_image_passes: bool = False,
        align_corners: bool = False,
    ):
        super().__init__()
        self.backbone = backbone
        shapes = backbone.output_shape()
        _check_encoder(shapes, size_divisibility)
        if raw_test_resize not in RAW_TEST_RESIZES:
            raise ValueError(
                f"raw_test_resize must be squash, shortest_edge or none, got {raw_test_resize!r}"
            )
        self.num_classes = num_classes
        self.aspp = ASPPLowRes(shapes["res5"].channels, num_classes, aspp_dilations, init)
        self.decoder = MMANDecoder(
            shapes, num_classes=num_classes, dropout=decoder_dropout, init=init, mid_head=mid_head
        )
        self.loss_weights = dict(loss_weights)
        self.ignore_value = ignore_value
        self.size_divisibility = size_divisibility
        self.temperature = temperature
        self.ce_reduction = ce_reduction
        self.test_scales = tuple(float(s) for s in test_scales)
        self.test_flip = test_flip
        self.input_format = input_format
        self.raw_test_resize = raw_test_resize
        self.raw_test_size = int(raw_test_size)
        self.single_image_passes = bool(single_image_passes)
        self.align_corners = bool(align_corners)
        lut = _checked_flip_lut(flip_lut, num_classes)
        self.register_buffer("flip_lut", lut, persistent=False)
        mean, std = torch.tensor(pixel_mean).view(-1, 1, 1), torch.tensor(pixel_std).view(-1, 1, 1)
        self.register_buffer("pixel_mean", mean, persistent=False)
        self.register_buffer("pixel_std", std, persistent=False)

    @classmethod
    def from_config(cls, cfg):
        check_mman_config(cfg)
        m = cfg.MODEL.MMAN
        backbone = build_backbone(cfg, ShapeSpec(channels=3))
        w = m.LOSS_WEIGHTS
        weights = {"ce_lo": w[1], "ce_hi": w[3]}
        if m.MID.ENABLED:
            weights["ce_mid"] = w[1] if m.MID.CE_WEIGHT < 0 else m.MID.CE_WEIGHT
        return {
            "backbone": backbone,
            "num_classes": m.NUM_CLASSES,
            "loss_weights": weights,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "input_format": cfg.INPUT.FORMAT,
            "aspp_dilations": m.ASPP_DILATIONS,
            "decoder_dropout": m.DECODER_DROPOUT,
            "init": m.INIT,
            "mid_head": m.MID.ENABLED,
            "ignore_value": m.IGNORE_VALUE,
            "size_divisibility": m.SIZE_DIVISIBILITY,
            "temperature": m.TEMPERATURE,
            "ce_reduction": m.CE_REDUCTION,
            "test_scales": cfg.TEST.MMAN.SCALES,
            "test_flip": cfg.TEST.MMAN.FLIP,
            "flip_lut": _flip_lut(cfg, m.NUM_CLASSES),
            "raw_test_resize": cfg.INPUT.PARSING.SINGLE.TEST_RESIZE,
            "raw_test_size": cfg.INPUT.PARSING.SINGLE.TEST_SIZE,
            "single_image_passes": m.GENERATOR.VARIANT == "release",
            "align_corners": bool(cfg.TEST.MMAN.ALIGN_CORNERS),
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    # ------------------------------------------------------------------ helpers
    def _normalise(self, image: torch.Tensor) -> torch.Tensor:
        """(3, H, W) uint8 in ``input_format`` -> normalised RGB float; a float image is returned
        as it is (already normalised, as tensors built by hand in tests and tools are)."""
        image = image.to(self.device)
        if image.is_floating_point():
            return image
        image = (image.float() - self.pixel_mean) / self.pixel_std
        return image.flip(0) if self.input_format == "BGR" else image

    def _generator(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw outputs on a (N, 3, H, W) batch whose sides are multiples of 16."""
        features = self.backbone(images)
        logits_hi, logits_mid = self.decoder(features)
        out = {"logits_hi": logits_hi, "logits_lo": self.aspp(features["res5"])}
        if logits_mid is not None:
            out["logits_mid"] = logits_mid
        return out

    def _padded_forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, h, w) any size -> hi logits cropped to (h, w), lo logits (ceil(h/16), ceil(w/16))."""
        h, w = images.shape[-2:]
        if self.single_image_passes and images.shape[0] > 1:
            outs = [self._padded_forward(x[None]) for x in images]
            return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])
        ph, pw = self._padded_side(h) - h, self._padded_side(w) - w
        out = self._generator(F.pad(images, (0, pw, 0, ph)) if (ph or pw) else images)
        lo_h, lo_w = math.ceil(h / self.size_divisibility), math.ceil(w / self.size_divisibility)
        return out["logits_hi"][..., :h, :w], out["logits_lo"][..., :lo_h, :lo_w]

    def _padded_side(self, side: int) -> int:
        """Multiple of 16, and at least 32: InstanceNorm needs > 1 element on the 1/16 map."""
        d = self.size_divisibility
        return max(2 * d, math.ceil(side / d) * d)

    def _pad_min(self, x: torch.Tensor, value: float) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = self._padded_side(h) - h, self._padded_side(w) - w
        return F.pad(x, (0, pw, 0, ph), value=value) if (ph or pw) else x

    # ------------------------------------------------------------------ forward
    def forward(self, batched_inputs: list[dict], return_aux: bool = False):
        """
        Args:
            batched_inputs: list of dicts (see the module docstring).
            return_aux: training only; also return the tensors the adversary needs.
        Returns:
            training: loss dict, or (loss dict, aux) with aux = {"images" (N, 3, Hp, Wp) normalised
            and padded, "logits_hi"/"logits_lo"[/"logits_mid"], "gt_hi"/"gt_lo"[/"gt_mid"]};
            eval: a list of per-image result dicts.
        """
        if not self.training:
            return self.inference(batched_inputs)
        images = ImageList.from_tensors(
            [self._normalise(x["image"]) for x in batched_inputs], self.size_divisibility, 0.0
        ).tensor
        images = self._pad_min(images, 0.0)
        for x in batched_inputs:
            if "sem_seg" not in x:
                raise KeyError(
                    "MMAN training inputs need 'sem_seg' (use SinglePersonParsingMapper)"
                )
            if tuple(x["sem_seg"].shape[-2:]) != tuple(x["image"].shape[-2:]):
                raise ValueError(
                    f"label map {tuple(x['sem_seg'].shape)} and image {tuple(x['image'].shape)} "
                    f"of {x.get('file_name', '?')} differ in size"
                )
        gt_hi = ImageList.from_tensors(
            [x["sem_seg"].to(self.device).long() for x in batched_inputs],
            self.size_divisibility,
            self.ignore_value,
        ).tensor
        gt_hi = self._pad_min(gt_hi, self.ignore_value)
        gt_hi = sanitize_labels(gt_hi, self.num_classes, self.ignore_value)

        aux = self._generator(images)
        aux["images"] = images
        if all("mman_thumbnail" in x for x in batched_inputs):  # Macro D's pre-crop condition
            thumbs = [self._normalise(x["mman_thumbnail"]).float() for x in batched_inputs]
            aux["thumbnail"] = torch.stack(thumbs)
        aux["gt_hi"] = gt_hi
        aux["gt_lo"] = downsample_labels(gt_hi, aux["logits_lo"].shape[-2:])
        losses = {
            "loss_ce_hi": self.loss_weights["ce_hi"] * self._ce(aux["logits_hi"], gt_hi),
            "loss_ce_lo": self.loss_weights["ce_lo"] * self._ce(aux["logits_lo"], aux["gt_lo"]),
        }
        if "logits_mid" in aux:
            aux["gt_mid"] = downsample_labels(gt_hi, aux["logits_mid"].shape[-2:])
            losses["loss_ce_mid"] = self.loss_weights["ce_mid"] * self._ce(
                aux["logits_mid"], aux["gt_mid"]
            )
        return (losses, aux) if return_aux else losses

    def _ce(self, logits, labels):
        return parsing_ce(logits, labels, self.ignore_value, self.ce_reduction)

    @torch.no_grad()
    def inference(self, batched_inputs: list[dict]) -> list[dict[str, torch.Tensor]]:
        """Per image the ``test_ensemble.ensemble_result`` dict (see the module docstring)."""
        results = []
        for x in batched_inputs:
            raw = not x["image"].is_floating_point()
            image = self._normalise(x["image"])
            height = int(x.get("height", image.shape[-2]))
            width = int(x.get("width", image.shape[-1]))
            if raw:
                image = resize_raw(image, self.raw_test_resize, self.raw_test_size)
            probs, lowres = self.multiscale_flip_probs(image)
            results.append(ensemble_result(probs, lowres, height, width))
        return results

    def multiscale_flip_probs(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(3, H, W) normalised -> probs (C, H, W), the average of softmax(T * logits) over
        scales x {image, flip}, and the scale-1 low-res logits (``test_ensemble``)."""
        return multiscale_flip_probs(
            self._padded_forward,
            image,
            scales=self.test_scales,
            flip=self.test_flip,
            flip_lut=self.flip_lut,
            temperature=self.temperature,
            align_corners=self.align_corners,
        )
