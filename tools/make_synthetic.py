#!/usr/bin/env python
"""Write a synthetic human-parsing split in the official CIHP (multi-person) or LIP (single-person)
layout.

Example:
    python tools/make_synthetic.py --out datasets/synth_humans --layout cihp --split train \\
        --num-images 1000 --seed 0
"""

import argparse
import time


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", required=True, help="dataset root to write (split folders are rebuilt)")
    p.add_argument("--layout", choices=["cihp", "lip"], default="cihp")
    p.add_argument("--split", choices=["train", "val", "test"], default="train")
    p.add_argument("--num-images", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--image-size",
        type=int,
        default=384,
        help="longer image side for cihp; lip crops are about 2/3 of it",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="processes (default: all cores, at most 8)"
    )
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    from humanparse_core.synthetic import generate_dataset

    t0 = time.perf_counter()
    root = generate_dataset(
        args.out,
        args.layout,
        args.split,
        args.num_images,
        args.seed,
        args.image_size,
        num_workers=args.workers,
        progress=not args.no_progress,
    )
    dt = time.perf_counter() - t0
    print(
        f"wrote {args.num_images} {args.layout}/{args.split} images to {root} in {dt:.1f} s "
        f"({args.num_images / dt:.1f} images/s)"
    )


if __name__ == "__main__":
    main()
