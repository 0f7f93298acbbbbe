#!/usr/bin/env python
"""Time and memory against the number of persons per image: inference (parser + paste-back + QAM),
QAM alone, parsing NMS + post-processing, and evaluation, so crowds (MHP-v2-like) are known not to
blow up.

    python benchmarks/crowd_scaling.py [--persons 1,5,20,50] [--config projects/QANet/configs/quick/QANet_R18_synth.yaml]

Per person count P, in a fresh process (so the peak RSS is that run's): one 480x640 image with P
oracle person boxes (heights 0.9 H down to ~0.28 H as the crowd grows, random positions, seeded),
QANet with random weights (flip test), then ``parsing_postprocess`` (parsing NMS at 0.6, global /
instance / region maps), then the one-image submission scored by ``evaluate_folder`` (mIoU, AP^p +
PCP, AP^r) against ground truth painted from jittered copies of the same persons. Times are medians
of ``--repeats`` runs after a warm-up; "peak RSS +MB" is the process peak minus its RSS after the
model is built and warmed up on one person.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from _common import REPO, qanet_cfg, timed_qam, write_json

H, W = 480, 640


def _boxes(P, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    h = H * min(0.9, 2.0 / np.sqrt(P))
    out = []
    for _ in range(P):
        hh = h * rng.uniform(0.8, 1.0)
        ww = 0.4 * hh
        x0, y0 = rng.uniform(0, W - ww), rng.uniform(0, H - hh)
        out.append([x0, y0, x0 + ww, y0 + hh])
    return out


def _rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _gt_from_maps(maps, rng):
    """CIHP-layout GT painted from the predicted persons shifted by a few pixels (non-trivial IoUs)."""
    import numpy as np

    cat = np.zeros((H, W), np.uint8)
    hum = np.zeros((H, W), np.uint8)
    for k, m in enumerate(maps, start=1):
        dy, dx = (int(v) for v in rng.integers(-4, 5, 2))
        s = np.roll(m, (dy, dx), axis=(0, 1))
        fg = s > 0
        cat[fg], hum[fg] = s[fg], k
    inst = np.zeros((H, W), np.uint8)
    lines, rid = [], 0
    for k in range(1, len(maps) + 1):
        for c in np.unique(cat[hum == k]):
            if c == 0 or rid >= 254:
                continue
            rid += 1
            inst[(hum == k) & (cat == c)] = rid
            lines.append(f"{rid} {c} {k}\n")
    return cat, hum, inst, lines


def _crowd_input(P, rng):
    """A random image drawn from ``rng`` and a function n -> one-image QANet input with n seeded
    oracle boxes (the first n of P)."""
    import numpy as np
    import torch

    img = torch.from_numpy(rng.integers(0, 255, (3, H, W), dtype=np.uint8))

    def inp(n):
        return [{"image": img, "height": H, "width": W, "image_id": "crowd",
                 "gt_boxes": torch.tensor(_boxes(n, seed=P), dtype=torch.float32)}]  # fmt: skip

    return inp


def _write_crowd_gt(gt, maps, rng):
    """Writes the CIHP-layout ground truth of image "crowd" under ``gt``."""
    from humanparse_core.evaluation import submission

    cat, hum, inst_map, lines = _gt_from_maps(maps, rng)
    for sub, a in (("Category_ids", cat), ("Human_ids", hum), ("Instance_ids", inst_map)):
        submission.write_label_png(os.path.join(gt, sub, "crowd.png"), a)
    with open(os.path.join(gt, "Instance_ids", "crowd.txt"), "w") as f:
        f.writelines(lines)


def _one_repeat(model, batch, spent, C, rng, d):
    """Inference, post-processing and evaluation of one image in the folder ``d``.

    Returns the seconds of each, the instances, the post-processing result and the metrics."""
    import torch

    from humanparse_core.evaluation import folder_eval, submission
    from humanparse_core.postprocessing import parsing_postprocess

    spent["qam"] = 0.0
    t0 = time.perf_counter()
    with torch.no_grad():
        inst = model(batch)[0]["instances"]
    t_inf = time.perf_counter() - t0
    t_qam = spent["qam"]
    maps = inst.pred_parsing.numpy()
    t0 = time.perf_counter()
    res = parsing_postprocess(maps, inst.scores.numpy(), inst.box_scores.numpy(),
                              inst.part_scores.numpy(), C, nms_thresh=0.6)  # fmt: skip
    t_post = time.perf_counter() - t0
    gt = os.path.join(d, "gt")
    _write_crowd_gt(gt, maps, rng)
    submission.write_submission(os.path.join(d, "pred"), "crowd", res)
    t0 = time.perf_counter()
    ev = folder_eval.evaluate_folder(gt, os.path.join(d, "pred"), C, metrics=("mIoU", "APp", "APr"),
                                     progress=False)  # fmt: skip
    t_eval = time.perf_counter() - t0
    return (t_inf, t_qam, t_post, t_eval), inst, res, ev


def run_one(P, config, repeats, threads):
    """Child process: measure one person count; returns a dict."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from detectron2.modeling import build_model

    import humanparse_d2  # noqa: F401

    cfg = qanet_cfg(config, "cpu", ["MODEL.QANET.BOX_SOURCE", "oracle"])
    C = cfg.MODEL.QANET.NUM_CLASSES
    model = build_model(cfg).eval()
    with timed_qam("cpu") as spent:
        rng = np.random.default_rng(P)  # the image, then the ground-truth jitter
        inp = _crowd_input(P, rng)
        with torch.no_grad():
            model(inp(1))  # warm-up
        base = _rss_mb()
        times = []
        with tempfile.TemporaryDirectory() as d:
            for _ in range(repeats):
                t, inst, res, ev = _one_repeat(model, inp(P), spent, C, rng, d)
                times.append(t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    t_inf, t_qam, t_post, t_eval = (statistics.median(col) for col in zip(*times))
    return {
        "persons": P,
        "parsed": len(inst),
        "kept_after_nms": int(len(res.person_scores)),
        "inference_s": t_inf,
        "qam_s": t_qam,
        "postprocess_nms_s": t_post,
        "evaluation_s": t_eval,
        "qam_share_percent": 100 * t_qam / t_inf,
        "peak_rss_mb": peak,
        "peak_extra_mb": peak - base,
        "AP_r_vol": ev.get("AP_r_vol"),
        "repeats": repeats,
        "threads": torch.get_num_threads(),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", default="1,5,20,50")
    ap.add_argument("--config", default="projects/QANet/configs/quick/QANet_R18_synth.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: steadiest on a shared machine)"
    )
    ap.add_argument("--json", default=str(REPO / "output/bench/crowd_scaling.json"))
    ap.add_argument("--_child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child is not None:
        print("RESULT " + json.dumps(run_one(args._child, args.config, args.repeats, args.threads)))
        return 0
    from humanparse_d2.utils.provenance import git_commit

    rows = []
    load0 = os.getloadavg()[0]
    for P in [int(p) for p in args.persons.split(",")]:
        cmd = [
            sys.executable,
            __file__,
            "--_child",
            str(P),
            "--config",
            args.config,
            "--repeats",
            str(args.repeats),
            "--threads",
            str(args.threads),
        ]
        p = subprocess.run(cmd, capture_output=True, text=True)
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        if p.returncode != 0 or not line:
            raise SystemExit(f"crowd_scaling: P={P} failed:\n{p.stderr[-3000:]}")
        rows.append(json.loads(line[0][7:]))
        r = rows[-1]
        print(
            f"P={P:3d}: inference {r['inference_s'] * 1e3:8.1f} ms (QAM {r['qam_s'] * 1e3:6.2f} ms = "
            f"{r['qam_share_percent']:.2f}%), NMS+post {r['postprocess_nms_s'] * 1e3:7.1f} ms, "
            f"eval {r['evaluation_s'] * 1e3:7.1f} ms, peak RSS {r['peak_rss_mb']:.0f} MB "
            f"(+{r['peak_extra_mb']:.0f})",
            flush=True,
        )
    info = {
        "config": args.config,
        "image_hw": [H, W],
        "commit": git_commit(),
        "cpus": os.cpu_count(),
        "load_before": load0,
        "load_after": os.getloadavg()[0],
    }
    print(
        f"load avg {info['load_before']:.2f} before / {info['load_after']:.2f} after, commit {info['commit']}"
    )
    write_json(args.json, {"info": info, "rows": rows}, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
