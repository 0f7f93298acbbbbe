"""QANet parsing losses against loop references (Berman's Lovasz-softmax, numpy IoU targets)."""

import numpy as np
import pytest
import torch

from humanparse_d2.modeling.losses import (
    lovasz_softmax_loss,
    parsing_ce_loss,
    parsing_iou_loss,
    parsing_iou_targets,
    qanet_parsing_losses,
)


def _lovasz_grad_ref(gt_sorted):
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.float().cumsum(0)
    union = gts + (1 - gt_sorted).float().cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def lovasz_reference(probs, labels, ignore=255):
    """Berman et al. lovasz_softmax(per_image=True, classes='present'): loops over images and classes."""
    losses = []
    for prob, lab in zip(probs, labels):
        C = prob.shape[0]
        p = prob.reshape(C, -1).t()
        lab = lab.reshape(-1)
        valid = lab != ignore
        p, lab = p[valid], lab[valid]
        per_class = []
        for c in range(C):
            fg = (lab == c).to(p.dtype)
            if fg.sum() == 0:
                continue
            errors = (fg - p[:, c]).abs()
            errors_sorted, perm = torch.sort(errors, 0, descending=True)
            per_class.append(torch.dot(errors_sorted, _lovasz_grad_ref(fg[perm]).to(p.dtype)))
        losses.append(torch.stack(per_class).mean())
    return torch.stack(losses).mean()


def iou_target_reference(logits, labels):
    out = []
    C = logits.shape[1]
    for lg, lab in zip(logits.detach().numpy(), labels.numpy()):
        pred = lg.argmax(0).reshape(-1)
        gt = lab.reshape(-1)
        k = (gt >= 0) & (gt < C)
        hist = np.bincount(C * gt[k] + pred[k], minlength=C * C).reshape(C, C).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
        out.append(np.nanmean(iou))
    return torch.tensor(out)


def test_lovasz_matches_reference():
    g = torch.Generator().manual_seed(0)
    for B, C, H, W in [(3, 5, 8, 6), (2, 20, 6, 4), (4, 3, 5, 5)]:
        logits = torch.randn(B, C, H, W, generator=g, dtype=torch.float64)
        labels = torch.randint(0, C, (B, H, W), generator=g)
        labels[0, 0, :2] = 255  # ignored pixels
        labels[-1] = labels[-1].clamp(max=1)  # a sample with only 2 classes present
        probs = logits.softmax(1)
        torch.testing.assert_close(
            lovasz_softmax_loss(probs, labels), lovasz_reference(probs, labels)
        )


def test_lovasz_gradient_matches_reference():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 6, 5, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 4, (2, 6, 5), generator=g)
    a = logits.clone().requires_grad_(True)
    lovasz_softmax_loss(a.softmax(1), labels).backward()
    b = logits.clone().requires_grad_(True)
    lovasz_reference(b.softmax(1), labels).backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_lovasz_perfect_prediction_is_zero():
    labels = torch.randint(0, 4, (2, 5, 5))
    probs = torch.nn.functional.one_hot(labels, 4).permute(0, 3, 1, 2).double()
    assert lovasz_softmax_loss(probs, labels).item() == pytest.approx(0.0, abs=0.5e-9)


def test_iou_targets_match_reference():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(5, 6, 7, 5, generator=g)
    labels = torch.randint(0, 6, (5, 7, 5), generator=g)
    labels[1] = 0
    torch.testing.assert_close(
        parsing_iou_targets(logits, labels).double(),
        iou_target_reference(logits, labels),
        rtol=1e-5,
        atol=1e-6,
    )


def test_iou_loss_code_form():
    pred = torch.tensor([0.5, 0.2, 0.9, -0.1])
    target = torch.tensor([0.7, 0.0, 0.6, 0.5])
    exp = 0.5 * ((0.5 - 0.7) ** 2 + (0.9 - 0.6) ** 2 + (-0.1 - 0.5) ** 2) / 3
    assert parsing_iou_loss(pred, target).item() == pytest.approx(exp, abs=0.5e-6)
    assert parsing_iou_loss(pred, torch.zeros(4)).item() == 0.0


def test_combined_losses_and_backward():
    logits = torch.randn(2, 20, 16, 12, requires_grad=True)
    iou = torch.rand(2, 1, requires_grad=True)
    labels = torch.randint(0, 20, (2, 16, 12))
    losses = qanet_parsing_losses(
        logits, labels, iou, ce_weight=1.0, lovasz_weight=0.5, iou_weight=2.0
    )
    assert set(losses) == {"loss_parsing_ce", "loss_parsing_lovasz", "loss_parsing_iou"}
    sum(losses.values()).backward()
    assert torch.isfinite(logits.grad).all()
    assert iou.grad is not None
    ce = torch.nn.functional.cross_entropy(logits, labels).item()
    assert losses["loss_parsing_ce"].item() == pytest.approx(ce, abs=0.5e-5)


def test_empty_batch_and_all_ignored():
    logits = torch.randn(0, 5, 8, 8, requires_grad=True)
    losses = qanet_parsing_losses(logits, torch.zeros(0, 8, 8, dtype=torch.long), torch.zeros(0, 1))
    assert all(v.item() == 0 for v in losses.values())
    logits = torch.randn(1, 5, 4, 4, requires_grad=True)
    ign = torch.full((1, 4, 4), 255)
    assert parsing_ce_loss(logits, ign).item() == 0.0
    assert lovasz_softmax_loss(logits.softmax(1), ign).item() == 0.0
