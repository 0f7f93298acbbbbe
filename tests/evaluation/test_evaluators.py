"""detectron2 evaluators: same numbers as the folder CLI, submission writing, semantic protocols,
and identical results on 1 and 2 (gloo) processes."""

import json
import os

import numpy as np
import pytest
import torch

pytest.importorskip("detectron2")
from detectron2.data import DatasetCatalog, MetadataCatalog  # noqa: E402
from detectron2.structures import Boxes, BoxMode, Instances  # noqa: E402

from humanparse_core.evaluation.submission import write_label_png  # noqa: E402
from humanparse_d2.evaluation import (  # noqa: E402
    ParsingEvaluator,
    SemanticParsingEvaluator,
    build_parsing_evaluator,
    evaluate_folder,
)

from .evalhelpers import gt_from_persons, person_map, write_gt  # noqa: E402

C = 20
CLASSES = [f"c{i}" for i in range(C)]
# some of the keys ParsingEvaluator reports with metrics mIoU, APp, APr and APh
REPORTED = (
    "mIoU",
    "pixel_acc",
    "mean_acc",
    "IoU-c2",
    "AP_p_vol",
    "AP_p50",
    "PCP50",
    "AP_p@0.1",
    "PCP@0.9",
    "AP_r_vol",
    "AP_r50",
    "AP_r@0.5",
    "AP_h",
)


def _register(name, dicts, **meta):
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, lambda: dicts)
    MetadataCatalog.get(name).set(**meta)


def _evaluate(ev, dicts, outputs, keys=("image_id",)):
    """Reset ``ev``, process one image at a time (its input holds ``keys`` of the dataset dict),
    return ``ev.evaluate()``."""
    ev.reset()
    for d, o in zip(dicts, outputs):
        ev.process([{k: d[k] for k in keys}], [o])
    return ev.evaluate()


def _scenes():
    shape = (40, 56)
    rng = np.random.default_rng(0)
    scenes = []
    for k in range(4):
        persons = []
        for _ in range(1 + k % 3):
            y0, x0 = int(rng.integers(0, 15)), int(rng.integers(0, 36))
            parts = [
                (2, y0, y0 + 5, x0 + 2, x0 + 10),
                (5, y0 + 5, y0 + 16, x0, x0 + 12),
                (int(rng.choice([9, 12])), y0 + 16, y0 + 24, x0 + 1, x0 + 11),
                (14, y0 + 6, y0 + 14, x0 + 12, x0 + 15),
            ]
            persons.append(person_map(shape, parts))
        scenes.append((shape, persons))
    return scenes


def _person_annotations(hum, ids):
    """One dataset-dict annotation per person id of the Human_ids map (its tight box)."""
    anns = []
    for pid in ids:
        ys, xs = np.nonzero(hum == pid)
        anns.append(
            {
                "bbox": [
                    float(xs.min()),
                    float(ys.min()),
                    float(xs.max() - xs.min() + 1),
                    float(ys.max() - ys.min() + 1),
                ],
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": 0,
                "iscrowd": 0,
                "parsing_id": pid,
            }
        )
    return anns


