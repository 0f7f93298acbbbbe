"""Each loader on a tiny fixture written in the dataset's exact raw layout, plus bad inputs."""

import json
import logging
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util
import pytest
from detectron2.data import DatasetCatalog
from detectron2.structures import BoxMode

import humanparse_d2  # noqa: F401
from humanparse_d2.data import (
    BadAnnotationError,
    DatasetNotFoundError,
    export_parsing_json,
    load_cihp_layout,
    load_lip,
    load_mhp_v2,
    load_parsing_json,
    load_ppp_semantic,
    load_ppss,
    read_label,
    register_parsing_dataset,
)
from humanparse_d2.data.catalog.ppp import load_ppp_prepared

from .hpdata_helpers import two_person_maps, write_jpg, write_png  # noqa: E402


# ------------------------------------------------------------------ CIHP
def test_cihp_layout(make_cihp):
    d, stems = make_cihp(3)
    dicts = load_cihp_layout(d, d / "train_id.txt", dataset_name="t")
    assert [r["image_id"] for r in dicts] == stems
    r = dicts[0]
    assert (r["height"], r["width"]) == (40, 32)
    assert r["sem_seg_file_name"] == r["category_file"] and r["category_file"].endswith(
        "Category_ids/0000000.png"
    )
    assert r["human_file"].endswith("Human_ids/0000000.png") and r["instance_txt"].endswith(".txt")
    anns = sorted(r["annotations"], key=lambda a: a["parsing_id"])
    assert [a["parsing_id"] for a in anns] == [1, 2]
    assert anns[0]["bbox"] == [2.0, 5.0, 12.0, 25.0] and anns[0]["bbox_mode"] == BoxMode.XYWH_ABS
    assert anns[1]["bbox"] == [16.0, 10.0, 14.0, 28.0]
    m = mask_util.decode(anns[1]["segmentation"])
    assert m.shape == (40, 32) and m.sum() == 14 * 28 and anns[1]["category_id"] == 0


def test_cihp_instance_txt_optional(make_cihp):
    d, stems = make_cihp(2)
    for p in (d / "Instance_ids").glob("*.txt"):
        p.unlink()
    r = load_cihp_layout(d, d / "train_id.txt", dataset_name="t")[0]
    assert r["instance_txt"] is None and len(r["annotations"]) == 2


def test_cihp_bad_inputs_are_counted_and_logged(make_cihp, caplog):
    d, stems = make_cihp(5)
    (d / "Images" / f"{stems[0]}.jpg").unlink()  # missing image
    cat, _ = two_person_maps()
    bad = cat.copy()
    bad[0, 0] = 42  # out of the 20 classes, not 255
    write_png(d / "Category_ids" / f"{stems[1]}.png", bad)
    (d / "Human_ids" / f"{stems[2]}.png").write_bytes(b"not a png")  # unreadable
    with open(d / "Instance_ids" / f"{stems[3]}.txt", "a") as f:
        f.write("99 5 7\n")  # person 7 listed but absent from Human_ids
    ign = cat.copy()
    ign[0, 0] = 255  # ignore value is fine
    write_png(d / "Category_ids" / f"{stems[4]}.png", ign)
    with caplog.at_level(logging.WARNING):
        dicts = load_cihp_layout(d, d / "train_id.txt", dataset_name="badset")
    assert [r["image_id"] for r in dicts] == [stems[3], stems[4]]
    text = caplog.text
    assert "missing image" in text and "outside the 20 classes" in text and "[42]" in text
    assert "unreadable" in text and "absent from Human_ids" in text and "ids [7]" in text


