#!/usr/bin/env python
"""Our parsing evaluator (legacy mode) against the official QANet evaluator, side by side.

    python benchmarks/eval_vs_official.py --official-src /path/to/QANet [--images 500] [--repeats 3]

Both score the *same* predictions on the same machine: the synthetic CIHP-layout set of
``benchmarks/eval_speed.py`` (GT ``Category_ids/``, ``Human_ids/``, ``Instance_ids/`` and a submission
folder written by the project's ``parsing_postprocess`` + ``write_submission``).

* official: ``lib.data.evaluation.parsing_eval.ParsingEvaluator`` imported from ``--official-src`` (a
  checkout of soeaver/QANet; nothing of it is copied here), run in a child process. It reads
  ``global_parsing/`` (mIoU) and ``instance_parsing/`` (AP^r) from the folder and takes the AP^p
  predictions in memory, as its own inference hands them over: one ``scipy.sparse.csr_matrix`` full-image
  label map per person (read from ``person_parsing/`` before the clock starts). Its GT is a pycocotools
  ``COCO`` with one annotation per ``Human_ids`` person. numpy 2 removed ``np.float``/``np.int``, which it
  calls: the child sets them back to the builtins they aliased. Timed: evaluator construction (mIoU) +
  ``evaluate()`` only, i.e. imports and prediction loading are *not* charged to it.
* ours: ``tools/eval_parsing.py --apr-matching legacy`` as a whole process (imports included), with its
  default ``--workers`` (every core).

The numbers are compared (largest absolute difference over mIoU, pixel / mean accuracy, AP^p and PCP
per threshold, AP^r per threshold) and the ratio of the median wall times is printed. The machine may
be shared: the load average is printed before and after, and each side runs ``--repeats`` times.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
sys.path.insert(0, os.path.join(REPO, "tools"))
from _common import run_eval_parsing  # (benchmarks/ on sys.path first)

METRICS = ("mIoU", "APp", "APr")


def _official_child(official_src, root, names, out_json):
    """Run the official evaluator on ``root`` (child process); writes its stats and seconds."""
    import numpy as np

    # numpy 2 removed these aliases; the official code calls them (astype(np.float), np.int).
    np.float, np.int = float, int  # type: ignore[attr-defined]
    sys.path.insert(0, official_src)
    from lib.data.evaluation.parsing_eval import ParsingEvaluator  # official code

    gt, pred = os.path.join(root, "gt"), os.path.join(root, "pred")
    images, anns, parsing_pred = _official_inputs(gt, pred, names)
    ds = _official_dataset(images, anns, gt)
    t, c = time.perf_counter(), time.process_time()
    ev = ParsingEvaluator(ds, parsing_pred, ds.root, pred, 0.01, 20, metrics=list(METRICS))
    ev.evaluate()
    sec, cpu = time.perf_counter() - t, time.process_time() - c
    st = ev.stats
    res = {
        "seconds": sec,
        "cpu_seconds": cpu,
        "mIoU": float(st["mIoU"]),
        "pixel_acc": float(st["PixelACC"]),
        "mean_acc": float(st["MeanACC"]),
        "AP_p": {f"{k:g}": float(v) for k, v in st["APp"].items()},
        "PCP": {f"{k:g}": float(v) for k, v in st["PCP"].items()},
        "AP_r": {f"{k:g}": float(v) for k, v in st["APr"].items()},
    }
    with open(out_json, "w") as f:
        json.dump(res, f)


def _official_inputs(gt, pred, names):
    """COCO images and one annotation per ``Human_ids`` person, and the AP^p predictions as the
    official inference hands them over: one ``csr_matrix`` full-image label map per person.
    Returns (images, annotations, predictions)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    from humanparse_core.evaluation.submission import read_person_parsing
    from humanparse_core.io import read_label

    images, anns, parsing_pred = [], [], []
    for i, n in enumerate(names, start=1):
        hum = read_label(os.path.join(gt, "Human_ids", n + ".png"))
        images.append(
            {"id": i, "file_name": n + ".jpg", "height": hum.shape[0], "width": hum.shape[1]}
        )
        for pid in np.unique(hum[hum > 0]):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": 1,
                    "parsing_id": int(pid),
                    "iscrowd": 0,
                    "area": 1,
                    "bbox": [0, 0, 1, 1],
                }
            )
        pp = read_person_parsing(pred, n)
        if pp is not None:
            for s, p in zip(*pp):
                parsing_pred.append(
                    {"image_id": i, "score": float(s), "parsing": csr_matrix(read_label(p))}
                )
    return images, anns, parsing_pred


def _official_dataset(images, anns, gt):
    """The attributes the official evaluators read from their dataset object."""
    from pycocotools.coco import COCO

    class _Dataset:
        def __len__(self):
            return len(self.ids)

    ds = _Dataset()
    coco = COCO()
    coco.dataset = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": 1, "name": "person"}],
    }
    coco.createIndex()
    ds.coco, ds.ids, ds.extra_fields = coco, sorted(coco.imgs), {"semseg_format": "mask"}
    # The official code finds every GT folder by replacing 'Images' in this path.
    ds.root = os.path.join(gt, "Images")
    return ds


