"""Metadata per dataset: names, class lists, palettes, flip maps/LUTs, label merge."""

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

import humanparse_d2  # noqa: F401
from humanparse_core.metadata import LIP_TO_PPSS_LUT, make_flip_lut, parsing_metadata
from tests.dataset_names import DATASET_NAMES, NUM_PARSING

PAIRS = {
    "cihp": [(14, 15), (16, 17), (18, 19)],
    "lip": [(14, 15), (16, 17), (18, 19)],
    "mhp_v2": [(5, 6), (7, 8), (22, 23), (24, 25), (26, 27), (28, 29), (30, 31), (32, 33)],
    "pascal_person_part": [],
    "ppss": [],
    "synth_humans": [(14, 15), (16, 17), (18, 19)],
    "synth_lip": [(14, 15), (16, 17), (18, 19)],
}


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_registered_with_complete_metadata(name):
    assert name in DatasetCatalog.list()
    fam = name.rsplit("_", 1)[0]
    m = MetadataCatalog.get(name)
    C = NUM_PARSING[fam]
    assert m.thing_classes == ["person"]
    assert m.num_parsing == C and len(m.stuff_classes) == C and len(m.stuff_colors) == C
    assert m.stuff_classes[0] == "Background"
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in m.stuff_colors)
    assert m.ignore_label == 255
    assert [tuple(p) for p in m.flip_map] == PAIRS[fam]
    lut = m.flip_lut
    assert sorted(lut) == list(range(C))
    assert all(lut[lut[c]] == c for c in range(C)), "flip LUT must be an involution"
    for a, b in PAIRS[fam]:
        assert lut[a] == b and lut[b] == a
    assert sum(lut[c] != c for c in range(C)) == 2 * len(PAIRS[fam])
    assert m.evaluator_type in ("parsing", "sem_seg")
    assert m.dataset_root


def test_cihp_and_lip_differ_at_class_10():
    assert MetadataCatalog.get("cihp_train").stuff_classes[10] == "Torso-skin"
    assert MetadataCatalog.get("lip_train").stuff_classes[10] == "Jumpsuits"
    assert MetadataCatalog.get("synth_lip_train").stuff_classes[10] == "Jumpsuits"
    assert MetadataCatalog.get("cihp_train").stuff_colors[7] == (0, 119, 221)


def test_evaluator_types_and_box_source():
    assert MetadataCatalog.get("cihp_val").evaluator_type == "parsing"
    assert MetadataCatalog.get("synth_humans_val").evaluator_type == "parsing"
    assert MetadataCatalog.get("lip_val").evaluator_type == "sem_seg"
    assert MetadataCatalog.get("synth_lip_val").evaluator_type == "sem_seg"
    assert MetadataCatalog.get("lip_val").box_source_default == "gt"


def test_ppss_label_merge():
    for n in ("ppss_train", "ppss_test"):
        m = MetadataCatalog.get(n).label_merge
        assert m["from"] == "lip" and m["lut"] == LIP_TO_PPSS_LUT
    assert len(LIP_TO_PPSS_LUT) == 20 and max(LIP_TO_PPSS_LUT) == 7
    lip = MetadataCatalog.get("lip_train").stuff_classes
    ppss = MetadataCatalog.get("ppss_test").stuff_classes
    assert ppss[LIP_TO_PPSS_LUT[lip.index("Left-arm")]] == "Arms"
    assert ppss[LIP_TO_PPSS_LUT[lip.index("Sunglasses")]] == "Face"


def test_metadata_is_per_dataset_not_global():
    assert (
        MetadataCatalog.get("mhp_v2_train").flip_lut != MetadataCatalog.get("cihp_train").flip_lut
    )
    assert MetadataCatalog.get("pascal_person_part_train").flip_map == []


def test_make_flip_lut_rejects_bad_pairs():
    with pytest.raises(ValueError):
        make_flip_lut(5, [(1, 7)])
    with pytest.raises(ValueError):
        make_flip_lut(5, [(1, 2), (2, 3)])
    assert parsing_metadata(["bg", "a", "b"], flip_map=[(1, 2)])["flip_lut"] == [0, 2, 1]


def test_importing_twice_is_harmless():
    import importlib

    import humanparse_d2.data.catalog.builtin as b

    importlib.reload(b)
    b.register_all()
    assert "cihp_train" in DatasetCatalog.list()


def test_class_palette_keeps_dataset_colours_else_generated():
    import numpy as np

    from humanparse_core.metadata import CIHP_COLORS, class_palette, generated_palette
    from humanparse_d2.projects.qanet.visualize import palette_for

    for name in ("cihp_val", "lip_val", "mhp_v2_val", "ppss_test"):
        m = MetadataCatalog.get(name)
        assert palette_for(m, m.num_parsing).tolist() == [list(c) for c in m.stuff_colors]
    assert palette_for(MetadataCatalog.get("lip_val"), 20).tolist() == [
        list(c) for c in CIHP_COLORS
    ]
    pal = class_palette(None, 7)
    assert pal.dtype == np.uint8 and pal.tolist() == [list(c) for c in generated_palette(7)]
    assert pal[0].tolist() == [0, 0, 0] and len({tuple(c) for c in pal.tolist()}) == 7
    assert class_palette([(1, 2, 3)], 7).tolist() == pal.tolist()  # too few colours: generated
    assert palette_for(None, 7).tolist() == pal.tolist()
