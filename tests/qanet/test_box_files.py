"""MODEL.QANET.BOX_SOURCE file with the box files users have (integer COCO ids, string ids)."""

import json

import pytest

from humanparse_d2.config import get_humanparse_cfg
from humanparse_d2.projects.qanet.box_file import FileBoxes
from humanparse_d2.projects.qanet.boxes import OracleBoxes, WholeImageBoxes, build_box_source


def _write(d, name, obj):
    p = d / name
    p.write_text(json.dumps(obj))
    return str(p)


def _det(image_id, x=10, score=0.9, cat=1):
    return {"image_id": image_id, "category_id": cat, "bbox": [x, 5, 20, 40], "score": score}


def _inp(stem, image_id=None):
    return {
        "file_name": f"/data/CIHP/Validation/Images/{stem}.jpg",
        "image_id": stem if image_id is None else image_id,
    }


def test_integer_ids_match_numeric_stems(tmp_path):
    """The official FCOS CIHP file uses the integer ids of the COCO-style json; cihp_val's ids are stems."""
    src = FileBoxes(
        _write(tmp_path, "fcos.json", [_det(1), _det(1, x=50, score=0.4), _det(2), _det(2, cat=3)])
    )
    (b1, s1), (b2, s2), (b3, s3) = src([_inp("0000001"), _inp("0000002"), _inp("0000003")])
    assert b1.tolist() == [[10, 5, 30, 45], [50, 5, 70, 45]]
    assert [round(v, 6) for v in s1.tolist()] == [0.9, 0.4]
    assert len(b2) == 1  # category 3 is not a person
    assert len(b3) == 0
    assert src.images_without_boxes == 1


def test_images_json_maps_ids_to_files(tmp_path):
    boxes = _write(tmp_path, "boxes.json", [_det(7), _det(8)])
    images = _write(
        tmp_path,
        "val.json",
        {
            "images": [
                {"id": 7, "file_name": "girl_a.jpg"},
                {"id": 8, "file_name": "sub/boy_b.png"},
            ]
        },
    )
    mapped = FileBoxes(boxes, images_json=images)
    got = mapped([_inp("girl_a"), _inp("boy_b"), _inp("other")])
    assert [len(b) for b, _ in got] == [1, 1, 0]
    # without the images json the names cannot be matched to the integer ids
    assert [len(b) for b, _ in FileBoxes(boxes)([_inp("girl_a")])] == [0]
    # a dataset registered from that json keeps its integer ids: direct match
    assert len(FileBoxes(boxes)([_inp("girl_a", image_id=7)])[0][0]) == 1
    with pytest.raises(ValueError, match="BOX_FILE_IMAGES.*no 'images'"):
        FileBoxes(boxes, images_json=_write(tmp_path, "bad.json", {"annotations": []}))


def test_string_ids(tmp_path):
    src = FileBoxes(_write(tmp_path, "b.json", [_det("photo_3")]))
    assert len(src([_inp("photo_3")])[0][0]) == 1


def test_ids_that_match_no_image_are_an_error(tmp_path):
    src = FileBoxes(_write(tmp_path, "b.json", [_det(100000 + k) for k in range(30)]))
    inputs = [_inp(f"img_{k}") for k in range(FileBoxes.CHECK_AFTER)]
    with pytest.raises(
        ValueError, match="none of the first 20 images.*100000.*img_0.*BOX_FILE_IMAGES"
    ):
        src(inputs)


def test_no_person_box_at_all(tmp_path):
    with pytest.raises(ValueError, match="no person box.*BOX_FILE_PERSON_IDS \\[1\\].*\\[2\\]"):
        FileBoxes(_write(tmp_path, "b.json", [_det(1, cat=2)]))


def test_config_value_selects_the_registered_source(tmp_path):
    cfg = get_humanparse_cfg()
    for name, cls in (("oracle", OracleBoxes), ("whole_image", WholeImageBoxes)):
        cfg.MODEL.QANET.BOX_SOURCE = name
        assert isinstance(build_box_source(cfg), cls)
    cfg.MODEL.QANET.BOX_SOURCE = "file"
    cfg.MODEL.QANET.BOX_FILE = _write(tmp_path, "b.json", [_det(1)])
    src = build_box_source(cfg)
    assert isinstance(src, FileBoxes)
    assert src.name == "file"
    cfg.MODEL.QANET.BOX_SOURCE = "gt_fallback"
    names = r"\('detector', 'file', 'oracle', 'whole_image'\)"
    with pytest.raises(ValueError, match=f"BOX_SOURCE must be one of {names}, got 'gt_fallback'"):
        build_box_source(cfg)
