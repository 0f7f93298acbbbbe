"""The streaming evaluator against a naive dense re-statement of the metric definitions (full-image masks,
per-class passes, one global sort), on random multi-person fixtures with ties, duplicates, empty
persons, ignore pixels and images without predictions. Legacy numbers must be bit-identical."""

import glob
import os
import warnings

import numpy as np
import pytest

from humanparse_core.evaluation.ap import PARSING_THRESHOLDS as THRS
from humanparse_core.evaluation.folder_eval import evaluate_folder
from humanparse_core.evaluation.submission import read_region_txt, read_score_txt
from humanparse_core.io import read_label

from .evalhelpers import gt_from_persons, write_gt, write_pred

warnings.simplefilter("ignore", RuntimeWarning)
C = 8


def _voc(rec, prec):
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def _miou_vec(gt, pred):
    k = (gt >= 0) & (gt < C)
    h = (
        np.bincount(C * gt[k].astype(int) + pred[k], minlength=C * C)
        .reshape(C, C)
        .astype(np.float64)
    )
    return np.diag(h) / (h.sum(1) + h.sum(0) - np.diag(h))


def _ap(ctp, cfp, npos):
    """VOC AP of cumulative true / false positive counts against ``npos`` ground-truth items."""
    return _voc(ctp / float(npos), ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps))


def naive_miou(gt_root, pred_dir, names, legacy):
    """mIoU of the global parsing maps from one dataset-wide confusion matrix."""
    H = np.zeros((C, C))
    for n in names:
        p = os.path.join(pred_dir, "global_parsing", n + ".png")
        g = read_label(os.path.join(gt_root, "Category_ids", n + ".png"))
        if not os.path.exists(p):
            if legacy:
                continue
            pr = np.zeros_like(g)
        else:
            pr = read_label(p)
        k = g < C
        H += np.bincount(C * g[k].astype(int) + pr[k], minlength=C * C).reshape(C, C)
    if legacy:
        iu = np.diag(H) / (H.sum(1) + H.sum(0) - np.diag(H) + 1e-10)
    else:
        u = H.sum(1) + H.sum(0) - np.diag(H)
        iu = np.where(u > 0, np.diag(H) / np.maximum(u, 1), np.nan)
    return np.nanmean(iu)


def _naive_persons(gt_root, pred_dir, names, legacy):
    """Dense per-person GT maps {image index: [H x W]}, their count, and every predicted person as
    (image index, score, H x W map)."""
    gts, preds = {}, []
    npos = 0
    for i, n in enumerate(names):
        cat = read_label(os.path.join(gt_root, "Category_ids", n + ".png"))
        hum = read_label(os.path.join(gt_root, "Human_ids", n + ".png"))
        persons = [cat * (hum == j) for j in sorted(set(np.unique(hum)) - {0})]
        if not legacy:
            persons = [m for m in persons if ((m > 0) & (m < C)).any()]
        gts[i] = persons
        npos += len(persons)
        t = os.path.join(pred_dir, "person_parsing", n + ".txt")
        if os.path.exists(t):
            for k, s in enumerate(read_score_txt(t), start=1):
                preds.append(
                    (i, s, read_label(os.path.join(pred_dir, "person_parsing", f"{n}_{k}.png")))
                )
    return gts, npos, preds


def naive_app(gt_root, pred_dir, names, legacy):
    """AP^p and PCP per threshold: all predictions densified, one global sort."""
    gts, npos, preds = _naive_persons(gt_root, pred_dir, names, legacy)
    scores = np.array([p[1] for p in preds])
    order = np.argsort(-scores) if legacy else np.argsort(-scores, kind="stable")
    ap, pcp = {}, {}
    for t in THRS:
        used = set()
        tp, fp, pl = [], [], []
        for d in order:
            i, s, m = preds[d]
            if s < 0.01:
                continue
            ov, jm, best = -np.inf, -1, None
            for j, g in enumerate(gts[i]):
                v = _miou_vec(g, m)
                if np.nanmean(v) > ov:
                    ov, jm, best = np.nanmean(v), j, v
            if ov > t and (i, jm) not in used:
                used.add((i, jm))
                tp.append(1)
                fp.append(0)
                u = np.unique(gts[i][jm])
                ncls = len(u[(u > 0) & (u < C)])
                pl.append(float(np.sum(best[1:] > t)) / ncls if ncls else 0.0)
            else:
                tp.append(0)
                fp.append(1)
        ap[t] = _ap(np.cumsum(tp), np.cumsum(fp), npos)
        pcp[t] = np.mean(pl + [0.0] * (npos - len(pl)))
    return ap, pcp


def _naive_region_image(gt_root, pred_dir, n, c, legacy):
    """Class ``c`` regions of image ``n`` with dense masks: the number of GT regions, the scores of
    the predicted regions and their true-positive flags (len(scores) x len(THRS))."""
    gi = read_label(os.path.join(gt_root, "Instance_ids", n + ".png"))
    tab = [
        ln.split()
        for ln in open(os.path.join(gt_root, "Instance_ids", n + ".txt")).read().splitlines()
        if ln.strip()
    ]
    gids = [int(r[0]) for r in tab if int(r[1]) == c and (gi == int(r[0])).any()]
    t = os.path.join(pred_dir, "instance_parsing", n + ".txt")
    if not os.path.exists(t):
        return len(gids), [], []
    pm = read_label(t[:-4] + ".png")
    cls, s = read_region_txt(t)
    pids = [k + 1 for k in range(len(cls)) if cls[k] == c and (pm == k + 1).any()]
    psc = [s[k - 1] for k in pids]
    ious = np.array(
        [
            [((pm == p) & (gi == g)).sum() / ((pm == p) | (gi == g)).sum() for g in gids]
            for p in pids
        ]
    ).reshape(len(pids), len(gids))
    flags = np.zeros((len(pids), len(THRS)))
    if gids:
        for ti, th in enumerate(THRS):
            used = set()
            for r in range(len(pids)) if legacy else np.argsort(-np.array(psc), kind="stable"):
                j = int(np.argmax(ious[r]))
                if ious[r, j] > th and (legacy or j not in used):
                    flags[r, ti] = 1
                    used.add(j)
    return len(gids), psc, list(flags)