def _build_dataset(root, name):
    gt = os.path.join(root, "gt")
    dicts, outputs = [], []
    rng = np.random.default_rng(1)
    for k, (shape, persons) in enumerate(_scenes()):
        cat, hum, inst, table = gt_from_persons(shape, persons)
        stem = f"im{k}"
        write_gt(gt, stem, cat, hum, inst, table)
        ids = sorted(int(i) for i in np.unique(hum) if i > 0)
        anns = _person_annotations(hum, ids)
        cf = os.path.join(gt, "Category_ids", stem + ".png")
        dicts.append(
            {
                "file_name": os.path.join(root, "Images", stem + ".jpg"),
                "image_id": stem,
                "height": shape[0],
                "width": shape[1],
                "sem_seg_file_name": cf,
                "category_file": cf,
                "human_file": os.path.join(gt, "Human_ids", stem + ".png"),
                "instance_file": os.path.join(gt, "Instance_ids", stem + ".png"),
                "instance_txt": os.path.join(gt, "Instance_ids", stem + ".txt"),
                "annotations": anns,
            }
        )
        # predictions: derived GT persons, one jittered, one part dropped, plus a false positive
        maps = [np.where(hum == pid, cat, 0).astype(np.uint8) for pid in ids]
        if maps:
            maps[0] = np.roll(maps[0], 2, axis=1)
        if len(maps) > 1:
            maps[1][maps[1] == 14] = 0
        fp = np.zeros(shape, np.uint8)
        fp[30:38, 40:50] = 5
        maps.append(fp)
        n = len(maps)
        inst_out = Instances(shape)
        inst_out.pred_parsing = torch.from_numpy(np.stack(maps))
        inst_out.scores = torch.tensor(rng.uniform(0.2, 1.0, n), dtype=torch.float32)
        inst_out.box_scores = torch.tensor(rng.uniform(0.2, 1.0, n), dtype=torch.float32)
        inst_out.part_scores = torch.tensor(rng.uniform(0.0, 1.0, (n, C - 1)), dtype=torch.float32)
        inst_out.pred_boxes = Boxes(torch.zeros(n, 4))
        outputs.append({"instances": inst_out, "box_source": "oracle"})
    _register(
        name,
        dicts,
        stuff_classes=CLASSES,
        num_parsing=C,
        evaluator_type="parsing",
        ignore_label=255,
        thing_classes=["person"],
    )
    return dicts, outputs, gt


@pytest.mark.parametrize("mode", ["one_to_one", "legacy"])
def test_parsing_evaluator_equals_folder_cli(tmp_path, mode):
    name = f"_test_eval_parsing_{mode}"
    dicts, outputs, gt = _build_dataset(str(tmp_path), name)
    ev = ParsingEvaluator(
        name,
        metrics=("mIoU", "APp", "APr", "APh"),
        apr_matching=mode,
        output_dir=str(tmp_path / "out"),
        output_submission=True,
    )
    res = _evaluate(ev, dicts, outputs, keys=("image_id", "file_name", "height", "width"))
    res = res["parsing"]
    assert all(isinstance(v, float) for v in res.values())
    for k in REPORTED:
        assert k in res, k
    assert 0 < res["AP_p_vol"] < 100 and 0 < res["AP_r_vol"] < 100
    folder = evaluate_folder(
        gt,
        str(tmp_path / "out" / "submission"),
        C,
        metrics=["mIoU", "APp", "APr", "APh"],
        mode="legacy" if mode == "legacy" else "default",
        progress=False,
        class_names=CLASSES,
    )
    assert res["mIoU"] == pytest.approx(folder["mIoU"], abs=1e-9)
    assert res["AP_p_vol"] == pytest.approx(folder["AP_p_vol"], abs=1e-9)
    assert res["PCP50"] == pytest.approx(folder["PCP50"], abs=1e-9)
    assert res["AP_r_vol"] == pytest.approx(folder["AP_r_vol"], abs=1e-9)
    assert res["AP_h"] == pytest.approx(folder["AP_h"], abs=1e-9)
    saved = json.load(open(tmp_path / "out" / "parsing_metrics.json"))
    assert (
        saved["mode"] == ("legacy" if mode == "legacy" else "one_to_one")
        and saved["num_images"] == 4
    )


def test_parsing_evaluator_threads_and_build(tmp_path):
    name = "_test_eval_parsing_threads"
    dicts, outputs, gt = _build_dataset(str(tmp_path), name)
    from humanparse_d2 import get_humanparse_cfg

    cfg = get_humanparse_cfg()
    res = {}
    for workers in (0, 2):
        cfg.HUMANPARSE_EVALUATION.NUM_WORKERS = workers
        ev = build_parsing_evaluator(cfg, name, str(tmp_path / f"o{workers}"))
        assert isinstance(ev, ParsingEvaluator) and ev.distributed
        out = _evaluate(ev, dicts[::-1], outputs[::-1])  # order does not matter
        res[workers] = json.dumps(out)  # NaN-safe comparison
    assert res[0] == res[2]


