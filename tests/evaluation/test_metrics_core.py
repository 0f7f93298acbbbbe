"""Metric core with hand-computed answers (pure numpy; no detectron2 needed)."""

import warnings

import numpy as np
import pytest

from humanparse_core.evaluation.accumulator import ParsingAccumulator
from humanparse_core.evaluation.ap import PARSING_THRESHOLDS, voc_ap
from humanparse_core.evaluation.image_eval import evaluate_image
from humanparse_core.evaluation.image_inputs import ImageGT, ImagePred
from humanparse_core.evaluation.ipr import isolated_pixel_count, isolated_pixel_rate
from humanparse_core.evaluation.parsing_ap import (
    accumulate_app,
    app_image_records,
    app_image_records_from_maps,
)
from humanparse_core.evaluation.person_label import gt_persons_from_maps, pair_iou, person_from_map
from humanparse_core.evaluation.region_ap import accumulate_region_ap, region_image_records
from humanparse_core.evaluation.semseg import (
    confusion_matrix,
    semantic_scores,
)

from .evalhelpers import person_map

warnings.simplefilter("ignore", RuntimeWarning)
T = PARSING_THRESHOLDS


def random_rect(rng, H, W):
    """A random, possibly empty, axis-aligned window of an H x W map (a tuple of two slices)."""
    y0, x0 = rng.integers(0, H), rng.integers(0, W)
    y1, x1 = rng.integers(y0, H + 1), rng.integers(x0, W + 1)
    return np.s_[y0:y1, x0:x1]


def test_voc_ap_all_point():
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)
    # precision envelope: a later higher precision lifts earlier points
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([0.5, 0.5, 1.0])) == pytest.approx(1.0)
    assert voc_ap(np.zeros(0), np.zeros(0)) == 0.0


def test_semantic_hand_computed_and_modes():
    gt = np.array([[0, 1], [1, 255]], np.uint8)
    pred = np.array([[0, 1], [0, 1]], np.uint8)
    M = confusion_matrix(gt, pred, 3)
    assert M.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]
    d = semantic_scores(M, "default")
    assert d["mIoU"] == pytest.approx(0.5)  # class 2 has zero union: excluded
    assert d["classes_absent"] == [2]
    assert d["pixel_acc"] == pytest.approx(2 / 3)
    assert d["mean_acc"] == pytest.approx(0.75)
    lg = semantic_scores(M, "legacy")
    assert lg["mIoU"] == pytest.approx(1 / 3)  # +1e-10: absent class scores 0 and is averaged
    assert lg["mean_acc"] == pytest.approx(0.5)
    # per-image mIoUs are never averaged: two images accumulate one matrix
    M2 = M + confusion_matrix(np.array([[2, 2]], np.uint8), np.array([[2, 0]], np.uint8), 3)
    assert semantic_scores(M2)["IoU"][2] == pytest.approx(0.5)


def test_semantic_bad_input():
    with pytest.raises(ValueError, match="out of range.*pred.png"):
        confusion_matrix(
            np.zeros((2, 2), np.uint8), np.full((2, 2), 3, np.uint8), 3, name="pred.png"
        )
    with pytest.raises(ValueError, match="size mismatch.*pred.png"):
        confusion_matrix(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8), 3, name="pred.png")


def _app_case():
    shape = (20, 20)
    A = person_map(shape, [(1, 0, 10, 0, 10), (2, 10, 15, 0, 10)])
    B = person_map(shape, [(3, 15, 20, 10, 20)])
    cat = np.maximum(A, B)
    hum = ((A > 0) * 1 + (B > 0) * 2).astype(np.uint8)
    P1 = person_map(shape, [(1, 0, 10, 0, 10), (2, 10, 14, 0, 10), (1, 14, 15, 0, 10)])
    P2 = person_map(shape, [(3, 15, 20, 12, 20)])
    return shape, cat, hum, [P1, P2], [0.9, 0.5]


