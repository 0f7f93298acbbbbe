#!/usr/bin/env python
"""MMAN's Table 4 on the synthetic LIP-layout persons: baseline, + Macro D, + Micro D, MMAN.

No ImageNet weights can be downloaded here, so the encoder starts from scratch. To spend the CPU
budget on what differs between the rows, every row starts from one shared generator-only warm-up
(``--warmup-iters`` CE iterations, standing in for the pretrained encoder) and then trains
``--iters`` more iterations with its own discriminators (fresh), the same seed, data order and
augmentations. The baseline row trains the same iterations with CE only. Each row is evaluated by
MMAN's evaluator on ``synth_lip_val``: mIoU (256x256 protocol and native), low-resolution (1/16)
mIoU and the isolated pixel rate in both definitions (humanparse_d2/evaluation/ipr.py): IPR =
percent of pixels that are singleton 8-connected components, IPR4 = singleton 4-connected ones.

    python tools/mman_ablation.py    # the README numbers (~9 min of CPU time; 28 min wall measured
                                     # with 1 thread on a shared, oversubscribed 2-core machine)
    python tools/mman_ablation.py --iters 20 --warmup-iters 20 --num-val 10   # smoke run

Settings (defaults): projects/MMAN/configs/quick/MMAN_synth_lip.yaml (ResNet-18 from scratch, "default" preset:
LSGAN, weights (1, 50, 1, 250), (2,2,1,1) discriminators) at 128x128 crops, batch 2, Adam 1e-3 for
G and D (x0.1 after 80 % of each run's iterations), D step every iteration, single-scale + flip test
at 128.
"""

import argparse
import json
import logging
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

VARIANTS = {
    "baseline": {"MODEL.MMAN.MICRO.ENABLED": False, "MODEL.MMAN.MACRO.ENABLED": False},
    "+ Macro D": {"MODEL.MMAN.MICRO.ENABLED": False, "MODEL.MMAN.MACRO.ENABLED": True},
    "+ Micro D": {"MODEL.MMAN.MICRO.ENABLED": True, "MODEL.MMAN.MACRO.ENABLED": False},
    "MMAN": {"MODEL.MMAN.MICRO.ENABLED": True, "MODEL.MMAN.MACRO.ENABLED": True},
}
PAPER = {  # Table 4 (LIP val): IPR, low-res mIoU, mIoU
    "baseline": (5.62, 50.66, 44.72),
    "+ Macro D": (4.23, 55.79, 45.60),
    "+ Micro D": (2.81, 53.60, 45.52),
    "MMAN": (2.47, 56.95, 46.81),
}


def make_cfg(args, output_dir, max_iter, overrides, weights=""):
    from humanparse_d2.engine import load_config

    opts = [
        "MODEL.WEIGHTS",
        weights,
        "OUTPUT_DIR",
        str(output_dir),
        "SEED",
        str(args.seed),
        "SOLVER.MAX_ITER",
        str(max_iter),
        "SOLVER.STEPS",
        f"({int(0.8 * max_iter)},)",
        "SOLVER.IMS_PER_BATCH",
        str(args.batch),
        "SOLVER.CHECKPOINT_PERIOD",
        "1000000",
        "SOLVER.MMAN_D.UPDATE_PERIOD",
        str(args.d_period),
        "INPUT.PARSING.SINGLE.CROP_SIZE",
        str(args.size),
        "INPUT.PARSING.SINGLE.LOAD_SIZE",
        str(round(args.size * 286 / 256)),
        "INPUT.PARSING.SINGLE.TEST_SIZE",
        str(args.size),
        "HUMANPARSE_EVALUATION.LOWRES_GT_SQUASH",
        str(args.size),
        "DATALOADER.NUM_WORKERS",
        "0",
        "TEST.EVAL_PERIOD",
        "0",
    ]
    for k, v in overrides.items():
        opts += [k, str(v)]
    cfg = load_config(str(REPO / "projects/MMAN/configs/quick/MMAN_synth_lip.yaml"), opts)
    if args.num_val and cfg.DATASETS.TEST:
        cfg.DATASETS.TEST = (_val_subset(args.num_val),)
    cfg.freeze()
    return cfg


def _val_subset(n):
    """The first n images of synth_lip_val as a registered dataset (for smoke runs)."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    name = f"synth_lip_val_first{n}"
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, lambda: DatasetCatalog.get("synth_lip_val")[:n])
        meta = MetadataCatalog.get("synth_lip_val").as_dict()
        meta.pop("name", None)
        MetadataCatalog.get(name).set(**meta)
    return name


def trainer_class(seed):
    from humanparse_d2.data import PARSING_MAPPER_REGISTRY
    from humanparse_d2.projects.mman import MMANTrainer

    class SeededMMANTrainer(MMANTrainer):
        """Identical augmentations for every row: the mapper's RNG is seeded."""

        @classmethod
        def build_train_mapper(cls, cfg):
            mapper_cls = PARSING_MAPPER_REGISTRY.get(cfg.INPUT.PARSING.MAPPER)
            return mapper_cls(**{**mapper_cls.from_config(cfg, is_train=True), "seed": seed})

    return SeededMMANTrainer


def train(args, cfg, resume=False):
    from detectron2.utils.env import seed_all_rng

    seed_all_rng(args.seed)
    trainer = trainer_class(args.seed)(cfg)
    trainer.resume_or_load(resume=resume)
    t0 = time.perf_counter()
    trainer.train()
    return trainer, time.perf_counter() - t0


