#!/usr/bin/env python
"""faster-coco-eval (what FastCOCOEvaluator / FastLVISEvaluator run) against the reference scorers.

    python benchmarks/coco_eval_speed.py [--images 500] [--cats 80] [--lvis-cats 300] [--json OUT]

On the same synthetic detections (boxes and RLE masks: jittered ground truth, false positives,
missed objects, COCO crowd regions; LVIS-v1 federated labels: negative and not-exhaustive category
lists, r/c/f frequencies, detections of unverified categories):

* COCO: pycocotools ``COCOeval`` vs faster-coco-eval ``COCOeval_faster`` (the 12 ``stats``);
* LVIS: lvis-api 0.5.3 ``LVISEval`` (``np.float``, removed in numpy 2, set back to ``float`` in this
  process only) vs faster-coco-eval in LVIS style through ``evaluate_on_lvis`` (the 9 AP numbers).

Each scorer is timed from the loaded GT dict and result list to its numbers (index building and
loadRes included; the copies of the inputs each run needs are made before the clock starts).
"""

import argparse
import contextlib
import copy
import io
import json
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _ellipse_poly(x0, y0, w, h, n=12):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    xs = x0 + w / 2 + (w / 2) * np.cos(t)
    ys = y0 + h / 2 + (h / 2) * np.sin(t)
    return [np.stack([xs, ys], 1).ravel().round(2).tolist()]


def _rle(mask):
    from pycocotools import mask as mu

    r = mu.encode(np.asfortranarray(mask.astype(np.uint8)))
    r["counts"] = r["counts"].decode("ascii")
    return r


