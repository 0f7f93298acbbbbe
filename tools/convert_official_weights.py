#!/usr/bin/env python
"""Turn a checkpoint released with a paper's official code into a detectron2 checkpoint.

    python tools/convert_official_weights.py --format qanet \\
        --config-file projects/QANet/configs/CIHP/QANet_R50c_512x384.yaml IN.pth OUT.pth
    python tools/train_net.py --eval-only --config-file CFG MODEL.WEIGHTS OUT.pth

The result has exactly the keys and shapes of the model that the config builds; otherwise nothing
is written and the tool exits non-zero, naming the first mismatching keys and shapes.
"""

import argparse
import logging
import sys

from detectron2.utils.logger import setup_logger

import humanparse_d2  # noqa: F401  (registers the converters of every project)
from humanparse_d2.checkpoint import (
    OFFICIAL_FORMAT_REGISTRY,
    CheckpointMismatchError,
    convert_official_checkpoint,
    format_for_config,
    save_converted_checkpoint,
)
from humanparse_d2.engine import load_config
from humanparse_d2.utils.provenance import git_commit


def parse_args(argv=None):
    formats = sorted(name for name, _ in OFFICIAL_FORMAT_REGISTRY)
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--format",
        choices=formats,
        help="official code base the file comes from (default: the config's meta-architecture)",
    )
    ap.add_argument("--config-file", required=True, help="config of the model to convert into")
    ap.add_argument("input", help="official checkpoint (.pth)")
    ap.add_argument("output", help="detectron2 checkpoint to write (.pth)")
    ap.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logger(name="humanparse_d2")
    log = logging.getLogger("humanparse_d2.convert")
    # Conversion never needs ImageNet weights: the official file provides every tensor.
    cfg = load_config(args.config_file, args.opts, check_names=False)
    cfg.MODEL.DEVICE = "cpu"
    fmt = args.format or format_for_config(cfg)
    try:
        state = convert_official_checkpoint(fmt, args.input, cfg)
    except (CheckpointMismatchError, ValueError, FileNotFoundError) as e:
        print(f"convert_official_weights: {e}", file=sys.stderr)
        return 1
    save_converted_checkpoint(
        state,
        args.output,
        source=str(args.input),
        format=fmt,
        config_file=args.config_file,
        converter_commit=git_commit(),
    )
    log.info(
        "converted %s (%s) -> %s: %d tensors, strict match with %s",
        args.input,
        fmt,
        args.output,
        len(state),
        args.config_file,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
