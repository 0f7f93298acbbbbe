"""Submission writer/reader, the folder evaluation and tools/eval_parsing.py (numpy core only)."""

import json
import os

import numpy as np
import pytest

from humanparse_core.evaluation.folder_eval import evaluate_folder
from humanparse_core.evaluation.submission import (
    SubmissionError,
    read_instance_segmentation_txt,
    read_person_parsing,
    read_region_txt,
    write_label_png,
    write_submission,
)
from humanparse_core.io import read_label
from humanparse_core.postprocessing import parsing_postprocess

from .evalhelpers import gt_from_persons, person_map, run_cli, write_gt, write_pred

C = 20
ALL = ["mIoU", "APp", "APr", "APh"]


def _scene(k, shape=(48, 64)):
    """Three small multi-person scenes: occlusion, an ignore area, a single person."""
    if k == 0:
        persons = [
            person_map(
                shape,
                [(2, 2, 8, 5, 15), (13, 8, 14, 6, 14), (5, 14, 30, 3, 17), (9, 30, 44, 4, 16)],
            ),
            person_map(
                shape,
                [
                    (2, 4, 10, 12, 24),
                    (5, 10, 28, 12, 26),
                    (14, 10, 26, 26, 30),
                    (18, 40, 46, 14, 22),
                ],
            ),
        ]
    elif k == 1:
        persons = [
            person_map(
                shape,
                [(1, 5, 9, 30, 44), (13, 9, 16, 32, 42), (6, 16, 40, 28, 46), (19, 40, 46, 30, 40)],
            ),
            person_map(shape, [(7, 10, 40, 50, 62), (16, 40, 47, 50, 56)]),
        ]
    else:
        persons = [person_map(shape, [(10, 10, 30, 10, 50), (12, 30, 45, 10, 50)])]
    cat, hum, inst, table = gt_from_persons(shape, persons)
    if k == 0:
        cat[0:2, 0:4] = 255  # ignore label outside any person
    derived = [np.where(hum == h, cat, 0).astype(np.uint8) for h in range(1, len(persons) + 1)]
    derived = [np.where(m == 255, 0, m).astype(np.uint8) for m in derived]
    return cat, hum, inst, table, derived


def _make_set(tmp_path, perfect=True, empty_image=True):
    gt = tmp_path / "gt"
    pred = tmp_path / "pred"
    names = []
    for k in range(3):
        cat, hum, inst, table, derived = _scene(k)
        name = f"img{k}"
        names.append(name)
        write_gt(str(gt), name, cat, hum, inst, table)
        scores = [0.9 - 0.1 * i for i in range(len(derived))]
        part = np.tile(np.linspace(0.2, 0.9, C - 1), (len(derived), 1)) * np.array(scores)[:, None]
        write_pred(
            str(pred),
            name,
            derived if perfect else derived[:1],
            scores if perfect else scores[:1],
            cat.shape,
            part_scores=part if perfect else part[:1],
        )
    if empty_image:  # no person at all: contributes only background to mIoU
        shape = (30, 40)
        z = np.zeros(shape, np.uint8)
        write_gt(str(gt), "empty", z, z, z, {})
        write_pred(str(pred), "empty", [], [], shape)
        names.append("empty")
    return str(gt), str(pred), names


