"""MMAN generator: shapes, padding, parameter counts, label handling."""

import torch
from detectron2.modeling import build_model

import humanparse_d2  # noqa: F401
from humanparse_d2.projects.mman.meta_arch import downsample_labels, sanitize_labels

from .mman_testutils import NUM_CLASSES, tiny_batch, tiny_cfg


def _model(preset="default", **overrides):
    return build_model(tiny_cfg(preset=preset, **overrides))


def test_256_gives_16x16_low_res_and_full_res():
    model = _model().train()
    losses, aux = model(tiny_batch(1, 256), return_aux=True)
    assert aux["logits_hi"].shape == (1, NUM_CLASSES, 256, 256)
    assert aux["logits_lo"].shape == (1, NUM_CLASSES, 16, 16)
    assert aux["gt_lo"].shape == (1, 16, 16)
    assert set(losses) == {"loss_ce_hi", "loss_ce_lo"}
    assert all(torch.isfinite(v) for v in losses.values())


def test_sides_not_multiple_of_16_are_padded_and_cropped_back():
    model = _model().eval()
    out = model([{"image": torch.randn(3, 200, 136), "height": 200, "width": 136}])[0]
    assert out["sem_seg"].shape == (NUM_CLASSES, 200, 136)
    assert out["sem_seg_lowres"].shape == (NUM_CLASSES, 13, 9)  # ceil(200/16), ceil(136/16)
    assert out["sem_seg_ipr_label"].shape == (200, 136)
    torch.testing.assert_close(out["sem_seg"].sum(0), torch.ones(200, 136))
    # training pads labels with ignore
    model.train()
    _, aux = model(tiny_batch(1, (200, 136)), return_aux=True)
    assert aux["logits_hi"].shape[-2:] == (208, 144)
    assert (aux["gt_hi"][0, 200:] == 255).all() and (aux["gt_hi"][0, :, 136:] == 255).all()


def test_output_resized_to_original_size():
    model = _model().eval()
    out = model([{"image": torch.randn(3, 64, 48), "height": 100, "width": 75}])[0]
    assert out["sem_seg"].shape == (NUM_CLASSES, 100, 75)


def test_uint8_input_is_normalised_like_float_input():
    model = _model(**{"INPUT.PARSING.SINGLE.TEST_RESIZE": "none"}).eval()
    img = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    a = model([{"image": img}])[0]["sem_seg"]
    b = model([{"image": (img.float() - mean) / std}])[0]["sem_seg"]
    torch.testing.assert_close(a, b)


def test_raw_uint8_frames_are_resized_like_the_test_mapper():
    model = _model(**{"INPUT.PARSING.SINGLE.TEST_SIZE": 32}).eval()  # squash (default)
    img = torch.randint(0, 256, (3, 50, 30), dtype=torch.uint8)
    out = model([{"image": img, "height": 50, "width": 30}])[0]
    assert out["sem_seg_ipr_label"].shape == (32, 32) and out["sem_seg_lowres"].shape[-2:] == (2, 2)
    assert out["sem_seg"].shape[-2:] == (50, 30)


def test_r101_new_layer_parameters_match_the_release():
    cfg = tiny_cfg()
    cfg.MODEL.RESNETS.DEPTH = 101
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 256
    cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = 64
    cfg.MODEL.MMAN.NUM_CLASSES = 20
    model = build_model(cfg)
    new = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("backbone."))
    assert new == 42_943_800  # the release generator's layers beyond the ResNet-101 trunk
    assert sum(p.numel() for p in model.aspp.parameters()) == 1_148_580
    assert sum(p.numel() for p in model.decoder.ups[0].parameters()) == 18_875_392


def test_channels_follow_the_backbone():
    model = _model()
    assert model.decoder.ups[0].out_channels == 64  # narrow R18 res4
    assert model.decoder.top.in_channels == 32  # 2 x stem 16
    assert model.aspp.branches[0].in_channels == 128


def test_out_of_range_labels_are_ignored_with_a_warning(caplog):
    labels = torch.tensor([[0, 5, 6], [255, -1, 3]])
    out = sanitize_labels(labels, 6, 255)
    assert out.tolist() == [[0, 5, 255], [255, 255, 3]]
    model = _model().train()
    batch = tiny_batch(1, 32)
    batch[0]["sem_seg"][0, :4] = 40
    losses = model(batch)
    assert all(torch.isfinite(v) for v in losses.values())


def test_all_ignore_labels_give_zero_finite_loss():
    model = _model().train()
    batch = tiny_batch(1, 32)
    batch[0]["sem_seg"][:] = 255
    losses = model(batch)
    assert all(float(v) == 0.0 for v in losses.values())
    sum(losses.values()).backward()


def test_tiny_image_smaller_than_one_cell():
    model = _model().train()
    losses, aux = model(tiny_batch(1, 10), return_aux=True)
    assert aux["logits_lo"].shape[-2:] == (2, 2)  # padded to 32: IN needs > 1 element
    model.eval()
    assert model([{"image": torch.randn(3, 10, 7)}])[0]["sem_seg"].shape == (NUM_CLASSES, 10, 7)


def test_nearest_exact_equals_pil_nearest_centre_sampling():
    import numpy as np
    from PIL import Image

    labels = torch.randint(0, 20, (1, 256, 192), dtype=torch.long)
    ours = downsample_labels(labels, (16, 12))[0].numpy()
    pil = np.asarray(
        Image.fromarray(labels[0].numpy().astype(np.uint8)).resize((12, 16), Image.NEAREST)
    )
    np.testing.assert_array_equal(ours, pil)
    np.testing.assert_array_equal(ours, labels[0, 8::16, 8::16].numpy())


def test_paper_preset_generator_has_dropout_and_paper_init():
    model = _model("paper")
    assert isinstance(model.decoder.dropout, torch.nn.Dropout) and model.decoder.dropout.p == 0.5
    assert model.decoder.top.weight.std() < 0.01
    code = _model()
    assert isinstance(code.decoder.dropout, torch.nn.Identity)