def test_app_pcp_hand_computed():
    shape, cat, hum, preds, scores = _app_case()
    C = 20
    gts = gt_persons_from_maps(cat, hum, [1, 2], C)
    iou = pair_iou(gts[0], person_from_map(preds[0], C), 400, C)
    assert iou[0] == 1.0 and iou[1] == pytest.approx(100 / 110) and iou[2] == pytest.approx(0.8)
    assert np.isnan(iou[3])
    iou2 = pair_iou(gts[1], person_from_map(preds[1], C), 400, C)
    assert iou2[3] == 0.8 and iou2[0] == pytest.approx(350 / 360)
    for mode in ("default", "legacy"):
        rec = app_image_records(gts, [person_from_map(p, C) for p in preds], scores, shape, C)
        out = accumulate_app(rec, 2, mode=mode)
        # P1 matches A (m = (1 + 10/11 + 0.8)/3 = 0.903), P2 matches B (m = 0.886): both TP up to
        # t = 0.8, P2 is FP at 0.9.
        for t in T[:-1]:
            assert out["AP_p"][t] == pytest.approx(1.0)
        assert out["AP_p"][0.9] == pytest.approx(0.5)
        # PCP: P1 parts {1: 0.909, 2: 0.8}, P2 part {3: 0.8}; strict '>' at t = 0.8
        for t in T[:7]:
            assert out["PCP"][t] == pytest.approx(1.0)
        assert out["PCP"][0.8] == pytest.approx((0.5 + 0.0) / 2)
        assert out["PCP"][0.9] == pytest.approx(0.5 / 2)
        rec2, npos = app_image_records_from_maps(
            cat, hum, [1, 2], [person_from_map(p, C) for p in preds], scores, C, mode=mode
        )
        assert npos == 2
        assert accumulate_app(rec2, npos, mode=mode) == out


def test_app_duplicate_is_fp_and_score_thresh():
    shape, cat, hum, preds, scores = _app_case()
    C = 20
    gts = gt_persons_from_maps(cat, hum, [1, 2], C)
    ps = [person_from_map(p, C) for p in (preds[0], preds[0], preds[1])]
    out = accumulate_app(app_image_records(gts, ps, [0.9, 0.8, 0.005], shape, C), 2)
    # P1 TP, its duplicate FP (GT already matched); P2 below SCORE_THRESH is neither TP nor FP
    assert out["AP_p"][0.5] == pytest.approx(0.5)
    assert out["PCP"][0.5] == pytest.approx(0.5)


def test_app_empty_gt_person_legacy_vs_default():
    shape = (10, 10)
    C = 20
    A = person_map(shape, [(5, 0, 5, 0, 5)])
    cat = A.copy()
    hum = (A > 0).astype(np.uint8)
    hum[6:9, 6:9] = 2  # person 2 has pixels in Human_ids but no part (class 0)
    pred = [person_from_map(A, C)]
    rl, npos_l = app_image_records_from_maps(cat, hum, [1, 2], pred, [0.9], C, mode="legacy")
    rd, npos_d = app_image_records_from_maps(cat, hum, [1, 2], pred, [0.9], C, mode="default")
    assert (npos_l, npos_d) == (2, 1)
    assert accumulate_app(rl, npos_l, mode="legacy")["AP_p"][0.5] == pytest.approx(0.5)
    assert accumulate_app(rd, npos_d)["AP_p"][0.5] == pytest.approx(1.0)


def test_pair_iou_matches_dense_reference():
    rng = np.random.default_rng(0)
    C = 7
    for _ in range(100):
        H, W = rng.integers(3, 25, 2)
        g = np.zeros((H, W), np.uint8)
        p = np.zeros((H, W), np.uint8)
        for m in (g, p):
            r = random_rect(rng, H, W)
            m[r] = rng.integers(0, C, m[r].shape)
        g[(rng.random((H, W)) < 0.05) & (g > 0)] = 255
        k = g < C
        hist = np.bincount(C * g[k].astype(int) + p[k], minlength=C * C).reshape(C, C).astype(float)
        with np.errstate(all="ignore"):
            ref = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
        got = pair_iou(person_from_map(g, C, is_gt=True), person_from_map(p, C), int(H * W), C)
        np.testing.assert_array_equal(got, ref)


def test_app_from_maps_equals_generic_path():
    rng = np.random.default_rng(1)
    C = 6
    for _ in range(80):
        H, W = rng.integers(8, 30, 2)
        cat = np.zeros((H, W), np.uint8)
        hum = np.zeros((H, W), np.uint8)
        n = int(rng.integers(0, 4))
        for p in range(1, n + 1):
            r = random_rect(rng, H, W)
            hum[r] = p
            cat[r] = rng.integers(0, C, cat[r].shape)
        cat[rng.random((H, W)) < 0.05] = 255
        preds, scores = [], []
        for _ in range(int(rng.integers(0, 4))):
            m = np.zeros((H, W), np.uint8)
            r = random_rect(rng, H, W)
            m[r] = rng.integers(0, C, m[r].shape)
            preds.append(person_from_map(m, C))
            scores.append(float(rng.random()))
        ids = list(range(1, n + 2))
        for mode in ("legacy", "default"):
            r1, npos = app_image_records_from_maps(cat, hum, ids, preds, scores, C, mode=mode)
            gts = gt_persons_from_maps(cat, hum, ids, C)
            if mode == "default":
                gts = [g for g in gts if g.hist[1:C].any()]
            r2 = app_image_records(gts, preds, scores, (H, W), C)
            assert npos == len(gts)
            for f in ("ovmax", "jmax", "pcp_num", "ncls"):
                np.testing.assert_array_equal(getattr(r1, f), getattr(r2, f))


