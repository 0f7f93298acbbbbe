#!/usr/bin/env python
"""Paper Table 1 on your model: one QANet inference pass, then every QAM weight row re-scored.

    python tools/qam_weight_table.py --config-file projects/QANet/configs/quick/QANet_R18_synth.yaml \\
        --opts MODEL.WEIGHTS output/demo/train/model_final.pth

Rows (a)-(h): (1,0,0) (0,1,0) (0,0,1) (1,1,0) (1,0,1) (0,1,1) (1,1,1) (1,0.5,3). The box, IoU and
pixel scores do not depend on the weights, so the network runs once. Prints a Markdown table
(mIoU, AP^p_vol, AP^p50, PCP50, AP^r_vol, AP^r50) and writes --output (JSON). The box source of the
config is printed with every table ("boxes: oracle" for ground-truth boxes).
"""

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DETECTRON2_DATASETS", str(REPO / "datasets"))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config-file", required=True)
    ap.add_argument(
        "--dataset", default="", help="evaluation set (default: the config's first DATASETS.TEST)"
    )
    ap.add_argument("--max-images", type=int, default=0)
    ap.add_argument("--output", default="output/qam_weight_table.json")
    ap.add_argument("--opts", nargs=argparse.REMAINDER, default=[])
    args = ap.parse_args(argv)

    import itertools

    from detectron2.utils.logger import setup_logger

    import humanparse_d2  # noqa: F401
    from humanparse_d2.checkpoint.checkpointer import HumanParseCheckpointer  # safe loading
    from humanparse_d2.engine import build_trainer_class, load_config
    from humanparse_d2.projects.qanet.qam_sweep import (
        TABLE1_WEIGHTS,
        collect_outputs,
        evaluate_weight_sets,
        weights_name,
    )

    sys.path.insert(0, str(REPO / "tools"))
    from run_demo import format_table

    setup_logger(name="humanparse_d2", abbrev_name="hp")
    cfg = load_config(args.config_file, list(args.opts))
    cfg.freeze()
    trainer_cls = build_trainer_class(cfg)
    model = trainer_cls.build_model(cfg)
    HumanParseCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    model.eval()
    ds = args.dataset or cfg.DATASETS.TEST[0]
    loader = trainer_cls.build_test_loader(cfg, ds)
    if args.max_images:
        loader = list(itertools.islice(iter(loader), args.max_images))
    collected, secs = collect_outputs(model, loader)
    res = evaluate_weight_sets(
        model,
        collected,
        lambda: trainer_cls.build_evaluator(cfg, ds, output_folder=None),
        {weights_name(w): w for w in TABLE1_WEIGHTS},
        box_source=model.box_source,
    )
    print(
        f"\nQAM weight rows on {ds} ({len(collected)} images), boxes: {model.box_source}, "
        f"TTA: {'flip' if model.flip_test else 'none'}, weights {cfg.MODEL.WEIGHTS}"
    )
    print(format_table(list(res.items())))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
