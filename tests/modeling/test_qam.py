"""QAM (humanparse_d2.modeling.qam) against a direct transcription of QANet's Algorithm 1."""

import pytest
import torch

from humanparse_d2.modeling.qam import fuse_quality, mask_pixel_score, pixel_scores


def algorithm1(probs, T=0.2):
    """QANet paper, Algorithm 1, transcribed loop by loop (plus the code's 1e-6 clamp on counts)."""
    N, C, H, W = probs.shape
    inst_ps = torch.zeros(N, dtype=torch.float64)
    cate_ps = torch.zeros(N, C - 1, dtype=torch.float64)
    for n in range(N):
        inst_hcv, inst_hcm_num = 0.0, 0
        cate_hcv = [0.0] * C
        cate_hcm_num = [0] * C
        for y in range(H):
            for x in range(W):
                column = [float(probs[n, c, y, x]) for c in range(C)]
                inst_max = max(column)
                inst_idx = column.index(inst_max)
                if inst_max >= T:
                    inst_hcv += inst_max
                    inst_hcm_num += 1
                for c in range(1, C):
                    cate_max = inst_max if inst_idx == c else 0.0
                    if cate_max >= T:
                        cate_hcv[c] += cate_max
                        cate_hcm_num[c] += 1
        inst_ps[n] = inst_hcv / max(inst_hcm_num, 1e-6)
        for c in range(1, C):
            cate_ps[n, c - 1] = cate_hcv[c] / max(cate_hcm_num[c], 1e-6)
    return inst_ps, cate_ps


def fuse_reference(sb, si, sp, a, b, c):
    si = min(max(si, 0.0), 1.0)
    return (sb**a * si**b * sp**c) ** (1.0 / (a + b + c))


