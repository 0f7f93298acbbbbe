#!/usr/bin/env python
"""Paste-back of the ROI parsing head: 100 persons on an 800x1333 image in one batched call.

Times ``humanparse_d2.modeling.paste.paste_parsing`` (per-ROI class probabilities -> N uint8
full-image label maps + QAM pixel scores) on person-shaped boxes (height 80..600 px, aspect
0.35..0.6 w/h, partly outside the image), 20 classes, 56x56 per-ROI maps. For reference it also
times the per-box loop ``paste_probs_local`` + argmax + ``pixel_scores``, which gives
identical labels and scores.

    python benchmarks/roi_paste.py                  # CPU
    python benchmarks/roi_paste.py --device cuda
"""

import argparse
import statistics
import time

import torch
from _common import print_json, sync


def person_boxes(n, H, W, g):
    h = 80 + torch.rand(n, generator=g) * 520
    w = h * (0.35 + torch.rand(n, generator=g) * 0.25)
    cx = torch.rand(n, generator=g) * W
    cy = torch.rand(n, generator=g) * H
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


def timed(fn, device, repeats):
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return statistics.median(out) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--resolution", type=int, default=56)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from humanparse_d2.modeling.paste import paste_parsing, paste_probs_local
    from humanparse_d2.modeling.qam import pixel_scores

    H, W = 800, 1333
    g = torch.Generator().manual_seed(0)
    n, C, r = args.instances, args.classes, args.resolution
    probs = (torch.randn(n, C, r, r, generator=g) * 3).softmax(1).to(args.device)
    boxes = person_boxes(n, H, W, g).to(args.device)

    def batched():
        return paste_parsing(probs, boxes, (H, W))

    def per_box():
        labels = torch.zeros((n, H, W), dtype=torch.uint8, device=args.device)
        inst = []
        for k, reg in enumerate(paste_probs_local(probs, boxes, (H, W))):
            if reg.probs.numel() == 0:
                inst.append(0.0)
                continue
            conf, lab = reg.probs.max(0)
            lab[conf < 1.0 / C] = 0
            labels[k, reg.y0 : reg.y1, reg.x0 : reg.x1] = lab.to(torch.uint8)
            inst.append(pixel_scores(reg.probs[None])[0])
        return labels

    ms_batched = timed(batched, args.device, args.repeats)
    ms_loop = timed(per_box, args.device, args.repeats)
    same = torch.equal(batched().labels, per_box())
    res = {
        "device": args.device if args.device != "cpu" else f"cpu ({args.threads} threads)",
        "instances": n,
        "classes": C,
        "roi_resolution": r,
        "image": f"{H}x{W}",
        "paste_parsing_batched_ms": round(ms_batched, 1),
        "per_box_loop_reference_ms": round(ms_loop, 1),
        "labels_identical": same,
    }
    print_json(res, args.json)


if __name__ == "__main__":
    main()