def synth_instances(n_images=50, n_cats=5, *, lvis=False, seed=0, size=(96, 128)):
    """A COCO (or LVIS v1) ground-truth dict and a list of detections (dataset category ids)."""
    from pycocotools import mask as mu

    rng = np.random.default_rng(seed)
    H, W = size
    cats = [{"id": c, "name": f"c{c}"} for c in range(1, n_cats + 1)]
    if lvis:
        for c in cats:
            c["frequency"] = "rcf"[c["id"] % 3]
    images, anns, dets = [], [], []
    for i in range(1, n_images + 1):
        img = {"id": i, "height": H, "width": W, "file_name": f"{i:06d}.jpg"}
        present = set()
        for _ in range(int(rng.integers(0, 6))):
            c = int(rng.integers(1, n_cats + 1))
            w, h = rng.uniform(6, W / 2), rng.uniform(6, H / 2)
            x0, y0 = rng.uniform(0, W - w), rng.uniform(0, H - h)
            crowd = (not lvis) and rng.random() < 0.05
            if crowd:
                m = np.zeros((H, W), np.uint8)
                m[int(y0) : int(y0 + h), int(x0) : int(x0 + w)] = 1
                seg = mu.encode(np.asfortranarray(m))
                seg = {"size": seg["size"], "counts": seg["counts"].decode("ascii")}
            else:
                seg = _ellipse_poly(x0, y0, w, h)
            rle = mu.merge(mu.frPyObjects(seg, H, W)) if isinstance(seg, list) else seg
            anns.append({
                "id": len(anns) + 1, "image_id": i, "category_id": c, "iscrowd": int(crowd),
                "bbox": [float(x0), float(y0), float(w), float(h)], "segmentation": seg,
                "area": float(mu.area(rle)),
            })  # fmt: skip
            present.add(c)
            if rng.random() < 0.85:  # detected, with jitter
                dx, dy, s = rng.normal(0, 2, 2).tolist() + [rng.uniform(0.8, 1.2)]
                dets.append(
                    _det(rng, i, c, x0 + dx, y0 + dy, w * s, h * s, H, W, rng.uniform(0.3, 1))
                )
        for _ in range(int(rng.integers(0, 5))):  # false positives, any category
            c = int(rng.integers(1, n_cats + 1))
            w, h = rng.uniform(5, W / 3), rng.uniform(5, H / 3)
            dets.append(_det(rng, i, c, rng.uniform(0, W - w), rng.uniform(0, H - h), w, h, H, W,
                             rng.uniform(0, 0.7)))  # fmt: skip
        if lvis:
            absent = [c["id"] for c in cats if c["id"] not in present]
            rng.shuffle(absent)
            img["neg_category_ids"] = sorted(absent[: len(absent) // 2])
            img["not_exhaustive_category_ids"] = sorted(c for c in present if rng.random() < 0.3)
        images.append(img)
    gt = {"images": images, "annotations": anns, "categories": cats}
    if lvis:
        gt["info"], gt["licenses"] = {}, []
    return gt, dets


def _det(rng, img_id, cat, x0, y0, w, h, H, W, score):
    x0, y0 = max(0.0, x0), max(0.0, y0)
    w, h = max(1.0, min(w, W - x0)), max(1.0, min(h, H - y0))
    m = np.zeros((H, W), np.uint8)
    yy, xx = np.mgrid[:H, :W]
    m[((xx - x0 - w / 2) / (w / 2)) ** 2 + ((yy - y0 - h / 2) / (h / 2)) ** 2 <= 1] = 1
    return {"image_id": img_id, "category_id": cat, "bbox": [x0, y0, w, h],
            "score": float(score), "segmentation": _rle(m)}  # fmt: skip


def _reference_inputs(gt, dets, iou_type, copy_inputs):
    """(gt, dets) for the reference APIs, deep-copied if ``copy_inputs`` (they modify them); for
    "segm" the detections lose their "bbox", so that the APIs take area and box from the mask."""
    gt = copy.deepcopy(gt) if copy_inputs else gt
    res = copy.deepcopy(dets) if copy_inputs else dets
    if iou_type == "segm":
        for r in res:
            r.pop("bbox")
    return gt, res


def pycocotools_stats(gt, dets, iou_type, copy_inputs=True):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, res = _reference_inputs(gt, dets, iou_type, copy_inputs)
    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO()
        api.dataset = gt
        api.createIndex()
        ev = COCOeval(api, api.loadRes(res), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def faster_stats(gt, dets, iou_type, copy_inputs=True):
    from humanparse_d2.evaluation.coco_eval import evaluate_on_coco

    return np.asarray(
        evaluate_on_coco(copy.deepcopy(gt) if copy_inputs else gt, dets, iou_type).stats[:12]
    )


LVIS_KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf"]


def lvis_api_results(gt, dets, iou_type, max_dets=300, copy_inputs=True):
    """lvis-api 0.5.3 on numpy 2: its ``np.float`` calls get the builtin they aliased."""
    import lvis

    if not hasattr(np, "float"):
        np.float = float  # type: ignore[attr-defined]
    api = lvis.LVIS.__new__(lvis.LVIS)  # from a dict instead of a file path
    api.logger = lvis.lvis.logging.getLogger("lvis")
    api.dataset, res = _reference_inputs(gt, dets, iou_type, copy_inputs)
    api._create_index()
    ev = lvis.LVISEval(api, lvis.LVISResults(api, res, max_dets=max_dets), iou_type)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.run()
    r = ev.get_results()
    return np.array([r[k] for k in LVIS_KEYS], dtype=np.float64)


def faster_lvis_results(gt, dets, iou_type, max_dets=300, copy_inputs=True):
    from humanparse_d2.evaluation.coco_eval import evaluate_on_lvis

    r = evaluate_on_lvis(
        copy.deepcopy(gt) if copy_inputs else gt, dets, iou_type, max_dets=max_dets
    )
    return np.array([r[k] for k in LVIS_KEYS], dtype=np.float64)


def _timed(fn, gt, dets, iou_type, repeats=1):
    """Best of ``repeats``; the scorers mutate their inputs, so each run gets fresh copies made
    outside the clock."""
    best, out = float("inf"), None
    for _ in range(repeats):
        g, d = copy.deepcopy(gt), copy.deepcopy(dets)
        t = time.perf_counter()
        out = fn(g, d, iou_type, copy_inputs=False)
        best = min(best, time.perf_counter() - t)
    return out, best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--cats", type=int, default=80)
    ap.add_argument("--lvis-cats", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3, help="best of N per scorer")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import lvis  # noqa: F401
    import pycocotools.cocoeval  # noqa: F401

    import humanparse_d2.evaluation.coco_eval  # noqa: F401  (imports outside the clock)

    rows = []
    for name, is_lvis, ncat in (("COCO", False, args.cats), ("LVIS v1", True, args.lvis_cats)):
        gt, dets = synth_instances(args.images, ncat, lvis=is_lvis, seed=1)
        for iou in ("bbox", "segm"):
            ref_fn, new_fn = (
                (lvis_api_results, faster_lvis_results)
                if is_lvis
                else (pycocotools_stats, faster_stats)
            )
            ref, t_ref = _timed(ref_fn, gt, dets, iou, repeats=args.repeats)
            new, t_new = _timed(new_fn, gt, dets, iou, repeats=args.repeats)
            rows.append(
                {
                    "set": name,
                    "iou_type": iou,
                    "detections": len(dets),
                    "reference_s": t_ref,
                    "faster_s": t_new,
                    "ratio": t_ref / t_new,
                    "max_abs_diff": float(np.max(np.abs(ref - new))),
                    "stats_ref": ref.tolist(),
                }
            )
    load = os.getloadavg()
    print(f"{args.images} images, {os.cpu_count()} CPUs, load avg {load[0]:.2f}")
    print(
        f"{'set':<8} {'type':<5} {'dets':>6} {'reference s':>12} {'faster s':>9} {'ratio':>6} {'max |diff|':>11}"
    )
    for r in rows:
        print(
            f"{r['set']:<8} {r['iou_type']:<5} {r['detections']:>6} {r['reference_s']:12.3f} "
            f"{r['faster_s']:9.3f} {r['ratio']:6.1f} {r['max_abs_diff']:11.2g}"
        )
    print("reference: pycocotools COCOeval (COCO), lvis-api LVISEval (LVIS)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "load": load, "images": args.images}, f, indent=2)
    return 0 if all(r["max_abs_diff"] <= 1e-6 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
