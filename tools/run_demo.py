#!/usr/bin/env python
"""The main job (`make demo`): QANet + QAM end to end on the synthetic humans, on CPU.

1. generates the synthetic CIHP-layout data set if absent ($DETECTRON2_DATASETS, default datasets/);
2. trains projects/QANet/configs/quick/QANet_R18_synth.yaml (ResNet-18 FPN, 256x192 crops) with HumanParseTrainer;
3. runs the model once over synth_humans_val (ground-truth person boxes, labelled "boxes: oracle"),
   then scores the same outputs with box-score-only QAM weights (1,0,0), with QAM (1,0.5,3) and with
   every weight row of the paper's Table 1;
4. prints one table and writes output/demo/metrics.json ({"box_only": {...}, "qam": {...}}),
   output/demo/qam_weight_table.json, output/demo/run_info.json and colour overlays of a few
   validation images (output/demo/overlay_*.png, output/demo/overlays.png).

Budget: at most 15 minutes on 2 CPU cores (the default iteration count is sized for that).
"""

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from tabulate import tabulate

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("DETECTRON2_DATASETS", str(REPO / "datasets"))

TABLE_KEYS = [
    ("mIoU", "mIoU"),
    ("AP_p_vol", "AP^p_vol"),
    ("AP_p50", "AP^p50"),
    ("PCP50", "PCP50"),
    ("AP_r_vol", "AP^r_vol"),
    ("AP_r50", "AP^r50"),
]  # (result key, column title)