def test_matches_algorithm1_random():
    g = torch.Generator().manual_seed(1)
    for N, C, H, W, T in [
        (3, 5, 7, 6, 0.2),
        (2, 20, 5, 4, 0.2),
        (4, 7, 6, 5, 0.4),
        (1, 3, 9, 9, 0.6),
    ]:
        logits = torch.randn(N, C, H, W, generator=g, dtype=torch.float64) * 3
        probs = logits.softmax(1)
        # zero some pixels (outside the box after paste-back)
        probs[:, :, :1] = 0
        inst, part = pixel_scores(probs, thresh=T)
        ref_inst, ref_part = algorithm1(probs, T)
        torch.testing.assert_close(inst, ref_inst, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(part, ref_part, rtol=1e-9, atol=1e-12)


def test_float32():
    probs = torch.rand(2, 4, 5, 5).softmax(1)
    inst, part = pixel_scores(probs, 0.2)
    ref_inst, ref_part = algorithm1(probs.double(), 0.2)
    torch.testing.assert_close(inst.double(), ref_inst, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(part.double(), ref_part, rtol=1e-5, atol=1e-6)
    assert inst.dtype == torch.float32


def test_no_confident_pixel():
    probs = torch.full((2, 10, 4, 4), 0.1)  # max 0.1 < T everywhere
    inst, part = pixel_scores(probs, 0.2)
    assert torch.equal(inst, torch.zeros(2))
    assert torch.equal(part, torch.zeros(2, 9))
    assert not (torch.isnan(inst).any() or torch.isnan(part).any())


def test_all_zero_probs():
    inst, part = pixel_scores(torch.zeros(1, 3, 4, 4), 0.2)
    assert inst.item() == 0.0
    assert torch.equal(part, torch.zeros(1, 2))


def test_absent_class_scores_zero():
    probs = torch.zeros(1, 4, 2, 2)
    probs[0, 1] = 0.9
    probs[0, 0] = 0.1
    inst, part = pixel_scores(probs, 0.2)
    assert inst.item() == pytest.approx(0.9, abs=0.5e-6)
    assert part[0, 0].item() == pytest.approx(0.9, abs=0.5e-6)
    assert part[0, 1].item() == 0.0
    assert part[0, 2].item() == 0.0


def test_background_counts_in_instance_score():
    probs = torch.zeros(1, 2, 1, 2)
    probs[0, :, 0, 0] = torch.tensor([0.6, 0.4])  # confident background
    probs[0, :, 0, 1] = torch.tensor([0.0, 1.0])
    inst, part = pixel_scores(probs, 0.2)
    assert inst.item() == pytest.approx(0.8, abs=0.5e-6)
    assert part.item() == pytest.approx(1.0, abs=0.5e-6)


def test_empty():
    inst, part = pixel_scores(torch.zeros(0, 20, 8, 8), 0.2)
    assert inst.shape == (0,)
    assert part.shape == (0, 19)


def test_rejects_bad_shape():
    with pytest.raises(ValueError):
        pixel_scores(torch.zeros(3, 4, 5))


WEIGHTS = [
    (1, 0, 0),
    (0, 1, 0),
    (0, 0, 1),
    (1, 1, 0),
    (1, 0, 1),
    (0, 1, 1),
    (1, 1, 1),
    (1.0, 0.5, 3.0),
]


@pytest.mark.parametrize("w", WEIGHTS, ids=str)
def test_matches_formula(w):
    g = torch.Generator().manual_seed(2)
    sb = torch.rand(6, generator=g, dtype=torch.float64)
    si = torch.rand(6, generator=g, dtype=torch.float64) * 1.4 - 0.2  # some outside [0, 1]
    sp = torch.rand(6, generator=g, dtype=torch.float64)
    out = fuse_quality(sb, si, sp, w)
    ref = torch.tensor(
        [fuse_reference(*map(float, v), *w) for v in zip(sb, si, sp)], dtype=torch.float64
    )
    torch.testing.assert_close(out, ref)


def test_box_only_is_box_score():
    sb = torch.tensor([0.9, 0.3, 0.0, 1.0])
    out = fuse_quality(
        sb, torch.tensor([-0.5, 0.2, 2.0, 0.0]), torch.tensor([0.0, 0.5, 0.1, 0.0]), (1, 0, 0)
    )
    assert torch.equal(out, sb)


def test_negative_iou_clamped_no_nan():
    out = fuse_quality(
        torch.tensor([0.8]), torch.tensor([-0.3]), torch.tensor([0.9]), (1.0, 0.5, 3.0)
    )
    assert not torch.isnan(out).any()
    assert out.item() == 0.0
    unclamped = fuse_quality(
        torch.tensor([0.8]),
        torch.tensor([-0.3]),
        torch.tensor([0.9]),
        (1.0, 0.5, 3.0),
        clamp_iou=False,
    )
    assert torch.isnan(unclamped).all()  # the code's NaN, which the clamp avoids


def test_iou_above_one_clamped():
    a = fuse_quality(torch.tensor([0.5]), torch.tensor([1.7]), torch.tensor([0.5]), (1, 1, 1))
    b = fuse_quality(torch.tensor([0.5]), torch.tensor([1.0]), torch.tensor([0.5]), (1, 1, 1))
    torch.testing.assert_close(a, b)


def test_zero_weights():
    with pytest.raises(ValueError):
        fuse_quality(torch.ones(1), torch.ones(1), torch.ones(1), (0, 0, 0))
    with pytest.raises(ValueError):
        fuse_quality(torch.ones(1), torch.ones(1), torch.ones(1), (1, -1, 0))
    # a zero weight removes its factor even when that score is 0
    out = fuse_quality(torch.tensor([0.49]), torch.tensor([0.0]), torch.tensor([0.0]), (1, 0, 0))
    assert out.item() == pytest.approx(0.49, abs=0.5e-6)
    out = fuse_quality(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.64]), (0, 0, 1))
    assert out.item() == pytest.approx(0.64, abs=0.5e-6)


def test_check_qam_weights():
    from humanparse_d2.modeling.qam import check_qam_weights

    assert check_qam_weights([1, "0.5", 3]) == (1.0, 0.5, 3.0)
    for bad in ((0, 0, 0), (1, -1, 0), (1, 1)):
        with pytest.raises(ValueError, match="QAM weights"):
            check_qam_weights(bad)


def test_none_iou_is_one():
    a = fuse_quality(torch.tensor([0.5]), None, torch.tensor([0.25]), (1, 1, 1))
    assert a.item() == pytest.approx((0.5 * 0.25) ** (1 / 3), abs=0.5e-6)


