#!/usr/bin/env python
"""Demo overlay speed: the project's drawing (``qanet.visualize.overlay`` + ``draw_boxes``) vs
detectron2's ``Visualizer.draw_sem_seg`` + ``draw_box``, ms per frame on scikit-image's astronaut
(512x512) with 19 part regions and one box. Why the demo keeps its own drawing.

    python benchmarks/overlay_speed.py [--repeats 5]
"""

import argparse
import os
import time

import cv2
import numpy as np


def _ms_per_call(fn, repeats: int) -> float:
    fn()  # warm-up (matplotlib's first canvas, OpenCV's dispatch)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats * 1e3


def overlay_vs_visualizer(repeats: int) -> tuple[float, float]:
    import skimage
    from detectron2.data import MetadataCatalog
    from detectron2.utils.visualizer import ColorMode, Visualizer

    import humanparse_d2  # noqa: F401  (registers cihp_train and its colours)
    from humanparse_d2.projects.qanet.visualize import draw_boxes, overlay, palette_for

    img = cv2.imread(os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png"))
    img = np.ascontiguousarray(img[:, :, ::-1])
    h, w = img.shape[:2]
    label = np.zeros((h, w), np.uint8)
    rng = np.random.default_rng(0)
    for k in range(1, 20):
        y, x = rng.integers(0, h - 80), rng.integers(0, w - 80)
        label[y : y + 60, x : x + 60] = k
    meta = MetadataCatalog.get("cihp_train")
    palette = palette_for(meta, 20)
    box = (50.0, 20.0, 400.0, 500.0)

    def ours():
        return draw_boxes(overlay(img, label, palette), np.array([box]), [0.9])

    def detectron2_visualizer():
        v = Visualizer(img, metadata=meta, instance_mode=ColorMode.IMAGE)
        v.draw_sem_seg(label, alpha=0.55)
        v.draw_box(box)
        return v.get_output().get_image()

    return _ms_per_call(ours, repeats), _ms_per_call(detectron2_visualizer, repeats)


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--repeats", type=int, default=5, help="timed calls per drawing method")
    args = p.parse_args(argv)
    ours, d2 = overlay_vs_visualizer(args.repeats)
    print(
        f"overlay + boxes: ours {ours:.1f} ms, detectron2 Visualizer {d2:.1f} ms per 512x512 frame"
    )


if __name__ == "__main__":
    main()
