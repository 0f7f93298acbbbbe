"""The paper's test protocol: 1.0 view + extra scales, no EXIF on dataset images, offline model
build, and what the results JSON records (box source, test settings, images without boxes)."""

import json
import logging
import os
from unittest import mock

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import build_model
from PIL import Image

import humanparse_d2  # noqa: F401
from humanparse_core.io import read_image
from humanparse_d2.evaluation import SemanticParsingEvaluator
from humanparse_d2.projects.qanet.inference import parse_person_boxes
from humanparse_d2.projects.qanet.mapper import QANetTestMapper
from humanparse_d2.projects.qanet.meta_arch import view_scales
from tests.tiny_configs import tiny_qanet_cfg as tiny_cfg

from .common import make_image


def test_scales_are_extra_views_on_top_of_one():
    assert view_scales(()) == (1.0,)
    assert view_scales((0.9, 1.1, 1.2, 1.3)) == (1.0, 0.9, 1.1, 1.2, 1.3)
    assert view_scales((1.0, 1.2, 1.2)) == (1.0, 1.2)
    with pytest.raises(ValueError):
        view_scales((0.0,))
    m = build_model(tiny_cfg(**{"MODEL.QANET.TEST.SCALES": (1.2,)}))
    assert m.test_scales == (1.0, 1.2)


def test_multi_scale_is_the_mean_of_the_views():
    """(1.0, 1.2) = the image-space mean of the 1.0 view and the 1.2 view (flip in each)."""
    m = build_model(tiny_cfg()).eval()
    x = make_image()
    img, boxes = x["image"].float(), x["gt_boxes"]
    kw = dict(
        crop_hw=m.crop_size,
        aspect_wh=m.aspect_ratio,
        box_expand=m.box_expand,
        flip=True,
        flip_lut=m.flip_lut,
    )

    def full(scales):
        regions, iou = parse_person_boxes(m.parser, img, boxes, (96, 80), scales=scales, **kw)
        out = torch.zeros(len(regions), m.num_classes, 96, 80)
        for n, r in enumerate(regions):
            out[n, :, r.y0 : r.y1, r.x0 : r.x1] = r.probs
        return out, iou

    both, iou_both = full((1.0, 1.2))
    one, iou_one = full((1.0,))
    big, iou_big = full((1.2,))
    assert float((both - 0.5 * (one + big)).abs().max()) < 1e-5
    assert torch.allclose(iou_both, 0.5 * (iou_one + iou_big), atol=1e-6)
    assert float((both - big).abs().max()) > 1e-3  # the 1.0 view is really in


def test_dataset_images_ignore_exif_orientation(tmp_path):
    path = str(tmp_path / "rot.jpg")
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[:, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(arr).save(path, exif=exif, quality=95)
    out = QANetTestMapper(is_train=False, image_format="RGB")(
        {"file_name": path, "image_id": "rot", "height": 20, "width": 30}
    )
    assert tuple(out["image"].shape) == (3, 20, 30)  # stored pixels, as the labels
    assert float(out["image"][:, :, :10].float().mean()) > 200
    assert read_image(path, exif=True).shape == (30, 20, 3)  # user photos (demo)


def test_imagenet_weights_only_on_the_first_training_step():
    import timm

    real = timm.create_model
    calls = []

    def fake(name, pretrained=False, **kw):
        calls.append(pretrained)
        if pretrained:
            raise OSError("offline")
        return real(name, pretrained=False, **kw)

    cfg = tiny_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_qanet_timm_fpn_backbone"
    cfg.MODEL.TIMM.NAME = "resnet18"
    cfg.MODEL.TIMM.FEATURE_LOCATION = "default"
    cfg.MODEL.TIMM.PRETRAINED = True
    cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    with mock.patch.object(timm, "create_model", fake):
        m = build_model(cfg)  # builds offline
        m.eval()([make_image()])  # evaluation never fetches
        assert calls == [False]
        m2 = build_model(cfg)
        m2.load_state_dict(m.state_dict())  # a checkpoint holds the backbone: no ImageNet start
        assert not m2.parser.backbone.bottom_up.pretrained_pending
        m.train()
        with pytest.raises(RuntimeError, match="MODEL.TIMM.PRETRAINED"):
            m.parser(torch.rand(1, 3, 64, 64) * 255)  # training from ImageNet: fetched here
    assert calls == [False, False, True]


def _register_single(name, root, n=3):
    dicts = []
    for k in range(n):
        lab = np.zeros((96, 80), np.uint8)
        lab[20:60, 20:50] = 5
        f = os.path.join(root, f"s{k}.png")
        Image.fromarray(lab).save(f)
        dicts.append(
            {"file_name": f, "image_id": f"s{k}", "height": 96, "width": 80, "sem_seg_file_name": f}
        )
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, lambda: dicts)
    MetadataCatalog.get(name).set(
        stuff_classes=[f"c{i}" for i in range(20)], evaluator_type="sem_seg", ignore_label=255
    )
    return dicts


def _evaluate(d, boxes_per_image, share=1.0):
    name = "_qanet_protocol_single"
    dicts = _register_single(name, d)
    m = build_model(
        tiny_cfg(
            **{
                "MODEL.QANET.TEST.SEMANTIC_OUTPUT": True,
                "MODEL.QAM.CLAMP_IOU": False,
                "MODEL.QANET.TEST.MAX_NO_BOX_SHARE": share,
            }
        )
    ).eval()
    ev = SemanticParsingEvaluator(
        name, metrics=("mIoU",), output_dir=os.path.join(d, "out"), distributed=False
    )
    ev.reset()
    for rec, nb in zip(dicts, boxes_per_image):
        x = make_image()
        x.update(image_id=rec["image_id"], sem_seg_file_name=rec["sem_seg_file_name"])
        x["gt_boxes"] = x["gt_boxes"][:nb]
        ev.process([x], m([x]))
    return ev


def test_settings_and_no_box_counts_in_results(tmp_path):
    ev = _evaluate(str(tmp_path), [2, 0, 1])
    # a handler on the logger itself, not caplog's on the root: once a training setup in this
    # process has run setup_logger, humanparse_d2 no longer propagates to the root
    warnings = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda r: warnings.append(r.getMessage())
    lg = logging.getLogger("humanparse_d2.evaluation")
    lg.addHandler(handler)
    try:
        ev.evaluate()
    finally:
        lg.removeHandler(handler)
    assert warnings
    assert "1 of 3 images got no person box" in "\n".join(warnings)
    saved = json.loads((tmp_path / "out" / "sem_seg_parsing_metrics.json").read_text())
    assert saved["images_without_boxes"] == 1
    assert saved["images_without_boxes_examples"] == ["s1"]
    assert saved["box_source"].startswith("oracle")
    assert saved["test_settings"]["scales"] == [1.0]
    assert saved["test_settings"]["clamp_iou"] is False
    assert "mode" in saved


def test_too_many_images_without_boxes_is_an_error(tmp_path):
    d = str(tmp_path)
    with pytest.raises(RuntimeError, match="3 of 3 images got no person box.*oracle.*Likely cause"):
        _evaluate(d, [0, 0, 0]).evaluate()
    assert (tmp_path / "out" / "sem_seg_parsing_metrics.json").is_file()  # still saved
    with pytest.raises(RuntimeError, match="MAX_NO_BOX_SHARE = 0.5"):
        _evaluate(d, [0, 0, 1], share=0.5).evaluate()
