#!/usr/bin/env python
"""Cost of one MMAN training step against a generator-only (baseline) step, on CPU by default.

Both steps run the real ``GANStep`` of ``humanparse_d2.engine.adversarial`` on in-memory batches
(no data loading): the baseline step is G forward + backward + Adam; the MMAN step adds the
discriminators (D step every ``--d-period`` iterations on detached fakes, G's adversarial terms
through the frozen Ds). A round is ``--d-period`` iterations (so D steps count at their real
frequency) of one, then of the other; the per-step time is the median over ``--rounds`` rounds.

    python benchmarks/mman_step.py                      # R101, 256x256, batch 1, D period 10 (code)
    python benchmarks/mman_step.py --d-period 1         # worst case: a D step every iteration
    python benchmarks/mman_step.py --depth 18 --size 128 --batch 2
"""

import argparse
import itertools
import os
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def build_step(args, with_d: bool):
    from detectron2.modeling import build_model

    import humanparse_d2  # noqa: F401
    from humanparse_d2.config import get_humanparse_cfg
    from humanparse_d2.engine.adversarial import GANStep
    from humanparse_d2.projects.mman import MMANTrainer

    cfg = get_humanparse_cfg()
    cfg.merge_from_file(str(REPO / "projects/MMAN/configs/Base-MMAN.yaml"))
    cfg.MODEL.DEVICE = args.device
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.RESNETS.DEPTH = args.depth
    if args.depth in (18, 34):
        cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    cfg.MODEL.MMAN.MICRO.ENABLED = with_d
    cfg.MODEL.MMAN.MACRO.ENABLED = with_d
    cfg.SOLVER.MMAN_D.UPDATE_PERIOD = args.d_period
    torch.manual_seed(0)
    model = build_model(cfg).train()
    g = torch.Generator().manual_seed(0)
    batch = [
        {
            "image": torch.randn(3, args.size, args.size, generator=g),
            "sem_seg": torch.randint(0, 20, (args.size, args.size), generator=g),
        }
        for _ in range(args.batch)
    ]
    adversary = MMANTrainer.build_adversary(cfg)
    opt_d = MMANTrainer.build_optimizer_d(cfg, adversary) if adversary is not None else None
    step = GANStep(
        model,
        itertools.repeat(batch),
        MMANTrainer.build_optimizer(cfg, model),
        adversary=adversary,
        optimizer_d=opt_d,
        d_update_period=MMANTrainer.d_update_period(cfg),
        amp=args.amp,
    )
    return step


def time_rounds(steps, args):
    """Per-step seconds of each step object, interleaved round by round (one D period each) so
    that a load change on a shared machine hits both alike; returns the medians over rounds."""
    from detectron2.utils.events import EventStorage

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    times = {name: [] for name in steps}
    with EventStorage(0):
        for step in steps.values():  # untimed: allocations, first D step
            for i in range(args.warmup):
                step.iter = i
                step.run_step()
        it = args.d_period * -(-args.warmup // args.d_period)  # next multiple of the period
        for _ in range(args.rounds):
            for name, step in steps.items():
                sync()
                t0 = time.perf_counter()
                for i in range(args.d_period):
                    step.iter = it + i  # (it + 0) % d_period == 0: one D step per round
                    step.run_step()
                sync()
                times[name].append((time.perf_counter() - t0) / args.d_period)
            it += args.d_period
    return {name: statistics.median(v) for name, v in times.items()}, times


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--depth", type=int, default=101)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument(
        "--d-period", type=int, default=10, help="D step every N iterations (10 in Base-MMAN.yaml)"
    )
    p.add_argument(
        "--rounds", type=int, default=3, help="timed rounds of --d-period iterations each"
    )
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations of each step first")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true", help="CUDA autocast + GradScaler")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    steps = {"generator-only": build_step(args, False), "MMAN": build_step(args, True)}
    res, raw = time_rounds(steps, args)
    ratio = res["MMAN"] / res["generator-only"]
    print(
        f"R{args.depth} {args.size}x{args.size} batch {args.batch} on {args.device} "
        f"({args.threads} threads), D step every {args.d_period} it; median over {args.rounds} "
        f"interleaved rounds of {args.d_period} iterations"
    )
    for name, t in res.items():
        print(
            f"  {name:15s} {t * 1000:9.1f} ms/step   (rounds: {', '.join(f'{x * 1000:.0f}' for x in raw[name])})"
        )
    print(f"  MMAN / generator-only = {ratio:.3f} (target <= 1.25)")
    return res


if __name__ == "__main__":
    main()