def evaluate(cfg, model):
    from humanparse_d2.projects.mman import MMANTrainer

    t0 = time.perf_counter()
    res = MMANTrainer.test(cfg, model)
    return dict(
        res["parsing"] if "parsing" in res else next(iter(res.values()))["parsing"]
    ), time.perf_counter() - t0


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--iters", type=int, default=150, help="iterations of each row after the warm-up"
    )
    p.add_argument("--warmup-iters", type=int, default=300, help="shared generator-only iterations")
    p.add_argument("--size", type=int, default=128, help="crop / test side (multiple of 16)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--d-period", type=int, default=1, help="D step every N iterations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument(
        "--num-val", type=int, default=0, help="evaluate on the first N val images (0 = all)"
    )
    p.add_argument("--output", default="output/mman_ablation")
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    return p.parse_args(argv)


def _log_to_file_only(out: Path):
    """Full logs go to <out>/log.txt; the console gets this script's summary lines only."""
    from detectron2.utils.logger import setup_logger

    for name in ("detectron2", "humanparse_d2", "fvcore"):
        lg = setup_logger(
            str(out / "log.txt"), name=name, abbrev_name="d2" if name == "detectron2" else ""
        )
        for h in list(lg.handlers):
            if type(h) is logging.StreamHandler:
                lg.removeHandler(h)


def run_variant(args, name: str, out: Path) -> dict:
    """Train row ``name`` from the shared warm-up checkpoint (if any) and evaluate it; returns its
    metrics with the train and eval seconds."""
    run_dir = out / name.replace("+ ", "plus_").replace(" ", "_")
    warm_ckpt = out / "warmup" / "model_final.pth"
    cfg = make_cfg(
        args, run_dir, args.iters, VARIANTS[name], str(warm_ckpt) if args.warmup_iters > 0 else ""
    )
    trainer, t_train = train(args, cfg)
    metrics, t_eval = evaluate(cfg, trainer.model)
    metrics.update(train_s=t_train, eval_s=t_eval)
    print(
        f"{name:10s} mIoU {metrics['mIoU']:.2f}  low-res mIoU {metrics['mIoU_lowres']:.2f}  "
        f"IPR {metrics['IPR']:.3f}  IPR4 {metrics.get('IPR_4conn', float('nan')):.3f}  "
        f"({t_train:.0f} s train, {t_eval:.0f} s eval)",
        flush=True,
    )
    return metrics


def table_lines(args, rows: dict, total: float) -> list[str]:
    """The Markdown table of the rows against the paper, then the two expected effects."""
    base = rows.get("baseline")
    lines = [
        f"Table 4 on synth_lip_val ({args.size}x{args.size}, R18 from scratch, warm-up {args.warmup_iters} + "
        f"{args.iters} iterations per row, batch {args.batch}, seed {args.seed}, D period {args.d_period}; "
        f"{total / 60:.1f} min with {args.threads} threads)",
        "",
        "| method | mIoU (256) | mIoU (native) | low-res mIoU | IPR 8-conn (%) | IPR / baseline | "
        "IPR 4-conn (%) | IPR4 / baseline | paper IPR / low-res / mIoU (LIP) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in rows.items():
        ratio = f"{m['IPR'] / base['IPR']:.2f}" if base and base["IPR"] > 0 else "-"
        i4, b4 = m.get("IPR_4conn", float("nan")), (base or {}).get("IPR_4conn", 0.0)
        ratio4 = f"{i4 / b4:.2f}" if b4 and b4 > 0 else "-"
        pap = PAPER[name]
        lines.append(
            f"| {name} | {m['mIoU']:.2f} | {m.get('mIoU_native', float('nan')):.2f} | {m['mIoU_lowres']:.2f} | "
            f"{m['IPR']:.3f} | {ratio} | {i4:.3f} | {ratio4} | {pap[0]} / {pap[1]} / {pap[2]} |"
        )
    if base:
        lines.append("")
        for name, what, key, better in (
            ("+ Micro D", "lowers IPR", "IPR", lambda a, b: a < b),
            ("+ Macro D", "raises low-res mIoU", "mIoU_lowres", lambda a, b: a > b),
        ):
            if name in rows:
                ok = better(rows[name][key], base[key])
                lines.append(
                    f"{name} {what} vs baseline: {'yes' if ok else 'no'} "
                    f"({rows[name][key]:.3f} vs {base[key]:.3f})"
                )
    return lines


def main(argv=None):
    args = parse_args(argv)
    import torch

    import humanparse_d2  # noqa: F401

    torch.set_num_threads(args.threads)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    _log_to_file_only(out)
    start = time.perf_counter()
    if args.warmup_iters > 0:
        cfg = make_cfg(
            args,
            out / "warmup",
            args.warmup_iters,
            {**VARIANTS["baseline"], "DATASETS.TEST": "()"},
        )
        _, t = train(args, cfg)
        print(f"warm-up: {args.warmup_iters} generator-only iterations in {t:.0f} s", flush=True)
    rows = {name: run_variant(args, name, out) for name in args.variants}
    total = time.perf_counter() - start
    table = "\n".join(table_lines(args, rows, total))
    print("\n" + table)
    (out / "table.md").write_text(table + "\n")
    (out / "results.json").write_text(
        json.dumps({"args": vars(args), "rows": rows, "total_s": total}, indent=2)
    )
    return rows


if __name__ == "__main__":
    main()
