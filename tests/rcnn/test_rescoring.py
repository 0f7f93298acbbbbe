"""QAM rescoring of Mask R-CNN: only scores change, (1, 0, 0) is the identity, edge cases, TTA,
Cascade, checkpoint compatibility and build-time errors."""

import copy

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import GeneralizedRCNNWithTTA, build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from humanparse_d2.modeling.qam import fuse_quality, mask_pixel_score
from humanparse_d2.modeling.rescoring import check_rescoring_config, rescore_instances
from humanparse_d2.modeling.test_time_augmentation import QAMGeneralizedRCNNWithTTA, build_tta_model
from tests.tiny_configs import tiny_rcnn_cfg as tiny_cfg

from ._tiny import H, W, image, train_batch


def _instances(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    inst = Instances((H, W))
    xy = torch.rand(n, 2, generator=g) * 30
    inst.pred_boxes = Boxes(torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=g) * 20], 1))
    inst.scores = torch.rand(n, generator=g)
    inst.pred_classes = torch.randint(0, 2, (n,), generator=g)
    inst.pred_masks = torch.rand(n, 1, 28, 28, generator=g)
    return inst


def _build(cfg, state=None):
    model = build_model(cfg).eval()
    if state is not None:
        model.load_state_dict(state)
    return model


def _infer(model, seed=0):
    with torch.no_grad():
        return model([{"image": image(seed), "height": H, "width": W}])[0]["instances"]


# ---- the pure function -------------------------------------------------------------------
def test_rescore_changes_only_scores_and_never_in_place():
    inst = _instances()
    snapshot = {
        k: v.tensor.clone() if isinstance(v, Boxes) else v.clone()
        for k, v in inst.get_fields().items()
    }
    q = mask_pixel_score(inst.pred_masks)
    out = rescore_instances(inst, q, None, (1.0, 0.0, 1.0))
    for k, v in snapshot.items():  # the input is untouched
        got = inst.get(k).tensor if k == "pred_boxes" else inst.get(k)
        assert torch.equal(got, v), k
    assert out.pred_boxes is inst.pred_boxes and out.pred_masks is inst.pred_masks
    assert out.pred_classes is inst.pred_classes
    assert out.box_scores is inst.scores and out.scores is not inst.scores
    torch.testing.assert_close(out.scores, torch.sqrt(inst.scores * q))
    # rescoring a rescored result does not compound: S_b stays the box score
    again = rescore_instances(out, q, None, (1.0, 0.0, 1.0))
    assert torch.equal(again.scores, out.scores)


def test_weights_100_reproduce_scores_exactly():
    inst = _instances(50)
    out = rescore_instances(inst, mask_pixel_score(inst.pred_masks), None, (1.0, 0.0, 0.0))
    assert torch.equal(out.scores, inst.scores)


def test_shared_scores_tensor_is_not_modified():
    a, b = _instances(4), _instances(4, seed=1)
    b.scores = a.scores  # as under TTA, where every augmented Instances shares one tensor
    before = a.scores.clone()
    rescore_instances(b, torch.zeros(4), None, (1.0, 0.0, 1.0))
    assert torch.equal(a.scores, before)


def test_masks_without_confident_pixel_score_zero_not_nan():
    inst = _instances(3)
    inst.pred_masks = torch.full((3, 1, 28, 28), 0.1)
    for mode in ("ratio", "mean"):
        q = mask_pixel_score(inst.pred_masks, mode)
        out = rescore_instances(inst, q, None, (1.0, 0.0, 1.0))
        assert torch.isfinite(out.scores).all() and (out.scores == 0).all()


def test_zero_detections_pure():
    inst = _instances(0)
    out = rescore_instances(inst, mask_pixel_score(inst.pred_masks), None, (1.0, 0.0, 1.0))
    assert len(out) == 0 and out.scores.shape == (0,) and out.box_scores.shape == (0,)


# ---- inside the model ----------------------------------------------------------------------
@pytest.mark.parametrize("heads", ["QAMStandardROIHeads", "QAMCascadeROIHeads"])
def test_model_rescoring_changes_only_scores(heads):
    off = _build(tiny_cfg(heads, qam=False))
    on = _build(tiny_cfg(heads, qam=True), off.state_dict())
    a, b = _infer(off), _infer(on)
    assert len(a) == len(b) > 0
    assert torch.equal(a.pred_boxes.tensor, b.pred_boxes.tensor)
    assert torch.equal(a.pred_classes, b.pred_classes)
    assert torch.equal(a.pred_masks, b.pred_masks)
    assert torch.equal(b.box_scores, a.scores)
    assert not a.has("mask_quality") and b.has("mask_quality")
    torch.testing.assert_close(b.scores, torch.sqrt(a.scores * b.mask_quality))


