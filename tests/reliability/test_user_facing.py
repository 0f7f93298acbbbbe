"""What a user sees: the plugin's log, one-line errors of tools/train_net.py, own datasets from the
command line, the evaluation notes on empty results and zero mask-quality scores."""

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.scripts import load_script

REPO = Path(__file__).resolve().parents[2]
QUICK = str(REPO / "projects/QANet/configs/quick/QANet_R18_synth.yaml")


@pytest.fixture(autouse=True)
def _restore_log_handlers():
    """train_net.setup attaches stdout handlers to the captured stream of the test that calls it;
    start without them (earlier test modules leave handlers on streams pytest has closed since)
    and restore them afterwards."""
    names = ("humanparse_d2", "detectron2", "fvcore", "d2")
    before = {n: list(logging.getLogger(n).handlers) for n in names}
    for n in names:
        logging.getLogger(n).handlers[:] = []
    yield
    for n in names:
        logging.getLogger(n).handlers[:] = before[n]


@pytest.fixture(scope="module")
def train_net():
    return load_script("tools/train_net.py")


def _fails(train_net, capsys, argv):
    with pytest.raises(SystemExit) as e:
        train_net.cli(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line
    assert "Traceback" not in err[0]
    return err[0]


def test_train_net_sets_up_the_plugin_log(train_net, tmp_path, capsys):
    args = train_net.argument_parser().parse_args(
        ["--config-file", QUICK, "OUTPUT_DIR", str(tmp_path)]
    )
    train_net.setup(args)
    logging.getLogger("humanparse_d2.data.mappers").info("probe info line")
    logging.getLogger("humanparse_d2.engine.trainer").warning("probe warning line")
    for h in logging.getLogger("humanparse_d2").handlers:
        h.flush()
    text = (tmp_path / "log.txt").read_text()
    assert "probe info line" in text and "hp" in text
    assert "WARNING" in [ln for ln in text.splitlines() if "probe warning line" in ln][0]
    out = capsys.readouterr().out
    assert "probe info line" in out


def test_train_net_errors_are_one_line_naming_the_key_or_path(
    train_net, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    base = tmp_path / "typo.yaml"
    base.write_text('_BASE_: "Base-QANett.yaml"\n')
    (tmp_path / "Base-QANet.yaml").write_text("MODEL:\n  DEVICE: cpu\n")
    line = _fails(train_net, capsys, ["--config-file", str(base)])
    assert (
        str(base) in line
        and "Base-QANett.yaml" in line
        and "did you mean 'Base-QANet.yaml'" in line
    )
    log = line.rsplit("traceback in ", 1)[1].rstrip("]")
    assert "Traceback" in Path(log).read_text()

    line = _fails(train_net, capsys, ["--config-file", QUICK, "MODEL.QANET.NUM_CLASSE", "3"])
    assert "MODEL.QANET.NUM_CLASSE" in line and "'MODEL.QANET.NUM_CLASSES'" in line
    line = _fails(
        train_net, capsys, ["--config-file", QUICK, "DATASETS.TRAIN", "('synth_humans_trian',)"]
    )
    assert "did you mean 'synth_humans_train'" in line
    line = _fails(train_net, capsys, ["--config-file", QUICK, "MODEL.META_ARCHITECTURE", "QANett"])
    assert "MODEL.META_ARCHITECTURE='QANett'" in line and "did you mean 'QANet'" in line
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    line = _fails(train_net, capsys, ["--config-file", QUICK, "OUTPUT_DIR", str(blocker / "out")])
    assert f"OUTPUT_DIR='{blocker / 'out'}'" in line
    line = _fails(train_net, capsys, ["--config-file", QUICK, "MODEL.WEIGHTS", "nope.pth"])
    assert "MODEL.WEIGHTS='nope.pth'" in line
    r101 = (
        "torchvision://resnet101.IMAGENET1K_V1"  # never fetched: refused before the model is built
    )
    line = _fails(train_net, capsys, ["--config-file", QUICK, "--eval-only", "MODEL.WEIGHTS", r101])
    assert "--eval-only" in line and r101 in line and "backbone only" in line


def _own_dataset(tmp_path, n=4, classes=3):
    img, lab = tmp_path / "imgs", tmp_path / "labels"
    img.mkdir()
    lab.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(img / f"im{i}.jpg"), rng.integers(0, 255, (96, 72, 3), dtype=np.uint8))
        label = np.zeros((96, 72), np.uint8)
        label[10:80, 15:60] = 1
        label[10:30, 15:60] = classes - 1
        cv2.imwrite(str(lab / f"im{i}.png"), label)
    module = tmp_path / "my_data.py"
    module.write_text(
        "from humanparse_d2.data import register_parsing_dataset\n\n"
        "def register():\n"
        f"    register_parsing_dataset('mine_train', {str(img)!r}, {str(lab)!r}, "
        f"classes=['bg'] + ['part%d' % k for k in range(1, {classes})])\n"
    )
    return module


@pytest.mark.slow
def test_train_net_trains_on_own_data_registered_from_the_command_line(train_net, tmp_path, capsys):
    module = _own_dataset(tmp_path)
    common = [
        "--config-file",
        QUICK,
        "--register",
        f"{module}:register",
        "DATASETS.TRAIN",
        "('mine_train',)",
        "DATASETS.TEST",
        "()",
        "OUTPUT_DIR",
        str(tmp_path / "out"),
    ]
    line = _fails(train_net, capsys, common)
    assert "'mine_train' has 3 parsing classes but MODEL.QANET.NUM_CLASSES=20" in line
    train_net.cli(
        common
        + [
            "MODEL.QANET.NUM_CLASSES",
            "3",
            "SOLVER.MAX_ITER",
            "1",
            "SOLVER.IMS_PER_BATCH",
            "2",
            "DATALOADER.NUM_WORKERS",
            "0",
            "INPUT.PARSING.CROP_SIZE",
            "(64, 64)",
            "INPUT.PARSING.ASPECT_RATIO",
            "1.0",
            "MODEL.FPN.OUT_CHANNELS",
            "16",
            "MODEL.QANET.CONV_DIM",
            "16",
        ]
    )
    final = torch.load(tmp_path / "out/model_final.pth", map_location="cpu", weights_only=True)
    assert final["iteration"] == 0
    saved = (tmp_path / "out/config.yaml").read_text()
    assert (
        "my_data.py:register" in saved
    )  # --register is kept in the config, so --eval-only reruns it


def test_parsing_evaluation_says_when_no_image_has_a_prediction(tmp_path):
    from detectron2.structures import Instances

    from humanparse_d2.evaluation import ParsingEvaluator

    ev = ParsingEvaluator("synth_humans_val", output_dir=str(tmp_path), num_workers=0)
    ev.reset()
    from detectron2.data import DatasetCatalog

    for d in DatasetCatalog.get("synth_humans_val")[:3]:
        empty = Instances((d["height"], d["width"]))
        empty.pred_parsing = torch.zeros((0, d["height"], d["width"]), dtype=torch.uint8)
        empty.scores = torch.zeros(0)
        ev.process(
            [
                {
                    "image_id": d["image_id"],
                    "file_name": d["file_name"],
                    "height": d["height"],
                    "width": d["width"],
                }
            ],
            [{"instances": empty}],
        )
    ev.evaluate()
    saved = json.loads((tmp_path / "parsing_metrics.json").read_text())
    assert saved["images_without_predictions"] == 3
    assert "no image has a prediction" in saved["note"]


def test_mask_quality_stats_count_zeros_and_warn_when_most_are(caplog):
    from detectron2.structures import Instances

    from humanparse_d2.modeling.rescoring import MaskQualityStats

    def run(values):
        st = MaskQualityStats(distributed=False)
        st.reset()
        inst = Instances((4, 4))
        inst.mask_quality = torch.tensor(values)
        st.process([{}], [{"instances": inst}])
        return st.evaluate()

    msgs = []
    handler = logging.Handler()
    handler.emit = lambda r: msgs.append(r.getMessage())
    lg = logging.getLogger("humanparse_d2.modeling.rescoring")
    lg.addHandler(handler)
    try:
        assert run([0.0, 0.5, 0.7])["mask_quality"]["zero"] == 1
        assert not any("zero mask pixel score" in m for m in msgs)
        res = run([0.0, 0.0, 0.0, 0.9])["mask_quality"]
    finally:
        lg.removeHandler(handler)
    assert res["zero"] == 3 and res["zero_share"] == 0.75 and res["detections"] == 4
    assert any("3 of 4 detections" in m for m in msgs)


def test_rcnn_qam_evaluation_includes_the_mask_quality_counts():
    from humanparse_d2.engine import HumanParseTrainer, load_config

    cfg = load_config(
        str(REPO / "configs/quick/MaskRCNN_R18_synth.yaml"),
        ["MODEL.ROI_HEADS.NAME", "QAMStandardROIHeads", "MODEL.MASK_QUALITY.ENABLED", "True"],
    )
    ev = HumanParseTrainer.build_evaluator(cfg, "synth_humans_val")
    assert any(type(e).__name__ == "MaskQualityStats" for e in getattr(ev, "_evaluators", []))


def test_eval_parsing_counts_predictions_without_ground_truth(tmp_path, capsys):
    eval_parsing = load_script("tools/eval_parsing.py")
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    (gt / "Category_ids").mkdir(parents=True)
    (pred / "global_parsing").mkdir(parents=True)
    lab = np.zeros((8, 8), np.uint8)
    lab[2:6, 2:6] = 1
    for name in ("a", "b"):
        cv2.imwrite(str(gt / "Category_ids" / f"{name}.png"), lab)
    for name in ("a", "b", "c_other_split", "d_other_split"):
        cv2.imwrite(str(pred / "global_parsing" / f"{name}.png"), lab)
    out = tmp_path / "m.json"
    assert (
        eval_parsing.main(
            [
                "--gt-root",
                str(gt),
                "--pred-dir",
                str(pred),
                "--num-classes",
                "2",
                "--metrics",
                "mIoU",
                "--workers",
                "0",
                "--quiet",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert res["predictions_without_gt"] == 2
    assert res["predictions_without_gt_examples"] == ["c_other_split", "d_other_split"]
    assert "2 image(s) have predictions but no ground truth" in capsys.readouterr().err
