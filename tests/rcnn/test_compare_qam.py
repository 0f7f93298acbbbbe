"""tools/compare_qam.py end to end on two synthetic images with a tiny random Mask R-CNN."""

import json

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from tests.scripts import load_script
from tests.tiny_configs import tiny_rcnn_cfg as tiny_cfg

from ._tiny import eval_only_args, save_random_model


def _two_image_person_dataset(name="synth_humans_val_2img_persons"):
    """The first two synthetic validation images as a person-only COCO-style dataset."""
    if name not in DatasetCatalog.list():
        dicts = DatasetCatalog.get("synth_humans_val")[:2]
        DatasetCatalog.register(name, lambda: dicts)
        MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type="coco")
    return name


@pytest.mark.slow
def test_compare_qam_prints_and_writes_both_tables(tmp_path, capsys):
    compare_qam = load_script("tools/compare_qam.py")

    name = _two_image_person_dataset()
    cfg = tiny_cfg("StandardROIHeads", qam=False)  # a plain Mask R-CNN config and checkpoint
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 1
    config_file, weights = save_random_model(cfg, tmp_path, "plain")
    out = tmp_path / "cmp.json"
    report = compare_qam.main(
        ["--config-file", str(config_file), "--weights", str(weights),
         "--dataset", name, "--output-json", str(out), "OUTPUT_DIR", str(tmp_path / "o"),
         "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "128"]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert "QAM off" in text and "QAM on" in text and "segm" in text
    saved = json.loads(out.read_text())
    assert saved["roi_heads"] == "QAMStandardROIHeads" == report["roi_heads"]
    assert set(saved["off"]) == set(saved["on"]) == {"bbox", "segm"}
    assert saved["qam"]["weights"] == [1.0, 0.0, 1.0]
    mq = saved["mask_quality"]  # S_p of the rescored (QAM on) detections
    assert mq["detections"] > 0 and 0 <= mq["zero"] <= mq["detections"] and 0 <= mq["median"] <= 1


@pytest.mark.slow
def test_train_net_eval_only_with_tta_keeps_qam(tmp_path, monkeypatch):
    """`train_net.py --eval-only TEST.AUG.ENABLED True` adds `_TTA` results through the QAM-aware
    TTA wrapper (detectron2's plain wrapper would drop the rescoring)."""
    train_net = load_script("tools/train_net.py")
    from humanparse_d2.modeling.test_time_augmentation import QAMGeneralizedRCNNWithTTA

    seen = []
    one_image = QAMGeneralizedRCNNWithTTA._inference_one_image

    def spy(self, inp):
        out = one_image(self, inp)
        seen.append(out["instances"].has("mask_quality"))
        return out

    monkeypatch.setattr(QAMGeneralizedRCNNWithTTA, "_inference_one_image", spy)

    name = _two_image_person_dataset()
    cfg = tiny_cfg()
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 1
    args = eval_only_args(
        cfg, tmp_path, name, "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "128",
        "TEST.AUG.ENABLED", "True", "TEST.AUG.MIN_SIZES", "(96, 112)", "TEST.AUG.MAX_SIZE", "160",
    )  # fmt: skip
    res = train_net.main(args)
    # mask_quality: the zero mask-quality counts of the QAM evaluation (MaskQualityStats)
    assert set(res) == {"bbox", "segm", "mask_quality", "bbox_TTA", "segm_TTA", "mask_quality_TTA"}
    assert res["mask_quality"]["detections"] >= 0
    assert seen == [True, True]  # both images went through the QAM-aware wrapper and were rescored
    assert (tmp_path / "o" / "inference_TTA" / name).is_dir()


def test_load_config_rejects_qam_on_heads_that_do_not_rescore(tmp_path):
    from humanparse_d2.engine import load_config

    cfg = tiny_cfg("StandardROIHeads", qam=True)
    (tmp_path / "bad.yaml").write_text(cfg.dump())
    with pytest.raises(ValueError, match="does not rescore"):
        load_config(str(tmp_path / "bad.yaml"))
