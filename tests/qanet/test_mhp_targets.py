"""MHP-v2 training targets: one person per pixel (Category_ids x (Human_ids == id)), as the
official QANet code; the per-person PNGs (overlaps kept) stay the evaluator's AP^p ground truth."""

import numpy as np
from PIL import Image

from humanparse_d2.data.catalog.mhp import _load_image
from humanparse_d2.data.person_labels import load_person_label


def test_overlap_belongs_to_one_person(tmp_path):
    d = tmp_path
    (d / "images").mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(d / "images" / "7.jpg")
    a = np.zeros((20, 30, 3), np.uint8)
    a[2:15, 2:18, 0] = 3  # person 1
    b = np.zeros((20, 30, 3), np.uint8)
    b[5:18, 10:28, 0] = 7  # person 2, overlapping person 1 at rows 5..14, cols 10..17
    files = []
    for k, m in ((1, a), (2, b)):
        f = d / f"7_02_0{k}.png"
        Image.fromarray(m).save(f)
        files.append(f)
    out = {k: d / k for k in ("Category_ids", "Human_ids", "Instance_ids")}
    for p in out.values():
        p.mkdir()
    rec, issues = _load_image("7", d / "images", files, out)
    p1, p2 = rec["annotations"]
    t1 = load_person_label(rec, p1)
    t2 = load_person_label(rec, p2)
    assert issues == []
    assert int(t1[8, 12]) == 0  # overlap: the later person's pixel, background for person 1
    assert int(t2[8, 12]) == 7
    assert int(t1[3, 3]) == 3
    assert not ((t1 > 0) & (t2 > 0)).any()  # no pixel in two targets
    assert p1["person_file"].endswith("7_02_01.png")  # AP^p GT keeps the own PNG
    # person 1's box is still its own extent (the overlap is part of it)
    assert p1["bbox"][:2] == [2.0, 2.0]
