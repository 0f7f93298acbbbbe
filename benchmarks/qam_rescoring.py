#!/usr/bin/env python
"""Cost of QAM rescoring in Mask R-CNN inference (issue #7 target: < 1% of inference time).

Builds detectron2's Mask R-CNN R50-FPN (COCO shapes, random weights, ``QAMStandardROIHeads``) and
feeds one 800x1333 image with ``SCORE_THRESH_TEST 0`` so every run returns exactly
``--detections`` (100) detections. Two measurements:

1. end to end: ``model(inputs)`` with ``roi_heads.qam_enabled`` False / True, alternating, median
   and best of the runs;
2. the rescoring step alone (``mask_pixel_score`` + ``rescore_instances`` on the 100 soft masks),
   median of many runs, divided by the median inference time: the precise overhead (the
   end-to-end difference is within the run-to-run noise of a shared CPU).

    python benchmarks/qam_rescoring.py                 # CPU, 3 runs each
    python benchmarks/qam_rescoring.py --device cuda   # when a GPU is available
"""

import argparse
import statistics
import time

import torch
from _common import REPO, print_json, sync


def build(device, detections):
    from detectron2.modeling import build_model

    from humanparse_d2.config import get_humanparse_cfg

    cfg = get_humanparse_cfg()
    cfg.merge_from_file(
        str(REPO / "configs/COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x_qam.yaml")
    )
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = device
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    cfg.TEST.DETECTIONS_PER_IMAGE = detections
    cfg.MODEL.PIXEL_STD = [57.375, 57.120, 58.395]
    from _random_weights import keep_resnet_finite_

    # exactly `detections` boxes come back, like a trained model
    return keep_resnet_finite_(build_model(cfg).eval())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--runs", type=int, default=3, help="end-to-end runs per setting")
    ap.add_argument("--detections", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="", help="write the numbers here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    import humanparse_d2  # noqa: F401
    from humanparse_d2.modeling.qam import mask_pixel_score
    from humanparse_d2.modeling.rescoring import rescore_instances

    model = build(args.device, args.detections)
    img = torch.randint(0, 255, (3, 800, 1333), dtype=torch.uint8)
    inputs = [{"image": img, "height": 800, "width": 1333}]
    times = {False: [], True: []}
    with torch.no_grad():
        model(inputs)  # warm-up
        for _ in range(args.runs):
            for enabled in (False, True):
                model.roi_heads.qam_enabled = enabled
                sync(args.device)
                t0 = time.perf_counter()
                out = model(inputs)[0]["instances"]
                sync(args.device)
                times[enabled].append(time.perf_counter() - t0)
        assert len(out) == args.detections, len(out)
        # the rescoring step alone, on the raw (pre-paste) soft masks of the same detections
        model.roi_heads.qam_enabled = False
        raw = model.inference(inputs, do_postprocess=False)[0]
        step = []
        for _ in range(200):
            sync(args.device)
            t0 = time.perf_counter()
            rescore_instances(raw, mask_pixel_score(raw.pred_masks), None, (1.0, 0.0, 1.0))
            sync(args.device)
            step.append(time.perf_counter() - t0)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    step_ms = statistics.median(step) * 1e3
    res = {
        "device": args.device if args.device != "cpu" else f"cpu ({args.threads} threads)",
        "detections": len(raw),
        "image": "800x1333",
        "inference_off_s": round(off, 4),
        "inference_on_s": round(on, 4),
        "end_to_end_overhead_pct": round(100 * (on - off) / off, 2),
        # best-of-runs is less sensitive to other processes on a shared machine
        "end_to_end_overhead_pct_min": round(
            100 * (min(times[True]) - min(times[False])) / min(times[False]), 2
        ),
        "rescoring_step_ms": round(step_ms, 4),
        "rescoring_step_pct_of_inference": round(100 * step_ms / 1e3 / off, 4),
        "runs": args.runs,
    }
    print_json(res, args.json)


if __name__ == "__main__":
    main()
