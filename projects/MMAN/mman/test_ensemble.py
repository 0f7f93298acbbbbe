"""MMAN's test-time ensemble: the raw-frame resize, the average of ``softmax(T * logits)`` over
scales x {image, horizontal flip}, and the per-image result dict (``MMAN.inference``)."""

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["RAW_TEST_RESIZES", "resize_raw", "multiscale_flip_probs", "ensemble_result"]

RAW_TEST_RESIZES = ("squash", "shortest_edge", "none")


def resize_raw(image: torch.Tensor, mode: str, size: int) -> torch.Tensor:
    """Resize a (3, H, W) raw frame like the test mapper does: "squash" to size x size,
    "shortest_edge" to size, or "none"."""
    H, W = image.shape[-2:]
    if mode == "squash":
        out_hw = (size, size)
    elif mode == "shortest_edge":
        s = size / min(H, W)
        out_hw = (max(1, int(round(H * s))), max(1, int(round(W * s))))
    else:
        return image
    if out_hw == (H, W):
        return image
    return F.interpolate(image[None], out_hw, mode="bilinear", align_corners=False)[0]


def multiscale_flip_probs(
    padded_forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    image: torch.Tensor,
    *,
    scales: Sequence[float],
    flip: bool,
    flip_lut: torch.Tensor,
    temperature: float,
    align_corners: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Average of softmax(T * logits) over scales x {image, flip} at the input size.

    Args:
        padded_forward: (N, 3, h, w) -> (hi logits (N, C, h, w), lo logits (N, C, h/16, w/16)).
        image: (3, H, W) normalised.
        flip_lut: (C,) long, the label permutation of a horizontal flip.
        align_corners: of the bilinear resize of rescaled passes back to (H, W).
    Returns:
        probs (C, H, W) and the single-scale (scale 1, no flip) low-res logits (C, h, w).
    """
    H, W = image.shape[-2:]
    total, count, lowres = None, 0, None
    for s in scales:
        h, w = max(1, int(round(H * s))), max(1, int(round(W * s)))
        xs = image[None]
        if (h, w) != (H, W):
            xs = F.interpolate(xs, (h, w), mode="bilinear", align_corners=False)
        batch = torch.cat([xs, xs.flip(-1)]) if flip else xs
        hi, lo = padded_forward(batch)
        if (h, w) == (H, W) and lowres is None:
            lowres = lo[0].float()
        p = F.softmax(temperature * hi.float(), dim=1)
        if flip:
            p = torch.cat([p[:1], p[1:].flip(-1)[:, flip_lut]])
        p = p.sum(0, keepdim=True)
        if (h, w) != (H, W):
            p = F.interpolate(p, (H, W), mode="bilinear", align_corners=align_corners)
        total = p if total is None else total + p
        count += batch.shape[0]
    if lowres is None:
        lowres = padded_forward(image[None])[1][0].float()
    return total[0] / count, lowres


def ensemble_result(
    probs: torch.Tensor, lowres: torch.Tensor, height: int, width: int
) -> dict[str, torch.Tensor]:
    """The result dict of one image from the ensemble ``probs`` (C, H, W) at the input size.

    Returns:
        {"sem_seg": (C, height, width), "sem_seg_lowres": lowres, "sem_seg_ipr_label": (H, W)
        argmax, "sem_seg_input_size": probs}.
    """
    sem_seg = probs
    if (height, width) != tuple(probs.shape[-2:]):
        sem_seg = F.interpolate(probs[None], (height, width), mode="bilinear", align_corners=False)[
            0
        ]
    return {
        "sem_seg": sem_seg,
        "sem_seg_lowres": lowres,
        "sem_seg_ipr_label": probs.argmax(0),
        "sem_seg_input_size": probs,
    }