def naive_apr(gt_root, pred_dir, names, legacy):
    """AP^r per threshold: per class over all images, dense masks, averaged over classes."""
    # legacy: the reference's image list is the prediction folder's *.txt listing, in glob order
    img_list = (
        [
            os.path.basename(x)[:-4]
            for x in glob.glob(os.path.join(pred_dir, "instance_parsing", "*"))
            if x[-3:] == "txt"
        ]
        if legacy
        else names
    )
    apr = np.full((C - 1, len(THRS)), np.nan)
    for c in range(1, C):
        ngt, sc, tps = 0, [], []
        for n in img_list:
            n_gt, psc, flags = _naive_region_image(gt_root, pred_dir, n, c, legacy)
            ngt += n_gt
            sc += psc
            tps += flags
        if not legacy and ngt == 0:
            continue
        sc = np.array(sc)
        o = np.argsort(sc)[::-1] if legacy else np.argsort(-sc, kind="stable")
        for ti in range(len(THRS)):
            f = np.array([tps[k][ti] for k in o]) if len(o) else np.zeros(0)
            apr[c - 1, ti] = _ap(np.cumsum(f), np.cumsum(1 - f), ngt)
    return dict(zip(THRS, np.nanmean(apr, axis=0)))


def naive(gt_root, pred_dir, names, legacy):
    """Dense re-statement of mIoU, AP^p (with PCP) and AP^r for the CIHP layout."""
    ap, pcp = naive_app(gt_root, pred_dir, names, legacy)
    return {
        "mIoU": naive_miou(gt_root, pred_dir, names, legacy),
        "AP_p": ap,
        "PCP": pcp,
        "AP_r": naive_apr(gt_root, pred_dir, names, legacy),
    }


def _fixture(root, seed):
    rng = np.random.default_rng(seed)
    gt, pred = os.path.join(root, "gt"), os.path.join(root, "pred")
    names = []
    for k in range(6):
        shape = (int(rng.integers(20, 40)), int(rng.integers(20, 40)))
        persons = []
        for _ in range(int(rng.integers(0, 4))):
            m = np.zeros(shape, np.uint8)
            for _ in range(int(rng.integers(0, 4))):
                y0, x0 = rng.integers(0, shape[0] - 4), rng.integers(0, shape[1] - 4)
                m[y0 : y0 + rng.integers(3, 12), x0 : x0 + rng.integers(3, 12)] = rng.integers(1, C)
            if not m.any():
                m[rng.integers(0, shape[0]), rng.integers(0, shape[1])] = 0  # empty person
            persons.append(m)
        cat, hum, inst, table = gt_from_persons(shape, persons, num_classes=C)
        for h in range(1, len(persons) + 1):
            if not (hum == h).any() and rng.random() < 0.5:  # a person with pixels but no part
                hum[rng.integers(0, shape[0]), rng.integers(0, shape[1])] = h
        cat[(rng.random(shape) < 0.03) & (hum > 0)] = 255
        inst[cat == 255] = 0
        name = f"r{k}"
        names.append(name)
        write_gt(gt, name, cat, hum, inst, table)
        if k == 5:
            continue  # an image without any prediction file
        maps, scores = [], []
        for h in range(1, len(persons) + 1):
            m = np.where((hum == h) & (cat < C), cat, 0).astype(np.uint8)
            if rng.random() < 0.6:
                m = np.roll(m, int(rng.integers(-3, 4)), axis=int(rng.integers(0, 2)))
            maps.append(m)
            scores.append(float(rng.choice([0.3, 0.5, 0.7, 0.9])))  # ties across images
            if rng.random() < 0.4:  # partial duplicate: survives parsing NMS
                d = m.copy()
                d[: shape[0] // 2] = 0
                maps.append(d)
                scores.append(float(rng.choice([0.3, 0.5, 0.005])))
        part = rng.choice([0.2, 0.4, 0.6, 0.8], (len(maps), C - 1))
        write_pred(pred, name, maps, scores, shape, part_scores=part, num_classes=C)
    return gt, pred, names


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("mode", ["legacy", "default"])
def test_streaming_equals_naive(tmp_path, seed, mode):
    gt, pred, names = _fixture(str(tmp_path), seed)
    legacy = mode == "legacy"
    ref = naive(gt, pred, names, legacy)
    got = evaluate_folder(gt, pred, C, metrics=["mIoU", "APp", "APr"], mode=mode, progress=False)
    assert got["mIoU"] == pytest.approx(100 * ref["mIoU"], rel=1e-12)
    for t in THRS:
        # fractions from the same arithmetic: compare the unscaled values exactly
        assert got["AP_p"][t] / 100 == pytest.approx(ref["AP_p"][t], rel=1e-12, abs=0), ("AP_p", t)
        assert got["PCP"][t] / 100 == pytest.approx(ref["PCP"][t], rel=1e-12, abs=0), ("PCP", t)
        assert got["AP_r"][t] / 100 == pytest.approx(ref["AP_r"][t], rel=1e-12, abs=0), ("AP_r", t)
