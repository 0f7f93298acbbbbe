"""tools/compare_qam.py end to end on two synthetic images with a tiny random Mask R-CNN."""

import json
import sys

import pytest
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import build_model

from ._tiny import REPO, tiny_cfg


@pytest.mark.slow
def test_compare_qam_prints_and_writes_both_tables(tmp_path, capsys):
    sys.path.insert(0, str(REPO / "tools"))
    import compare_qam

    name = "synth_humans_val_2img_compare_qam"
    if name not in DatasetCatalog.list():
        dicts = DatasetCatalog.get("synth_humans_val")[:2]
        DatasetCatalog.register(name, lambda: dicts)
        MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type="coco")
    cfg = tiny_cfg("StandardROIHeads", qam=False)  # a plain Mask R-CNN config and checkpoint
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 1
    DetectionCheckpointer(build_model(cfg), save_dir=str(tmp_path)).save("plain")
    (tmp_path / "plain.yaml").write_text(cfg.dump())
    out = tmp_path / "cmp.json"
    report = compare_qam.main(
        ["--config-file", str(tmp_path / "plain.yaml"), "--weights", str(tmp_path / "plain.pth"),
         "--dataset", name, "--output-json", str(out), "OUTPUT_DIR", str(tmp_path / "o"),
         "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "128"]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert "QAM off" in text and "QAM on" in text and "segm" in text
    saved = json.loads(out.read_text())
    assert saved["roi_heads"] == "QAMStandardROIHeads" == report["roi_heads"]
    assert set(saved["off"]) == set(saved["on"]) == {"bbox", "segm"}
    assert saved["qam"]["weights"] == [1.0, 0.0, 1.0]