def test_model_weights_100_equal_plain_mask_rcnn():
    plain_cfg = tiny_cfg("StandardROIHeads", qam=False)
    plain = _build(plain_cfg)
    cfg = tiny_cfg("QAMStandardROIHeads", qam=True)
    cfg.MODEL.MASK_QUALITY.WEIGHTS = (1.0, 0.0, 0.0)
    qam = _build(cfg, plain.state_dict())
    a, b = _infer(plain), _infer(qam)
    assert torch.equal(a.scores, b.scores) and torch.equal(a.pred_masks, b.pred_masks)


def test_model_zero_detections():
    cfg = tiny_cfg()
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 1.01
    out = _infer(_build(cfg))
    assert len(out) == 0 and out.has("box_scores") and out.has("mask_quality")


def test_tta_averages_quality_and_rescores_merged_instances():
    cfg = tiny_cfg()
    cfg.TEST.AUG.MIN_SIZES = (64, 80)
    cfg.TEST.AUG.MAX_SIZE = 200
    cfg.TEST.AUG.FLIP = True
    model = _build(cfg)
    plain = _build(tiny_cfg(qam=False), model.state_dict())
    tta = build_tta_model(cfg, model)
    assert isinstance(tta, QAMGeneralizedRCNNWithTTA)
    inputs = [{"image": image(3), "height": H, "width": W}]
    with torch.no_grad():
        got = tta(copy.deepcopy(inputs))[0]["instances"]
        ref = GeneralizedRCNNWithTTA(cfg, plain)(copy.deepcopy(inputs))[0]["instances"]
    assert len(got) == len(ref) > 0
    assert torch.equal(got.pred_boxes.tensor, ref.pred_boxes.tensor)
    assert torch.equal(got.pred_masks, ref.pred_masks)
    assert torch.equal(got.box_scores, ref.scores)
    torch.testing.assert_close(
        got.scores, fuse_quality(ref.scores, None, got.mask_quality, (1, 0, 1))
    )
    assert not torch.equal(got.scores, ref.scores)


def test_iou_branch_trains_and_scores():
    cfg = tiny_cfg(iou_head=True)
    cfg.MODEL.MASK_QUALITY.WEIGHTS = (1.0, 1.0, 1.0)
    model = build_model(cfg).train()
    with EventStorage():
        for persons in [(1, 2), (0, 0)]:
            losses = model(train_batch(persons))
            assert "loss_mask_iou" in losses and torch.isfinite(losses["loss_mask_iou"])
            sum(losses.values()).backward()
    assert model.roi_heads.mask_iou_head.predictor.weight.grad is not None
    out = _infer(model.eval())
    expected = fuse_quality(out.box_scores, out.mask_iou, out.mask_quality, (1, 1, 1))
    torch.testing.assert_close(out.scores, expected)


@pytest.mark.parametrize("iou_head", [False, True])
def test_plain_mask_rcnn_weights_load_without_missing_keys(tmp_path, iou_head):
    plain = build_model(tiny_cfg("StandardROIHeads", qam=False))
    DetectionCheckpointer(plain, save_dir=str(tmp_path)).save("plain")
    model = build_model(tiny_cfg(iou_head=iou_head))
    ckpt = DetectionCheckpointer(model)
    seen = []
    load_model = ckpt._load_model
    ckpt._load_model = lambda checkpoint: seen.append(load_model(checkpoint)) or seen[-1]
    ckpt.load(str(tmp_path / "plain.pth"))
    (incompatible,) = seen
    assert not incompatible.unexpected_keys
    if iou_head:
        assert incompatible.missing_keys and all(
            k.startswith("roi_heads.mask_iou_head.") for k in incompatible.missing_keys
        )
    else:
        assert not incompatible.missing_keys


def test_enabling_qam_without_mask_head_fails_at_build():
    with pytest.raises(ValueError, match="MASK_ON"):
        build_model(tiny_cfg(mask_on=False))
    with pytest.raises(ValueError, match="MASK_ON"):
        check_rescoring_config(tiny_cfg(mask_on=False))
    with pytest.raises(ValueError, match="QAMStandardROIHeads"):
        check_rescoring_config(tiny_cfg("StandardROIHeads", qam=True))
    check_rescoring_config(tiny_cfg())  # consistent config: no error
