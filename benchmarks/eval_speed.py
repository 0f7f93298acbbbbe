#!/usr/bin/env python
"""Speed and memory of tools/eval_parsing.py on a synthetic CIHP-val-sized set (the evaluation CLI).

Writes (once, cached) N images of about 640x480 with ~3.5 people and ~24 part regions each: GT in
the CIHP layout (Category_ids/, Human_ids/, Instance_ids/ + txt) and predictions in the submission
layout (global_parsing/, instance_parsing/, person_parsing/, instance_segmentation/) produced by the
project's own parsing_postprocess + write_submission from perturbed GT persons. Then it times the
CLI for each metric alone and for mIoU + APp (+PCP) + APr together, and samples the summed RSS of
the CLI's process tree.

    python benchmarks/eval_speed.py                 # 5000 images, 2 workers
    python benchmarks/eval_speed.py --images 500    # quick check
    python benchmarks/eval_speed.py --images 500 --png-read 4000   # label PNG decoding only
Target (issue #4): all four metrics under 20 s on 2 cores, peak RSS < 2 GB.
"""

import argparse
import os
import time

import numpy as np
from _common import run_eval_parsing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NUM_CLASSES = 20
# Person layout in a unit box: (slot, y0, y1, x0, x1); each slot picks a CIHP class per person so
# that all 19 part classes occur (~7 regions per person, ~24 per image as in CIHP val).
SLOTS = [
    ("head", 0.00, 0.10, 0.30, 0.70),
    ("face", 0.07, 0.17, 0.35, 0.65),
    ("upper", 0.17, 0.50, 0.20, 0.80),
    ("larm", 0.18, 0.50, 0.00, 0.20),
    ("rarm", 0.18, 0.50, 0.80, 1.00),
    ("lower", 0.50, 0.85, 0.22, 0.78),
    ("lleg", 0.85, 0.92, 0.22, 0.48),
    ("rleg", 0.85, 0.92, 0.52, 0.78),
    ("lfoot", 0.92, 1.00, 0.20, 0.48),
    ("rfoot", 0.92, 1.00, 0.52, 0.80),
    ("extra", 0.17, 0.24, 0.30, 0.70),
]
CHOICES = {
    "head": [2, 2, 1],
    "face": [13, 13, 4],
    "upper": [5, 6, 7, 10],
    "larm": [14, 14, 3],
    "rarm": [15, 15, 3],
    "lower": [9, 12],
    "lleg": [16, 8],
    "rleg": [17, 8],
    "lfoot": [18],
    "rfoot": [19],
    "extra": [11],
}
KEEP = {"lleg": 0.3, "rleg": 0.3, "extra": 0.15, "lfoot": 0.8, "rfoot": 0.8}


def _load_core():
    from humanparse_core import postprocessing
    from humanparse_core.evaluation import submission

    return postprocessing, submission


def _person_parts(rng):
    parts = []
    for slot, top, bottom, left, right in SLOTS:
        if rng.random() < KEEP.get(slot, 1.0):
            parts.append((int(rng.choice(CHOICES[slot])), top, bottom, left, right))
    return parts


def _draw_person(label, box, parts, rng, jitter=0.0):
    y0, x0, y1, x1 = box
    h, w = y1 - y0, x1 - x0
    for c, top, bottom, left, right in parts:  # fractions of the box
        if jitter:
            dy, dx = rng.normal(0, jitter, 2)
            top, bottom, left, right = top + dy, bottom + dy, left + dx, right + dx
        ya, yb = int(y0 + top * h), int(y0 + bottom * h)
        xa, xb = int(x0 + left * w), int(x0 + right * w)
        ya, yb = max(ya, 0), min(yb, label.shape[0])
        xa, xb = max(xa, 0), min(xb, label.shape[1])
        if yb > ya and xb > xa:
            label[ya:yb, xa:xb] = c