def test_colour_label_png_is_an_error(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    write_png(tmp_path / "x.png", rgb)
    with pytest.raises(BadAnnotationError, match="single-channel"):
        read_label(tmp_path / "x.png")


def test_palette_png_reads_indices(tmp_path):
    from PIL import Image

    a = (np.arange(64).reshape(8, 8) % 20).astype(np.uint8)
    im = Image.fromarray(a, mode="L").convert("P")
    im.putpalette([v for c in range(256) for v in (c * 3 % 256, c * 7 % 256, c * 11 % 256)])
    im.save(tmp_path / "p.png")
    assert np.array_equal(read_label(tmp_path / "p.png"), a)


def test_missing_registered_dataset_names_path_and_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    for name, token in (
        ("cihp_train", "CIHP"),
        ("mhp_v2_val", "LV-MHP-v2"),
        ("lip_val", "LIP"),
        ("ppss_test", "PPSS"),
        ("pascal_person_part_train", "pascal_person_part"),
    ):
        with pytest.raises(DatasetNotFoundError) as e:
            DatasetCatalog.get(name)
        msg = str(e.value)
        assert token in msg and str(tmp_path) in msg and "layout" in msg.lower(), msg


# ------------------------------------------------------------------ MHP-v2
def _write_mhp(root: Path, split="train", ann_dir="parsing_annos"):
    h, w = 30, 26
    stems = ["100", "101"]
    for i, s in enumerate(stems):
        write_jpg(root / split / "images" / f"{s}.jpg", h, w, seed=i)
        for k in (1, 2):
            lab = np.zeros((h, w, 3), np.uint8)
            if k == 1:
                lab[2:20, 1:10, 0] = 12  # T-shirt, in the R channel
                lab[2:6, 1:4, 0] = 5  # left arm
                lab[2:20, 1:10, 1] = 200  # G/B channels are noise for the loader
            else:
                lab[8:28, 6:20, 0] = 17  # pants; overlaps person 1 (later person wins in the merge)
            write_png(root / split / ann_dir / f"{s}_02_{k:02d}.png", lab)
    (root / "list").mkdir(parents=True, exist_ok=True)
    (root / "list" / f"{split}.txt").write_text("\n".join(stems) + "\n")
    return stems


@pytest.mark.parametrize("ann_dir", ["parsing_annos", "annotations"])
def test_mhp_v2_per_person_pngs(tmp_path, ann_dir):
    root = tmp_path / "LV-MHP-v2"
    stems = _write_mhp(root, ann_dir=ann_dir)
    dicts = load_mhp_v2(root, "train", dataset_name="mhp_t")
    assert [r["image_id"] for r in dicts] == stems
    r = dicts[0]
    a1, a2 = r["annotations"]
    assert a1["person_file"].endswith("100_02_01.png") and a1["parsing_id"] == 1
    assert a1["bbox"] == [1.0, 2.0, 9.0, 18.0] and a2["bbox"] == [6.0, 8.0, 14.0, 20.0]
    assert mask_util.decode(a1["segmentation"]).sum() == 18 * 9  # overlap kept (MHP semantics)
    cat, hum = read_label(r["category_file"]), read_label(r["human_file"])
    assert cat[3, 2] == 5 and cat[10, 8] == 17 and hum[10, 8] == 2 and hum[3, 2] == 1
    assert set(np.unique(cat)) <= {0, 5, 12, 17}
    inst = read_label(r["instance_file"])
    assert inst.dtype == np.uint16
    rows = [
        tuple(map(int, line.split()))
        for line in Path(r["instance_txt"]).read_text().split("\n")
        if line
    ]
    assert {(c, hh) for _, c, hh in rows} == {(5, 1), (12, 1), (17, 2)}
    for rid, c, hh in rows:
        assert ((inst == rid) == ((cat == c) & (hum == hh))).all()
    again = load_mhp_v2(root, "train", dataset_name="mhp_t")  # converted maps reused
    assert again[0]["category_file"] == r["category_file"]


def test_mhp_v2_empty_person_skipped(tmp_path, caplog):
    root = tmp_path / "LV-MHP-v2"
    _write_mhp(root)
    write_png(root / "train" / "parsing_annos" / "101_02_02.png", np.zeros((30, 26, 3), np.uint8))
    with caplog.at_level(logging.WARNING):
        dicts = load_mhp_v2(root, "train", dataset_name="mhp_t")
    assert len(dicts[1]["annotations"]) == 1 and "empty person" in caplog.text


# ------------------------------------------------------------------ LIP
@pytest.mark.parametrize("extra_level", [False, True])
def test_lip_layout(tmp_path, extra_level):
    root = tmp_path / "LIP"
    img_top = root / "TrainVal_images" / ("TrainVal_images" if extra_level else "")
    lab_top = (
        root
        / "TrainVal_parsing_annotations"
        / ("TrainVal_parsing_annotations" if extra_level else "")
    )
    stems = ["77_471474", "100034_483681"]
    for i, s in enumerate(stems):
        write_jpg(
            img_top / "val_images" / f"{s}.jpg", 20, 12, seed=i, gray=i == 0
        )  # LIP has gray JPEGs
        lab = np.zeros((20, 12), np.uint8)
        lab[3:18, 2:9] = 10 + i
        write_png(lab_top / "val_segmentations" / f"{s}.png", lab)
    (img_top / "val_id.txt").write_text("\n".join(stems) + "\n")
    dicts = load_lip(root, "val", dataset_name="lip_t")
    assert [r["image_id"] for r in dicts] == stems
    r = dicts[0]
    assert r["sem_seg_file_name"].endswith("val_segmentations/77_471474.png")
    assert (r["height"], r["width"]) == (20, 12)
    assert r["annotations"][0]["bbox"] == [2.0, 3.0, 7.0, 15.0]


# ------------------------------------------------------------------ PASCAL-Person-Part
def test_pascal_person_part_semantic_release(tmp_path):
    root = tmp_path / "pascal_person_part"
    ids = ["2008_000003", "2008_000008"]
    for i, s in enumerate(ids):
        write_jpg(root / "JPEGImages" / f"{s}.jpg", 16, 20, seed=i)
        lab = np.zeros((16, 20), np.uint8)
        lab[2:8, 3:9] = 1
        lab[8:14, 3:9] = 6
        write_png(root / "pascal_person_part_gt" / f"{s}.png", lab)
    lists = root / "pascal_person_part_trainval_list"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text(
        "".join(f"/JPEGImages/{s}.jpg /SegmentationPart/{s}.png\n" for s in ids[:1])
    )
    (lists / "val.txt").write_text(
        "".join(f"/JPEGImages/{s}.jpg /SegmentationPart/{s}.png\n" for s in ids[1:])
    )
    tr = load_ppp_semantic(root, "train", dataset_name="ppp_t")
    te = load_ppp_semantic(root, "test", dataset_name="ppp_t")
    assert [r["image_id"] for r in tr] == ids[:1] and [r["image_id"] for r in te] == ids[1:]
    assert "annotations" not in tr[0]  # no instance information in the 7-class release


def test_pascal_person_part_prepared_layout(tmp_path, make_cihp):
    base = tmp_path / "PASCAL-Person-Part"
    make_cihp(2, split="Testing", ids_name="test_id.txt", root=base)
    # class ids of the fixture (up to 14) exceed PPP's 7 classes: every image is rejected
    with pytest.raises(BadAnnotationError, match="no usable image"):
        load_ppp_prepared(base, "test", dataset_name="ppp_prep")
    for p in (base / "Testing" / "Category_ids").glob("*.png"):
        lab = read_label(p)
        write_png(p, np.minimum(lab, 6))
    for p in (base / "Testing" / "Instance_ids").glob("*.txt"):
        p.write_text(
            "\n".join(
                f"{a} {min(int(b), 6)} {c}"
                for a, b, c in (line.split() for line in p.read_text().split("\n") if line)
            )
            + "\n"
        )
    dicts = load_ppp_prepared(base, "test", dataset_name="ppp_prep")
    assert len(dicts) == 2 and len(dicts[0]["annotations"]) == 2


# ------------------------------------------------------------------ PPSS
def test_ppss_gray_masks_and_video_split(tmp_path, monkeypatch):
    import humanparse_d2.data.catalog.ppss as ppss

    monkeypatch.setattr(ppss, "NUM_TRAIN_VIDEOS", 2)
    root = tmp_path / "PPSS"
    gray = np.array([0, 9, 19, 29, 39, 50, 60, 62], np.uint8)
    for v in ("1", "2", "10"):  # natural order: 1, 2, 10 -> train 1, 2; test 10
        for k in range(2):
            write_jpg(root / v / f"{k:03d}.jpg", 16, 8, seed=k)
            m = gray[(np.arange(16 * 8).reshape(16, 8) + k) % 8]
            write_png(root / v / f"{k:03d}_m.png", m)
    tr = load_ppss(root, "train", dataset_name="ppss_t")
    te = load_ppss(root, "test", dataset_name="ppss_t")
    assert [r["image_id"] for r in tr] == ["1/000", "1/001", "2/000", "2/001"]
    assert [r["image_id"] for r in te] == ["10/000", "10/001"]
    lab = read_label(te[0]["sem_seg_file_name"])
    assert np.array_equal(lab, (np.arange(16 * 8).reshape(16, 8) % 8).astype(np.uint8))
    # a gray value outside the list is rejected (counted skip)
    bad = gray[np.zeros((16, 8), int)]
    bad[0, 0] = 33
    write_png(root / "10" / "001_m.png", bad)
    monkeypatch.setenv("HUMANPARSE_CACHE", "off")
    te = load_ppss(root, "test", dataset_name="ppss_t2")
    assert [r["image_id"] for r in te] == ["10/000"]
    with pytest.raises(BadAnnotationError, match="outside"):
        ppss.ppss_gray_to_label(root / "10" / "001_m.png")


# ------------------------------------------------------------------ QANet COCO-style JSON
def test_coco_json_roundtrip_and_bad_annotations(make_cihp, tmp_path, caplog):
    d, stems = make_cihp(2)
    dicts = load_cihp_layout(d, d / "train_id.txt", dataset_name="t")
    data = export_parsing_json(
        dicts, tmp_path / "annotations" / "CIHP_train.json", images_root=d / "Images"
    )
    assert data["categories"] == [{"id": 1, "name": "person"}] and len(data["annotations"]) == 4
    loaded = load_parsing_json(
        tmp_path / "annotations" / "CIHP_train.json", d, num_classes=20, dataset_name="j"
    )
    assert len(loaded) == 2
    assert sorted(a["parsing_id"] for a in loaded[0]["annotations"]) == [1, 2]
    assert loaded[0]["category_file"] == dicts[0]["category_file"]
    # parsing_id absent from the map and a zero-area box are skipped, counted, logged
    data["annotations"][0]["parsing_id"] = 9
    data["annotations"][1]["bbox"] = [3, 3, 0, 10]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        loaded = load_parsing_json(bad, d, num_classes=20, dataset_name="j")
    assert len(loaded[0]["annotations"]) == 0 and len(loaded[1]["annotations"]) == 2
    assert "absent from Human_ids" in caplog.text and "zero-area" in caplog.text


# ------------------------------------------------------------------ custom datasets
def test_register_parsing_dataset(tmp_path, make_cihp):
    d, stems = make_cihp(3)
    register_parsing_dataset(
        "my_people",
        d / "Images",
        d / "Category_ids",
        classes=[f"c{i}" for i in range(20)],
        flip_map=[(14, 15)],
        human_root=d / "Human_ids",
    )
    from detectron2.data import MetadataCatalog

    dicts = DatasetCatalog.get("my_people")
    assert len(dicts) == 3 and all(len(r["annotations"]) == 2 for r in dicts)
    assert dicts[0]["dataset_name"] == "my_people"
    m = MetadataCatalog.get("my_people")
    assert m.evaluator_type == "parsing" and m.flip_lut[14] == 15 and len(m.stuff_colors) == 20
    register_parsing_dataset(
        "my_single", d / "Images", d / "Category_ids", classes=[f"c{i}" for i in range(20)]
    )
    single = DatasetCatalog.get("my_single")
    assert (
        len(single[0]["annotations"]) == 1
        and MetadataCatalog.get("my_single").evaluator_type == "sem_seg"
    )
    register_parsing_dataset("my_small", d / "Images", d / "Category_ids", classes=["bg", "a", "b"])
    with pytest.raises(BadAnnotationError):  # values up to 14 but only 3 classes: nothing usable
        DatasetCatalog.get("my_small")
