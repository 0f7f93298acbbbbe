"""COCO / LVIS scoring through faster-coco-eval: equal to pycocotools' COCOeval and to lvis-api, and
`train_net.py --eval-only` on a tiny LVIS-v1-format dataset runs to the end (with detectron2's own
LVISEvaluator it crashed there: lvis-api 0.5.3 calls np.float, removed in numpy 2)."""

import json

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog
from detectron2.data.datasets import register_lvis_instances

from tests.scripts import load_script
from tests.tiny_configs import tiny_rcnn_cfg as tiny_cfg

from ._tiny import eval_only_args

pytest.importorskip("faster_coco_eval")


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_coco_stats_equal_pycocotools(iou_type):
    b = load_script("benchmarks/coco_eval_speed.py")
    gt, dets = b.synth_instances(40, 5, seed=3)
    assert any(a["iscrowd"] for a in gt["annotations"])  # crowd regions are exercised
    ref = b.pycocotools_stats(gt, dets, iou_type)
    new = b.faster_stats(gt, dets, iou_type)
    assert ref.shape == new.shape == (12,)
    assert 0.05 < ref[0] < 0.95  # a non-trivial AP, so equality means something
    np.testing.assert_allclose(new, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_lvis_results_equal_lvis_api(iou_type, monkeypatch):
    b = load_script("benchmarks/coco_eval_speed.py")
    monkeypatch.setattr(np, "float", float, raising=False)  # lvis-api only, this test only
    gt, dets = b.synth_instances(40, 9, lvis=True, seed=4)
    # detections of categories neither verified present nor negative must be ignored
    verified = {(a["image_id"], a["category_id"]) for a in gt["annotations"]}
    verified |= {(im["id"], c) for im in gt["images"] for c in im["neg_category_ids"]}
    assert any((d["image_id"], d["category_id"]) not in verified for d in dets)
    ref = b.lvis_api_results(gt, dets, iou_type)
    new = b.faster_lvis_results(gt, dets, iou_type)
    assert 0.05 < ref[0] < 0.95
    np.testing.assert_allclose(new, ref, rtol=0, atol=1e-6)
    # the 300-per-image cap (over all categories) is applied as lvis-api does
    capped = b.faster_lvis_results(gt, dets, iou_type, max_dets=2)
    np.testing.assert_allclose(
        capped, b.lvis_api_results(gt, dets, iou_type, max_dets=2), atol=1e-6
    )
    assert not np.allclose(capped, new)


def _tiny_lvis(tmp_path, name="tiny_lvis_v1_val"):
    """Three 64x80 images and an LVIS v1 json (federated labels, r/c/f categories)."""
    b = load_script("benchmarks/coco_eval_speed.py")
    gt, _ = b.synth_instances(3, 2, lvis=True, seed=5, size=(64, 80))
    (tmp_path / "val2017").mkdir()
    for im in gt["images"]:
        im["coco_url"] = f"http://images.example/val2017/{im['id']:06d}.jpg"
        img = np.random.default_rng(im["id"]).integers(0, 255, (64, 80, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / "val2017" / f"{im['id']:06d}.jpg"), img)
    # one large object per image so that a random detector overlaps some ground truth
    for im in gt["images"]:
        gt["annotations"].append({
            "id": len(gt["annotations"]) + 1, "image_id": im["id"], "category_id": 1,
            "bbox": [4.0, 4.0, 72.0, 56.0], "area": 4032.0, "iscrowd": 0,
            "segmentation": [[4, 4, 76, 4, 76, 60, 4, 60]],
        })  # fmt: skip
    js = tmp_path / "lvis_v1_tiny.json"
    js.write_text(json.dumps(gt))
    if name not in DatasetCatalog.list():
        register_lvis_instances(name, {}, str(js), str(tmp_path) + "/")
    return name, gt


@pytest.mark.slow
def test_train_net_eval_only_on_lvis_v1_json(tmp_path, monkeypatch):
    train_net = load_script("tools/train_net.py")
    from detectron2.evaluation import LVISEvaluator

    from humanparse_d2.engine import build_trainer_class
    from humanparse_d2.evaluation.coco_eval import FastLVISEvaluator

    name, gt = _tiny_lvis(tmp_path)
    cfg = tiny_cfg()  # Mask R-CNN + QAM rescoring
    args = eval_only_args(
        cfg, tmp_path, name, "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "80",
        "INPUT.MASK_FORMAT", "bitmask",
    )  # fmt: skip
    res = train_net.main(args)
    keys = {"AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf"}
    assert {"bbox", "segm"} <= set(res) and set(res["segm"]) == keys == set(res["bbox"])
    # the numbers are lvis-api's on the detections the evaluator saved
    dets = json.loads(
        (tmp_path / "o" / "inference" / name / "lvis_instances_results.json").read_text()
    )
    assert dets and {d["category_id"] for d in dets} <= {1, 2}  # 0-based classes mapped back to ids
    monkeypatch.setattr(np, "float", float, raising=False)
    b = load_script("benchmarks/coco_eval_speed.py")
    for task in ("bbox", "segm"):
        ref = b.lvis_api_results(gt, dets, task) * 100
        got = np.array([res[task][k] for k in b.LVIS_KEYS])
        np.testing.assert_allclose(got, ref, atol=1e-4, equal_nan=True)
    ev = build_trainer_class(cfg).build_evaluator(cfg, name, str(tmp_path / "e"))
    evs = getattr(ev, "_evaluators", [ev])  # DatasetEvaluators when QAM statistics ride along
    assert any(isinstance(e, FastLVISEvaluator) and isinstance(e, LVISEvaluator) for e in evs)
