#!/usr/bin/env python
"""One accelerator check, one JSON (driven by ``benchmarks/gpu_check.sh``).

    python benchmarks/gpu_check.py --device cuda --json output/bench/gpu_check.json
    python benchmarks/gpu_check.py --device cpu --tiny --json /tmp/gpu_check.json   # CI smoke run

Parts (random weights; speed and memory do not depend on them):
1. ``train``: QANet R-50c and HRNet-W48 training steps (forward, CE + Lovasz + IoU losses, backward,
   the config's optimizer) at 512x384, batch 32, AMP (bf16 autocast) and channels_last: median
   step time and peak memory (``torch.cuda.max_memory_allocated``);
2. ``parser``: parser crops/s in bf16 at batch 64 (inference, channels_last, R-50c and HRNet-W48);
3. ``e2e``: detectron2 Faster R-CNN R50-FPN (one-class, top 3) + QANet R-50c (flip test, paste-back,
   QAM) images/s on 800x600 images;
4. ``mman``: the MMAN step with and without the discriminators (``benchmarks/mman_step.py``'s steps).
``--tiny`` shrinks every size (crops 64x64, batch 2, small images) so that the same code runs on a
CPU in CI; its numbers mean nothing.
"""

import argparse
import platform
import statistics
import time
from contextlib import nullcontext

from _common import REPO, qanet_cfg, sync, write_json

CONFIGS = {
    "R-50c": "projects/QANet/configs/CIHP/QANet_R50c_512x384.yaml",
    "HRNet-W48": "projects/QANet/configs/CIHP/QANet_HRNetW48_512x384.yaml",
}


def _autocast(device):
    """bf16 autocast on the GPU; fp32 on a CPU (bf16 there is emulated on most CPUs, minutes per
    tiny step, and the CPU run only checks that the script works)."""
    import torch

    if not device.startswith("cuda"):
        return nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16)


def _dtype(device):
    return "bf16" if device.startswith("cuda") else "fp32"


def _peak_reset(device):
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_mb(device):
    import torch

    return (
        round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.startswith("cuda") else None
    )


def _model(name, device):
    from detectron2.modeling import build_model

    cfg = qanet_cfg(CONFIGS[name], device)
    return cfg, build_model(cfg)


def bench_train(name, device, crop_hw, batch, steps, warmup):
    """Median seconds of a full training step and the peak memory of the timed steps."""
    import torch

    from humanparse_d2.engine import build_trainer_class

    cfg, model = _model(name, device)
    model.train().to(memory_format=torch.channels_last)
    opt = build_trainer_class(cfg).build_optimizer(cfg, model)
    C = cfg.MODEL.QANET.NUM_CLASSES
    g = torch.Generator().manual_seed(0)
    h, w = crop_hw
    batch_in = [
        {"image": torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g),
         "parsing": torch.randint(0, C, (h, w), generator=g)}
        for _ in range(batch)
    ]  # fmt: skip
    times = []
    for i in range(warmup + steps):
        if i == warmup:
            _peak_reset(device)
        sync(device)
        t0 = time.perf_counter()
        with _autocast(device):
            losses = model(batch_in)
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
        if not torch.isfinite(loss):
            raise RuntimeError(f"{name}: non-finite training loss {loss.item()}")
    res = {
        "model": name,
        "crop_hw": list(crop_hw),
        "batch": batch,
        "amp": _dtype(device),
        "channels_last": True,
        "step_s": round(statistics.median(times), 4),
        "steps": steps,
        "peak_memory_mb": _peak_mb(device),
    }
    print(
        f"  train {name:9s} {h}x{w} B={batch}: {res['step_s'] * 1e3:.1f} ms/step, peak {res['peak_memory_mb']} MB",
        flush=True,
    )
    del model, opt
    return res


def bench_parser(name, device, crop_hw, batch, repeats):
    import torch

    _, model = _model(name, device)
    parser = model.parser.eval().to(memory_format=torch.channels_last)
    x = (torch.rand(batch, 3, *crop_hw, device=device) * 255).contiguous(
        memory_format=torch.channels_last
    )
    with torch.no_grad(), _autocast(device):
        parser(x)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            parser(x)
        sync(device)
    dt = (time.perf_counter() - t0) / repeats
    res = {
        "model": name,
        "crop_hw": list(crop_hw),
        "batch": batch,
        "dtype": _dtype(device),
        "crops_per_s": round(batch / dt, 2),
    }
    print(f"  parser {name:9s} B={batch}: {res['crops_per_s']:.1f} crops/s", flush=True)
    del model
    return res


