"""crop_rois / paste_probs: alignment, exact inverse, box-local computation, boxes off the image."""

import pytest
import torch
import torch.nn.functional as F

from humanparse_d2.modeling.paste import crop_rois, paste_probs, paste_probs_local


def full_grid_paste(probs, boxes, image_hw):
    """Reference: grid_sample over the whole image for every box (no extent restriction)."""
    H, W = image_hw
    out = []
    for n in range(probs.shape[0]):
        x0, y0, x1, y1 = boxes[n].double()
        xs = (torch.arange(W, dtype=torch.float64) + 0.5 - x0) / (x1 - x0) * 2 - 1
        ys = (torch.arange(H, dtype=torch.float64) + 0.5 - y0) / (y1 - y0) * 2 - 1
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([gx, gy], -1)[None].to(probs.dtype)
        out.append(
            F.grid_sample(
                probs[n : n + 1], grid, mode="bilinear", padding_mode="zeros", align_corners=False
            )
        )
    return torch.cat(out) if out else probs.new_zeros((0, probs.shape[1], H, W))


def test_sample_positions():
    # image value = x-coordinate of the pixel centre: the crop must return the sampled x exactly
    H, W = 40, 60
    xs = torch.arange(W, dtype=torch.float64) + 0.5
    ys = torch.arange(H, dtype=torch.float64) + 0.5
    img = torch.stack([xs.expand(H, W), ys[:, None].expand(H, W)])[None]  # (1, 2, H, W)
    box = torch.tensor([[0, 10.0, 5.0, 34.0, 37.0]], dtype=torch.float64)
    crop = crop_rois(img, box, (8, 6), sampling_ratio=1)
    exp_x = 10.0 + (torch.arange(6, dtype=torch.float64) + 0.5) * 24 / 6
    exp_y = 5.0 + (torch.arange(8, dtype=torch.float64) + 0.5) * 32 / 8
    torch.testing.assert_close(crop[0, 0], exp_x.expand(8, 6))
    torch.testing.assert_close(crop[0, 1], exp_y[:, None].expand(8, 6))


def test_list_boxes_and_empty():
    imgs = torch.rand(2, 3, 20, 20)
    c1 = crop_rois(
        imgs,
        [torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([[5.0, 5, 15, 15], [0, 0, 20, 20]])],
        (4, 3),
    )
    c2 = crop_rois(
        imgs, torch.tensor([[0, 0.0, 0, 10, 10], [1, 5, 5, 15, 15], [1, 0, 0, 20, 20]]), (4, 3)
    )
    assert c1.shape == (3, 3, 4, 3)
    torch.testing.assert_close(c1, c2)
    assert crop_rois(imgs, torch.zeros(0, 5), (4, 3)).shape == (0, 3, 4, 3)


@pytest.mark.parametrize(
    "box", [[12.3, 8.6, 45.1, 40.2], [3.0, 4.0, 63.0, 44.0], [20.0, 10.0, 29.5, 22.0]]
)
def test_inverse_of_crop_on_linear_image(box):
    # crop (single sample per bin) then paste reproduces a linear image inside the box
    H, W = 50, 70
    yy, xx = torch.meshgrid(
        torch.arange(H, dtype=torch.float64),
        torch.arange(W, dtype=torch.float64),
        indexing="ij",
    )
    img = (0.3 * xx + 0.7 * yy + 2.0)[None, None]
    b = torch.tensor([box], dtype=torch.float64)
    crop = crop_rois(
        img,
        torch.cat([torch.zeros(1, 1, dtype=torch.float64), b], 1),
        (64, 48),
        sampling_ratio=1,
    )
    pasted = paste_probs(crop, b, (H, W))[0, 0]
    # pixels whose centre lies at least one crop cell inside the box (away from zero padding)
    cw, ch = (box[2] - box[0]) / 48, (box[3] - box[1]) / 64
    inner = (
        (xx + 0.5 > box[0] + cw)
        & (xx + 0.5 < box[2] - cw)
        & (yy + 0.5 > box[1] + ch)
        & (yy + 0.5 < box[3] - ch)
    )
    assert int(inner.sum()) > 10
    torch.testing.assert_close(pasted[inner], img[0, 0][inner], rtol=0, atol=1e-9)


