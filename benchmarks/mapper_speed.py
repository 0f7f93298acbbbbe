#!/usr/bin/env python
"""InstanceParsingMapper throughput: augmented 512x384 person crops per second on ONE core.

Everything a training worker does per person is timed: JPEG decode, two label PNG decodes, box
jitter, cv2.warpAffine of the needed image window, label warp, flip swap, the uint8 CHW image (the
model normalises it). Data: a synthetic CIHP-layout set (generated into a temporary folder unless
--dataset names a registered one).
Target (issue #3): >= 200 crops/s/core.

    python benchmarks/mapper_speed.py [--n 600] [--image-size 512] [--dataset NAME]
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=600, help="crops to time")
    p.add_argument("--images", type=int, default=60, help="synthetic images to generate")
    p.add_argument(
        "--image-size", type=int, default=512, help="longer side of the synthetic images"
    )
    p.add_argument(
        "--dataset", default=None, help="a registered dataset instead of a fresh synthetic set"
    )
    p.add_argument("--target", type=float, default=200.0)
    return p.parse_args(argv)


def _persons(args, tmp: str) -> list[dict]:
    """The person records to map: of ``--dataset``, or of a synthetic CIHP set written to ``tmp``."""
    from detectron2.data import DatasetCatalog

    from humanparse_d2.data import flatten_persons, generate_dataset, load_cihp_layout

    if args.dataset:
        dicts = DatasetCatalog.get(args.dataset)
    else:
        generate_dataset(
            tmp, "cihp", "val", args.images, seed=7, image_size=args.image_size, progress=False
        )
        dicts = load_cihp_layout(
            os.path.join(tmp, "Validation"),
            os.path.join(tmp, "Validation", "val_id.txt"),
            dataset_name="bench",
        )
    return flatten_persons(dicts)


def _time_mapper(mapper, persons: list[dict], n: int):
    """Maps ``n`` crops (cycling over ``persons``) after a warm-up; returns (wall s, CPU s, seconds
    per crop of each 25-crop window, the last output)."""
    for r in persons[:20]:  # warm-up (file cache, lazy imports)
        mapper(r)
    # timed in windows of 25 crops: the total gives the mean rate, the fastest window the rate of an
    # uncontended core (timeit's "min of repeats"; shared CI machines are often oversubscribed)
    windows = []
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    i = 0
    while i < n:
        k = min(25, n - i)
        tw = time.perf_counter()
        for _ in range(k):
            out = mapper(persons[i % len(persons)])
            i += 1
        windows.append((time.perf_counter() - tw) / k)
    return time.perf_counter() - t0, time.process_time() - cpu0, windows, out


def main(argv=None):
    args = parse_args(argv)
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    from humanparse_core.metadata import CIHP_FLIP_MAP, make_flip_lut
    from humanparse_d2.data import InstanceParsingMapper

    with tempfile.TemporaryDirectory() as tmp:
        persons = _persons(args, tmp)
        mapper = InstanceParsingMapper(
            is_train=True, crop_size=(512, 384), flip_lut=make_flip_lut(20, CIHP_FLIP_MAP), seed=0
        )
        wall, cpu, windows, out = _time_mapper(mapper, persons, args.n)
    assert out["image"].shape == (3, 512, 384)
    rate = args.n / wall
    rate_cpu = args.n / max(cpu, 1e-9)
    best = 1.0 / min(windows)
    src = args.dataset or f"synthetic CIHP layout, {args.image_size}px"
    print(
        f"InstanceParsingMapper, 1 thread, 512x384 crops, {args.n} crops of {len(persons)} persons ({src}):"
    )
    print(
        f"  {rate_cpu:.0f} crops/s per CPU-second | {rate:.0f} crops/s wall | {best:.0f} crops/s best 25-crop window"
    )
    print(
        f"target >= {args.target:.0f} crops/s/core (CPU-second rate): "
        f"{'OK' if rate_cpu >= args.target else 'BELOW TARGET (is the machine oversubscribed? see the best window)'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
