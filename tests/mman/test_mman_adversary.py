"""The adversary: D inputs, GAN losses and gradient isolation between G and D."""

import pytest
import torch
from detectron2.modeling import build_model

import humanparse_d2  # noqa: F401
from humanparse_d2.projects.mman.adversary import (
    MMANAdversary,
    build_mman_adversary,
    gan_loss,
    one_hot_with_ignore,
)

from .mman_testutils import NUM_CLASSES, tiny_batch, tiny_cfg


def _g_and_d(**overrides):
    cfg = tiny_cfg(**overrides)
    return build_model(cfg).train(), build_mman_adversary(cfg)


def _nonzero(grad):
    return grad is not None and bool(grad.abs().sum() > 0)


def test_d_step_leaves_generator_grads_none():
    g, adv = _g_and_d()
    _, aux = g(tiny_batch(2, 64), return_aux=True)
    out = adv(adv.prepare(aux), mode="d")
    sum(v for k, v in out.items() if k.startswith("loss_d_")).backward()
    assert all(p.grad is None for p in g.parameters())
    assert all(_nonzero(p.grad) for p in adv.parameters())


def test_g_step_leaves_discriminator_grads_none():
    g, adv = _g_and_d()
    losses, aux = g(tiny_batch(2, 64), return_aux=True)
    adv.requires_grad_(False)
    losses.update(adv.generator_losses(adv.prepare(aux)))
    sum(losses.values()).backward()
    adv.requires_grad_(True)
    assert all(p.grad is None for p in adv.parameters())
    assert _nonzero(g.decoder.top.weight.grad)


def test_macro_adversarial_loss_reaches_the_generator():
    """Regression test for the released code's bug 1 (macro input detached: zero gradient)."""
    g, adv = _g_and_d(**{"MODEL.MMAN.MICRO.ENABLED": False})
    _, aux = g(tiny_batch(2, 64), return_aux=True)
    adv.requires_grad_(False)
    loss = adv.generator_losses(adv.prepare(aux))["loss_adv_macro"]
    loss.backward()
    assert _nonzero(g.aspp.fuse.weight.grad)
    assert _nonzero(g.backbone.res5[0].conv1.weight.grad)
    # the macro term does not touch the decoder (it reads res5 through ASPP only)
    assert g.decoder.top.weight.grad is None


def test_micro_adversarial_loss_reaches_the_decoder():
    g, adv = _g_and_d(**{"MODEL.MMAN.MACRO.ENABLED": False})
    _, aux = g(tiny_batch(1, 64), return_aux=True)
    adv.requires_grad_(False)
    adv.generator_losses(adv.prepare(aux))["loss_adv_micro"].backward()
    assert _nonzero(g.decoder.top.weight.grad)
    assert g.aspp.fuse.weight.grad is None


def test_real_is_one_hot_and_copies_fake_at_ignore_pixels():
    fake = torch.softmax(torch.randn(1, 4, 3, 3), 1).requires_grad_()
    gt = torch.tensor([[[0, 1, 2], [3, 255, 0], [1, 1, 255]]])
    real = one_hot_with_ignore(gt, fake, 255)
    assert not real.requires_grad
    assert real[0, :, 0, 1].tolist() == [0, 1, 0, 0]
    torch.testing.assert_close(real[0, :, 1, 1], fake[0, :, 1, 1].detach())
    torch.testing.assert_close(real[0, :, 2, 2], fake[0, :, 2, 2].detach())


def test_inputs_rgb_thumbnail_is_area_downsample_of_the_crop():
    g, adv = _g_and_d()
    _, aux = g(tiny_batch(1, 64), return_aux=True)
    p = adv.prepare(aux)
    lo = p["lo"]
    assert lo["rgb"].shape == (1, 3, 4, 4) and lo["fake"].shape == (1, NUM_CLASSES, 4, 4)
    torch.testing.assert_close(lo["rgb"][0, :, 0, 0], aux["images"][0, :, :16, :16].mean((1, 2)))
    # fake = softmax(5 * logits) in fp32
    torch.testing.assert_close(lo["fake"], torch.softmax(5 * aux["logits_lo"].float(), 1))
    torch.testing.assert_close(p["hi"]["rgb"], aux["images"])


def test_gan_loss_modes():
    pred = torch.tensor([0.3, -1.0])
    torch.testing.assert_close(gan_loss(pred, True, "lsgan"), ((pred - 1) ** 2).mean())
    torch.testing.assert_close(gan_loss(pred, False, "lsgan"), (pred**2).mean())
    torch.testing.assert_close(
        gan_loss(pred, True, "vanilla"), torch.nn.functional.softplus(-pred).mean()
    )
    with pytest.raises(ValueError):
        gan_loss(pred, True, "wgan")


def test_presets_build_their_layouts():
    cfg = tiny_cfg()
    adv = MMANAdversary(cfg)
    assert adv.discriminators["micro"].strides == (2, 2, 1, 1)
    assert adv.discriminators["macro"].strides == (2, 2, 1, 1)
    assert adv.gan_mode == "lsgan" and adv.weights == {"macro": 1.0, "micro": 1.0}
    paper = MMANAdversary(tiny_cfg(preset="paper"))
    assert paper.discriminators["micro"].strides == (2, 2, 1)
    assert paper.discriminators["macro"].strides == (2, 2, 2, 2)
    assert paper.gan_mode == "vanilla"


@pytest.mark.parametrize(
    "overrides,names",
    [
        ({"MODEL.MMAN.MICRO.ENABLED": False, "MODEL.MMAN.MACRO.ENABLED": False}, None),
        ({"MODEL.MMAN.MICRO.ENABLED": False}, {"macro"}),
        ({"MODEL.MMAN.MACRO.ENABLED": False}, {"micro"}),
        ({}, {"macro", "micro"}),
        (
            {
                "MODEL.MMAN.MICRO.ENABLED": False,
                "MODEL.MMAN.MACRO.ENABLED": False,
                "MODEL.MMAN.GLOBAL.ENABLED": True,
            },
            {"global"},
        ),
        (
            {"MODEL.MMAN.MACRO.ENABLED": False, "MODEL.MMAN.GLOBAL.ENABLED": True},
            {"micro", "global"},
        ),
        ({"MODEL.MMAN.MID.ENABLED": True}, {"macro", "micro", "mid"}),
    ],
)
def test_variant_losses(overrides, names):
    g, adv = _g_and_d(**overrides)
    losses, aux = g(tiny_batch(1, 64), return_aux=True)
    if names is None:
        assert adv is None
        return
    assert set(adv.discriminators) == names
    p = adv.prepare(aux)
    d = adv(p, mode="d")
    gl = adv.generator_losses(p)
    assert set(gl) == {f"loss_adv_{n}" for n in names}
    assert all(torch.isfinite(v) for v in list(d.values()) + list(gl.values()))
    if "mid" in names:
        assert aux["logits_mid"].shape == (1, NUM_CLASSES, 16, 16) and "loss_ce_mid" in losses
