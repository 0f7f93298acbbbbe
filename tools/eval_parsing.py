#!/usr/bin/env python
"""Score a parsing submission folder against CIHP-layout ground truth.

    python tools/eval_parsing.py --gt-root DIR --pred-dir DIR --num-classes 20 \
        [--metrics mIoU,APp,APr] [--apr-matching legacy|one-to-one] [--workers N] \
        [--output metrics.json]

``--gt-root`` holds ``Category_ids/``, ``Human_ids/``, ``Instance_ids/`` (+ the Instance txt files
and optionally a ``*_id.txt`` image list); ``--pred-dir`` holds ``global_parsing/``,
``instance_parsing/``, ``person_parsing/`` (and ``instance_segmentation/`` for APh), as written by
``humanparse_d2.evaluation.write_submission`` (formats: humanparse_d2/evaluation/README.md).
``--apr-matching legacy`` selects the reference behaviour of every metric, ``one-to-one`` the
corrected default. The printed headline metrics are ``humanparse_core.evaluation.results.
HEADLINE_METRICS``, the same as the detectron2 evaluators' log line.

This tool needs only numpy and OpenCV: it imports the metric core ``humanparse_core`` (no torch, no
detectron2), so it starts fast and its worker processes stay small.
"""

import argparse
import math
import os
import sys
import time

from tabulate import tabulate

from humanparse_core.evaluation.folder_eval import evaluate_folder, list_gt_images
from humanparse_core.evaluation.results import headline, write_json
from humanparse_core.metadata import CIHP_CLASSES, LIP_CLASSES

_COUNTS = ("num_images", "num_gt_persons", "num_pred_persons", "num_gt_regions", "num_pred_regions")


def _fmt(v):
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def _table(rows, headers) -> str:
    return tabulate(rows, headers=headers, tablefmt="github")


def print_table(res, file=None):
    """The headline metrics and counts, AP^p / PCP / AP^r per IoU threshold, IoU per class and
    the notes (missing predictions, absent classes) of an evaluate_folder summary, to ``file``
    (default: the current ``sys.stdout``, looked up at call time)."""
    file = sys.stdout if file is None else file
    rows = [[k, _fmt(v)] for k, v in headline(res)] + [[k, res[k]] for k in _COUNTS if k in res]
    print(f"mode: {res.get('mode')}", file=file)
    print(_table(rows, ["metric", "value (%)"]), file=file)
    per = [k for k in ("AP_p", "PCP", "AP_r") if k in res]
    if per:
        thr_rows = [[f"{t:g}"] + [_fmt(res[k][t]) for k in per] for t in res[per[0]]]
        print(_table(thr_rows, ["IoU thr"] + per), file=file)
    if "IoU" in res:
        iou_rows = [[k, _fmt(v)] for k, v in res["IoU"].items()]
        print(_table(iou_rows, ["class", "IoU (%)"]), file=file)
    if res.get("missing_predictions"):
        print(
            f"missing predictions (scored as misses in one-to-one mode, skipped in legacy): "
            f"{res['missing_predictions']} e.g. {res.get('missing_examples')}",
            file=file,
        )
    for k in ("classes_absent", "AP_r_classes_absent", "empty_pred_regions"):
        if res.get(k):
            print(f"{k}: {res[k]}", file=file)


_PRED_SUBDIRS = ("global_parsing", "instance_parsing", "instance_segmentation", "person_parsing")


