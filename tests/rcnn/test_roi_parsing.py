"""The one-stage ROI parsing head: target crop <-> paste-back geometry, batched paste, training
(including zero-instance batches) and the evaluator's output convention."""

import math

import pytest
import torch
import torch.nn.functional as F
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from humanparse_d2.modeling.paste import crop_label_targets, paste_parsing, paste_probs
from humanparse_d2.modeling.qam import fuse_quality, pixel_scores
from tests.tiny_configs import tiny_rcnn_cfg as tiny_cfg

from ._tiny import H, W, image, train_batch

C = 6


def synthetic_person(h=120, w=90):
    """A label map with a head, torso, two arms and two legs (classes 1..5), background 0."""
    yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    lab = torch.zeros(h, w, dtype=torch.uint8)
    lab[((xx - 45) ** 2 / 12**2 + (yy - 22) ** 2 / 14**2) <= 1] = 1
    lab[(yy >= 36) & (yy < 75) & (xx >= 30) & (xx < 60)] = 2
    lab[(yy >= 38) & (yy < 72) & (xx >= 18) & (xx < 30)] = 3
    lab[(yy >= 38) & (yy < 72) & (xx >= 60) & (xx < 72)] = 4
    lab[(yy >= 75) & (yy < 114) & (xx >= 31) & (xx < 59) & ((xx - 45).abs() > 2)] = 5
    return lab


def _one_hot(labels):
    return F.one_hot(labels.long(), C).permute(0, 3, 1, 2).float()


def test_target_crop_round_trips_through_paste_back():
    person = synthetic_person()
    ys, xs = torch.nonzero(person, as_tuple=True)
    box = torch.tensor([[xs.min() - 2.3, ys.min() - 1.7, xs.max() + 2.6, ys.max() + 1.4]]).float()
    H_, W_ = person.shape
    inside = torch.zeros(H_, W_, dtype=torch.bool)
    inside[math.ceil(box[0, 1]) : int(box[0, 3]), math.ceil(box[0, 0]) : int(box[0, 2])] = True
    for res in (56, 112):
        target = crop_label_targets(person[None], torch.zeros(1), box, (res, res))
        pasted = paste_parsing(_one_hot(target), box, (H_, W_)).labels[0]
        agree = (pasted == person)[inside].float().mean().item()
        # the same crop pasted by the contract's paste_probs (what QANet and the evaluator use)
        ref = paste_probs(_one_hot(target), box, (H_, W_))[0].argmax(0)
        assert (pasted.long() == ref)[inside].float().mean().item() == 1.0
        assert agree > (0.97 if res == 56 else 0.99), (res, agree)
    # a 1:1 grid on an integer box is the identity
    box_i = torch.tensor([[10.0, 5.0, 80.0, 117.0]])
    target = crop_label_targets(person[None], torch.zeros(1), box_i, (112, 70))
    assert torch.equal(target[0].to(torch.uint8), person[5:117, 10:80])
    pasted = paste_parsing(_one_hot(target), box_i, (H_, W_)).labels[0]
    assert torch.equal(pasted[5:117, 10:80], person[5:117, 10:80])


def test_crop_reads_each_rois_person_and_pads_outside_with_background():
    maps = torch.stack(
        [torch.full((20, 30), 3, dtype=torch.uint8), torch.full((20, 30), 4, dtype=torch.uint8)]
    )
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 10.0, 40.0, 30.0], [2.0, 2.0, 6.0, 6.0]])
    out = crop_label_targets(maps, torch.tensor([1, 0, 0]), boxes, (4, 4))
    assert (out[0] == 4).all() and (out[2] == 3).all()
    assert (out[1][:2, :2] == 3).all() and (out[1][2:] == 0).all() and (out[1][:, 2:] == 0).all()
    assert crop_label_targets(maps, torch.zeros(0), torch.zeros(0, 4), (4, 4)).shape == (0, 4, 4)


