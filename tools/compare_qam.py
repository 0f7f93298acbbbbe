#!/usr/bin/env python
"""Evaluate one Mask R-CNN checkpoint with QAM rescoring off and on, side by side (COCOEvaluator).

    python tools/compare_qam.py --config-file configs/quick/MaskRCNN_R18_synth.yaml \\
        --weights output/quick/MaskRCNN_R18_synth/model_final.pth
    python tools/compare_qam.py \
        --config-file configs/COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x_qam.yaml
    python tools/compare_qam.py ... --tta                     # both runs under TTA
    python tools/compare_qam.py ... MODEL.MASK_QUALITY.MASK_SCORE_MODE mean   # any config override

Any Mask R-CNN config works: plain ``StandardROIHeads`` / ``CascadeROIHeads`` / ``Res5ROIHeads``
are swapped for their QAM subclasses (same parameters, same outputs when QAM is off). The model is
built and evaluated twice from the same weights, once with ``MODEL.MASK_QUALITY.ENABLED False`` and
once with ``True``; the two mask (and box) AP tables are printed next to each other and written to
``--output-json`` (default ``OUTPUT_DIR/compare_qam.json``).
"""

import argparse
import json
import logging
import os
import sys
import time

import torch
from detectron2.data import MetadataCatalog, build_detection_test_loader
from detectron2.evaluation import inference_on_dataset
from detectron2.modeling import build_model
from detectron2.utils.logger import setup_logger

import humanparse_d2  # noqa: F401  (registers the QAM ROI heads and the datasets)
from humanparse_d2.checkpoint.checkpointer import HumanParseCheckpointer
from humanparse_d2.engine import load_config, setup_plugin_logger
from humanparse_d2.evaluation.coco_eval import (  # numpy-2-safe scoring
    FastCOCOEvaluator,
    FastLVISEvaluator,
)
from humanparse_d2.modeling.rescoring import MaskQualityStats, check_rescoring_config
from humanparse_d2.modeling.test_time_augmentation import build_tta_model
from humanparse_d2.utils.provenance import git_commit

logger = logging.getLogger("humanparse_d2.compare_qam")

QAM_HEADS = {
    "StandardROIHeads": "QAMStandardROIHeads",
    "CascadeROIHeads": "QAMCascadeROIHeads",
    "Res5ROIHeads": "QAMRes5ROIHeads",
}
METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def evaluate(cfg, dataset: str, enabled: bool, tta: bool, out_dir: str):
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.MASK_QUALITY.ENABLED = enabled
    cfg.freeze()
    model = build_model(cfg)
    HumanParseCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    model.eval()
    runner = build_tta_model(cfg, model) if tta else model
    loader = build_detection_test_loader(cfg, dataset)
    if MetadataCatalog.get(dataset).get("evaluator_type") == "lvis":
        evaluator = FastLVISEvaluator(
            dataset, tasks=("bbox", "segm"), distributed=False, output_dir=out_dir
        )
    else:
        evaluator = FastCOCOEvaluator(
            dataset, tasks=("bbox", "segm"), distributed=False, output_dir=out_dir
        )
    stats = MaskQualityStats(distributed=False)
    t0 = time.perf_counter()
    res = inference_on_dataset(runner, loader, [evaluator, stats])
    res.pop("mask_quality", None)  # reported on its own (the report's "mask_quality")
    return res, time.perf_counter() - t0, stats.summary()


def table(off, on) -> str:
    lines = [f"{'task':<6}{'metric':<8}{'QAM off':>10}{'QAM on':>10}{'delta':>9}"]
    for task in ("segm", "bbox"):
        for m in METRICS:
            a, b = off.get(task, {}).get(m, float("nan")), on.get(task, {}).get(m, float("nan"))
            lines.append(f"{task:<6}{m:<8}{a:>10.2f}{b:>10.2f}{b - a:>+9.2f}")
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    ap.add_argument("--config-file", required=True)
    ap.add_argument(
        "--weights", default="", help="checkpoint (default: the config's MODEL.WEIGHTS)"
    )
    ap.add_argument("--dataset", default="", help="dataset name (default: DATASETS.TEST[0])")
    ap.add_argument("--tta", action="store_true", help="evaluate under test-time augmentation")
    ap.add_argument("--output-json", default="")
    ap.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides KEY VALUE ...")
    return ap.parse_args(argv)