def test_box_source_is_recorded_from_the_outputs(tmp_path):
    name = "_test_eval_box_source"
    dicts, outputs, _ = _build_dataset(str(tmp_path), name)
    from humanparse_d2 import get_humanparse_cfg

    cfg = get_humanparse_cfg()
    assert cfg.MODEL.QANET.BOX_SOURCE == "detector"  # not what made these outputs
    bare = [{"instances": o["instances"]} for o in outputs]  # e.g. a Parsing R-CNN's outputs
    for sub, outs in (("with", outputs), ("without", bare)):
        ev = build_parsing_evaluator(cfg, name, str(tmp_path / sub))
        for d, o in zip(dicts, outs):
            ev.process([{"image_id": d["image_id"]}], [o])
        ev.evaluate()
    saved = {s: json.load(open(tmp_path / s / "parsing_metrics.json")) for s in ("with", "without")}
    assert saved["with"]["box_source"] == "oracle"
    assert saved["without"]["box_source"] == "unknown"


def test_semantic_evaluator_merge_ipr_lowres(tmp_path):
    name = "_test_eval_semseg"
    H, W = 8, 8
    gt = np.zeros((H, W), np.uint8)
    gt[2:6, 2:6] = 3  # up-cloth
    gt[6:8, :] = 7  # shoes
    gt[0, 0] = 255
    f = str(tmp_path / "gt.png")
    write_label_png(f, gt)
    lut = [0, 1, 1, 4, 2, 3, 3, 3, 7, 5, 3, 3, 5, 2, 4, 4, 6, 6, 7, 7]
    ppss = ["Background", "Hair", "Face", "Upper-clothes", "Arms", "Lower-clothes", "Legs", "Shoes"]
    _register(
        name,
        [{"file_name": "x.jpg", "image_id": 0, "height": H, "width": W, "sem_seg_file_name": f}],
        stuff_classes=ppss,
        evaluator_type="sem_seg",
        ignore_label=255,
        label_merge={"from": "lip", "lut": lut},
    )
    # LIP prediction: coat (7 -> up-cloth 3) on rows 2..5 cols 2..5, except one pixel of hair (2 -> 1);
    # right-shoe (19 -> 7) on rows 6..7
    lip = np.zeros((H, W), np.int64)
    lip[2:6, 2:6] = 7
    lip[3, 3] = 2
    lip[6:8, :] = 19
    sem = torch.nn.functional.one_hot(torch.from_numpy(lip), 20).permute(2, 0, 1).float()
    low = torch.zeros(20, 4, 4)
    low[0] = 1.0
    ev = SemanticParsingEvaluator(name, output_dir=str(tmp_path / "o"))
    ev.reset()
    ev.process([{"image_id": 0}], [{"sem_seg": sem, "sem_seg_lowres": low}])
    r = ev.evaluate()["parsing"]
    # merged confusion (63 valid pixels): bg 31/31; up-cloth 15 of 16 (1 px predicted hair); shoes 16/16
    assert r["IoU-Upper-clothes"] == pytest.approx(100 * 15 / 16)
    assert r["IoU-Hair"] == 0.0
    # mean over the 7 PPSS classes without shoes, absent classes excluded (default):
    # background 1, hair 0, up-cloth 15/16
    assert r["mIoU"] == pytest.approx(100 * (1 + 0 + 15 / 16) / 3)
    assert r["pixel_acc"] == pytest.approx(100 * 62 / 63)
    # IPR on the 20-class argmax: only the hair pixel is isolated
    assert r["IPR"] == pytest.approx(100 / 64)
    # low-res: GT squashed 8 -> 256 -> 4 (centre-nearest) samples rows/cols 1, 3, 5, 7: 8 background,
    # 4 up-cloth, 4 shoes pixels; an all-background prediction gives bg 8/16 and up-cloth 0
    assert r["mIoU_lowres"] == pytest.approx(100 * (0.5 + 0.0) / 2)


