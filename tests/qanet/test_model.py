"""QANet meta-architecture on CPU: train step, inference output convention, flip, timm backbones,
the test mapper (box sources: test_box_sources.py)."""

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.structures import BoxMode
from detectron2.utils.events import EventStorage
from PIL import Image

import humanparse_d2  # noqa: F401
from humanparse_core.io import read_image
from humanparse_d2.projects.qanet.inference import expand_boxes, flip_back, parse_crops
from humanparse_d2.projects.qanet.mapper import QANetTestMapper
from tests.tiny_configs import tiny_qanet_cfg as tiny_cfg

from .common import FIELDS, make_image, train_batch


@pytest.fixture(scope="module")
def model():
    """One tiny QANet shared by the tests below (built once: they only run it, never step it)."""
    torch.manual_seed(0)
    return build_model(tiny_cfg())


def test_registered_and_heads(model):
    from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY

    assert "QANet" in META_ARCH_REGISTRY
    assert "build_timm_backbone" in BACKBONE_REGISTRY
    assert "build_qanet_resnet_fpn_backbone" in BACKBONE_REGISTRY
    # P2..P5 only, no P6
    assert sorted(model.parser.backbone.output_shape()) == ["p2", "p3", "p4", "p5"]


def test_inference_convention(model):
    m = model.eval()
    x = make_image()
    inst = m([x])[0]["instances"]
    assert inst.image_size == (96, 80)
    assert len(inst) == 2
    for f in FIELDS:
        assert inst.has(f), f
    assert inst.pred_parsing.shape == (2, 96, 80)
    assert inst.pred_parsing.dtype == torch.uint8
    assert inst.part_scores.shape == (2, 19)
    assert torch.equal(inst.box_scores, torch.ones(2))
    assert m.box_source == "oracle"
    assert ((inst.scores >= 0) & (inst.scores <= 1)).all()
    assert not torch.isnan(inst.part_scores).any()
    # labels only inside the (expanded) crop of each person
    ys, xs = torch.nonzero(inst.pred_parsing[0], as_tuple=True)
    if ys.numel():
        cb = expand_boxes(torch.tensor([[10.0, 12.0, 40.0, 80.0]]), 1.0, 1.25)[0]
        assert xs.min().item() >= int(cb[0]) - 1
        assert xs.max().item() <= int(cb[2]) + 1


def test_box_only_weights_give_box_scores(model):
    m = model.eval()
    x = make_image()
    out = m.inference([x], detected_boxes=[(x["gt_boxes"], torch.tensor([0.9, 0.4]))])[0][
        "instances"
    ]
    re = m.build_instances(
        out.pred_boxes.tensor,
        out.box_scores,
        out.iou_scores,
        out.pixel_scores,
        out.part_pixel_scores,
        out.pred_parsing,
        out.image_size,
        qam_weights=(1, 0, 0),
    )
    assert torch.allclose(re.scores, torch.tensor([0.9, 0.4]))
    assert torch.allclose(re.part_scores, torch.tensor([0.9, 0.4])[:, None].expand(2, 19))


def test_no_person_and_bad_boxes(model):
    m = model.eval()
    x = make_image(boxes=())
    inst = m([x])[0]["instances"]
    assert len(inst) == 0
    assert inst.pred_parsing.shape == (0, 96, 80)
    assert inst.part_scores.shape == (0, 19)
    # wholly outside, degenerate, NaN: skipped; partly outside and tiny: parsed
    bad = torch.tensor(
        [
            [200.0, 200, 250, 260],
            [10, 10, 10, 40],
            [float("nan"), 0, 5, 5],
            [-30, -20, 30, 50],
            [40, 40, 41, 41.5],
        ]
    )
    before = m.skipped_boxes
    inst = m.inference([make_image()], detected_boxes=[(bad, torch.ones(5))])[0]["instances"]
    assert len(inst) == 2
    assert m.skipped_boxes - before == 3


def test_grayscale_and_rgba_inputs(model):
    m = model.eval()
    x = make_image()
    x["image"] = x["image"][:1]
    assert len(m([x])[0]["instances"]) == 2
    x = make_image()
    x["image"] = torch.cat([x["image"], x["image"][:1]], 0)
    assert len(m([x])[0]["instances"]) == 2


def test_resized_input_maps_to_original(model):
    m = model.eval()
    x = make_image()
    x["image"] = torch.nn.functional.interpolate(x["image"][None].float(), size=(48, 40))[0]
    inst = m([x])[0]["instances"]
    assert inst.pred_parsing.shape == (2, 96, 80)


