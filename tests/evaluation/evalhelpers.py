"""Small builders shared by the evaluation tests (synthetic CIHP-layout GT and predictions)."""

import os

import numpy as np

from tests.scripts import load_script

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def person_map(shape, parts):
    """Full-image label map from [(class, y0, y1, x0, x1), ...]."""
    m = np.zeros(shape, np.uint8)
    for c, y0, y1, x0, x1 in parts:
        m[y0:y1, x0:x1] = c
    return m


def gt_from_persons(shape, persons, num_classes=20):
    """CIHP GT maps from full-image person label maps (later persons overwrite earlier ones).

    Returns (category, human, instance, {region id: (class, human)}); region ids are opaque
    (20 * (h - 1) + c as in the shipped CIHP files)."""
    cat = np.zeros(shape, np.uint8)
    hum = np.zeros(shape, np.uint8)
    for h, m in enumerate(persons, start=1):
        fg = m > 0
        cat[fg] = m[fg]
        hum[fg] = h
    inst = np.zeros(shape, np.int32)
    table = {}
    for h in range(1, len(persons) + 1):
        for c in np.unique(cat[(hum == h) & (cat > 0) & (cat < num_classes)]):
            rid = 20 * (h - 1) + int(c)
            inst[(hum == h) & (cat == c)] = rid
            table[rid] = (int(c), h)
    return cat, hum, inst, table


def write_gt(root, name, cat, hum, inst, table):
    from humanparse_core.evaluation.submission import write_label_png

    for sub, arr in (("Category_ids", cat), ("Human_ids", hum), ("Instance_ids", inst)):
        write_label_png(os.path.join(root, sub, name + ".png"), arr)
    with open(os.path.join(root, "Instance_ids", name + ".txt"), "w") as f:
        for rid, (c, h) in sorted(table.items()):
            f.write(f"{rid} {c} {h}\n")


def write_pred(
    root,
    name,
    maps,
    scores,
    shape,
    part_scores=None,
    box_scores=None,
    num_classes=20,
    legacy=False,
    nms_thresh=0.6,
):
    """Post-process per-person maps with parsing_postprocess and write the submission files."""
    from humanparse_core.evaluation.submission import write_submission
    from humanparse_core.postprocessing import parsing_postprocess

    maps = np.stack(maps) if len(maps) else np.zeros((0,) + tuple(shape), np.uint8)
    res = parsing_postprocess(
        maps,
        np.asarray(scores, float),
        box_scores,
        part_scores,
        num_classes,
        nms_thresh=nms_thresh,
        image_size=shape,
    )
    write_submission(root, name, res, legacy=legacy)
    return res


def run_cli(argv):
    """Run tools/eval_parsing.py's main() in-process; returns its exit code."""
    return load_script("tools/eval_parsing.py").main(argv)
