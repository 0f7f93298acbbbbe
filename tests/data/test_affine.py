"""The person-crop affine: SimpleBaseline construction, inverse, ROI warp, flip folding."""

import cv2
import numpy as np
import pytest
import torch

from humanparse_d2.data.affine import (
    apply_affine_to_points,
    compose_hflip,
    expand_boxes_to_aspect,
    get_affine_matrix,
    invert_affine,
    source_roi,
    warp_crop,
    warp_window,
)
from humanparse_d2.data.flip import apply_flip_lut
from humanparse_d2.data.transforms import AffineCropTransform, RandomPersonCrop


def _simplebaseline(center, w, rot, ow, oh):
    """Three-point construction of the official code (SimpleBaseline get_affine_transform)."""
    r = np.deg2rad(rot)

    def rotp(p):
        return np.array([p[0] * np.cos(r) - p[1] * np.sin(r), p[0] * np.sin(r) + p[1] * np.cos(r)])

    src0 = np.asarray(center, np.float64)
    src1 = src0 + rotp([0, -w * 0.5])
    dst0 = np.array([ow * 0.5, oh * 0.5])
    dst1 = dst0 + np.array([0, -ow * 0.5])

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]])

    src = np.stack([src0, src1, third(src0, src1)]).astype(np.float32)
    dst = np.stack([dst0, dst1, third(dst0, dst1)]).astype(np.float32)
    return cv2.getAffineTransform(src, dst)


@pytest.mark.parametrize("rot", [0.0, 25.0, -70.0])
def test_matrix_matches_simplebaseline(rot):
    M = get_affine_matrix((120.5, 80.0), (90.0, 120.0), rot, (384, 512))
    ref = _simplebaseline((120.5, 80.0), 90.0, rot, 384, 512)
    assert np.allclose(M, ref, atol=1e-3)
    Mi = get_affine_matrix((120.5, 80.0), (90.0, 120.0), rot, (384, 512), inverse=True)
    pts = np.random.default_rng(0).uniform(0, 300, (10, 2))
    assert np.allclose(apply_affine_to_points(Mi, apply_affine_to_points(M, pts)), pts)
    assert np.allclose(invert_affine(invert_affine(M)), M)


def test_expand_boxes_to_aspect():
    boxes = np.array([[0, 0, 30, 100], [10, 10, 110, 30]], np.float64)
    c, s = expand_boxes_to_aspect(boxes, 0.75, 1.25)
    assert np.allclose(c, [[15, 50], [60, 20]])
    assert np.allclose(s, [[75 * 1.25, 100 * 1.25], [100 * 1.25, 100 / 0.75 * 1.25]])
    ct, st = expand_boxes_to_aspect(torch.tensor(boxes), 0.75, 1.0)
    assert isinstance(ct, torch.Tensor) and torch.allclose(
        st[0], torch.tensor([75.0, 100.0], dtype=st.dtype)
    )