def qam_config(args):
    """The config with its ROI heads swapped for their QAM subclasses and QAM enabled (checked)."""
    cfg = load_config(args.config_file, args.opts)
    if args.weights:
        cfg.MODEL.WEIGHTS = args.weights
    if not cfg.MODEL.MASK_ON:
        sys.exit(
            "compare_qam: the config has no mask head (MODEL.MASK_ON False): nothing to rescore"
        )
    cfg.MODEL.ROI_HEADS.NAME = QAM_HEADS.get(cfg.MODEL.ROI_HEADS.NAME, cfg.MODEL.ROI_HEADS.NAME)
    cfg.MODEL.MASK_QUALITY.ENABLED = True
    check_rescoring_config(cfg)
    return cfg


def build_report(args, cfg, dataset, results, seconds, quality) -> dict:
    """The JSON report: settings, both runs' AP tables and their difference (on - off)."""
    return {
        "config": args.config_file,
        "weights": cfg.MODEL.WEIGHTS,
        "dataset": dataset,
        "commit": git_commit(),
        "tta": args.tta,
        "roi_heads": cfg.MODEL.ROI_HEADS.NAME,
        "qam": {
            "weights": list(cfg.MODEL.MASK_QUALITY.WEIGHTS),
            "mask_score_mode": cfg.MODEL.MASK_QUALITY.MASK_SCORE_MODE,
            "ratio_thresholds": list(cfg.MODEL.MASK_QUALITY.RATIO_THRESHOLDS),
        },
        "input": {
            "min_size_test": cfg.INPUT.MIN_SIZE_TEST,
            "max_size_test": cfg.INPUT.MAX_SIZE_TEST,
        },
        "detections_per_image": cfg.TEST.DETECTIONS_PER_IMAGE,
        "eval_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "mask_quality": quality,  # S_p of the rescored detections (QAM on): count, zeros, median, mean
        "off": results["off"],
        "on": results["on"],
        "delta": {
            task: {
                m: results["on"][task][m] - results["off"][task][m] for m in results["off"][task]
            }
            for task in results["off"]
        },
    }


def main(argv=None):
    args = parse_args(argv)
    setup_plugin_logger(rank=0)
    setup_logger(name="detectron2", abbrev_name="d2")
    cfg = qam_config(args)
    dataset = args.dataset or cfg.DATASETS.TEST[0]
    out_dir = os.path.join(cfg.OUTPUT_DIR, "compare_qam")
    os.makedirs(out_dir, exist_ok=True)
    setup_logger(
        out_dir, name="humanparse_d2", abbrev_name="hp", configure_stdout=False
    )  # + log.txt
    torch.manual_seed(0)

    results, seconds, quality = {}, {}, None
    for name, enabled in (("off", False), ("on", True)):
        logger.info("evaluating %s with QAM %s", dataset, name)
        results[name], seconds[name], q = evaluate(
            cfg, dataset, enabled, args.tta, os.path.join(out_dir, name)
        )
        quality = q or quality
    report = build_report(args, cfg, dataset, results, seconds, quality)
    text = table(results["off"], results["on"])
    print(
        f"\nQAM rescoring on {dataset} ({args.config_file}, weights {cfg.MODEL.WEIGHTS}):\n{text}"
    )
    if quality and quality["detections"]:
        print(
            f"mask pixel score S_p ({cfg.MODEL.MASK_QUALITY.MASK_SCORE_MODE}) of the {quality['detections']} "
            f"rescored detections: {quality['zero']} are 0, median {quality['median']:.3f}, mean {quality['mean']:.3f}"
        )
    path = args.output_json or os.path.join(cfg.OUTPUT_DIR, "compare_qam.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"written: {path}")
    return report


if __name__ == "__main__":
    main()