def bench_mman(device, tiny):
    import argparse as ap

    import mman_step

    a = ap.Namespace(
        device=device,
        depth=18 if tiny else 101,
        size=64 if tiny else 256,
        batch=1 if tiny else 8,
        d_period=2 if tiny else 10,
        rounds=1 if tiny else 3,
        warmup=1 if tiny else 2,
        amp=False,
    )
    steps = {
        "generator-only": mman_step.build_step(a, False),
        "MMAN": mman_step.build_step(a, True),
    }
    med, _ = mman_step.time_rounds(steps, a)
    res = {
        "depth": a.depth,
        "size": a.size,
        "batch": a.batch,
        "d_period": a.d_period,
        "generator_only_step_s": round(med["generator-only"], 4),
        "mman_step_s": round(med["MMAN"], 4),
        "ratio": round(med["MMAN"] / med["generator-only"], 3),
    }
    print(
        f"  MMAN R{a.depth} {a.size}px B={a.batch}: {res['mman_step_s'] * 1e3:.1f} ms/step with Ds, "
        f"{res['generator_only_step_s'] * 1e3:.1f} without (x{res['ratio']})",
        flush=True,
    )
    return res


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="tiny sizes for a CPU smoke run (CI)")
    p.add_argument("--parts", default="train,parser,e2e,mman")
    p.add_argument("--json", default=str(REPO / "output/bench/gpu_check.json"))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    return p.parse_args(argv)


def _run_info(args) -> dict:
    """Checks the device and sets torch up; returns the run's "info" (device, versions, commit)."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    import humanparse_d2  # noqa: F401  (registers the models)
    from humanparse_d2.utils.provenance import git_commit

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(
            "gpu_check: --device cuda but torch sees no GPU (use --device cpu --tiny to smoke-test)"
        )
    torch.backends.cudnn.benchmark = True
    info = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else platform.processor(),
        "torch": torch.__version__,
        "tiny": args.tiny,
        "commit": git_commit(),
    }
    print(f"gpu_check on {info['device_name'] or args.device} (tiny={args.tiny})", flush=True)
    return info


def _bench_e2e(device, tiny, crop):
    """Detector + QANet R-50c images/s (``qanet_bench.end_to_end``) at this check's sizes."""
    from qanet_bench.end_to_end import bench_end_to_end

    hw = (96, 80) if tiny else (600, 800)
    det = ["INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "128"] if tiny else []
    crop_opts = ["INPUT.PARSING.CROP_SIZE", str(list(crop))] if tiny else []
    return bench_end_to_end(
        device,
        1 if tiny else 50,
        parser_config=CONFIGS["R-50c"],
        parser_opts=crop_opts,
        image_hw=hw,
        detector_opts=det,
    )


def main(argv=None):
    args = parse_args(argv)
    out = {"info": _run_info(args)}
    tiny = args.tiny
    crop = (64, 64) if tiny else (512, 384)
    parts = [s.strip() for s in args.parts.split(",") if s.strip()]
    t_all = time.perf_counter()
    if "train" in parts:
        out["train"] = [
            bench_train(
                m, args.device, crop, 2 if tiny else 32, 1 if tiny else 10, 1 if tiny else 3
            )
            for m in CONFIGS
        ]
    if "parser" in parts:
        out["parser"] = [
            bench_parser(m, args.device, crop, 2 if tiny else 64, 1 if tiny else 20)
            for m in CONFIGS
        ]
    if "e2e" in parts:
        out["e2e"] = _bench_e2e(args.device, tiny, crop)
    if "mman" in parts:
        out["mman"] = bench_mman(args.device, tiny)
    out["info"]["seconds"] = round(time.perf_counter() - t_all, 1)
    write_json(args.json, out, indent=2, note=f" ({out['info']['seconds']} s)")
    return out


if __name__ == "__main__":
    main()