def test_roi_warp_equals_full_warp():
    """warp_crop / warp_window give the whole-image cv2.warpAffine's pixels, also at the exact .5
    ties of nearest sampling (half-pixel centres, sizes in multiples of 8), where OpenCV >= 5
    rounds a matrix shifted to the window's origin differently."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    lab = rng.integers(0, 20, (300, 400), dtype=np.uint8)
    cases = [((150, 140), (120, 160), 0.0), ((150, 140), (120, 160), 33.0)]
    for i in range(60):
        c, s = rng.uniform(-50, 450, 2), rng.uniform(40, 300)
        if i % 2:  # exact ties: half-pixel centres, sizes in multiples of 8
            c, s = np.round(c * 2) / 2, np.round(s / 8) * 8
        rot = float(rng.choice([0.0, 90.0, rng.uniform(-45, 45)]))
        cases.append((c, (s * 0.75, s), rot))
    for center, size, rot in cases:
        M = get_affine_matrix(center, size, rot, (96, 128))
        full = cv2.warpAffine(img, M, (96, 128), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        # the 4-channel warp of the 3-channel image: same bilinear weights per channel
        assert np.abs(warp_crop(img, M, (96, 128)).astype(int) - full).max() <= 1
        fl = cv2.warpAffine(lab, M, (96, 128), flags=cv2.INTER_NEAREST, borderValue=0)
        assert np.array_equal(warp_crop(lab, M, (96, 128), is_label=True), fl)
        roi = source_roi(M, (96, 128), lab.shape)
        if roi is not None:
            x0, y0, x1, y1 = roi
            win = warp_window(lab[y0:y1, x0:x1], roi, lab.shape, M, (96, 128), is_label=True)
            assert np.array_equal(win, fl)
    M = get_affine_matrix((-500, -500), (10, 10), 0, (8, 8))  # entirely outside
    assert source_roi(M, (8, 8), img.shape[:2]) is None
    assert warp_crop(img, M, (8, 8)).sum() == 0
    assert warp_crop(img, M, (8, 8), four_channel_out=True).shape == (8, 8, 4)


def test_hflip_folding_equals_cropping_the_flipped_image():
    rng = np.random.default_rng(1)
    # a smooth image: OpenCV 4's bilinear weights are quantised to 1/32 pixel, and the flipped
    # image's sampling points quantise differently, up to 8 grey levels apart on pixel noise
    img = cv2.GaussianBlur(rng.integers(0, 255, (120, 90, 3), dtype=np.uint8), (0, 0), 3)
    img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)
    W = img.shape[1]
    c = np.array([40.0, 60.0])
    M = get_affine_matrix((W - c[0] - 1, c[1]), (48, 64), 12.0, (48, 64))
    a = cv2.warpAffine(np.ascontiguousarray(img[:, ::-1]), M, (48, 64))
    b = warp_crop(img, compose_hflip(M, W), (48, 64))
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_transform_api_and_inverse():
    M = get_affine_matrix((50, 60), (40, 50), 10, (40, 50))
    t = AffineCropTransform(M, (40, 50), (120, 100))
    pts = np.array([[50.0, 60.0], [30.0, 40.0]])
    back = t.inverse().apply_coords(t.apply_coords(pts))
    assert np.allclose(back, pts)
    assert t.apply_coords(pts)[0].tolist() == pytest.approx([20.0, 25.0])


def test_random_person_crop_flip_is_a_mirror_with_label_swap():
    """Scale 1, no jitter, integer geometry: flipped crop == mirrored crop (QANet's x -> W-1-x)."""
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, (100, 80, 3), dtype=np.uint8)
    lab = rng.integers(0, 20, (100, 80), dtype=np.uint8)
    box = (10, 10, 58, 74)  # 48 x 64 -> scale exactly 1 for a 64x48 crop
    kw = dict(box_expand=1.0, aspect_ratio=0.75, scale_factor=0.0, rotation_factor=0.0)
    plain = RandomPersonCrop((64, 48), flip_prob=0.0, **kw).get_transform(img, box)
    flip = RandomPersonCrop(
        (64, 48), flip_prob=1.0, **kw, rng=np.random.default_rng(0)
    ).get_transform(img, box)
    assert flip.flipped and not plain.flipped
    a_img, b_img = plain.apply_image(img), flip.apply_image(img)
    assert np.array_equal(b_img[:, 1:], a_img[:, ::-1][:, :-1])
    lut = list(range(20))
    lut[14], lut[15] = 15, 14
    a_lab = plain.apply_segmentation(lab)
    b_lab = apply_flip_lut(flip.apply_segmentation(lab), lut)
    assert np.array_equal(b_lab[:, 1:], np.asarray(lut, np.uint8)[a_lab[:, ::-1][:, :-1]])


def test_rotation_and_scale_distributions():
    from humanparse_d2.data.transforms import sample_rotation, sample_scale

    rng = np.random.default_rng(0)
    s = np.array([sample_scale(rng, 0.3, "gaussian_clipped") for _ in range(4000)])
    assert (
        s.min() >= 0.7 and s.max() <= 1.3 and (s == 1.3).mean() > 0.1
    )  # clipping mass at the ends
    r = np.array([sample_rotation(rng, 40, 0.6, "gaussian_clipped") for _ in range(4000)])
    assert abs((r == 0).mean() - 0.4) < 0.05 and np.abs(r).max() <= 80 and (np.abs(r) > 40).any()
    u = np.array([sample_rotation(rng, 40, 1.0, "uniform") for _ in range(2000)])
    assert np.abs(u).max() <= 40
