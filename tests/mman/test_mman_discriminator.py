"""Discriminator layouts: output sizes, receptive fields, parameter counts."""

import pytest
import torch

from humanparse_d2.projects.mman.discriminator import (
    MacroDiscriminator,
    MicroDiscriminator,
    PatchDiscriminator,
)


def _params(m):
    return sum(p.numel() for p in m.parameters())


def test_code_layout_2211():
    d = MicroDiscriminator(23)
    assert d.strides == (2, 2, 1, 1)
    assert _params(d) == 683_073
    assert d.receptive_field == 34
    assert d(torch.randn(1, 23, 256, 256)).shape == (1, 1, 62, 62)
    assert MacroDiscriminator(23)(torch.randn(2, 23, 16, 16)).shape == (2, 1, 2, 2)
    assert d.output_size(256) == 62 and d.output_size(16) == 2


def test_paper_micro_221_has_22_field():
    d = MicroDiscriminator(23, strides=(2, 2, 1))
    assert d.receptive_field == 22
    assert _params(d) == 156_737
    assert d(torch.randn(1, 23, 256, 256)).shape == (1, 1, 63, 63)


def test_paper_macro_2222_reaches_1x1_with_plain_last_conv():
    d = MacroDiscriminator(23, strides=(2, 2, 2, 2)).train()
    assert d.receptive_field == 46
    assert d(torch.randn(1, 23, 16, 16)).shape == (1, 1, 1, 1)
    assert isinstance(d.model[-1], torch.nn.Conv2d)  # no norm after the last conv


def test_min_input_size_keeps_instance_norm_defined():
    for strides in [(2, 2, 1, 1), (2, 2, 1), (2, 2, 2, 2), (2, 2, 2, 2, 2, 2)]:
        d = PatchDiscriminator(5, ndf=4, strides=strides).train()
        s = d.min_input_size
        d(torch.randn(1, 5, s, s))  # works
        with pytest.raises((ValueError, RuntimeError)):
            d(torch.randn(1, 5, s - 1, s - 1))


def test_no_norm_option_and_bad_norm():
    d = PatchDiscriminator(5, ndf=4, norm="none")
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in d.modules())
    with pytest.raises(ValueError):
        PatchDiscriminator(5, norm="BN")
