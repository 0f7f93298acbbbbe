"""MMAN's evaluation protocols on toy maps: 256x256 (the paper's number) next to native
resolution, IPR under the 8- and the 4-neighbour rule."""

import json

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog

import humanparse_d2  # noqa: F401
from humanparse_core.evaluation.ipr import isolated_pixel_count, isolated_pixel_rate
from humanparse_core.evaluation.semseg import nearest_exact_resize
from humanparse_core.evaluation.submission import write_label_png
from humanparse_d2.projects.mman.evaluation import MMANEvaluator


def _register(name, dicts):
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, lambda: dicts)
    MetadataCatalog.get(name).set(
        stuff_classes=[str(i) for i in range(20)], evaluator_type="sem_seg", ignore_label=255
    )


def _onehot(label):
    return (
        torch.nn.functional.one_hot(torch.from_numpy(label.astype(np.int64)), 20)
        .permute(2, 0, 1)
        .float()
    )


def test_256_protocol_and_native_side_by_side(tmp_path):
    # a 300x200 label map with a one-row stripe of class 9 that the 256-row squash does not sample
    gt = np.zeros((300, 200), np.uint8)
    gt[100:200, 50:150] = 5
    gt[255, :] = 9
    f = str(tmp_path / "gt.png")
    write_label_png(f, gt)
    _register(
        "_mman_proto",
        [
            {
                "file_name": "a.jpg",
                "image_id": 0,
                "height": 300,
                "width": 200,
                "sem_seg_file_name": f,
            }
        ],
    )
    sq = nearest_exact_resize(gt, (256, 256))
    assert 9 not in sq
    at_256 = _onehot(sq)  # what the model saw and predicted, exactly right at 256x256
    # the same prediction brought back to the original size misses the stripe
    native = torch.nn.functional.interpolate(
        at_256[None], (300, 200), mode="bilinear", align_corners=False
    )[0]
    label_256 = sq.astype(np.int64)
    label_256[0, 0] = label_256[1, 1] = 3  # a diagonal pair: 0 isolated under 8, 2 under 4
    out = {
        "sem_seg": native,
        "sem_seg_input_size": at_256,
        "sem_seg_ipr_label": torch.from_numpy(label_256),
    }
    ev = MMANEvaluator("_mman_proto", output_dir=str(tmp_path / "o"), distributed=False)
    ev.reset()
    ev.process([{"image_id": 0}], [out])
    r = ev.evaluate()["parsing"]
    assert r["mIoU"] == r["mIoU_256x256"] == pytest.approx(100.0)  # no second resize of the 256 map
    # native: class 9 (in the native GT only) missed, background takes its 200 pixels
    assert r["mIoU_native"] == pytest.approx(100 * (49_800 / 50_000 + 1 + 0) / 3)
    assert r["IPR"] == 0.0 and r["IPR_4conn"] == pytest.approx(100 * 2 / 256**2)
    js = json.loads((tmp_path / "o" / "mman_metrics.json").read_text())
    assert js["paper_protocol"] == "mman256" and js["mIoU_native"] == pytest.approx(
        r["mIoU_native"]
    )
    assert (tmp_path / "o" / "mman256" / "sem_seg_parsing_metrics.json").is_file()
    assert (tmp_path / "o" / "native" / "sem_seg_parsing_metrics.json").is_file()
    # a prediction made at another size (paper preset: the original size) is resized to 256 once
    ev.reset()
    ev.process([{"image_id": 0}], [{"sem_seg": _onehot(gt), "sem_seg_input_size": _onehot(gt)}])
    r2 = ev.evaluate()["parsing"]
    assert r2["mIoU_native"] == pytest.approx(100.0) and r2["mIoU_256x256"] > 95.0


def test_ipr_checkerboard_and_specks_both_ways():
    board = np.indices((6, 6)).sum(0) % 2
    lab = np.zeros((10, 10), np.int64)
    lab[2:8, 2:8] = board
    # 8-neighbour rule: every checkerboard pixel has a diagonal twin -> nothing isolated
    assert isolated_pixel_count(lab, 8) == (0, 100)
    # 4-neighbour rule: the 18 ones of the board and the 18 zeros inside it, minus the zeros on
    # its border that touch the background zeros
    n4, _ = isolated_pixel_count(lab, 4)
    assert n4 == 18 + sum(
        1
        for y in range(2, 8)
        for x in range(2, 8)
        if board[y - 2, x - 2] == 0 and 2 < y < 7 and 2 < x < 7
    )
    dot = np.zeros((5, 5), np.int64)
    dot[2, 2] = 1
    assert isolated_pixel_count(dot, 8) == isolated_pixel_count(dot, 4) == (1, 25)
    diag = np.zeros((5, 5), np.int64)
    diag[1, 1] = diag[2, 2] = 1  # a diagonal pair: connected under 8, two singletons under 4
    assert isolated_pixel_count(diag, 8)[0] == 0 and isolated_pixel_count(diag, 4)[0] == 2
    assert isolated_pixel_rate(dot, 4) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="connectivity"):
        isolated_pixel_count(dot, 6)
