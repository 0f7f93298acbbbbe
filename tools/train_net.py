#!/usr/bin/env python
"""Train or evaluate any humanparse_d2 model (QANet, MMAN, Mask R-CNN + QAM, ROI parsing).

detectron2's standard command line:
    python tools/train_net.py --config-file projects/QANet/configs/CIHP/QANet_R50c_512x384.yaml --num-gpus 8
    python tools/train_net.py --config-file CFG --eval-only MODEL.WEIGHTS model_final.pth
    python tools/train_net.py --config-file CFG --eval-only TEST.AUG.ENABLED True   # R-CNN TTA (QAM kept)
    python tools/train_net.py --config-file CFG --resume            # continue from OUTPUT_DIR/last_checkpoint
    python tools/train_net.py --config-file CFG --num-machines 2 --machine-rank 0 --dist-url tcp://host:port

Without a GPU, ``--num-gpus N`` starts N CPU processes that talk over gloo.
"""
import logging
import os
import sys

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import verify_results
from detectron2.utils import comm

import humanparse_d2  # noqa: F401  (registers every model, dataset and evaluator)
from humanparse_d2.engine import build_trainer_class, load_config

logger = logging.getLogger("humanparse_d2.train_net")


def setup(args):
    cfg = load_config(args.config_file, args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    return cfg


def main(args):
    cfg = setup(args)
    trainer_cls = build_trainer_class(cfg)
    if args.eval_only:
        model = trainer_cls.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        res = trainer_cls.test(cfg, model)
        if cfg.TEST.AUG.ENABLED and cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN":
            res.update(trainer_cls.test_with_TTA(cfg, model))
        if comm.is_main_process():
            verify_results(cfg, res)
        return res
    trainer = trainer_cls(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def cli(argv=None):
    args = default_argument_parser().parse_args(argv)
    if args.config_file and not os.path.isfile(args.config_file):
        sys.exit(f"train_net: config file not found: {args.config_file}")
    print("Command Line Args:", args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )


if __name__ == "__main__":
    cli()
