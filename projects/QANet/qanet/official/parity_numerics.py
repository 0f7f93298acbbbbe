"""Numerics of the QANet parity runner (parity.py): max differences, the classifier gain and the
bound on what threshold flips can move a float32 pixel score."""

import numpy as np
import torch

__all__ = ["TOL", "GAIN_TARGET", "maxdiff", "calibrate_gain", "boundary_bound"]

TOL = 1e-4  # max |difference| allowed on probabilities and scores (float32)

# The random classifier's maps are flat (max p < T = 0.2: no confident pixel for Algorithm 1). Its
# weight and bias are scaled, on both sides alike, by a gain calibrated per model on the first view so
# that the median max-probability is GAIN_TARGET: confident pixels exist, and the gain is not larger
# than the model's own logit scale needs (a fixed gain amplifies a deep net's float32 noise with it).
GAIN_TARGET = 0.5


def maxdiff(a, b) -> float:
    a = torch.as_tensor(np.asarray(a) if not torch.is_tensor(a) else a).double().cpu()
    b = torch.as_tensor(np.asarray(b) if not torch.is_tensor(b) else b).double().cpu()
    if a.shape != b.shape:
        raise ValueError(f"parity: shapes differ {tuple(a.shape)} vs {tuple(b.shape)}")
    na, nb = torch.isnan(a), torch.isnan(b)
    if not torch.equal(
        na, nb
    ):  # NaN (negative raw IoU ** 0.5) must appear on both sides or neither
        return float("inf")
    d = (a - b).abs()[~na]
    return float(d.max()) if d.numel() else 0.0


def calibrate_gain(probs: torch.Tensor, target: float = GAIN_TARGET) -> float:
    """Gain g on the classifier (weight and bias) so that the median max-probability is ``target``.

    ``probs`` (B, C, h, w) is the softmax of the unscaled random classifier; ``log probs`` equals its
    logits up to a per-pixel constant, so ``softmax(g * log probs)`` is the map at gain g. The median
    of ``max_c`` is monotone in g: bisection on log g.
    """
    z = probs.double().clamp_min(1e-300).log()
    lo, hi = -5.0, 8.0
    for _ in range(50):
        mid = (lo + hi) / 2
        med = float((z * np.exp(mid)).softmax(1).max(1).values.median())
        lo, hi = (mid, hi) if med < target else (lo, mid)
    return float(np.exp((lo + hi) / 2))


def boundary_bound(conf, lab, conf_o, lab_o, top2gap, thresh, d, num_classes):
    """Per-score bound on what threshold flips alone can move a float32 pixel score.

    A pixel score is the mean of the confident (``max p >= T``) pixels of a class; a pixel whose
    max p is within d (the measured probability difference) of T, or whose top-2 gap is <= 2 d, may
    be in the set on one side only. With k such pixels and m >= n - k pixels shared by both sets
    (n confident on our side), the two means (of values in [0, 1]) differ by at most k / m.
    Returns (instance (N,), part (N, C-1)) bounds and the number of boundary pixels.
    """
    near_t = (conf - thresh).abs() <= d
    near_tie = top2gap <= 2 * d
    hcm = conf >= thresh
    k_inst = near_t.flatten(1).sum(1).double()
    n_inst = hcm.flatten(1).sum(1).double()
    b_inst = k_inst / (n_inst - k_inst).clamp_min(1)
    b_part = torch.zeros(conf.shape[0], num_classes - 1, dtype=torch.float64)
    for c in range(1, num_classes):
        in_c = (lab == c) | (lab_o == c)
        k = ((near_t | near_tie) & in_c).flatten(1).sum(1).double()
        n = (hcm & (lab == c)).flatten(1).sum(1).double()
        b_part[:, c - 1] = k / (n - k).clamp_min(1)
    return b_inst, b_part, int((near_t | near_tie).sum())