@pytest.mark.parametrize("mode", ["default", "legacy"])
def test_perfect_prediction_is_100_everywhere(tmp_path, mode):
    gt, pred, names = _make_set(tmp_path)
    res = evaluate_folder(gt, pred, C, metrics=ALL, mode=mode, progress=False)
    assert res["num_images"] == 4 and res["num_gt_persons"] == 5 and res["num_pred_persons"] == 5
    present = [k for k, v in res["IoU"].items() if not np.isnan(v) and (mode == "default" or v > 0)]
    assert len(present) == 14
    for k in present:
        assert res["IoU"][k] == pytest.approx(100.0)
    if mode == "default":  # classes absent from GT and predictions are excluded from the means
        assert res["mIoU"] == pytest.approx(100.0) and res["mean_acc"] == pytest.approx(100.0)
        assert res["classes_absent"] == ["3", "4", "8", "11", "15", "17"]
        assert np.isnan(res["IoU"]["3"])
    else:  # the reference's +1e-10: absent classes score 0 and are averaged
        assert res["mIoU"] == pytest.approx(100.0 * 14 / 20)
        assert res["IoU"]["3"] == 0.0
    assert res["pixel_acc"] == pytest.approx(100.0)
    # AP^r: 13 of the 19 part classes have regions. Default excludes the others; the reference
    # arithmetic (legacy) gives a class without GT and without predictions AP 0 and averages it.
    apr = 100.0 if mode == "default" else 100.0 * 13 / 19
    for t, v in res["AP_r"].items():
        assert v == pytest.approx(apr), t
    for v in res["AP_r_per_class"].values():
        assert np.isnan(v) or v in (0.0, pytest.approx(100.0))
    for key in ("AP_p", "PCP"):
        for t, v in res[key].items():
            assert v == pytest.approx(100.0), (key, t)
    for key in ("AP_p_vol", "AP_p50", "PCP50", "AP_h", "AP_h50"):
        assert res[key] == pytest.approx(100.0), key
    assert res["AP_r_vol"] == pytest.approx(apr) and res["AP_r50"] == pytest.approx(apr)


def test_one_missed_person_hand_computed(tmp_path):
    gt, pred, names = _make_set(tmp_path, perfect=False, empty_image=False)
    res = evaluate_folder(gt, pred, C, metrics=["APp", "APr"], progress=False)
    # 5 GT persons, the first person of each image predicted perfectly -> 3 TPs ranked first
    assert res["num_gt_persons"] == 5 and res["num_pred_persons"] == 3
    for v in res["AP_p"].values():
        assert v == pytest.approx(60.0)
    assert res["PCP50"] == pytest.approx(60.0)


def test_cli_json_keys_and_workers_agree(tmp_path, capsys):
    gt, pred, names = _make_set(tmp_path, perfect=False)
    outs = []
    for w in (0, 2):
        out = tmp_path / f"m{w}.json"
        assert (
            run_cli(
                [
                    "--gt-root",
                    gt,
                    "--pred-dir",
                    pred,
                    "--num-classes",
                    "20",
                    "--workers",
                    str(w),
                    "--output",
                    str(out),
                    "--quiet",
                    "--class-names",
                    "cihp",
                ]
            )
            == 0
        )
        outs.append(json.loads(out.read_text()))
    printed = capsys.readouterr().out
    assert "AP_p_vol" in printed and "mIoU" in printed
    res = outs[0]
    for k in (
        "mIoU",
        "pixel_acc",
        "mean_acc",
        "IoU",
        "AP_p",
        "AP_p_vol",
        "AP_p50",
        "PCP",
        "PCP50",
        "AP_r",
        "AP_r_vol",
        "AP_r50",
        "num_images",
        "num_gt_persons",
        "num_pred_persons",
    ):
        assert k in res, k
    assert set(res["AP_p"]) == {"0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"}
    assert "Hair" in res["IoU"]
    outs[0].pop("seconds")
    outs[1].pop("seconds")
    assert outs[0] == outs[1]


def test_malloc_tuning_is_one_switch_that_leaves_the_numbers(tmp_path, monkeypatch):
    from humanparse_core.evaluation import folder_eval

    gt, pred, _ = _make_set(tmp_path, perfect=False)
    calls = []
    monkeypatch.setattr(folder_eval, "_tune_malloc", lambda: calls.append(1))
    off = evaluate_folder(gt, pred, C, metrics=ALL, progress=False, tune_malloc=False)
    assert calls == []
    on = evaluate_folder(gt, pred, C, metrics=ALL, progress=False)
    assert calls == [1]
    assert json.dumps(on, default=str) == json.dumps(off, default=str)  # NaN-safe


