#!/usr/bin/env python
"""Convert QANet's "140 epochs over persons, steps at 90 and 120" into detectron2 iterations.

    python projects/QANet/tools/schedule.py --config-file projects/QANet/configs/CIHP/QANet_R50c_512x384.yaml

counts the valid persons (not crowd, non-degenerate box) of the config's training sets and prints
the SOLVER.MAX_ITER / SOLVER.STEPS overrides for its SOLVER.IMS_PER_BATCH. The shipped configs carry
person counts estimated from the dataset papers where the data was not at hand (see their headers).
"""

import argparse
import math
import sys


def epoch_schedule(num_persons: int, batch: int, epochs: float = 140, steps=(90, 120)):
    max_iter = math.ceil(epochs * num_persons / batch)
    return max_iter, tuple(int(math.floor(s / epochs * max_iter)) for s in steps)


def count_persons(dataset_names) -> int:
    from detectron2.data import DatasetCatalog

    n = 0
    for name in dataset_names:
        for d in DatasetCatalog.get(name):
            for a in d.get("annotations", []):
                w, h = a["bbox"][2], a["bbox"][3]
                if not a.get("iscrowd", 0) and w > 1 and h > 1:
                    n += 1
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config-file", required=True)
    ap.add_argument("--persons", type=int, default=0, help="skip counting; use this many persons")
    ap.add_argument("--epochs", type=float, default=140)
    ap.add_argument("opts", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    import humanparse_d2  # noqa: F401
    from humanparse_d2 import get_humanparse_cfg

    cfg = get_humanparse_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    n = args.persons or count_persons(cfg.DATASETS.TRAIN)
    max_iter, steps = epoch_schedule(n, cfg.SOLVER.IMS_PER_BATCH, args.epochs)
    print(
        f'{n} persons, batch {cfg.SOLVER.IMS_PER_BATCH}: SOLVER.MAX_ITER {max_iter} SOLVER.STEPS "{steps}"'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