def test_semantic_mman256_protocol(tmp_path):
    name = "_test_eval_semseg256"
    gt = np.zeros((300, 200), np.uint8)
    gt[100:200, 50:150] = 5
    f = str(tmp_path / "gt.png")
    write_label_png(f, gt)
    _register(
        name,
        [
            {
                "file_name": "y.jpg",
                "image_id": 1,
                "height": 300,
                "width": 200,
                "sem_seg_file_name": f,
            }
        ],
        stuff_classes=[str(i) for i in range(20)],
        evaluator_type="sem_seg",
        ignore_label=255,
    )
    from humanparse_core.evaluation.semseg import nearest_exact_resize

    sq = nearest_exact_resize(gt, (256, 256))
    sem = (
        torch.nn.functional.one_hot(torch.from_numpy(sq.astype(np.int64)), 20)
        .permute(2, 0, 1)
        .float()
    )
    ev = SemanticParsingEvaluator(name, protocol="mman256", metrics=("mIoU",))
    ev.reset()
    ev.process([{"image_id": 1}], [{"sem_seg": sem}])
    assert ev.evaluate()["parsing"]["mIoU"] == pytest.approx(100.0)
    ev = SemanticParsingEvaluator(name, protocol="native", metrics=("mIoU",))
    ev.reset()
    with pytest.raises(ValueError, match="size mismatch"):
        ev.process([{"image_id": 1}], [{"sem_seg": sem}])


def _dist_worker(root, out_prefix):
    """One rank of the 2-process test: register, evaluate this rank's shard in both modes, rank 0
    writes the results."""
    from detectron2.utils import comm

    name = "_test_eval_dist"
    rank, world = comm.get_rank(), comm.get_world_size()
    # a folder per rank: two ranks rewriting the same PNGs race (one reads a file the other is
    # still writing)
    dicts, outputs, _ = _build_dataset(os.path.join(root, f"rank{rank}"), name)
    n = len(dicts)
    lo, hi = rank * n // world, (rank + 1) * n // world  # contiguous shards, like InferenceSampler
    for mode in ("one_to_one", "legacy"):
        ev = ParsingEvaluator(name, metrics=("mIoU", "APp", "APr", "APh"), apr_matching=mode)
        res = _evaluate(ev, dicts[lo:hi], outputs[lo:hi])
        if comm.is_main_process():
            with open(f"{out_prefix}_{mode}.json", "w") as f:
                json.dump(res, f)


@pytest.mark.slow
def test_two_gloo_processes_equal_one(tmp_path):
    from humanparse_d2.engine import launch

    single = str(tmp_path / "single")
    _dist_worker(str(tmp_path / "d1"), single)
    double = str(tmp_path / "double")
    launch(
        _dist_worker,
        2,
        num_machines=1,
        machine_rank=0,
        dist_url="auto",
        args=(str(tmp_path / "d2"), double),
    )
    for mode in ("one_to_one", "legacy"):
        a = open(f"{single}_{mode}.json").read()
        b = open(f"{double}_{mode}.json").read()
        assert "AP_p_vol" in a and a == b  # byte-identical (NaN-safe)


@pytest.mark.slow
def test_ground_truth_as_prediction_on_registered_synthetic_split():
    """GT fed as prediction through the DATA layer's dataset dicts: 100 everywhere (default mode)."""
    import humanparse_d2  # noqa: F401  (registers the datasets)
    from humanparse_core.io import read_label as rd

    name = "synth_humans_val"
    if name not in DatasetCatalog.list():
        pytest.skip("synth_humans_val is not registered")
    dicts = DatasetCatalog.get(name)[:12]
    meta = MetadataCatalog.get(name)
    ev = ParsingEvaluator(name, metrics=("mIoU", "APp", "APr", "APh"))
    ev.reset()
    for d in dicts:
        cat, hum = rd(d["category_file"]), rd(d["human_file"])
        ids = [a["parsing_id"] for a in d["annotations"]]
        maps = (
            np.stack(
                [
                    np.where((hum == i) & (cat < meta.num_parsing), cat, 0).astype(np.uint8)
                    for i in ids
                ]
            )
            if ids
            else np.zeros((0,) + cat.shape, np.uint8)
        )
        inst = Instances(cat.shape)
        inst.pred_parsing = torch.from_numpy(maps)
        n = len(ids)
        inst.scores = torch.linspace(0.9, 0.5, n) if n else torch.zeros(0)
        inst.box_scores = inst.scores.clone()
        inst.part_scores = (
            inst.scores[:, None].repeat(1, meta.num_parsing - 1)
            if n
            else torch.zeros(0, meta.num_parsing - 1)
        )
        ev.process([{"image_id": d["image_id"]}], [{"instances": inst}])
    r = ev.evaluate()["parsing"]
    for k in ("mIoU", "pixel_acc", "AP_p_vol", "PCP50", "AP_r_vol", "AP_h"):
        assert r[k] == pytest.approx(100.0), k
