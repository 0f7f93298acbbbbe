"""Flip + multi-scale inference: label swap, equivariance, outputs for the evaluator."""

import torch
from detectron2.data import MetadataCatalog
from detectron2.modeling import build_model

import humanparse_d2  # noqa: F401

from .mman_testutils import tiny_cfg


def _lip_model(**overrides):
    cfg = tiny_cfg(
        **{"MODEL.MMAN.NUM_CLASSES": 20, "DATASETS.TRAIN": ("synth_lip_train",), **overrides}
    )
    return build_model(cfg).eval()


def test_flip_lut_from_training_metadata_is_an_involution():
    lut = MetadataCatalog.get("synth_lip_train").flip_lut
    assert list(lut) == list(range(14)) + [15, 14, 17, 16, 19, 18]
    model = _lip_model()
    assert model.flip_lut.tolist() == list(lut)
    assert model.flip_lut[model.flip_lut].tolist() == list(range(20))


def test_flip_tta_is_flip_equivariant_with_label_swap():
    model = _lip_model(**{"TEST.MMAN.SCALES": (0.75, 1.0, 1.25)})
    x = torch.randn(3, 64, 48)
    p, _ = model.multiscale_flip_probs(x)
    pf, _ = model.multiscale_flip_probs(x.flip(-1))
    torch.testing.assert_close(pf, p.flip(-1)[model.flip_lut], atol=1e-5, rtol=1e-4)


def test_outputs_for_the_semantic_evaluator():
    model = _lip_model(**{"TEST.MMAN.SCALES": (0.8, 1.0, 1.2)})
    out = model([{"image": torch.randn(3, 64, 64), "height": 90, "width": 70}])[0]
    assert out["sem_seg"].shape == (20, 90, 70)
    assert out["sem_seg_lowres"].shape == (20, 4, 4)
    assert (
        out["sem_seg_ipr_label"].shape == (64, 64) and out["sem_seg_ipr_label"].dtype == torch.long
    )
    torch.testing.assert_close(out["sem_seg"].sum(0), torch.ones(90, 70))


def test_single_scale_no_flip_is_the_plain_forward():
    model = _lip_model(**{"TEST.MMAN.FLIP": False})
    x = torch.randn(3, 32, 32)
    p, lo = model.multiscale_flip_probs(x)
    out = model._generator(x[None])
    torch.testing.assert_close(p, torch.softmax(5 * out["logits_hi"][0], 0))
    torch.testing.assert_close(lo, out["logits_lo"][0])