def _toy_regions():
    """AP^r matching: one GT region, two predictions with IoU 0.45 and 0.40."""
    gt = np.zeros((10, 20), np.uint8)
    gt[:, :9] = 1  # 90 px
    inside = np.flatnonzero(gt.ravel())
    pred = np.zeros(200, np.uint8)
    pred[inside[:45]] = 1
    pred = pred.reshape(10, 20)
    pred[:, 19] = 1  # 45 / (90 + 10) = 0.45
    p2 = np.zeros(200, bool)
    p2[inside[45:85]] = True
    p2 = p2.reshape(10, 20)
    p2[:, 18] = True  # 40 / 100 = 0.40
    pred[p2] = 2
    return gt, pred


def test_apr_toy_legacy_200_vs_one_to_one_100():
    gt, pred = _toy_regions()
    C = 2
    res = {}
    for mode in ("legacy", "default"):
        r = region_image_records(pred, [1, 1], [0.9, 0.8], gt, {1: 1}, C, mode=mode)
        res[mode] = accumulate_region_ap(r, C, mode=mode)["AP"]
    for t in (0.1, 0.2, 0.3):
        assert res["legacy"][t] == pytest.approx(2.0)  # recall and AP exceed 1
        assert res["default"][t] == pytest.approx(1.0)
    assert res["legacy"][0.4] == pytest.approx(1.0) and res["default"][0.4] == pytest.approx(1.0)
    for t in T[4:]:
        assert res["legacy"][t] == 0.0 and res["default"][t] == 0.0


def test_apr_one_to_one_exact_with_duplicate_part():
    # GT: two regions of class 1; predictions: a perfect copy of region A (0.9), a duplicate of A
    # (0.8) and a perfect copy of region B (0.7). One-to-one: TP, FP, TP -> AP = 1*0.5 + (2/3)*0.5.
    gt = np.zeros((4, 8), np.uint8)
    gt[:, :4] = 1
    gt[:, 4:] = 2
    pred = np.zeros((4, 8), np.uint8)
    pred[:2, :4] = 1  # IoU 0.5 with A (the duplicate is region 2 below)
    pred[2:, :4] = 2  # IoU 0.5 with A
    pred[:, 4:] = 3
    C = 2
    d = accumulate_region_ap(
        region_image_records(pred, [1, 1, 1], [0.9, 0.8, 0.7], gt, {1: 1, 2: 1}, C), C
    )
    lg = accumulate_region_ap(
        region_image_records(pred, [1, 1, 1], [0.9, 0.8, 0.7], gt, {1: 1, 2: 1}, C, mode="legacy"),
        C,
        mode="legacy",
    )
    # t < 0.5: default TP, FP, TP -> rec (.5,.5,1) prec (1,.5,2/3) -> AP = .5 + .5 * 2/3
    assert d["AP"][0.4] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert lg["AP"][0.4] == pytest.approx(1.5)  # legacy counts the duplicate: recall 1.5
    assert lg["AP"][0.4] > d["AP"][0.4]
    # t >= 0.5: only the B copy is a TP (IoU 1), ranked third -> AP = 0.5 * 1/3
    assert d["AP"][0.5] == pytest.approx(0.5 / 3)
    assert lg["AP"][0.5] == pytest.approx(0.5 / 3)


def test_apr_absent_class_and_empty_regions():
    gt = np.zeros((4, 4), np.uint8)
    gt[:2] = 1
    pred = np.zeros((4, 4), np.uint8)
    pred[:2] = 1
    # region 2 listed with class 2 but without pixels: dropped and counted; class 2..4 have no GT
    r = region_image_records(pred, [1, 2], [0.9, 0.8], gt, {1: 1, 7: 3}, 5)
    assert r.empty_pred_regions == 1 and r.gt_count.tolist() == [0, 1, 0, 0, 0]
    d = accumulate_region_ap(r, 5)
    assert d["classes_absent"] == [2, 3, 4] and d["AP"][0.5] == pytest.approx(1.0)
    lg = accumulate_region_ap(
        region_image_records(pred, [1, 2], [0.9, 0.8], gt, {1: 1}, 5, mode="legacy"),
        5,
        mode="legacy",
    )
    # reference arithmetic: a class with neither GT nor predictions scores 0 and is averaged
    assert lg["AP"][0.5] == pytest.approx(1.0 / 4)


def test_apr_bad_region_ids():
    gt = np.zeros((4, 4), np.uint8)
    pred = np.zeros((4, 4), np.uint8)
    pred[0, 0] = 3
    with pytest.raises(ValueError, match="region id 3.*only 2 lines.*x.png"):
        region_image_records(pred, [1, 1], [0.5, 0.5], gt, {}, 3, name="x.png")
    with pytest.raises(ValueError, match="class 9"):
        region_image_records(np.zeros_like(pred), [9], [0.5], gt, {}, 3, name="x.png")


