"""Our crop parser (plain and through ``MODEL.QANET.TEST.FAST_PATH`` eager / compile) against the
official parsing network built from a soeaver/QANet checkout: same converted random weights, same
crops, interleaved in one process; the largest probability difference of each path."""

import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import qanet_cfg, sync

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
    from humanparse_d2.projects.qanet.official.parity import random_official_and_ours

    cfg = qanet_cfg(cfg_path, device, ["MODEL.QANET.BOX_SOURCE", "whole_image"])
    with tempfile.TemporaryDirectory() as d:
        off, _, ours, _ = random_official_and_ours(
            cfg, Path(official_src), device, 0, Path(d), iou_near=None
        )
    return off, ours.parser, cfg


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


def run_vs_official(args, info):
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