def step(msg: str) -> None:
    print(f"\n[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def format_table(rows, title_col="QAM weights"):
    """Markdown table of the TABLE_KEYS metrics, one row per (name, results dict)."""
    headers = [title_col] + [h for _, h in TABLE_KEYS]
    body = [[name] + [res.get(k, float("nan")) for k, _ in TABLE_KEYS] for name, res in rows]
    return tabulate(body, headers=headers, tablefmt="github", floatfmt=".2f", numalign="right")


def build_cfg(args):
    from humanparse_d2.engine import load_config

    steps = sorted(
        {s for s in (int(args.iters * 0.85), int(args.iters * 0.95)) if 0 < s < args.iters}
    )
    opts = [
        "OUTPUT_DIR",
        str(Path(args.output) / "train"),
        "SOLVER.MAX_ITER",
        str(args.iters),
        "SOLVER.STEPS",
        "(" + "".join(f"{s}," for s in steps) + ")",
        "SOLVER.IMS_PER_BATCH",
        str(args.batch),
        "DATALOADER.NUM_WORKERS",
        str(args.workers),
        "SOLVER.CHECKPOINT_PERIOD",
        str(10**7),
        "TEST.EVAL_PERIOD",
        "0",
        "MODEL.DEVICE",
        "cpu",
        "SEED",
        str(args.seed),
    ] + list(args.opts)
    cfg = load_config(args.config_file, opts)
    cfg.freeze()
    return cfg


def train(cfg, args):
    from humanparse_d2.checkpoint.checkpointer import HumanParseCheckpointer  # safe loading
    from humanparse_d2.engine import build_trainer_class

    final = Path(cfg.OUTPUT_DIR) / "model_final.pth"
    info = Path(cfg.OUTPUT_DIR) / "demo_train_info.json"
    trainer_cls = build_trainer_class(cfg)
    if args.reuse and final.is_file() and info.is_file():
        prev = json.loads(info.read_text())
        if prev.get("iters") == args.iters and prev.get("batch") == args.batch:
            step(f"reusing the trained model {final} (--reuse; {args.iters} iterations)")
            model = trainer_cls.build_model(cfg)
            HumanParseCheckpointer(model).load(str(final))
            return model, prev.get("train_seconds", float("nan"))
    step(
        f"training {args.config_file} for {args.iters} iterations, batch {args.batch} person crops (CPU)"
    )
    t0 = time.time()
    # no test sets while training: the trainer's end-of-training EvalHook would run a second inference
    tcfg = cfg.clone()
    tcfg.defrost()
    tcfg.DATASETS.TEST = ()
    tcfg.freeze()
    trainer = trainer_cls(tcfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    secs = time.time() - t0
    info.write_text(json.dumps({"iters": args.iters, "batch": args.batch, "train_seconds": secs}))
    model = trainer.model
    model = getattr(model, "module", model)
    return model, secs


def write_overlays(model, collected, cfg, out_dir: Path, n: int):
    import numpy as np
    from detectron2.data import MetadataCatalog

    from humanparse_core.io import read_image
    from humanparse_core.postprocessing import parsing_postprocess
    from humanparse_d2.projects.qanet.visualize import draw_boxes, overlay, palette_for

    ds = cfg.DATASETS.TEST[0]
    meta = MetadataCatalog.get(ds)
    C = model.num_classes
    pal = palette_for(meta, C)
    ev = cfg.HUMANPARSE_EVALUATION
    tiles = []
    from detectron2.data import DatasetCatalog
    from PIL import Image

    by_id = {d["image_id"]: d for d in DatasetCatalog.get(ds)}
    for k, (inp, inst) in enumerate(collected[:n]):
        img = read_image(inp["file_name"], "RGB", exif=True)
        res = parsing_postprocess(
            inst.pred_parsing,
            inst.scores,
            inst.box_scores,
            inst.part_scores,
            C,
            semseg_score_thresh=ev.SEMSEG_SCORE_THRESH,
            nms_thresh=ev.PARSING_NMS_THRESH,
            score_thresh=ev.SCORE_THRESH,
            image_size=inst.image_size,
        )
        pred = overlay(img, res.global_map, pal)
        keep = res.person_indices
        pred = draw_boxes(
            pred, inst.pred_boxes.tensor.numpy()[keep], inst.scores.numpy()[keep], "q="
        )
        gt_file = by_id.get(inp["image_id"], {}).get("category_file")
        gt = overlay(img, np.asarray(Image.open(gt_file)), pal) if gt_file else np.zeros_like(img)
        tile = np.concatenate([img, gt, pred], axis=1)
        Image.fromarray(tile).save(out_dir / f"overlay_{k:02d}.png")
        tiles.append(tile)
    if tiles:
        w = max(t.shape[1] for t in tiles)
        grid = np.concatenate(
            [np.pad(t, ((0, 4), (0, w - t.shape[1]), (0, 0))) for t in tiles], axis=0
        )
        Image.fromarray(grid).save(out_dir / "overlays.png")
    return len(tiles)


def _parse_args(argv):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--config-file", default=str(REPO / "projects/QANet/configs/quick/QANet_R18_synth.yaml")
    )
    ap.add_argument("--output", default=str(REPO / "output/demo"))
    # ~1.2 s per iteration on 2 idle cores: 500 iterations = ~10 min, the rest of the 15-minute
    # budget is data generation, inference and evaluation (measured: projects/QANet/README.md)
    ap.add_argument("--iters", type=int, default=500, help="training iterations")
    ap.add_argument("--batch", type=int, default=8, help="person crops per iteration")
    ap.add_argument("--workers", type=int, default=1, help="data-loader worker processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--overlays", type=int, default=4, help="validation images drawn as overlays")
    ap.add_argument(
        "--max-val-images", type=int, default=0, help="evaluate on the first N val images (0 = all)"
    )
    ap.add_argument(
        "--reuse", action="store_true", help="reuse output/demo/train/model_final.pth if it matches"
    )
    ap.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides KEY VALUE ...")
    return ap.parse_args(argv)


def _setup_process():
    """Torch threads, loggers and the project's registrations."""
    import torch
    from detectron2.utils.logger import setup_logger

    # every core by default; OMP_NUM_THREADS, when set, wins (e.g. two demos side by side)
    threads = int(os.environ.get("OMP_NUM_THREADS") or 0) or max(1, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    setup_logger(name="detectron2", abbrev_name="d2")
    setup_logger(name="humanparse_d2", abbrev_name="hp")
    setup_logger(name="humanparse_core", abbrev_name="hp")
    logging.getLogger("fvcore").setLevel(logging.WARNING)
    import humanparse_d2  # noqa: F401


def prepare_data(cfg) -> float:
    """Loads (generating on first use) every train and test set of ``cfg``; returns the seconds."""
    from detectron2.data import DatasetCatalog

    step(f"synthetic data under {os.environ['DETECTRON2_DATASETS']} (generated on first use)")
    t0 = time.time()
    for name in list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST):
        print(f"  {name}: {len(DatasetCatalog.get(name))} images", flush=True)
    return time.time() - t0


def infer(model, cfg, args):
    """One inference pass over the first test set (``--max-val-images`` of it).

    Returns (trainer class, dataset name, [(input, Instances)], seconds in the model)."""
    from humanparse_d2.engine import build_trainer_class
    from humanparse_d2.projects.qanet.qam_sweep import collect_outputs

    trainer_cls = build_trainer_class(cfg)
    ds = cfg.DATASETS.TEST[0]
    loader = trainer_cls.build_test_loader(cfg, ds)
    if args.max_val_images:
        import itertools

        loader = list(itertools.islice(iter(loader), args.max_val_images))
    step(
        f"inference on {ds} (boxes: {model.box_source}; {model.box_source_description}), "
        f"flip test, crops {tuple(cfg.INPUT.PARSING.CROP_SIZE)}"
    )
    collected, t_infer = collect_outputs(model, loader)
    n_img = len(collected)
    n_persons = sum(len(i) for _, i in collected)
    print(
        f"  {n_img} images, {n_persons} persons, {t_infer:.1f} s in the model "
        f"({n_img / max(t_infer, 1e-9):.2f} images/s)"
    )
    return trainer_cls, ds, collected, t_infer


def score_weight_rows(model, collected, trainer_cls, cfg, ds, out_dir: Path):
    """Scores the same outputs with every Table 1 weight row; writes metrics.json and
    qam_weight_table.json. Returns {row name: results}."""
    from humanparse_d2.projects.qanet.qam_sweep import (
        TABLE1_WEIGHTS,
        evaluate_weight_sets,
        weights_name,
    )
    from humanparse_d2.projects.qanet.visualize import dump_json

    step("evaluation: box-score-only (1,0,0), QAM (1,0.5,3) and the paper's Table 1 weight rows")
    weight_sets = {weights_name(w): w for w in TABLE1_WEIGHTS}

    def factory():
        return trainer_cls.build_evaluator(cfg, ds, output_folder=str(out_dir / "eval"))

    res = evaluate_weight_sets(model, collected, factory, weight_sets, box_source=model.box_source)
    box_only, qam = res[weights_name((1, 0, 0))], res[weights_name((1, 0.5, 3))]
    dump_json(str(out_dir / "metrics.json"), {"box_only": box_only, "qam": qam})
    dump_json(str(out_dir / "qam_weight_table.json"), res)
    return res


def run_info(args, cfg, model, collected, commit, seconds):
    """What run_info.json records: code, config, sizes, box source and the seconds of each stage."""
    import torch

    return {
        "commit": commit,
        "config": os.path.relpath(args.config_file, REPO),
        "iterations": args.iters,
        "batch_person_crops": args.batch,
        "boxes": model.box_source,
        "box_source": model.box_source_description,
        "tta": "flip" if model.flip_test else "none",
        "test_scales": list(model.test_scales),
        "crop_size_hw": list(cfg.INPUT.PARSING.CROP_SIZE),
        "val_images": len(collected),
        "val_persons": sum(len(i) for _, i in collected),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "threads": torch.get_num_threads(),
    }


def print_summary(args, cfg, info, res, out_dir: Path, n_overlays: int, seconds):
    from humanparse_d2.projects.qanet.qam_sweep import weights_name

    ds, boxes = cfg.DATASETS.TEST[0], info["boxes"]
    box_only, qam = res[weights_name((1, 0, 0))], res[weights_name((1, 0.5, 3))]
    print(
        f"\nQANet R18-FPN on {ds}, boxes: {boxes}, flip test, crops "
        f"{tuple(cfg.INPUT.PARSING.CROP_SIZE)}, {args.iters} iterations x {args.batch} crops, "
        f"commit {info['commit']}"
    )
    scoring_rows = [("box only (1,0,0)", box_only), ("QAM (1,0.5,3)", qam)]
    print(format_table(scoring_rows, title_col="scoring"))
    print(f"\nPaper Table 1 weight rows on the same outputs (boxes: {boxes}):")
    print(format_table(list(res.items())))
    d_apr = qam.get("AP_r_vol", float("nan")) - box_only.get("AP_r_vol", float("nan"))
    print(f"\nQAM vs box-only: AP^r_vol {d_apr:+.2f} points (boxes: {boxes})")
    print(
        f"wrote {out_dir / 'metrics.json'}, {out_dir / 'qam_weight_table.json'}, "
        f"{n_overlays} overlays in {out_dir}"
    )
    print(
        f"total {seconds['total'] / 60:.1f} min (data {seconds['data']:.0f} s, train "
        f"{seconds['train']:.0f} s, inference {seconds['inference']:.0f} s)"
    )


def main(argv=None):
    args = _parse_args(argv)
    t_start = time.time()
    from humanparse_d2.projects.qanet.visualize import dump_json
    from humanparse_d2.utils.provenance import git_commit

    commit = git_commit()  # the code this run imports (read before anything can change the tree)
    _setup_process()
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = build_cfg(args)
    t_data = prepare_data(cfg)
    model, t_train = train(cfg, args)
    model.eval()
    trainer_cls, ds, collected, t_infer = infer(model, cfg, args)
    res = score_weight_rows(model, collected, trainer_cls, cfg, ds, out_dir)
    step("writing overlays")
    n_overlays = write_overlays(model, collected, cfg, out_dir, args.overlays)
    total = time.time() - t_start
    seconds = {"data": t_data, "train": t_train, "inference": t_infer, "total": total}
    info = run_info(args, cfg, model, collected, commit, seconds)
    dump_json(str(out_dir / "run_info.json"), info)
    print_summary(args, cfg, info, res, out_dir, n_overlays, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