def test_part_scores_broadcast():
    sb = torch.tensor([0.9, 0.5])
    si = torch.tensor([0.7, 0.6])
    sp = torch.rand(2, 19)
    out = fuse_quality(sb, si, sp, (1.0, 0.5, 3.0))
    assert out.shape == (2, 19)
    for n in range(2):
        for c in range(19):
            ref = fuse_reference(sb[n].item(), si[n].item(), sp[n, c].item(), 1.0, 0.5, 3.0)
            assert out[n, c].item() == pytest.approx(ref, abs=0.5e-5), (n, c)
    # an absent class (pixel score 0) gets part score 0 whenever gamma > 0
    sp[0, 3] = 0
    assert fuse_quality(sb, si, sp, (1.0, 0.5, 3.0))[0, 3].item() == 0.0


def test_ratio_and_mean():
    m = torch.tensor([[0.1, 0.3, 0.8, 0.9]])
    assert mask_pixel_score(m, "ratio").item() == pytest.approx(2 / 3, abs=0.5e-6)
    assert mask_pixel_score(m, "mean").item() == pytest.approx(0.85, abs=0.5e-6)
    assert mask_pixel_score(torch.zeros(1, 1, 4, 4)).item() == 0.0
    with pytest.raises(ValueError):
        mask_pixel_score(m, "bad")


@pytest.mark.parametrize("T", [0.0, 0.2, 0.5])
def test_box_local_max_argmax_matches_algorithm1(T):
    """QANet's call: per person, on the box-local max/argmax (uint8 label map), with the pixels
    outside the box passed as a count; batched int64 labels too. Reference: Algorithm 1 on the
    full image, where outside pixels have probability 0."""
    from humanparse_d2.modeling.qam import pixel_scores_from_max

    g = torch.Generator().manual_seed(3)
    N, C, H, W = 3, 6, 9, 8
    full = torch.zeros(N, C, H, W, dtype=torch.float64)
    full[:, :, 2:7, 1:6] = (torch.randn(N, C, 5, 5, generator=g, dtype=torch.float64) * 2).softmax(
        1
    )
    outside = torch.full((N,), H * W - 25)
    conf, lab = full[:, :, 2:7, 1:6].max(1)
    ref_inst, ref_part = algorithm1(full, T)
    if T <= 0:  # a part counts only its own pixels, [k = c] (Algorithm 1 read
        # literally would also count every other pixel with confidence 0 when T = 0)
        m, k = full.max(1)
        for c in range(1, C):
            ref_part[:, c - 1] = (m * (k == c)).sum((1, 2)) / (k == c).sum((1, 2)).clamp(min=1e-6)
    got = [
        pixel_scores_from_max(
            conf[n : n + 1],
            lab[n : n + 1].to(torch.uint8),
            C,
            T,
            num_outside=outside[n : n + 1],
        )
        for n in range(N)
    ]
    torch.testing.assert_close(torch.cat([i for i, _ in got]), ref_inst)
    torch.testing.assert_close(torch.cat([p for _, p in got]), ref_part)
    inst, part = pixel_scores_from_max(conf, lab, C, T, num_outside=outside)
    torch.testing.assert_close(inst, ref_inst)
    torch.testing.assert_close(part, ref_part)


def test_cpu_single_thread_scope_restores_threads_and_numbers():
    """QAM's CPU kernels run on one intra-op thread; the caller's thread count comes back, also
    after an error, and the scores are those of the plain call."""
    from humanparse_d2.modeling.qam import (
        _pixel_scores_from_max,
        cpu_single_thread,
        pixel_scores_from_max,
    )

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(5)
        p = (torch.randn(1, 7, 40, 30, generator=g) * 2).softmax(1)
        conf, lab = p.max(1)
        got = pixel_scores_from_max(conf, lab.to(torch.uint8), 7, 0.2)
        assert torch.get_num_threads() == 2
        ref = _pixel_scores_from_max(conf, lab.to(torch.uint8), 7, 0.2, None, 1e-6)
        for a, b in zip(got, ref):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        with pytest.raises(RuntimeError):
            with cpu_single_thread(conf):
                assert torch.get_num_threads() == 1
                raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
