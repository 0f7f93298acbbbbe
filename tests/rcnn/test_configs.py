"""The QAM Mask R-CNN configs name detectron2's model-zoo weights and switch QAM on; the quick
ParsingRCNN config builds."""

import re
from pathlib import Path

import detectron2
import pytest
from detectron2.modeling import build_model

from humanparse_d2.engine import load_config
from humanparse_d2.modeling.rescoring import QAMStandardROIHeads, check_rescoring_config

from ._tiny import REPO

# config -> model-zoo entry whose weights it evaluates (model_zoo.py is read as text: importing it
# needs pkg_resources)
ZOO = {
    f"COCO-InstanceSegmentation/{m}_qam.yaml": f"COCO-InstanceSegmentation/{m}"
    for m in ("mask_rcnn_R_50_FPN_1x", "mask_rcnn_R_50_FPN_3x", "mask_rcnn_R_101_FPN_3x")
}
QAM_YAMLS = sorted(ZOO) + ["LVISv1-InstanceSegmentation/mask_rcnn_R_50_FPN_1x_qam.yaml"]


def _zoo_urls():
    text = (Path(detectron2.__file__).parent / "model_zoo/model_zoo.py").read_text()
    return dict(re.findall(r'"([\w.-]+/[\w.-]+)": "([\w/.]+)"', text))


@pytest.mark.parametrize("name", QAM_YAMLS)
def test_qam_yamls_switch_qam_on(name):
    cfg = load_config(str(REPO / "configs" / name), check_names=False)
    assert cfg.MODEL.MASK_ON and cfg.MODEL.MASK_QUALITY.ENABLED
    assert cfg.MODEL.ROI_HEADS.NAME == "QAMStandardROIHeads"
    assert tuple(cfg.MODEL.MASK_QUALITY.WEIGHTS) == (1.0, 0.0, 1.0)
    check_rescoring_config(cfg)
    if name in ZOO:
        assert cfg.MODEL.WEIGHTS == f"detectron2://{ZOO[name]}/{_zoo_urls()[ZOO[name]]}"
    else:  # LVIS v1: detectron2's zoo has no checkpoint; the yaml must not point at random weights
        assert "LVISv1-InstanceSegmentation/mask_rcnn_R_50_FPN_1x" not in _zoo_urls()
        assert cfg.MODEL.WEIGHTS.startswith("REQUIRED")
        assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 1203 and cfg.DATASETS.TEST == ("lvis_v1_val",)


def test_coco_qam_model_builds_with_the_zoo_architecture():
    cfg = load_config(
        str(REPO / "configs" / QAM_YAMLS[0]), ["MODEL.DEVICE", "cpu"], check_names=False
    )
    model = build_model(cfg)
    assert isinstance(model.roi_heads, QAMStandardROIHeads) and model.roi_heads.qam_enabled
    assert not any("mask_iou" in k for k in model.state_dict())


def test_quick_parsing_rcnn_config_builds():
    cfg = load_config(str(REPO / "configs/quick/ParsingRCNN_R18_synth.yaml"))
    model = build_model(cfg)
    assert type(model).__name__ == "ParsingRCNN"
    assert model.roi_heads.parsing_head.predictor.out_channels == 20