def test_missing_prediction_files_are_counted(tmp_path):
    gt, pred, names = _make_set(tmp_path)
    for sub, ext in (
        ("global_parsing", ".png"),
        ("instance_parsing", ".txt"),
        ("person_parsing", ".txt"),
    ):
        os.remove(os.path.join(pred, sub, "img2" + ext))
    res = evaluate_folder(gt, pred, C, metrics=["mIoU", "APp", "APr"], progress=False)
    assert res["missing_predictions"] == {
        "global_parsing": 1,
        "instance_parsing": 1,
        "person_parsing": 1,
    }
    assert res["missing_examples"]["global_parsing"] == ["img2"]
    assert res["AP_p50"] == pytest.approx(80.0)  # 4 of 5 persons found
    assert res["mIoU"] < 100.0
    # legacy: the AP^r image list comes from the prediction folder and mIoU silently skips the
    # image, so the result equals an evaluation of the other images only
    lg = evaluate_folder(gt, pred, C, metrics=["mIoU", "APr"], mode="legacy", progress=False)
    ref = evaluate_folder(
        gt,
        pred,
        C,
        metrics=["mIoU", "APr"],
        mode="legacy",
        progress=False,
        image_list=_list(tmp_path, ["img0", "img1", "empty"]),
    )
    assert lg["IoU"] == ref["IoU"] and lg["AP_r"] == ref["AP_r"]
    assert lg["num_gt_regions"] == ref["num_gt_regions"] < res["num_gt_regions"]


def test_bad_inputs_name_the_file(tmp_path):
    gt, pred, names = _make_set(tmp_path)
    # a txt with fewer lines than the region ids in its PNG
    txt = os.path.join(pred, "instance_parsing", "img0.txt")
    lines = open(txt).read().splitlines()
    open(txt, "w").write("\n".join(lines[:-1]) + "\n")
    with pytest.raises(
        ValueError, match=r"only \d+ lines in its txt in .*instance_parsing/img0\.png"
    ):
        evaluate_folder(gt, pred, C, metrics=["APr"], progress=False)
    assert run_cli(["--gt-root", gt, "--pred-dir", pred, "--metrics", "APr", "--quiet"]) == 2
    # a label value >= num_classes
    g = read_label(os.path.join(pred, "global_parsing", "img1.png"))
    g[0, 0] = 25
    write_label_png(os.path.join(pred, "global_parsing", "img1.png"), g)
    with pytest.raises(ValueError, match=r"global_parsing/img1\.png"):
        evaluate_folder(gt, pred, C, metrics=["mIoU"], progress=False)
    p = read_label(os.path.join(pred, "person_parsing", "img1_1.png"))
    p[0, 0] = 30
    write_label_png(os.path.join(pred, "person_parsing", "img1_1.png"), p)
    with pytest.raises(ValueError, match=r"person_parsing/img1_1\.png"):
        evaluate_folder(gt, pred, C, metrics=["APp"], progress=False)
    # a size mismatch
    write_label_png(os.path.join(pred, "global_parsing", "img2.png"), np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match=r"size mismatch.*global_parsing/img2\.png"):
        evaluate_folder(
            gt, pred, C, metrics=["mIoU"], progress=False, image_list=_list(tmp_path, ["img2"])
        )


def _list(tmp_path, names):
    p = tmp_path / "list.txt"
    p.write_text("\n".join(names) + "\n")
    return str(p)


def test_300_regions_in_one_image(tmp_path):
    """16 persons x 19 classes = 304 regions: no cap by default, the reference's 255 cap in legacy."""
    shape = (64, 80)
    persons = []
    for k in range(16):
        y, x = divmod(k, 4)
        parts = [
            (
                c,
                16 * y + (c - 1) // 5 * 3,
                16 * y + (c - 1) // 5 * 3 + 3,
                20 * x + (c - 1) % 5 * 4,
                20 * x + (c - 1) % 5 * 4 + 4,
            )
            for c in range(1, 20)
        ]
        persons.append(person_map(shape, parts))
    cat, hum, inst, table = gt_from_persons(shape, persons)
    # CIHP ids 20*(h-1)+c exceed 255 here: the GT region map is written as a 16-bit PNG
    inst = np.zeros(shape, np.int32)
    table = {}
    rid = 0
    for h in range(1, 17):
        for c in range(1, 20):
            rid += 1
            inst[(hum == h) & (cat == c)] = rid
            table[rid] = (c, h)
    for mode, expect in (("default", 100.0), ("legacy", 100.0 * 254 / 304)):
        root = tmp_path / mode
        write_gt(str(root / "gt"), "many", cat, hum, inst, table)
        scores = list(np.linspace(0.2, 0.9, 16))
        res = write_pred(
            str(root / "pred"), "many", persons, scores, shape, legacy=mode == "legacy"
        )
        assert len(res.region_classes) == 304
        assert read_label(str(root / "pred" / "instance_parsing" / "many.png")).max() == (
            304 if mode == "default" else 254
        )
        out = evaluate_folder(
            str(root / "gt"), str(root / "pred"), C, metrics=["APr"], mode=mode, progress=False
        )
        assert out["num_gt_regions"] == 304
        for t, v in out["AP_r"].items():
            assert v == pytest.approx(expect), (mode, t)


