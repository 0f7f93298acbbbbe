#!/usr/bin/env python
"""Prove that our network computes what the official code computes, stage by stage.

    python tools/check_official_parity.py --official-src /path/to/QANet \\
        --config-file projects/QANet/configs/CIHP/QANet_R50c_512x384.yaml

Builds the official model from the checkout given (imported from that folder; nothing of it is
part of this project), gives it random weights and random BatchNorm statistics, saves it in the
official format, converts it with tools/convert_official_weights.py's code, runs both on the same
input and prints one line per stage with the largest absolute difference. Exits 1 if any stage is
over its tolerance.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from detectron2.utils.logger import setup_logger
from tabulate import tabulate

import humanparse_d2  # noqa: F401  (registers the parity runners of every project)
from humanparse_d2.checkpoint import OFFICIAL_PARITY_REGISTRY, format_for_config
from humanparse_d2.engine import load_config
from humanparse_d2.utils.provenance import git_commit


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--official-src", required=True, type=Path, help="extracted official checkout")
    ap.add_argument("--config-file", required=True)
    ap.add_argument(
        "--image",
        default=None,
        help="image file for the end-to-end stages (default: scikit-image's astronaut photo)",
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    ap.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logger(name="humanparse_d2")
    if not args.official_src.is_dir():
        print(
            f"check_official_parity: --official-src {args.official_src} is not a folder",
            file=sys.stderr,
        )
        return 2
    cfg = load_config(args.config_file, args.opts, check_names=False)
    cfg.MODEL.DEVICE = args.device
    name = format_for_config(cfg)
    if name not in OFFICIAL_PARITY_REGISTRY:
        known = sorted(n for n, _ in OFFICIAL_PARITY_REGISTRY)
        print(
            f"check_official_parity: no parity runner for {cfg.MODEL.META_ARCHITECTURE} (have {known})",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="parity_") as workdir:
        rows = OFFICIAL_PARITY_REGISTRY.get(name)(
            cfg,
            args.official_src.resolve(),
            device=args.device,
            seed=args.seed,
            workdir=Path(workdir),
            image=args.image,
        )
    table = [
        (r.stage, f"{r.max_abs_diff:.3g}", f"{r.tolerance:.0e}", "ok" if r.ok else "FAIL", r.note)
        for r in rows
    ]
    print(
        tabulate(table, headers=["stage", "max |diff|", "tolerance", "", "note"], tablefmt="github")
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "config_file": args.config_file,
                    "official_src": str(args.official_src),
                    "commit": git_commit(),
                    "seed": args.seed,
                    "device": args.device,
                    "rows": [r.__dict__ | {"ok": r.ok} for r in rows],
                },
                indent=2,
            )
        )
    return 0 if rows and all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
