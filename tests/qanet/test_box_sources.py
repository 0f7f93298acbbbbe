"""QANet's box sources on CPU: whole image, oracle, a box file, a detector (yaml and LazyConfig)."""

import json
import os

import pytest
from detectron2.modeling import build_model

import humanparse_d2  # noqa: F401
from tests.tiny_configs import tiny_detector_cfg
from tests.tiny_configs import tiny_qanet_cfg as tiny_cfg

from .common import FIELDS, make_image


def test_whole_image():
    m = build_model(tiny_cfg("whole_image")).eval()
    x = make_image()
    del x["gt_boxes"]
    inst = m([x])[0]["instances"]
    assert len(inst) == 1
    assert inst.pred_boxes.tensor.tolist() == [[0.0, 0.0, 80.0, 96.0]]
    assert m.box_source == "whole_image"


def test_oracle_without_annotations_errors():
    m = build_model(tiny_cfg("oracle")).eval()
    x = make_image()
    del x["gt_boxes"]
    with pytest.raises(ValueError, match="oracle"):
        m([x])


def test_file(tmp_path):
    path = tmp_path / "boxes.json"
    path.write_text(
        json.dumps(
            [
                {"image_id": "img0", "category_id": 1, "bbox": [10, 12, 30, 68], "score": 0.8},
                {"image_id": "img0", "category_id": 2, "bbox": [0, 0, 5, 5], "score": 0.9},
                {"image_id": "other", "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9},
            ]
        )
    )
    m = build_model(tiny_cfg("file", **{"MODEL.QANET.BOX_FILE": str(path)})).eval()
    inst = m([make_image()])[0]["instances"]
    assert len(inst) == 1
    assert inst.box_scores.item() == pytest.approx(0.8, abs=0.5e-6)
    assert inst.pred_boxes.tensor.tolist() == [[10.0, 12.0, 40.0, 80.0]]
    assert m.box_source == "file"
    x = make_image()
    x["image_id"] = "missing"
    assert len(m([x])[0]["instances"]) == 0


def test_file_missing_errors():
    with pytest.raises(FileNotFoundError):
        build_model(tiny_cfg("file", **{"MODEL.QANET.BOX_FILE": "/nonexistent/boxes.json"}))
    with pytest.raises(ValueError):
        build_model(tiny_cfg("file"))


def test_unknown_source_errors():
    with pytest.raises(ValueError):
        build_model(tiny_cfg("gt_fallback"))


def test_detector(tmp_path):
    """A tiny random-weight Faster R-CNN as the detector: runs, keeps only the person class."""
    from detectron2.checkpoint import DetectionCheckpointer

    d = str(tmp_path)
    dcfg = tiny_detector_cfg()
    ypath = os.path.join(d, "det.yaml")
    with open(ypath, "w") as f:
        f.write(dcfg.dump())
    det = build_model(dcfg)
    DetectionCheckpointer(det, save_dir=d).save("det")
    cfg = tiny_cfg(
        "detector",
        **{
            "MODEL.QANET.DETECTOR.CONFIG_FILE": ypath,
            "MODEL.QANET.DETECTOR.WEIGHTS": os.path.join(d, "det.pth"),
            "MODEL.QANET.DETECTOR.SCORE_THRESH": 0.0,
            "MODEL.QANET.DETECTOR.PERSON_CLASS": 1,
        },
    )
    m = build_model(cfg).eval()
    x = make_image()
    del x["gt_boxes"]
    inst = m([x])[0]["instances"]
    assert m.box_source == "detector"
    for f in FIELDS:
        assert inst.has(f)
    # the detector's weights are not part of the QANet state dict
    assert not any(k.startswith("_box_source") or "roi_heads" in k for k in m.state_dict())


def test_detector_without_weights_errors():
    """Empty, missing or unreachable detector weights fail when the model is built / set to eval,
    naming the key and the alternatives (never inside the evaluation loop)."""
    with pytest.raises(ValueError, match="DETECTOR.WEIGHTS is empty.*whole_image"):
        build_model(tiny_cfg("detector", **{"MODEL.QANET.DETECTOR.WEIGHTS": ""}))
    with pytest.raises(FileNotFoundError, match="DETECTOR.WEIGHTS.*does not exist.*--box-file"):
        build_model(
            tiny_cfg("detector", **{"MODEL.QANET.DETECTOR.WEIGHTS": "/nonexistent/det.pth"})
        )
    m = build_model(
        tiny_cfg("detector", **{"MODEL.QANET.DETECTOR.WEIGHTS": "https://127.0.0.1:9/none.pkl"})
    )
    with pytest.raises(RuntimeError, match="MODEL.QANET.DETECTOR.WEIGHTS.*--whole-image-box"):
        m.eval()


@pytest.mark.slow
def test_fcos_lazyconfig(tmp_path):
    """detectron2's FCOS LazyConfig (.py) as the box source, random one-class weights."""
    import detectron2
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import LazyConfig, instantiate

    zoo = os.path.join(
        os.path.dirname(detectron2.__file__),
        "model_zoo/configs/COCO-Detection/fcos_R_50_FPN_1x.py",
    )
    c = LazyConfig.load(zoo)
    c.model.num_classes = 1
    DetectionCheckpointer(instantiate(c.model), save_dir=str(tmp_path)).save("fcos")
    cfg = tiny_cfg(
        "detector",
        **{
            "MODEL.QANET.DETECTOR.CONFIG_FILE": "COCO-Detection/fcos_R_50_FPN_1x.py",
            "MODEL.QANET.DETECTOR.WEIGHTS": str(tmp_path / "fcos.pth"),
            "MODEL.QANET.DETECTOR.SCORE_THRESH": 0.0,
        },
    )
    cfg.MODEL.QANET.DETECTOR.OPTS = [
        "model.num_classes=1",
        "model.test_score_thresh=0.0",
        "model.max_detections_per_image=3",
    ]
    m = build_model(cfg).eval()
    x = make_image()
    del x["gt_boxes"]
    inst = m([x])[0]["instances"]
    assert len(inst) <= 3
    for f in FIELDS:
        assert inst.has(f)
