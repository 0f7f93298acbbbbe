"""nearest_exact_resize: the label resize of MMAN's evaluation protocol is PIL's NEAREST."""

import numpy as np
from PIL import Image

from humanparse_core.evaluation.semseg import nearest_exact_resize


def test_nearest_exact_matches_pil_nearest():
    rng = np.random.default_rng(0)
    for h, w, oh, ow in ((17, 23, 16, 16), (480, 640, 256, 256), (7, 5, 11, 13)):
        a = rng.integers(0, 20, (h, w)).astype(np.uint8)
        ref = np.asarray(Image.fromarray(a).resize((ow, oh), Image.NEAREST))
        np.testing.assert_array_equal(nearest_exact_resize(a, (oh, ow)), ref)


def test_nearest_exact_matches_pil_nearest_on_random_size_pairs():
    """Also at exact ties ((i + 0.5) * in / out an integer), where a float formula can round down
    (e.g. 56 -> 377 columns, output column 188); int64 labels keep their dtype."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 300, 2))
        oh, ow = (int(v) for v in rng.integers(1, 600, 2))
        a = rng.integers(0, 20, (h, w)).astype(np.uint8)
        ref = np.asarray(Image.fromarray(a).resize((ow, oh), Image.NEAREST))
        np.testing.assert_array_equal(nearest_exact_resize(a, (oh, ow)), ref)
    a = rng.integers(0, 20, (179, 56)).astype(np.uint8)
    ref = np.asarray(Image.fromarray(a).resize((377, 363), Image.NEAREST))
    out = nearest_exact_resize(a.astype(np.int64), (363, 377))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, ref)