@pytest.mark.parametrize("budget", [1 << 26, 4000])
def test_batched_paste_equals_per_box_paste_and_algorithm1(budget):
    g = torch.Generator().manual_seed(0)
    n, h, w, Hi, Wi = 9, 14, 10, 50, 70
    probs = (torch.randn(n, C, h, w, generator=g) * 3).softmax(1)
    xy = torch.rand(n, 2, generator=g) * torch.tensor([Wi, Hi]) - 8
    boxes = torch.cat([xy, xy + 2 + torch.rand(n, 2, generator=g) * 40], 1)
    boxes[0] = torch.tensor([200.0, 200.0, 220.0, 230.0])  # wholly outside the image
    got = paste_parsing(probs, boxes, (Hi, Wi), 0.2, budget)
    full = paste_probs(probs, boxes, (Hi, Wi))
    conf, lab = full.max(1)
    lab[conf < 1.0 / C] = 0
    assert got.labels.dtype == torch.uint8 and torch.equal(got.labels.long(), lab)
    inst, part = pixel_scores(full, 0.2)
    torch.testing.assert_close(got.instance_scores, inst)
    torch.testing.assert_close(got.part_scores, part)
    empty = paste_parsing(probs[:0], boxes[:0], (Hi, Wi))
    assert empty.labels.shape == (0, Hi, Wi) and empty.part_scores.shape == (0, C - 1)


def parsing_cfg(iou_on=True, lovasz=1.0):
    cfg = tiny_cfg("ParsingROIHeads", qam=False, mask_on=False)
    cfg.MODEL.META_ARCHITECTURE = "ParsingRCNN"
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 1
    p = cfg.MODEL.ROI_PARSING_HEAD
    p.NUM_CLASSES, p.CONV_DIM, p.NUM_CONV, p.RESOLUTION = C, 8, 1, 28
    p.IOU_ON, p.LOVASZ_WEIGHT = iou_on, lovasz
    return cfg


def test_parsing_roi_heads_train_and_zero_instance_batches():
    model = build_model(parsing_cfg()).train()
    keys = {"loss_parsing_ce", "loss_parsing_lovasz", "loss_parsing_iou"}
    with EventStorage():
        for persons in [(1, 2), (0, 0), (0, 1)]:
            losses = model(train_batch(persons, parsing_classes=C))
            assert keys <= set(losses)
            for k in keys:
                assert torch.isfinite(losses[k]) and losses[k].requires_grad, k
            if persons == (0, 0):
                assert all(losses[k].item() == 0 for k in keys)
            model.zero_grad()
            sum(losses.values()).backward()
            assert model.roi_heads.parsing_head.predictor.weight.grad is not None


def test_parsing_rcnn_output_convention():
    cfg = parsing_cfg()
    model = build_model(cfg).eval()
    with torch.no_grad():
        out = model([{"image": image(1), "height": 2 * H, "width": 2 * W}])[0]["instances"]
    n = len(out)
    assert n > 0 and out.image_size == (2 * H, 2 * W)
    assert out.pred_parsing.shape == (n, 2 * H, 2 * W) and out.pred_parsing.dtype == torch.uint8
    assert out.part_scores.shape == (n, C - 1)
    assert not out.has("pred_parsing_probs")
    for k in ("scores", "box_scores", "pixel_scores", "iou_scores"):
        assert out.get(k).shape == (n,), k
    torch.testing.assert_close(
        out.scores, fuse_quality(out.box_scores, out.iou_scores, out.pixel_scores, (1, 0, 1))
    )
    # pixels outside every box are background
    union = torch.zeros(2 * H, 2 * W, dtype=torch.bool)
    for x0, y0, x1, y1 in out.pred_boxes.tensor.tolist():
        union[max(int(y0) - 1, 0) : int(y1) + 2, max(int(x0) - 1, 0) : int(x1) + 2] = True
    assert (out.pred_parsing[:, ~union] == 0).all()


def test_parsing_rcnn_needs_parsing_roi_heads():
    cfg = parsing_cfg()
    cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    with pytest.raises(ValueError, match="ParsingROIHeads"):
        build_model(cfg)


def test_parsing_head_registry_fc_dim_and_pixel_accuracy():
    from humanparse_d2.modeling.parsing_head import ROI_PARSING_HEAD_REGISTRY

    cfg = parsing_cfg()
    cfg.MODEL.ROI_PARSING_HEAD.IOU_FC_DIM = 16
    model = build_model(cfg).train()
    head = model.roi_heads.parsing_head
    assert type(head) is ROI_PARSING_HEAD_REGISTRY.get(cfg.MODEL.ROI_PARSING_HEAD.NAME)
    assert head.iou_head[-1].in_features == 16
    with EventStorage() as storage:
        model(train_batch((1, 2), parsing_classes=C))
    acc = storage.history("parsing_rcnn/pixel_accuracy").latest()
    assert 0.0 <= acc <= 1.0
    cfg.MODEL.ROI_PARSING_HEAD.NAME = "NoSuchParsingHead"
    with pytest.raises(KeyError, match="NoSuchParsingHead"):
        build_model(cfg)
