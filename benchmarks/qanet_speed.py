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
Writes output/bench/qanet_speed.json.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from _common import REPO, qanet_cfg, sync, timed_qam, write_json

R18_QUICK = "projects/QANet/configs/quick/QANet_R18_synth.yaml"
R50_PAPER = "projects/QANet/configs/CIHP/QANet_R50c_512x384.yaml"


def bench_parser(name, cfg, batches, repeats, device, amp, channels_last):
    import torch
    from detectron2.modeling import build_model

    model = build_model(cfg).eval()
    parser = model.parser
    if channels_last:
        parser = parser.to(memory_format=torch.channels_last)
    h, w = 512, 384
    rows = []
    for b in batches:
        x = torch.rand(b, 3, h, w, device=device) * 255
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        ctx = (
            torch.autocast("cuda", dtype=torch.float16)
            if amp and device.startswith("cuda")
            else nullcontext()
        )
        with torch.no_grad(), ctx:
            parser(x[:1])  # warm-up
            sync(device)
            t0 = time.perf_counter()
            n_rep = max(1, repeats // 4) if b >= 32 else repeats  # B = 32 is long enough on its own
            for _ in range(n_rep):
                parser(x)
            sync(device)
            dt = (time.perf_counter() - t0) / n_rep
        rows.append(
            {
                "parser": name,
                "batch": b,
                "seconds_per_batch": round(dt, 4),
                "crops_per_s": round(b / dt, 3),
            }
        )
        print(f"  {name:10s} B={b:3d}: {b / dt:8.2f} crops/s ({dt:.3f} s/batch)", flush=True)
    del model
    return rows


def _images(n, seed=0, hw=(384, 320)):
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    H, W = hw
    out = []
    for i in range(n):
        img = torch.from_numpy(rng.integers(0, 255, (3, H, W), dtype=np.uint8))
        boxes = torch.tensor(
            [[20.0, 30.0, 120.0, 360.0], [110.0, 40.0, 220.0, 370.0], [200.0, 20.0, 310.0, 350.0]]
        )
        boxes = boxes * torch.tensor([W / 320.0, H / 384.0, W / 320.0, H / 384.0])
        out.append({"image": img, "height": H, "width": W, "image_id": f"b{i}", "gt_boxes": boxes})
    return out


QAM_MODELS = {  # name -> (config, timed images = --images // this): the cheapest parser (QAM's largest
    # share) and the paper's, ~15x slower per image
    "R18-FPN 256x192 (quick)": (R18_QUICK, 1),
    "R50-FPN 512x384 (paper)": (R50_PAPER, 4),
}


def bench_qam_share(device, n_images, name="R18-FPN 256x192 (quick)"):
    """Time QANet.inference with oracle boxes; QAM = pixel scores (from the max/argmax the label maps
    need anyway) + fusion."""
    import torch
    from detectron2.modeling import build_model

    cfg = qanet_cfg(QAM_MODELS[name][0], device, ["MODEL.QANET.BOX_SOURCE", "oracle"])
    model = build_model(cfg).eval()
    with timed_qam(device) as spent:
        imgs = _images(n_images)
        with torch.no_grad():
            model(imgs[:1])
            spent["qam"] = 0.0
            sync(device)
            t0 = time.perf_counter()
            for x in imgs:
                model([x])
            sync(device)
            total = time.perf_counter() - t0
    share = spent["qam"] / total
    qam_ms = spent["qam"] * 1e3 / n_images
    print(
        f"  QANet {name} inference (3 persons, flip): {n_images / total:.2f} images/s; "
        f"QAM {qam_ms:.2f} ms/image = {100 * share:.3f}% of inference time",
        flush=True,
    )
    return {
        "model": name,
        "images_per_s": round(n_images / total, 3),
        "qam_ms_per_image": round(qam_ms, 3),
        "qam_share_percent": round(100 * share, 4),
        "persons_per_image": 3,
        "images": n_images,
    }


def _save_random_detector(zoo, device, out_dir):
    """Random-weight one-class Faster R-CNN from the model-zoo config ``zoo``; returns its .pth."""
    from _random_weights import keep_resnet_finite_
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    dcfg = get_cfg()
    dcfg.merge_from_file(str(zoo))
    dcfg.MODEL.DEVICE = device
    dcfg.MODEL.ROI_HEADS.NUM_CLASSES = (
        1  # a one-class (person) detector: every detection is a person
    )
    det = keep_resnet_finite_(build_model(dcfg))  # else random weights detect nothing
    DetectionCheckpointer(det, save_dir=out_dir).save("det_random")
    return os.path.join(out_dir, "det_random.pth")


def _detector_box_opts(zoo, weights, detector_opts):
    """QANet config overrides that make the detector at ``zoo`` / ``weights`` its box source."""
    det_opts = [
        "MODEL.ROI_HEADS.NUM_CLASSES",
        "1",
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
        "0.0",
        "TEST.DETECTIONS_PER_IMAGE",
        "3",
        "MODEL.PIXEL_STD",
        "[57.375, 57.12, 58.395]",
        *detector_opts,
    ]
    return [
        "MODEL.QANET.BOX_SOURCE", "detector",
        "MODEL.QANET.DETECTOR.CONFIG_FILE", str(zoo),
        "MODEL.QANET.DETECTOR.WEIGHTS", weights,
        "MODEL.QANET.DETECTOR.SCORE_THRESH", "0.0",
        "MODEL.QANET.DETECTOR.OPTS", str(det_opts),
    ]  # fmt: skip


def _time_with_detector(model, device, n_images, image_hw):
    """Runs ``model`` over ``n_images`` synthetic images after one warm-up image.

    Returns (total seconds, seconds inside the box source's ``__call__``, persons found)."""
    import torch

    src = model.box_source_obj
    spent = {"det": 0.0}
    orig_call = type(src).__call__

    def timed_call(self, *a, **k):
        sync(device)
        t0 = time.perf_counter()
        r = orig_call(self, *a, **k)
        sync(device)
        spent["det"] += time.perf_counter() - t0
        return r

    type(src).__call__ = timed_call
    try:
        imgs = _images(n_images, seed=1, hw=image_hw)
        for x in imgs:
            x.pop("gt_boxes")
        with torch.no_grad():
            model(imgs[:1])
            spent["det"] = 0.0
            n_persons = 0
            sync(device)
            t0 = time.perf_counter()
            for x in imgs:
                n_persons += len(model([x])[0]["instances"])
            sync(device)
            total = time.perf_counter() - t0
    finally:
        type(src).__call__ = orig_call
    return total, spent["det"], n_persons


def bench_end_to_end(
    device, n_images, parser_config=R18_QUICK, parser_opts=(), image_hw=(384, 320), detector_opts=()
):
    """Faster R-CNN R50-FPN (random weights, top-3 detections as persons) + QANet (R18 by default)."""
    import detectron2
    from detectron2.modeling import build_model

    zoo = (
        Path(detectron2.__file__).parent
        / "model_zoo"
        / "configs"
        / "COCO-Detection"
        / "faster_rcnn_R_50_FPN_3x.yaml"
    )
    with tempfile.TemporaryDirectory() as d:
        weights = _save_random_detector(zoo, device, d)
        opts = _detector_box_opts(zoo, weights, detector_opts)
        cfg = qanet_cfg(parser_config, device, opts + list(parser_opts))
        model = build_model(cfg).eval()
        total, det_s, n_persons = _time_with_detector(model, device, n_images, image_hw)
    print(
        f"  end to end (Faster R-CNN R50-FPN + QANet {Path(parser_config).stem}, "
        f"{n_persons / n_images:.1f} persons/image): {n_images / total:.3f} images/s; "
        f"detector {100 * det_s / total:.1f}% of the time",
        flush=True,
    )
    return {
        "images_per_s": round(n_images / total, 4),
        "detector_share_percent": round(100 * det_s / total, 2),
        "persons_per_image": round(n_persons / n_images, 2),
        "detector": "faster_rcnn_R_50_FPN_3x (random weights)",
        "parser_config": parser_config,
    }


VS_OFFICIAL_CONFIGS = {
    "R-50c 512x384": "projects/QANet/configs/CIHP/QANet_R50c_512x384.yaml",
    "HRNet-W48 512x384": "projects/QANet/configs/CIHP/QANet_HRNetW48_512x384.yaml",
}


def _cpu_has_native_bf16() -> bool:
    """avx512_bf16 or AMX: without them oneDNN emulates bf16 (slower than fp32)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _vs_official_models(official_src, cfg_path, device):
    """The official network with random weights and our parser loaded from the same weights
    (converted with the ``qanet`` converter); returns (official, our parser, cfg)."""
    import torch

    from humanparse_d2.checkpoint import convert_official_checkpoint
    from humanparse_d2.projects.qanet.official.official_model import (
        build_official_qanet,
        randomize_,
    )
    from humanparse_d2.projects.qanet.official.parity import _our_model

    cfg = qanet_cfg(cfg_path, device, ["MODEL.QANET.BOX_SOURCE", "whole_image"])
    off, _ = build_official_qanet(official_src, cfg, device=device)
    randomize_(off, 0)
    with tempfile.TemporaryDirectory() as d:
        ckpt = Path(d) / "official_random.pth"
        torch.save({"model": {k: v.cpu() for k, v in off.state_dict().items()}}, ckpt)
        ours = _our_model(cfg, convert_official_checkpoint("qanet", ckpt, cfg), device).parser
    return off, ours, cfg


def _vs_official_runs(off, ours, x, modes):
    """One probability-returning callable per path on the crops ``x`` (B, 3, H, W) in [0, 255].

    Returns (runs, tolerance per path, seconds of the first ``compile`` call or None)."""
    import torch

    from humanparse_d2.projects.qanet.fast_inference import InferenceParser

    x_off = ours.normalize(x)
    runs = {
        "official": lambda: off.parsing_net(off.conv_body_net(x_off))["probs"],
        "ours": lambda: ours(x)[0].softmax(1),
    }
    tol = {"ours": 1e-4}
    compile_s = None
    for m in modes:
        fast = InferenceParser(ours, "compile" if m.startswith("compile") else "eager")
        if m.endswith("bf16"):
            runs[m] = (lambda f: lambda: _bf16(f, x))(fast)
            tol[m] = 5e-2  # bf16 has 8 mantissa bits: probabilities to a few 1e-2
        else:
            runs[m] = (lambda f: lambda: f(x)[0].softmax(1))(fast)
            tol[m] = 1e-4
        if m == "compile":
            t0 = time.perf_counter()
            with torch.no_grad():
                fast(x)
            compile_s = round(time.perf_counter() - t0, 1)
    return runs, tol, compile_s


def _interleaved_times(runs, repeats, device):
    """Largest |probability - official| per path (the warm-up call) and ``repeats`` timings of
    each path, in an order that rotates so that no path always runs right after another."""
    import torch

    times = {k: [] for k in runs}
    with torch.no_grad():
        ref = runs["official"]()
        diffs = {k: float((f().float() - ref).abs().max()) for k, f in runs.items()
                 if k != "official"}  # fmt: skip
        keys = list(runs)
        for r in range(repeats):
            for k in keys[r % len(keys) :] + keys[: r % len(keys)]:
                f = runs[k]
                sync(device)
                t0 = time.perf_counter()
                f()
                sync(device)
                times[k].append(time.perf_counter() - t0)
    return times, diffs


def bench_vs_official(official_src, name, cfg_path, batch, repeats, modes, device="cpu"):
    """Official ``conv_body_net`` + ``parsing_net`` against our parser (plain and each fast path),
    the same random official weights converted with the ``qanet`` converter, the same (B, 3, 512, 384)
    crops, interleaved (one forward of each per repeat). Ours includes its normalisation and the
    softmax the official head applies; the official gets the normalised crops (outside the clock)."""
    import torch

    off, ours, cfg = _vs_official_models(official_src, cfg_path, device)
    h, w = (int(v) for v in cfg.INPUT.PARSING.CROP_SIZE)
    x = torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device) * 255
    runs, tol, compile_s = _vs_official_runs(off, ours, x, modes)
    times, diffs = _interleaved_times(runs, repeats, device)
    med = {k: statistics.median(v) for k, v in times.items()}
    load = round(os.getloadavg()[0], 2)
    rows = []
    for k in runs:
        row = {
            "model": name,
            "path": k,
            "batch": batch,
            "median_s": round(med[k], 3),
            "times_s": [round(t, 3) for t in times[k]],
            "speedup_vs_official": round(med["official"] / med[k], 3),
            "load_1min_after": load,
        }
        if k != "official":
            row.update(max_abs_diff_probs=diffs[k], tolerance=tol[k], ok=diffs[k] <= tol[k])
        if k == "compile":
            row["compile_s"] = compile_s
        rows.append(row)
        extra = f"  max |dp| {diffs[k]:.1e} (tol {tol[k]:g})" if k != "official" else ""
        print(
            f"  {name:18s} {k:9s} B={batch}: median {med[k]:.3f} s  "
            f"x{med['official'] / med[k]:.2f}{extra}",
            flush=True,
        )
    return rows


def _bf16(fast, x):
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):
        return fast(x)[0].float().softmax(1)


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


def _run_vs_official(args, info):
    """The ``--vs-official`` part: fills ``info["vs_official"]`` with one row per model and path."""
    modes = [m for m in args.vs_modes.split(",") if m]
    if "eager-bf16" in modes and args.device == "cpu" and not _cpu_has_native_bf16():
        print("  eager-bf16 skipped: this CPU has no avx512_bf16 / AMX (oneDNN would emulate bf16)")
        modes.remove("eager-bf16")
    info["native_bf16"] = _cpu_has_native_bf16()
    info["load_average_at_start"] = [round(v, 2) for v in os.getloadavg()]
    print(
        f"side by side with the official network ({args.vs_official}), "
        f"load {info['load_average_at_start']}:"
    )
    vs = []
    for name in args.vs_models.split(","):
        vs += bench_vs_official(
            args.vs_official,
            name,
            VS_OFFICIAL_CONFIGS[name],
            args.vs_batch,
            args.vs_repeats,
            modes,
            args.device,
        )
    info["vs_official"] = vs


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
        _run_vs_official(args, info)
        parts = set()
    rows, qam, e2e = _run_parts(args, parts)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    info["load_average_1min_at_end"] = round(load, 2) if load is not None else None
    info["commit"] = git_commit()
    write_json(args.output, {"info": info, "parser": rows, "qam": qam, "end_to_end": e2e})
    return 0


if __name__ == "__main__":
    sys.exit(main())