def test_writer_reader_roundtrip(tmp_path):
    shape = (20, 30)
    a = person_map(shape, [(2, 1, 5, 1, 6), (5, 5, 12, 1, 8)])
    b = person_map(shape, [(5, 3, 15, 5, 15), (9, 15, 19, 5, 15)])  # overlaps a
    c = a.copy()  # duplicate of a: removed by parsing NMS
    res = parsing_postprocess(
        np.stack([a, b, c]),
        np.array([0.6, 0.8, 0.5]),
        np.array([0.9, 0.2, 0.5]),
        np.arange(57, dtype=float).reshape(3, 19) / 100,
        C,
    )
    # global map: box scores >= 0.3 (a 0.9 and c 0.5; b 0.2 left out), ascending box score
    np.testing.assert_array_equal(res.global_map, a)
    assert res.person_indices.tolist() == [1, 0]  # NMS keeps b (0.8) and a (0.6), drops c
    write_submission(str(tmp_path), "sub/x", res)
    np.testing.assert_array_equal(
        read_label(str(tmp_path / "global_parsing" / "sub" / "x.png")), res.global_map
    )
    np.testing.assert_array_equal(
        read_label(str(tmp_path / "instance_parsing" / "sub" / "x.png")), res.part_region_map
    )
    cls, sc = read_region_txt(str(tmp_path / "instance_parsing" / "sub" / "x.txt"))
    assert cls.tolist() == res.region_classes.tolist()
    np.testing.assert_array_equal(sc, res.region_scores)  # repr round-trips exactly
    # person map painted in ascending score: a (id 1) under b (id 2); regions person by person
    assert res.person_map_scores.tolist() == [0.6, 0.8]
    assert res.region_classes.tolist() == [2, 5, 5, 9]
    assert res.region_scores.tolist() == [0.01, 0.04, 0.23, 0.27]
    s, boxes = read_instance_segmentation_txt(
        str(tmp_path / "instance_segmentation" / "sub" / "x.txt")
    )
    assert s.tolist() == [0.6, 0.8] and boxes.tolist() == [[1, 1, 12, 8], [3, 5, 19, 15]]
    scores, paths = read_person_parsing(str(tmp_path), "sub/x")
    assert scores.tolist() == [0.8, 0.6]
    np.testing.assert_array_equal(read_label(paths[0]), b)
    big = np.arange(300, dtype=np.int32).reshape(15, 20)
    write_label_png(str(tmp_path / "big.png"), big)
    np.testing.assert_array_equal(read_label(str(tmp_path / "big.png")), big)


def test_three_channel_label_png_needs_a_channel(tmp_path):
    import cv2

    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 7  # R holds the ids (MHP-v2)
    cv2.imwrite(str(tmp_path / "p.png"), rgb[..., ::-1])
    with pytest.raises(SubmissionError, match="p.png has 3 channels"):
        read_label(str(tmp_path / "p.png"))
    assert read_label(str(tmp_path / "p.png"), channel=0).max() == 7


def test_read_label_png_formats(tmp_path):
    """Gray (filtered or not), PIL L, palette (indices, never colours) and 16-bit files."""
    import cv2
    from PIL import Image

    rng = np.random.default_rng(0)
    a = rng.integers(0, 20, (37, 53)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "cv2.png"), a)
    write_label_png(str(tmp_path / "ours.png"), a)
    Image.fromarray(a).save(tmp_path / "pil_l.png")
    p = Image.fromarray(a, mode="P")
    p.putpalette([(7 * i) % 256 for i in range(768)])
    p.save(tmp_path / "pil_p.png")
    for f in ("cv2.png", "ours.png", "pil_l.png", "pil_p.png"):
        np.testing.assert_array_equal(read_label(str(tmp_path / f)), a)
    b = a.astype(np.uint16) * 1000
    write_label_png(str(tmp_path / "u16.png"), b)
    np.testing.assert_array_equal(read_label(str(tmp_path / "u16.png")), b)
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_label(str(tmp_path / "nope.png"))
