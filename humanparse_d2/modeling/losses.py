"""Parsing losses of QANet, pure functions reused by the ROI parsing head.

- ``parsing_ce_loss``: pixel-mean cross-entropy.
- ``lovasz_softmax_loss``: Lovasz-softmax (Berman et al.) on softmax probabilities, per sample, over
  the classes present in that sample's ground truth, mean over classes then over samples. One batched
  row sort over all (sample, present class) pairs replaces the reference code's loop over
  samples x classes.
- ``parsing_iou_targets``: the per-instance part mIoU between ``argmax(logits)`` and the ground truth
  (background included, classes absent from both maps skipped), one ``bincount`` for the batch.
- ``parsing_iou_loss``: the QANet code's ``sum_{target > 0} 0.5 (S_i - target)^2 / #pos``.
"""

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "parsing_ce_loss",
    "lovasz_softmax_loss",
    "lovasz_grad",
    "parsing_iou_targets",
    "parsing_iou_loss",
    "qanet_parsing_losses",
]


def parsing_ce_loss(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = 255
) -> torch.Tensor:
    """Cross-entropy averaged over the valid pixels of (B, C, H, W) logits and (B, H, W) labels."""
    if targets.numel() == 0 or not (targets != ignore_index).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, targets.long(), ignore_index=ignore_index, reduction="mean")


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension w.r.t. sorted errors, batched over rows.

    Args:
        gt_sorted: (K, P) float {0, 1} ground truth, each row sorted by decreasing error.
    Returns:
        (K, P) the Jaccard-loss increments.
    """
    gts = gt_sorted.sum(dim=1, keepdim=True)
    intersection = gts - gt_sorted.cumsum(dim=1)
    union = gts + (1.0 - gt_sorted).cumsum(dim=1)
    jaccard = 1.0 - intersection / union.clamp(min=1e-12)
    if gt_sorted.shape[1] > 1:
        jaccard = torch.cat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], dim=1)
    return jaccard


def _argsort_desc(x: torch.Tensor) -> torch.Tensor:
    """Row-wise descending argsort. The permutation carries no gradient; on CPU numpy's introsort is
    ~5x faster than ``torch.sort`` (tie order may differ, which does not change the Lovasz loss)."""
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        return torch.from_numpy(np.argsort(-x.numpy(), axis=1, kind="quicksort"))
    return torch.sort(x, dim=1, descending=True)[1]


def lovasz_softmax_loss(
    probs: torch.Tensor, targets: torch.Tensor, ignore_index: int = 255
) -> torch.Tensor:
    """Lovasz-softmax loss, classes present per sample, averaged per sample then over the batch.

    All (sample, present class) pairs are handled at once: one error matrix (K, P), one batched
    row sort, one batched Lovasz gradient; no Python loop over samples or classes.

    Args:
        probs: (B, C, H, W) softmax probabilities.
        targets: (B, H, W) integer labels; ``ignore_index`` pixels are left out.
    Returns:
        scalar loss (``probs.sum() * 0`` when no sample has a valid pixel, so the graph stays whole).
    """
    B, C = probs.shape[:2]
    p = probs.flatten(2)  # (B, C, P)
    t = targets.flatten(1).long()  # (B, P)
    valid = t != ignore_index
    t_safe = torch.where(valid, t, torch.zeros_like(t)).clamp(0, C - 1)
    fg = F.one_hot(t_safe, C).permute(0, 2, 1).to(p.dtype) * valid[:, None].to(p.dtype)  # (B, C, P)
    present = (fg.sum(dim=2) > 0).flatten()  # (B*C,)
    if not present.any():
        return probs.sum() * 0.0
    rows = present.nonzero(as_tuple=True)[0]
    sample = rows // C
    fg_k = fg.flatten(0, 1)[rows]  # (K, P)
    err = (fg_k - p.flatten(0, 1)[rows]).abs()
    # Ignored pixels sort last (error -1) and add nothing, which equals removing them.
    err = torch.where(valid[sample], err, err.new_full((), -1.0))
    perm = _argsort_desc(err.detach())
    err_sorted = torch.gather(err, 1, perm)
    fg_sorted = torch.gather(fg_k, 1, perm)
    loss_k = (err_sorted.clamp(min=0.0) * lovasz_grad(fg_sorted)).sum(dim=1)  # (K,)
    loss_sum = loss_k.new_zeros(B).index_add(0, sample, loss_k)
    n_present = loss_k.new_zeros(B).index_add(0, sample, torch.ones_like(loss_k))
    has = n_present > 0
    return (loss_sum[has] / n_present[has]).mean()


@torch.no_grad()
def parsing_iou_targets(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = 255
) -> torch.Tensor:
    """Per-instance part mIoU of ``argmax(logits)`` vs ``targets`` (the IoU branch's target).

    Args:
        logits: (B, C, H, W) (detached inside).
        targets: (B, H, W) labels.
    Returns:
        (B,) nanmean over classes 0..C-1 of ``H_cc / (row_c + col_c - H_cc)``; classes absent from
        both maps are skipped; 0 for a sample without any valid pixel.
    """
    B, C = logits.shape[:2]
    pred = logits.detach().argmax(dim=1).flatten(1)
    gt = targets.flatten(1).long()
    valid = (gt != ignore_index) & (gt >= 0) & (gt < C)
    offset = torch.arange(B, device=gt.device)[:, None] * (C * C)
    bins = (offset + gt.clamp(0, C - 1) * C + pred)[valid]
    hist = torch.bincount(bins, minlength=B * C * C).reshape(B, C, C).to(torch.float64)
    inter = torch.diagonal(hist, dim1=1, dim2=2)
    union = hist.sum(2) + hist.sum(1) - inter
    seen = union > 0
    iou = torch.where(seen, inter / union.clamp(min=1.0), torch.zeros_like(inter))
    miou = iou.sum(1) / seen.sum(1).clamp(min=1)
    return miou.to(logits.dtype)


def parsing_iou_loss(iou_pred: torch.Tensor, iou_target: torch.Tensor) -> torch.Tensor:
    """QANet code's IoU loss: ``sum_{target > 0} 0.5 (S_i - target)^2 / #pos``, 0 without positives.

    Args:
        iou_pred: (B,) or (B, 1) regressed IoU.
        iou_target: (B,) targets from ``parsing_iou_targets``.
    """
    pred = iou_pred.reshape(-1)
    target = iou_target.reshape(-1).to(pred.dtype)
    pos = target > 0
    if not pos.any():
        return pred.sum() * 0.0
    return (0.5 * (pred[pos] - target[pos]) ** 2).sum() / pos.sum()


def qanet_parsing_losses(
    logits: torch.Tensor,
    targets: torch.Tensor,
    iou_pred: torch.Tensor | None = None,
    *,
    ce_weight: float = 1.0,
    lovasz_weight: float = 1.0,
    iou_weight: float = 1.0,
    ignore_index: int = 255,
) -> dict[str, torch.Tensor]:
    """The three QANet parsing losses with detectron2 keys.

    Args:
        logits: (B, C, H, W) crop-resolution logits.
        targets: (B, H, W) labels (resized to the logits if they differ, nearest).
        iou_pred: (B,) or (B, 1) IoU branch output, or None (no IoU loss).
    Returns:
        {"loss_parsing_ce", "loss_parsing_lovasz"[, "loss_parsing_iou"]} (weighted).
    """
    if targets.shape[-2:] != logits.shape[-2:]:
        targets = F.interpolate(targets[:, None].float(), size=logits.shape[-2:], mode="nearest")[
            :, 0
        ].long()
    losses = {}
    if logits.shape[0] == 0:
        zero = logits.sum() * 0.0
        losses = {"loss_parsing_ce": zero, "loss_parsing_lovasz": zero}
        if iou_pred is not None:
            losses["loss_parsing_iou"] = zero + iou_pred.sum() * 0.0
        return losses
    losses["loss_parsing_ce"] = ce_weight * parsing_ce_loss(logits, targets, ignore_index)
    losses["loss_parsing_lovasz"] = lovasz_weight * lovasz_softmax_loss(
        logits.softmax(dim=1), targets, ignore_index
    )
    if iou_pred is not None:
        target = parsing_iou_targets(logits, targets, ignore_index)
        losses["loss_parsing_iou"] = iou_weight * parsing_iou_loss(iou_pred, target)
    return losses
