#!/usr/bin/env python
"""Train or evaluate any humanparse_d2 model (QANet, MMAN, Mask R-CNN + QAM, ROI parsing).

detectron2's standard command line:
    python tools/train_net.py --config-file projects/QANet/configs/CIHP/QANet_R50_512x384.yaml --num-gpus 8
    python tools/train_net.py --config-file CFG --eval-only MODEL.WEIGHTS model_final.pth
    python tools/train_net.py --config-file CFG --eval-only TEST.AUG.ENABLED True   # R-CNN TTA (QAM kept)
    python tools/train_net.py --config-file CFG --resume            # continue from OUTPUT_DIR/last_checkpoint
    python tools/train_net.py --config-file CFG --num-machines 2 --machine-rank 0 --dist-url tcp://host:port
Your own data, without a wrapper script (docs/RELIABILITY.md, humanparse_d2/data/README.md):
    python tools/train_net.py --config-file CFG --register my_data.py:register DATASETS.TRAIN "('mine',)"

Without a GPU, ``--num-gpus N`` starts N CPU processes that talk over gloo. A configuration,
dataset or output-directory error prints one line naming the key or path; the traceback goes to
``OUTPUT_DIR/log.txt`` (or a file in the temp folder when there is no usable OUTPUT_DIR).
"""

import logging
import os
import sys
import tempfile
import traceback

import yaml
from detectron2.engine import default_argument_parser, default_setup
from detectron2.evaluation import verify_results
from detectron2.utils import comm

import humanparse_d2  # noqa: F401  (registers every model, dataset and evaluator)
from humanparse_d2.checkpoint.checkpointer import (
    HumanParseCheckpointer,
    NoLoadableCheckpointError,
    NonFiniteCheckpointError,
    WeightsUnavailableError,
    is_backbone_only_weights,
)
from humanparse_d2.data.catalog.common import BadAnnotationError, DatasetNotFoundError
from humanparse_d2.engine import (
    ConfigError,
    build_trainer_class,
    launch,
    load_config,
    setup_plugin_logger,
)
from humanparse_d2.engine.workers import TooManyBadFilesError

logger = logging.getLogger("humanparse_d2.train_net")

# Errors of the run itself that a person can act on (a path, a key, a file): one line, no traceback.
RUN_ERRORS = (
    ConfigError,
    DatasetNotFoundError,
    BadAnnotationError,
    NoLoadableCheckpointError,
    NonFiniteCheckpointError,
    TooManyBadFilesError,
    WeightsUnavailableError,
)
# While the config is loaded every error is a config error (yacs raises KeyError/ValueError/
# AssertionError for a bad key or value, yaml a YAMLError, open() an OSError for a missing _BASE_).
CONFIG_ERRORS = RUN_ERRORS + (
    KeyError,
    ValueError,
    AssertionError,
    OSError,
    yaml.YAMLError,
    ImportError,
)


class UserError(Exception):
    """An error already explained in one line; ``cli`` exits with status 2."""


def all_opts(args):
    opts = list(args.opts)
    register = getattr(args, "register", None)  # absent when args come from detectron2's parser
    if register:
        opts += ["DATASETS.REGISTER", repr(tuple(register))]
    return opts


def check_output_dir(path: str) -> None:
    """Create OUTPUT_DIR and check that it is writable, naming it when not."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"OUTPUT_DIR={path!r} cannot be created: {e.strerror or e}") from e
    if not os.access(path, os.W_OK):
        raise ConfigError(f"OUTPUT_DIR={path!r} is not writable")


def report(err: BaseException, output_dir=None) -> str:
    """Append the traceback to the log file, print one line naming the problem; returns the log."""
    log = None
    if output_dir and os.path.isdir(output_dir) and os.access(output_dir, os.W_OK):
        log = os.path.join(output_dir, "log.txt")
    else:
        log = os.path.join(tempfile.gettempdir(), f"humanparse_train_net_error_{os.getpid()}.log")
    try:
        with open(log, "a") as f:
            f.write("".join(traceback.format_exception(type(err), err, err.__traceback__)))
    except OSError:
        log = "(not written)"
    msg = " ".join(str(err).split()) or type(err).__name__
    print(f"train_net: error: {msg} [{type(err).__name__}; traceback in {log}]", file=sys.stderr)
    return log


def setup(args):
    cfg = load_config(args.config_file, all_opts(args))
    cfg.freeze()
    default_setup(cfg, args)
    setup_plugin_logger(cfg.OUTPUT_DIR, rank=comm.get_rank())
    return cfg


def main(args):
    cfg = setup(args)
    try:
        return _run(cfg, args)
    except RUN_ERRORS as e:
        if comm.get_world_size() > 1:
            raise
        report(e, cfg.OUTPUT_DIR)
        raise UserError(str(e)) from e


def _run(cfg, args):
    trainer_cls = build_trainer_class(cfg)
    if args.eval_only:
        model = trainer_cls.build_model(cfg)
        HumanParseCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(
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


def argument_parser():
    parser = default_argument_parser()
    parser.add_argument(
        "--register",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="call this function (module name or file.py path) to register your datasets before "
        "the config is checked; repeatable; same as the DATASETS.REGISTER config key",
    )
    return parser


def precheck(args):
    """Load the config once in this process, so its errors are one line here, not a traceback
    in each launched worker; also creates and checks OUTPUT_DIR."""
    if args.config_file and not os.path.isfile(args.config_file):
        raise ConfigError(f"config file not found: {args.config_file}")
    output_dir = None
    try:
        cfg = load_config(args.config_file, all_opts(args))
        output_dir = cfg.OUTPUT_DIR
        check_output_dir(cfg.OUTPUT_DIR)
        w = cfg.MODEL.WEIGHTS
        if w and "://" not in w and not os.path.isfile(os.path.expanduser(w)) and not args.resume:
            raise ConfigError(f"MODEL.WEIGHTS={w!r}: file not found")
        if args.eval_only and not args.resume and is_backbone_only_weights(w):
            # the config's ImageNet start: evaluating it would download a backbone and score random heads
            raise ConfigError(
                f"--eval-only with MODEL.WEIGHTS={w!r}, ImageNet weights of the backbone only; "
                "pass a trained or converted model: MODEL.WEIGHTS model.pth"
            )
    except CONFIG_ERRORS as e:
        report(e, output_dir)
        raise UserError(str(e)) from e


def cli(argv=None):
    args = argument_parser().parse_args(argv)
    print("Command Line Args:", args)
    try:
        precheck(args)
        launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
    except UserError:
        sys.exit(2)


if __name__ == "__main__":
    cli()