def test_flip_test_is_equivariant(model):
    m = model.eval()
    lut = torch.arange(20)
    for a, b in ((14, 15), (16, 17), (18, 19)):
        lut[a], lut[b] = b, a
    crops = torch.rand(2, 3, 64, 64) * 255
    p1, i1 = parse_crops(m.parser, crops, flip=True, flip_lut=lut)
    p2, i2 = parse_crops(m.parser, crops.flip(-1), flip=True, flip_lut=lut)
    torch.testing.assert_close(flip_back(p1, lut), p2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(i1, i2, rtol=1e-4, atol=1e-5)


# The two training-mode forwards come after the evaluation tests on the shared model: they update
# its BatchNorm running statistics, and the evaluation tests above run on the model as built.
def test_train_step(model):
    m = model
    m.train()
    with EventStorage():
        losses = m(train_batch(2))
    assert set(losses) == {"loss_parsing_ce", "loss_parsing_lovasz", "loss_parsing_iou"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in m.parser.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    m.zero_grad()
    m.eval()


def test_uint8_train_input(model):
    m = model
    m.train()
    batch = [
        {
            "image": torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8),
            "parsing": torch.zeros(64, 64, dtype=torch.long),
        }
    ]
    losses = m(batch)
    assert all(torch.isfinite(v) for v in losses.values())
    m.eval()


def test_semantic_output():
    cfg = tiny_cfg("whole_image")
    cfg.MODEL.QANET.TEST.SEMANTIC_OUTPUT = True
    m = build_model(cfg).eval()
    x = make_image()
    out = m([x])[0]
    assert out["sem_seg"].shape == (20, 96, 80)
    assert out["box_source"] == "whole_image"
    torch.testing.assert_close(
        out["sem_seg"].sum(0)[5:-5, 5:-5], torch.ones(86, 70), rtol=0, atol=1e-4
    )


def test_multi_scale_views():
    cfg = tiny_cfg()
    cfg.MODEL.QANET.TEST.SCALES = (1.0, 1.2)
    m = build_model(cfg).eval()
    inst = m([make_image()])[0]["instances"]
    assert len(inst) == 2
    assert not torch.isnan(inst.scores).any()


def test_hrnet_small_qanet():
    cfg = tiny_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_timm_backbone"
    cfg.MODEL.TIMM.NAME = "hrnet_w18_small"
    cfg.MODEL.QANET.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    m = build_model(cfg)
    shapes = m.parser.backbone.output_shape()
    assert [shapes[k].channels for k in ("res2", "res3", "res4", "res5")] == [16, 32, 64, 128]
    m.train()
    losses = m(train_batch(2))
    assert all(torch.isfinite(v) for v in losses.values())


def test_timm_resnet():
    cfg = tiny_cfg(crop=(64, 32))
    cfg.MODEL.BACKBONE.NAME = "build_timm_backbone"
    cfg.MODEL.TIMM.NAME = "resnet18"
    cfg.MODEL.TIMM.OUT_INDICES = [1, 2, 3, 4]
    cfg.MODEL.TIMM.FEATURE_LOCATION = "default"
    cfg.MODEL.QANET.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    m = build_model(cfg).eval()
    logits, iou = m.parser(torch.rand(2, 3, 64, 32) * 255)
    assert logits.shape == (2, 20, 64, 32)
    assert iou.shape == (2,)


def test_keeps_gt_boxes_and_reads_odd_images(tmp_path):
    p = str(tmp_path / "a.png")
    Image.fromarray(np.full((30, 40, 3), 7, np.uint8)).save(p)
    rec = {
        "file_name": p,
        "image_id": "a",
        "height": 30,
        "width": 40,
        "annotations": [
            {"bbox": [1, 2, 10, 20], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 0},
            {"bbox": [0, 0, 5, 5], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 1},
        ],
    }
    out = QANetTestMapper(is_train=False, image_format="BGR")(rec)
    assert out["image"].shape == (3, 30, 40)
    assert out["image"].dtype == torch.uint8
    assert out["gt_boxes"].tolist() == [[1.0, 2.0, 11.0, 22.0]]
    assert "annotations" in rec  # the dataset dict is not modified
    # 16-bit, palette and RGBA images become 8-bit RGB; garbage raises a clear ValueError
    Image.fromarray(np.full((5, 6), 65535, np.uint16)).save(tmp_path / "b.png")
    assert read_image(str(tmp_path / "b.png"), exif=True).max() == 255
    Image.fromarray(np.zeros((5, 6, 4), np.uint8), "RGBA").save(tmp_path / "c.png")
    assert read_image(str(tmp_path / "c.png"), exif=True).shape == (5, 6, 3)
    (tmp_path / "bad.jpg").write_bytes(b"xx")
    with pytest.raises(ValueError, match="cannot read image"):
        read_image(str(tmp_path / "bad.jpg"), exif=True)
