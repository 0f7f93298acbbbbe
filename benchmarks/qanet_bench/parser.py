"""Crop-parser throughput: backbone + semantic FPN + predictor + IoU branch on (B, 3, 512, 384)
crops (random weights; speed does not depend on them)."""

import time
from contextlib import nullcontext

from _common import sync


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