def run_official(official_src, root, names):
    out = tempfile.mktemp(suffix=".json")
    names_file = out + ".names"
    with open(names_file, "w") as f:
        f.writelines(n + "\n" for n in names)
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--_official-child",
        official_src,
        root,
        names_file,
        out,
    ]
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    os.unlink(names_file)
    if p.returncode != 0:
        raise SystemExit(f"official evaluator failed:\n{p.stderr[-3000:]}")
    with open(out) as f:
        res = json.load(f)
    os.unlink(out)
    return res


def run_ours(root, workers):
    extra = ["--apr-matching", "legacy"]
    if workers is not None:
        extra += ["--workers", str(workers)]
    res, wall, cpu, _ = run_eval_parsing(root, ",".join(METRICS), extra=extra)
    res["seconds"] = wall
    res["cpu_seconds"] = cpu  # the CLI and its (reaped) workers
    return res


def max_difference(official, ours):
    """Largest |official - ours| (fractions) over every shared number, and where it is."""
    pairs = [(k, official[k], ours[k] / 100.0) for k in ("mIoU", "pixel_acc", "mean_acc")]
    for key in ("AP_p", "PCP", "AP_r"):
        for t, v in official[key].items():
            pairs.append((f"{key}@{t}", v, ours[key][t] / 100.0))
    worst = max(pairs, key=lambda p: abs(p[1] - p[2]))
    return abs(worst[1] - worst[2]), worst[0], len(pairs)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official-src", required=True, help="checkout of soeaver/QANet")
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3, help="runs of our CLI (median reported)")
    ap.add_argument(
        "--official-repeats", type=int, default=1, help="runs of the official evaluator"
    )
    ap.add_argument("--workers", type=int, default=None, help="our --workers (default: the CLI's)")
    ap.add_argument(
        "--root", default=None, help="dataset cache (default $DETECTRON2_DATASETS/eval_speed_<N>)"
    )
    ap.add_argument("--json", default=None, help="write the comparison here")
    args = ap.parse_args(argv)
    args.official_src = os.path.abspath(args.official_src)
    if not os.path.isfile(os.path.join(args.official_src, "lib/data/evaluation/parsing_eval.py")):
        ap.error(
            f"{args.official_src} is not a QANet checkout (lib/data/evaluation/parsing_eval.py missing)"
        )
    return args


def _synthetic_set(args):
    """The (cached) synthetic set of ``eval_speed``; returns (root, image names)."""
    import eval_speed

    base = os.environ.get("DETECTRON2_DATASETS", os.path.join(REPO, "datasets"))
    root = args.root or os.path.join(base, f"eval_speed_{args.images}")
    eval_speed.generate(root, args.images, max(1, os.cpu_count() or 1))
    with open(os.path.join(root, "gt", "val_id.txt")) as f:
        return root, [ln.strip() for ln in f if ln.strip()]


def summarize(official, ours, names, load0, load1) -> dict:
    """Prints the comparison; returns it (the ``--json`` content)."""
    t_off = statistics.median(r["seconds"] for r in official)
    t_ours = statistics.median(r["seconds"] for r in ours)
    c_off = statistics.median(r["cpu_seconds"] for r in official)
    c_ours = statistics.median(r["cpu_seconds"] for r in ours)
    diff, where, count = max_difference(official[0], ours[0])
    print(
        f"{len(names)} images, {os.cpu_count()} CPUs, load avg {load0[0]:.2f} before / {load1[0]:.2f} after"
    )
    print(f"official evaluator : {t_off:8.2f} s (median of {len(official)}; evaluator calls only)")
    print(
        f"ours (legacy, CLI) : {t_ours:8.2f} s (median of {len(ours)}; whole process) "
        f"runs: {', '.join(format(r['seconds'], '.2f') for r in ours)}"
    )
    print(
        f"ratio              : {t_off / t_ours:8.1f}x wall; CPU time {c_off:.1f} s vs {c_ours:.2f} s = "
        f"{c_off / c_ours:.1f}x (user + sys; ours includes start-up and every worker)"
    )
    print(f"largest |difference| over {count} numbers: {diff:.3g} ({where})")
    return {
        "images": len(names),
        "cpus": os.cpu_count(),
        "load_before": load0,
        "load_after": load1,
        "official_seconds": [r["seconds"] for r in official],
        "ours_seconds": [r["seconds"] for r in ours],
        "ratio": t_off / t_ours,
        "official_cpu_seconds": [r["cpu_seconds"] for r in official],
        "ours_cpu_seconds": [r["cpu_seconds"] for r in ours],
        "cpu_ratio": c_off / c_ours,
        "max_abs_diff": diff,
        "max_abs_diff_at": where,
        "numbers_compared": count,
        "official": official[0],
        "ours": {k: ours[0][k] for k in ("mIoU", "AP_p_vol", "PCP50", "AP_r_vol")},
    }


def main(argv=None):
    args = parse_args(argv)
    src = args.official_src
    root, names = _synthetic_set(args)
    load0 = os.getloadavg()
    ours = [run_ours(root, args.workers) for _ in range(max(1, args.repeats))]
    official = [run_official(src, root, names) for _ in range(max(1, args.official_repeats))]
    ours += [run_ours(root, args.workers) for _ in range(max(1, args.repeats))]
    summary = summarize(official, ours, names, load0, os.getloadavg())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    return 0 if summary["max_abs_diff"] <= 1e-9 else 1


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--_official-child":
        with open(sys.argv[4]) as f:
            _official_child(
                sys.argv[2], sys.argv[3], [ln.strip() for ln in f if ln.strip()], sys.argv[5]
            )
    else:
        sys.exit(main())