def predictions_without_gt(pred_dir, gt_names):
    """Image names that have prediction files in ``pred_dir`` but are not in ``gt_names``.

    Such files are never scored (a wrong image list, a prediction folder of another split, or
    renamed files); counting them keeps a mismatch from looking like a small, valid evaluation.
    ``person_parsing/<name>_<k>.png`` counts as ``<name>``.
    """
    gt = set(gt_names)
    extra = set()
    for sub in _PRED_SUBDIRS:
        d = os.path.join(pred_dir, sub)
        if not os.path.isdir(d):
            continue
        for root, _, files in os.walk(d):
            # names relative to d by slicing (os.path.relpath per file cost ~0.2 s per 5k files)
            prefix = "" if root == d else root[len(d) + 1 :] + os.sep
            for fn in files:
                stem, ext = os.path.splitext(fn)
                if ext not in (".png", ".txt"):
                    continue
                name = prefix + stem
                if name in gt:
                    continue
                if sub == "person_parsing" and "_" in name and name.rsplit("_", 1)[0] in gt:
                    continue  # <name>_<k>.png of a GT image
                is_person_png = sub == "person_parsing" and ext == ".png"
                extra.add(name.rsplit("_", 1)[0] if is_person_png else name)
    return sorted(extra)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--gt-root", required=True, help="folder with Category_ids/, Human_ids/, Instance_ids/"
    )
    ap.add_argument(
        "--pred-dir",
        required=True,
        help="submission folder (global_parsing/, instance_parsing/, ...)",
    )
    ap.add_argument("--num-classes", type=int, default=20, help="C, background included")
    ap.add_argument(
        "--metrics", default="mIoU,APp,APr", help="comma list of mIoU, APp (with PCP), APr, APh"
    )
    ap.add_argument(
        "--apr-matching",
        default="one-to-one",
        choices=["legacy", "one-to-one", "one_to_one"],
        help="legacy = the reference evaluators' behaviour; one-to-one = corrected default",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes over images (default: every core; 0 = in-process)",
    )
    ap.add_argument("--output", default=None, help="write the metrics JSON here")
    ap.add_argument(
        "--image-list", default=None, help="file of image stems (default: *_id.txt or all GT PNGs)"
    )
    ap.add_argument(
        "--score-thresh", type=float, default=0.01, help="AP^p predictions below are ignored"
    )
    ap.add_argument(
        "--class-names", default=None, help="'cihp', 'lip' or a comma list (JSON IoU keys)"
    )
    ap.add_argument(
        "--limit", type=int, default=None, help="evaluate only the first N images (quick checks)"
    )
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def _class_names(ap: argparse.ArgumentParser, args) -> list[str] | None:
    """``--class-names``: a known list by name or a comma list, of ``--num-classes`` names."""
    if not args.class_names:
        return None
    known = {"cihp": CIHP_CLASSES, "lip": LIP_CLASSES}.get(args.class_names.lower())
    names = list(known or [s.strip() for s in args.class_names.split(",")])
    if len(names) != args.num_classes:
        ap.error(f"--class-names has {len(names)} names for --num-classes {args.num_classes}")
    return names


def _evaluate(args, class_names) -> dict:
    """The summary of evaluate_folder for the arguments, plus its run time and the count (and
    examples) of images that have predictions but no ground truth."""
    t0 = time.perf_counter()
    res = evaluate_folder(
        args.gt_root,
        args.pred_dir,
        args.num_classes,
        metrics=args.metrics,
        mode="legacy" if args.apr_matching == "legacy" else "default",
        workers=(len(os.sched_getaffinity(0)) if args.workers is None else args.workers),
        image_list=args.image_list,
        score_thresh=args.score_thresh,
        class_names=class_names,
        progress=not args.quiet,
        limit=args.limit,
    )
    res["seconds"] = time.perf_counter() - t0
    extra = predictions_without_gt(args.pred_dir, list_gt_images(args.gt_root, args.image_list))
    res["predictions_without_gt"] = len(extra)
    res["predictions_without_gt_examples"] = extra[:5]
    return res


def main(argv=None):
    ap = _parser()
    args = ap.parse_args(argv)
    class_names = _class_names(ap, args)
    try:
        res = _evaluate(args, class_names)
    except (ValueError, FileNotFoundError) as e:
        print(f"eval_parsing: error: {e}", file=sys.stderr)
        return 2
    print_table(res)
    if res["predictions_without_gt"]:
        print(
            f"eval_parsing: warning: {res['predictions_without_gt']} image(s) have predictions but "
            f"no ground truth in {args.gt_root} (not scored), e.g. "
            f"{res['predictions_without_gt_examples']}",
            file=sys.stderr,
        )
    if args.output:
        write_json(args.output, res)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