def _gt_people(rng, H, W):
    """2-5 people painted into (H, W) maps; returns (category map, human-id map, [(box, parts)])."""
    npers = int(rng.choice([2, 3, 4, 5], p=[0.2, 0.3, 0.3, 0.2]))
    cat = np.zeros((H, W), np.uint8)
    hum = np.zeros((H, W), np.uint8)
    gt_people = []
    for p in range(1, npers + 1):
        ph = int(rng.integers(H // 3, int(H * 0.95)))
        pw = int(ph * rng.uniform(0.3, 0.45))
        y0 = int(rng.integers(0, H - ph))
        x0 = int(rng.integers(0, W - pw))
        box = (y0, x0, y0 + ph, x0 + pw)
        parts = _person_parts(rng)
        lab = np.zeros((H, W), np.uint8)
        _draw_person(lab, box, parts, rng)
        fg = lab > 0
        cat[fg] = lab[fg]
        hum[fg] = p
        gt_people.append((box, parts))
    return cat, hum, gt_people


def _gt_regions(cat, hum):
    """One region per visible (person, class), ids sequential (opaque to the evaluator).

    Returns (instance-id map, Instance_ids txt lines "id class human", number of regions)."""
    inst = np.zeros(cat.shape, np.uint8)
    lines = []
    rid = 0
    pair = hum.astype(np.int32) * NUM_CLASSES + cat
    for key in np.unique(pair[hum > 0]):
        h, c = divmod(int(key), NUM_CLASSES)
        if c == 0:
            continue
        rid += 1
        inst[pair == key] = rid
        lines.append(f"{rid} {c} {h}\n")
    return inst, lines, rid


def _predicted_people(rng, H, W, gt_people):
    """Jittered GT persons (8% missed, 15% lose a part) and, half the time, a false positive, with
    QANet-style scores; returns (maps (N, H, W), scores (N,), part scores (N, C - 1))."""
    maps, scores, part_scores = [], [], []
    for box, parts in gt_people:
        if rng.random() < 0.08:
            continue  # missed person
        lab = np.zeros((H, W), np.uint8)
        if rng.random() < 0.15:
            parts = parts[:-1]
        _draw_person(lab, box, parts, rng, jitter=0.02)
        maps.append(lab)
        scores.append(rng.uniform(0.3, 1.0))
        part_scores.append(rng.uniform(0.1, 1.0, NUM_CLASSES - 1))
    if rng.random() < 0.5:
        y0, x0 = int(rng.integers(0, H // 2)), int(rng.integers(0, W // 2))
        box = (y0, x0, y0 + H // 3, x0 + W // 8)
        lab = np.zeros((H, W), np.uint8)
        _draw_person(lab, box, _person_parts(rng), rng, jitter=0.05)
        maps.append(lab)
        scores.append(rng.uniform(0.05, 0.6))
        part_scores.append(rng.uniform(0.05, 0.6, NUM_CLASSES - 1))
    maps = np.stack(maps) if maps else np.zeros((0, H, W), np.uint8)
    return maps, np.array(scores), np.array(part_scores).reshape(-1, NUM_CLASSES - 1)


def make_image(k, root, postprocess, submission):
    """Writes image ``k``'s GT (CIHP layout) and prediction (submission layout) under ``root``;
    returns its number of GT regions."""
    rng = np.random.default_rng(1000 + k)
    H = int(rng.integers(440, 520))
    W = int(rng.integers(600, 680))
    cat, hum, gt_people = _gt_people(rng, H, W)
    inst, lines, rid = _gt_regions(cat, hum)
    name = f"{k:06d}"
    gt = os.path.join(root, "gt")
    for sub, arr in (("Category_ids", cat), ("Human_ids", hum), ("Instance_ids", inst)):
        submission.write_label_png(os.path.join(gt, sub, name + ".png"), arr)
    with open(os.path.join(gt, "Instance_ids", name + ".txt"), "w") as f:
        f.writelines(lines)
    maps, scores, part_scores = _predicted_people(rng, H, W, gt_people)
    res = postprocess.parsing_postprocess(maps, scores, scores, part_scores, NUM_CLASSES,
                                          image_size=(H, W))  # fmt: skip
    submission.write_submission(os.path.join(root, "pred"), name, res)
    return rid


def _gen_chunk(args):
    root, ks = args
    postprocess, submission = _load_core()
    import cv2

    cv2.setNumThreads(1)
    return sum(make_image(k, root, postprocess, submission) for k in ks)


def generate(root, n, workers):
    stamp = os.path.join(root, f".complete_{n}")
    if os.path.exists(stamp):
        return
    import multiprocessing as mp

    t = time.perf_counter()
    chunks = [(root, list(range(i, min(i + 50, n)))) for i in range(0, n, 50)]
    with mp.get_context("fork").Pool(max(1, workers)) as pool:
        regions = sum(pool.map(_gen_chunk, chunks))
    with open(os.path.join(root, "gt", "val_id.txt"), "w") as f:
        f.writelines(f"{k:06d}\n" for k in range(n))
    open(stamp, "w").close()
    print(
        f"generated {n} images ({regions / n:.1f} GT regions/image) in {time.perf_counter() - t:.1f} s under {root}"
    )


def _tree_rss_kb(pid):
    """Summed RSS (kB) of a process and its descendants, from /proc."""
    total = 0
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
        stack.extend(children.get(p, []))
    return total


def run_cli(root, metrics, workers, extra=()):
    """Run the CLI; returns (wall s, peak summed RSS MB of its process tree, CPU s, results)."""
    res, wall, cpu, peak = run_eval_parsing(
        root,
        metrics,
        num_classes=NUM_CLASSES,
        extra=["--workers", str(workers), *extra],
        poll=_tree_rss_kb,
    )
    return wall, peak / 1024.0, cpu, res


def time_png_read(root, n, repeats=3):
    """(files, fast s, slow s): CPU seconds to read ``n`` of the label PNGs written above (GT and
    predictions) with ``read_label(fast_png=True)`` (IDAT inflate, no libpng) and with
    ``fast_png=False`` (``cv2.imdecode``); best of ``repeats`` alternating passes, arrays checked
    equal first."""
    import glob

    from humanparse_core.io import read_label

    paths = sorted(glob.glob(os.path.join(root, "*", "*", "*.png")))[:n]
    for p in paths:
        if not np.array_equal(read_label(p), read_label(p, fast_png=False)):
            raise SystemExit(f"decoders disagree on {p}")
    best = {True: float("inf"), False: float("inf")}
    for _ in range(repeats):
        for fast in (True, False):
            t = time.process_time()  # CPU s: robust to other processes sharing the cores
            for p in paths:
                read_label(p, copy=False, fast_png=fast)
            best[fast] = min(best[fast], time.process_time() - t)
    return len(paths), best[True], best[False]


def _inflate_name():
    from humanparse_core import io as hio

    return hio._inflate_lib.__name__


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--root", default=None, help="dataset cache (default $DETECTRON2_DATASETS/eval_speed_<N>)"
    )
    ap.add_argument("--skip-single", action="store_true", help="only time the combined run")
    ap.add_argument(
        "--png-read",
        type=int,
        default=0,
        metavar="N",
        help="only time reading N label PNGs with read_label(fast_png=True) vs fast_png=False",
    )
    args = ap.parse_args()
    base = os.environ.get("DETECTRON2_DATASETS", os.path.join(REPO, "datasets"))
    root = args.root or os.path.join(base, f"eval_speed_{args.images}")
    generate(root, args.images, max(1, os.cpu_count() or 1))
    if args.png_read:
        n, fast, slow = time_png_read(root, args.png_read)
        print(
            f"read_label on {n} label PNGs: fast_png=True {1000 * fast / n:.3f} CPU ms/file, "
            f"fast_png=False (cv2.imdecode) {1000 * slow / n:.3f} CPU ms/file, "
            f"ratio {slow / fast:.2f}x (inflate: {_inflate_name()})"
        )
        return
    rows = []
    load0 = os.getloadavg()[0]
    if not args.skip_single:
        for m in ("mIoU", "APp", "APr"):
            wall, rss, cpu, _ = run_cli(root, m, args.workers)
            rows.append((m if m != "APp" else "APp+PCP", wall, rss, cpu))
    wall, rss, cpu, res = run_cli(root, "mIoU,APp,APr", args.workers)
    rows.append(("mIoU+APp+PCP+APr", wall, rss, cpu))
    load = os.getloadavg()[0]
    print(
        f"\n{args.images} images, --workers {args.workers}, {os.cpu_count()} CPUs, load avg "
        f"{load0:.2f} before / {load:.2f} after (other processes share the cores)"
    )
    print(
        f"{'metrics':<20} {'wall s':>8} {'ms/image':>9} {'CPU s':>8} {'CPU ms/img':>10} "
        f"{'peak RSS MB':>12}"
    )
    n = args.images
    for name, w, r, c in rows:
        print(f"{name:<20} {w:8.2f} {1000 * w / n:9.3f} {c:8.2f} {1000 * c / n:10.3f} {r:12.0f}")
    print(
        "CPU s = user + sys of the CLI and its workers; on otherwise idle cores wall ~ CPU s / workers"
    )
    print(f"PNG inflate: {_inflate_name()} (pip install zlib-ng for the fast one)")
    print(
        f"check: mIoU {res['mIoU']:.2f} AP_p_vol {res['AP_p_vol']:.2f} PCP50 {res['PCP50']:.2f} "
        f"AP_r_vol {res['AP_r_vol']:.2f} ({res['num_images']} images, {res['num_gt_persons']} GT persons, "
        f"{res['num_pred_persons']} predicted)"
    )
    ok = wall < 20.0 * args.images / 5000 and max(r[2] for r in rows) < 2048
    print("target (20 s per 5000 images on 2 cores, < 2 GB):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
