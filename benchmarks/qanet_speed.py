#!/usr/bin/env python
"""QANet speed: crop parser throughput, end-to-end images/s with a detector, QAM's share.

    python benchmarks/qanet_speed.py            # CPU: R18 and R50-FPN parsers at 512x384, B = 1, 8, 32
    python benchmarks/qanet_speed.py --quick    # fewer repeats, R50 only at B = 1, 8
    python benchmarks/qanet_speed.py --device cuda --amp --channels-last
    python benchmarks/qanet_speed.py --vs-official /path/to/QANet   # ours (plain, fast paths) vs the official net

Measured (random weights; speed does not depend on them):
1. parser crops/s: backbone + semantic FPN + predictor + IoU branch on (B, 3, 512, 384) crops;
2. end-to-end images/s: detectron2 Faster R-CNN R50-FPN (COCO config as a one-class person
   detector, 800 px short side, top 3 detections) -> QANet R18 (256x192, flip test) -> paste-back -> QAM, on 384 px
   synthetic images; the detector's share is reported too;
3. QAM's share of QANet inference time: ``pixel_scores_from_max`` + ``fuse_quality`` vs the whole
   ``QANet.inference`` call (oracle boxes, 3 persons per image), for the quick R18 256x192 parser
   (the cheapest, so QAM's largest share) and the paper's R50 512x384.
4. ``--vs-official DIR``: the official parsing network (built from the checkout DIR) against our
   crop parser plain and through ``MODEL.QANET.TEST.FAST_PATH`` eager / compile, same weights, same
   crops, interleaved in one process; the largest probability difference of each.
Writes output/bench/qanet_speed.json. The parts are in ``benchmarks/qanet_bench/``.
"""

import argparse
import os
import sys

from _common import REPO, qanet_cfg, write_json
from qanet_bench.end_to_end import bench_end_to_end
from qanet_bench.inputs import R18_QUICK, R50_PAPER
from qanet_bench.parser import bench_parser
from qanet_bench.qam_share import QAM_MODELS, bench_qam_share
from qanet_bench.vs_official import VS_OFFICIAL_CONFIGS, run_vs_official


def _parse_args(argv):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", action="store_true", help="fp16 autocast (CUDA only)")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--quick", action="store_true", help="fewer batches and repeats")
    ap.add_argument(
        "--images",
        type=int,
        default=20,
        help="images for the QAM timing (R50: a quarter; e2e: half)",
    )
    ap.add_argument("--parts", default="parser,qam,e2e", help="comma list of parser, qam, e2e")
    ap.add_argument("--output", default=str(REPO / "output/bench/qanet_speed.json"))
    ap.add_argument(
        "--vs-official",
        metavar="DIR",
        default="",
        help="official soeaver/QANet checkout: time its parsing network against ours "
        "side by side (only this part runs)",
    )
    ap.add_argument("--vs-batch", type=int, default=4, help="crops per forward for --vs-official")
    ap.add_argument(
        "--vs-repeats", type=int, default=3, help="interleaved repeats for --vs-official"
    )
    ap.add_argument(
        "--vs-models",
        default=",".join(VS_OFFICIAL_CONFIGS),
        help="comma list of: " + ", ".join(VS_OFFICIAL_CONFIGS),
    )
    ap.add_argument(
        "--vs-modes",
        default="eager,compile",
        help="fast paths to time: eager, compile, eager-bf16 (bf16 only where the CPU "
        "has it natively)",
    )
    return ap.parse_args(argv)


def _run_info(args):
    """Device, threads and versions of this run (printed and stored under "info")."""
    import torch

    if args.device == "cpu":
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    info = {
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "amp": args.amp,
        "channels_last": args.channels_last,
    }
    if args.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    where = info.get("gpu") or f"{info['threads']} threads"
    print(f"QANet speed on {args.device} ({where})", flush=True)
    return info


def _run_parts(args, parts):
    """The parser, qam and e2e parts named in ``parts``; returns (parser rows, qam rows, e2e)."""
    batches = (1, 8) if args.quick else (1, 8, 32)
    repeats = 1 if args.quick else (3 if args.device == "cpu" else 10)
    rows, qam, e2e = [], None, None
    if "parser" in parts:
        print("parser crops/s at 512x384:")
        for name, path, opts in (
            ("R18-FPN", R18_QUICK, []),
            ("R50-FPN", R50_PAPER, ["MODEL.QANET.BOX_SOURCE", "oracle"]),
        ):
            rows += bench_parser(
                name,
                qanet_cfg(path, args.device, opts),
                batches,
                repeats,
                args.device,
                args.amp,
                args.channels_last,
            )
    if "qam" in parts:
        print("QAM share:")
        qam = [
            bench_qam_share(args.device, max(2, args.images // div), m)
            for m, (_, div) in QAM_MODELS.items()
        ]
    if "e2e" in parts:
        print("end to end:")
        n = max(2, args.images // 2) if args.device == "cpu" else args.images
        e2e = bench_end_to_end(args.device, n)
    return rows, qam, e2e


def main(argv=None):
    args = _parse_args(argv)
    import humanparse_d2  # noqa: F401
    from humanparse_d2.utils.provenance import git_commit

    info = _run_info(args)
    parts = set(args.parts.split(","))
    if args.vs_official:
        run_vs_official(args, info)
        parts = set()
    rows, qam, e2e = _run_parts(args, parts)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    info["load_average_1min_at_end"] = round(load, 2) if load is not None else None
    info["commit"] = git_commit()
    write_json(args.output, {"info": info, "parser": rows, "qam": qam, "end_to_end": e2e})
    return 0


if __name__ == "__main__":
    sys.exit(main())
