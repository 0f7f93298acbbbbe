#!/usr/bin/env python
"""Visual check of a registered parsing dataset: parsing overlay (dataset palette) + person boxes.

    python tools/visualize_data.py --dataset synth_humans_train --out vis/ -n 8
    python tools/visualize_data.py --dataset synth_humans_train --out vis/ -n 8 --crops   # + mapper crops

For each of the first ``n`` records (or a seeded random sample with ``--random``) writes
``<image_id>.png``: the image (left) and detectron2's Visualizer overlay of the global parsing map
with class names, person boxes and person ids (right). ``--crops`` also writes
``crops_<image_id>.png``: InstanceParsingMapper training crops (augmented, flip marked) with their
label maps, to check scale/rotation/flip and the left/right swap.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _overlay(img_rgb, label, meta, anns=None, boxes_xyxy=None):
    import numpy as np
    from detectron2.structures import BoxMode
    from detectron2.utils.visualizer import ColorMode, Visualizer

    v = Visualizer(img_rgb, metadata=meta, scale=1.0, instance_mode=ColorMode.IMAGE)
    if label is not None:
        lab = label.copy()
        lab[lab >= len(meta.stuff_classes)] = 255
        lab[lab == 0] = 255  # background is not drawn (no colour, no "Background" text)
        v.draw_sem_seg(lab, area_threshold=None, alpha=0.55)
    palette = [(1.0, 1.0, 1.0), (1.0, 0.9, 0.0), (0.0, 1.0, 0.2), (1.0, 0.3, 1.0), (0.2, 0.8, 1.0)]
    if anns:
        for i, a in enumerate(anns):
            box = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
            col = palette[i % len(palette)]
            v.draw_box(box, edge_color=col, line_style="-")
            v.draw_text(
                f"person {a.get('parsing_id')}",
                (box[0] + 2, box[1] + 2),
                color=col,
                horizontal_alignment="left",
                font_size=max(8, v._default_font_size * 0.8),
            )
    if boxes_xyxy is not None:
        for b in boxes_xyxy:
            v.draw_box(b, edge_color=(1.0, 1.0, 1.0))
    return np.asarray(v.get_output().get_image())


def _crops(records, meta, mapper, k=6):
    import numpy as np
    from detectron2.utils.visualizer import Visualizer

    tiles = []
    for r in records[:k]:
        out = mapper(r)
        img = np.ascontiguousarray(out["image"].numpy().transpose(1, 2, 0))  # uint8 RGB
        lab = out["parsing"].numpy().astype(np.uint8)
        lab[lab == 0] = 255
        v = Visualizer(img, metadata=meta)
        v.draw_sem_seg(lab, area_threshold=None, alpha=0.55)
        v.draw_text(
            "FLIPPED" if out["flipped"] else "orig",
            (8, 8),
            color=(1, 1, 0),
            horizontal_alignment="left",
        )
        tiles.append(np.asarray(v.get_output().get_image()))
    if not tiles:
        return None
    return np.concatenate(tiles, axis=1)


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--dataset", required=True, help="registered dataset name, e.g. synth_humans_train"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("-n", type=int, default=8, help="number of images")
    p.add_argument("--random", action="store_true", help="random sample instead of the first n")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crops", action="store_true", help="also write InstanceParsingMapper crops")
    args = p.parse_args(argv)

    import cv2
    import numpy as np
    from detectron2.data import DatasetCatalog, MetadataCatalog

    import humanparse_d2  # noqa: F401  (registers the datasets)
    from humanparse_d2.data import InstanceParsingMapper, flatten_persons, read_image, read_label
    from humanparse_d2.engine import setup_plugin_logger

    setup_plugin_logger(args.out, rank=0)  # the loaders' skip counts reach the user (and log.txt)
    meta = MetadataCatalog.get(args.dataset)
    dicts = DatasetCatalog.get(args.dataset)
    idx = list(range(len(dicts)))
    if args.random:
        idx = list(np.random.default_rng(args.seed).permutation(len(dicts)))
    os.makedirs(args.out, exist_ok=True)
    mapper = (
        InstanceParsingMapper(is_train=True, flip_lut=meta.flip_lut, seed=args.seed)
        if args.crops
        else None
    )
    written = []
    for i in idx[: args.n]:
        d = dicts[i]
        img = read_image(d["file_name"], "RGB")
        lab_file = d.get("sem_seg_file_name") or d.get("category_file")
        lab = read_label(lab_file) if lab_file else None
        vis = _overlay(img, lab, meta, d.get("annotations"))
        panel = np.concatenate([img, vis[:, :, :3]], axis=1)
        name = str(d["image_id"]).replace("/", "_")
        path = os.path.join(args.out, f"{name}.png")
        cv2.imwrite(path, panel[:, :, ::-1])
        written.append(path)
        if mapper is not None and d.get("annotations"):
            tiles = _crops(flatten_persons([d], log=False), meta, mapper)
            if tiles is not None:
                cpath = os.path.join(args.out, f"crops_{name}.png")
                cv2.imwrite(cpath, tiles[:, :, ::-1])
                written.append(cpath)
    print(
        f"wrote {len(written)} files to {args.out} ({args.dataset}: {len(dicts)} images, "
        f"{meta.num_parsing} classes, flip_map {meta.flip_map})"
    )


if __name__ == "__main__":
    main()