def test_missing_prediction_counts_as_miss_or_skipped():
    gt = np.zeros((4, 4), np.uint8)
    gt[:2] = 1
    C = 2
    for mode, expect in (("default", 0.5), ("legacy", 1.0)):
        acc = ParsingAccumulator(C, ["mIoU", "APr"], mode=mode)
        acc.add(
            evaluate_image(
                0,
                C,
                ["mIoU", "APr"],
                ImageGT(category=gt, instance=gt, instance_classes={1: 1}),
                ImagePred(global_map=gt, regions=gt, region_classes=[1], region_scores=[0.9]),
                mode=mode,
            )
        )
        acc.add(
            evaluate_image(
                1,
                C,
                ["mIoU", "APr"],
                ImageGT(category=gt, instance=gt, instance_classes={1: 1}),
                ImagePred(missing=("global_parsing", "instance_parsing")),
                mode=mode,
                name="b",
            )
        )
        s = acc.summarize()
        assert s["AP_r50"] == pytest.approx(100 * expect)
        assert s["missing_predictions"] == {"global_parsing": 1, "instance_parsing": 1}
        # default: the missing image counts as all background (class 1 IoU 8/16); legacy skips it
        assert s["IoU"]["1"] == pytest.approx(50.0 if mode == "default" else 100.0)


def test_ipr_definition():
    lab = np.zeros((5, 5), np.uint8)
    assert isolated_pixel_count(lab) == (0, 25)
    lab[2, 2] = 3
    assert isolated_pixel_count(lab) == (1, 25)
    lab[1, 1] = 3  # diagonal neighbour: 8-connected, no longer isolated
    assert isolated_pixel_count(lab) == (0, 25)
    lab2 = np.zeros((3, 3), np.uint8)
    lab2[0, 0] = 1  # corner pixel: out-of-image neighbours count as different
    assert isolated_pixel_count(lab2) == (1, 9)
    stripes = np.tile(
        np.array([0, 1], np.uint8), (4, 2)
    )  # vertical stripes: every pixel has a vertical twin
    assert isolated_pixel_rate(stripes) == 0.0
    checker = (np.indices((4, 4)).sum(0) % 2).astype(np.uint8)  # diagonal twins everywhere
    assert isolated_pixel_rate(checker) == 0.0
    assert isolated_pixel_rate(np.arange(12).reshape(3, 4)) == 100.0


def test_parsing_nms_and_legacy_indexing_option():
    from humanparse_core.postprocessing import parsing_postprocess

    shape = (10, 20)
    a = person_map(shape, [(1, 0, 5, 0, 5), (2, 5, 10, 0, 5)])
    b = person_map(shape, [(3, 0, 10, 10, 15)])
    maps = np.stack([a, b, a.copy(), b.copy()])  # C duplicates A, D duplicates B
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    r = parsing_postprocess(maps, scores, scores, None, 20)
    assert r.person_indices.tolist() == [0, 1]
    # the reference's slip: at B, the IoU list skips suppressed C but suppression lands on C's slot
    r = parsing_postprocess(maps, scores, scores, None, 20, legacy_nms_indexing=True)
    assert r.person_indices.tolist() == [0, 1, 3]
    # NMS threshold 1.0 (off) and the score threshold
    r = parsing_postprocess(maps, scores, scores, None, 20, nms_thresh=1.0, score_thresh=0.65)
    assert r.person_indices.tolist() == [0, 1, 2]


def test_postprocess_global_map_uses_box_scores_and_order():
    from humanparse_core.postprocessing import parsing_postprocess

    shape = (6, 6)
    a = person_map(shape, [(1, 0, 6, 0, 6)])
    b = person_map(shape, [(2, 0, 3, 0, 6)])
    c = person_map(shape, [(3, 3, 6, 0, 6)])
    # box scores: a 0.5, b 0.9 (painted last, on top), c 0.2 (< 0.3: not in the global map)
    r = parsing_postprocess(
        np.stack([a, b, c]),
        np.array([0.1, 0.2, 0.3]),
        np.array([0.5, 0.9, 0.2]),
        None,
        20,
        nms_thresh=1.0,
    )
    assert (r.global_map[:3] == 2).all() and (r.global_map[3:] == 1).all()
    # person map: painted in ascending S_q (a, b, c): a is fully covered and disappears
    assert r.person_map_scores.tolist() == [0.2, 0.3]
    assert r.region_classes.tolist() == [2, 3]
    empty = parsing_postprocess(np.zeros((0, 4, 5), np.uint8), [], [], None, 20)
    assert (
        empty.global_map.shape == (4, 5)
        and empty.region_classes.size == 0
        and not empty.person_maps
    )