def test_box_local_equals_full_grid():
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(5, 4, 16, 12, generator=g, dtype=torch.float64).softmax(1)
    boxes = torch.tensor(
        [
            [10.2, 5.7, 30.9, 40.1],  # inside
            [-15.0, -8.0, 12.0, 20.0],  # partly outside (top-left)
            [50.0, 30.0, 90.0, 70.0],  # partly outside (bottom-right)
            [100.0, 100.0, 120.0, 130.0],  # wholly outside
            [20.0, 20.0, 20.6, 21.0],  # tiny box (crop upsampled a lot)
        ],
        dtype=torch.float64,
    )
    H, W = 48, 64
    ref = full_grid_paste(probs, boxes, (H, W))
    out = paste_probs(probs, boxes, (H, W))
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    assert float(out[3].abs().sum()) == 0.0
    regions = paste_probs_local(probs, boxes, (H, W))
    assert regions[3].probs.numel() == 0
    for n, r in enumerate(regions):
        if r.probs.numel():
            torch.testing.assert_close(r.probs, ref[n][:, r.y0 : r.y1, r.x0 : r.x1])
            # nothing outside the region
            rest = ref[n].clone()
            rest[:, r.y0 : r.y1, r.x0 : r.x1] = 0
            assert float(rest.abs().sum()) == 0.0


def test_large_box_small_crop_margin():
    # a 4x downsampled crop: bilinear zero padding reaches 2 image pixels past the box
    probs = torch.ones(1, 2, 8, 6, dtype=torch.float64)
    boxes = torch.tensor([[20.0, 20.0, 44.0, 52.0]], dtype=torch.float64)
    ref = full_grid_paste(probs, boxes, (80, 80))
    torch.testing.assert_close(paste_probs(probs, boxes, (80, 80)), ref, rtol=0, atol=1e-12)
    assert float(ref[0, 0, 36, 18]) > 0.0  # outside the box, inside the margin


def test_mass_preserved_for_probabilities():
    probs = torch.rand(2, 5, 32, 24).softmax(1)
    boxes = torch.tensor([[4.0, 4.0, 28.0, 36.0], [0.0, 0.0, 40.0, 40.0]])
    out = paste_probs(probs, boxes, (40, 40))
    s = out.sum(1)
    # inside the box the class probabilities still sum to 1
    torch.testing.assert_close(s[0, 10:30, 8:24], torch.ones(20, 16), rtol=0, atol=1e-5)


def test_bad_shapes():
    with pytest.raises(ValueError):
        paste_probs(torch.zeros(2, 3, 4, 4), torch.zeros(3, 4), (10, 10))


def test_c1_equals_do_paste_mask():
    """For one channel (a soft mask) both paste paths equal detectron2's ``_do_paste_mask``."""
    from detectron2.layers.mask_ops import _do_paste_mask

    from humanparse_d2.modeling.paste import paste_parsing

    g = torch.Generator().manual_seed(3)
    H, W = 60, 80
    masks = torch.rand(5, 1, 28, 28, generator=g)
    xy = torch.rand(5, 2, generator=g) * torch.tensor([W, H]) - 10
    boxes = torch.cat([xy, xy + 5 + torch.rand(5, 2, generator=g) * 50], 1)
    ref, _ = _do_paste_mask(masks, boxes, H, W, skip_empty=False)  # (N, H, W)
    assert float(ref.sum()) > 0.0
    got = paste_probs(masks, boxes, (H, W))[:, 0]
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)
    # paste_parsing's batched blocks: with C = 1, label 1 nowhere; its pixel score is the mean
    # of the pasted values >= T over the image, which the detectron2 paste gives as well
    T = 0.3
    inst = paste_parsing(masks, boxes, (H, W), pixel_thresh=T, chunk_elements=3000).instance_scores
    keep = (ref >= T).float()
    exp = (ref * keep).sum((1, 2)) / keep.sum((1, 2)).clamp(min=1e-6)
    torch.testing.assert_close(inst, exp, rtol=0, atol=1e-5)
