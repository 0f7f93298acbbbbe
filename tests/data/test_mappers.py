"""Mappers: outputs of contract A, flips with left/right swap, config wiring, bad input."""

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T

import humanparse_d2
from humanparse_core.metadata import CIHP_FLIP_MAP, make_flip_lut
from humanparse_d2.data import (
    PARSING_MAPPER_REGISTRY,
    BadAnnotationError,
    InstanceParsingMapper,
    SinglePersonParsingMapper,
    WholeImageParsingMapper,
    flatten_persons,
    load_cihp_layout,
    read_image,
    read_label,
    register_parsing_dataset,
)

LUT = make_flip_lut(20, CIHP_FLIP_MAP)
NO_JITTER = dict(scale_factor=0.0, rotation_factor=0.0, box_expand=1.0)


@pytest.fixture
def cihp(make_cihp):
    d, _ = make_cihp(3)
    return load_cihp_layout(d, d / "train_id.txt", dataset_name="t")


def test_registry():
    expected = {"InstanceParsingMapper", "WholeImageParsingMapper", "SinglePersonParsingMapper"}
    assert expected <= {name for name, _ in PARSING_MAPPER_REGISTRY}


def test_flatten_persons(cihp):
    persons = flatten_persons(cihp)
    assert len(persons) == 6 and all("annotation" in p and "annotations" not in p for p in persons)
    cihp[0]["annotations"][0]["iscrowd"] = 1
    cihp[1]["annotations"][0]["bbox"] = [3.0, 3.0, 0.0, 5.0]
    assert len(flatten_persons(cihp)) == 4
    with pytest.raises(BadAnnotationError):
        flatten_persons([{k: v for k, v in cihp[2].items() if k != "annotations"}])


def test_instance_mapper_outputs(cihp):
    m = InstanceParsingMapper(is_train=False, crop_size=(64, 48), flip_lut=LUT)
    p = flatten_persons(cihp)[0]
    out = m(p)
    assert out["image"].shape == (3, 64, 48) and out["image"].dtype == torch.uint8
    assert out["parsing"].shape == (64, 48) and out["parsing"].dtype == torch.int64
    assert out["affine"].shape == (2, 3) and out["parsing_id"] == p["annotation"]["parsing_id"]
    assert set(out["parsing"].unique().tolist()) <= {0, 5, 14}  # the other person is background
    # the affine maps the person box centre to the crop centre
    x0, y0, x1, y1 = out["box"].tolist()
    c = out["affine"].numpy() @ np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.0])
    assert np.allclose(c, [24, 32], atol=1e-3)
    # the uint8 RGB crop itself (detectron2's convention: the model normalises); "affine" is the
    # float32 copy of the matrix, so the warp may differ by one grey level
    from humanparse_d2.data import warp_crop

    crop = warp_crop(read_image(p["file_name"], "RGB"), out["affine"].double().numpy(), (48, 64))
    assert np.abs(out["image"].numpy().astype(int) - crop.transpose(2, 0, 1)).max() <= 1


def test_instance_mapper_flip_swaps_left_right(cihp):
    p = [q for q in flatten_persons(cihp) if q["annotation"]["parsing_id"] == 1][0]
    plain = InstanceParsingMapper(
        is_train=True, crop_size=(64, 48), flip_prob=0.0, flip_lut=LUT, **NO_JITTER
    )(p)
    flip = InstanceParsingMapper(
        is_train=True, crop_size=(64, 48), flip_prob=1.0, flip_lut=LUT, seed=0, **NO_JITTER
    )(p)
    assert flip["flipped"] and not plain["flipped"]
    a, b = plain["parsing"].numpy(), flip["parsing"].numpy()
    assert (a == 14).sum() > 0 and (b == 14).sum() == 0 and (b == 15).sum() == (a == 14).sum()
    assert np.linalg.det(flip["affine"].numpy()[:, :2]) < 0  # flip folded into the matrix
    # mirrored: the left-arm block on one side of the crop moves to the other side
    assert np.nonzero(a == 14)[1].mean() < 24 < np.nonzero(b == 15)[1].mean()


def test_instance_mapper_from_cfg_train_randomness(cihp):
    cfg = humanparse_d2.get_humanparse_cfg()
    cfg.INPUT.PARSING.CROP_SIZE = (64, 48)
    m = InstanceParsingMapper(cfg, is_train=True)
    assert m.crop_size == (64, 48) and m.augmentation.rotation_prob == 0.6
    p = InstanceParsingMapper.prepare_dataset(cihp)[0]
    outs = [m(p) for _ in range(12)]
    assert len({tuple(o["affine"].flatten().tolist()) for o in outs}) > 6
    assert any(o["flipped"] for o in outs) and not all(o["flipped"] for o in outs)
    with pytest.raises(ValueError, match="flatten"):
        m(cihp[0])


def test_instance_mapper_mhp_uses_person_file(tmp_path):
    from humanparse_d2.data import load_mhp_v2

    from .hpdata_helpers import write_jpg, write_png

    root = tmp_path / "LV-MHP-v2"
    write_jpg(root / "val" / "images" / "5.jpg", 30, 26)
    a = np.zeros((30, 26, 3), np.uint8)
    a[2:20, 1:10, 0] = 12
    b = np.zeros((30, 26, 3), np.uint8)
    b[8:28, 6:20, 0] = 17  # overlaps person 1
    write_png(root / "val" / "parsing_annos" / "5_02_01.png", a)
    write_png(root / "val" / "parsing_annos" / "5_02_02.png", b)
    (root / "list").mkdir()
    (root / "list" / "val.txt").write_text("5\n")
    p = flatten_persons(load_mhp_v2(root, "val", dataset_name="mhp_t"))[0]
    out = InstanceParsingMapper(is_train=False, crop_size=(32, 24))(p)
    assert set(out["parsing"].unique().tolist()) == {0, 12}  # full person 1, overlap not lost


def test_whole_image_mapper(cihp):
    cfg = humanparse_d2.get_humanparse_cfg()
    cfg.INPUT.MIN_SIZE_TEST = 80
    cfg.INPUT.MAX_SIZE_TEST = 1000
    m = WholeImageParsingMapper(cfg, is_train=False)
    out = m(cihp[0])
    assert out["image"].dtype == torch.uint8 and out["image"].shape == (3, 100, 80)
    assert (out["height"], out["width"]) == (40, 32)
    inst = out["instances"]
    assert (
        len(inst) == 2
        and inst.gt_parsing.shape == (2, 100, 80)
        and inst.gt_parsing.dtype == torch.uint8
    )
    assert inst.gt_masks.tensor.shape == (2, 100, 80) and (inst.gt_classes == 0).all()
    assert out["sem_seg"].shape == (100, 80) and out["sem_seg"].dtype == torch.int64
    assert torch.allclose(inst.gt_boxes.tensor[0], torch.tensor([5.0, 12.5, 35.0, 75.0]), atol=2.5)


def test_whole_image_mapper_flip(cihp):
    m = WholeImageParsingMapper(
        is_train=True, augmentations=[T.RandomFlip(prob=1.0)], image_format="RGB", flip_lut=LUT
    )
    out = m(cihp[0])
    sem = out["sem_seg"].numpy()
    cat = read_label(cihp[0]["category_file"])
    assert np.array_equal(sem, np.asarray(LUT)[cat[:, ::-1]])
    boxes = out["instances"].gt_boxes.tensor.numpy()
    assert sorted(boxes[:, 0].tolist()) == [2.0, 18.0]  # mirrored: 32 - 14 = 18, 32 - 30 = 2
    assert (out["instances"].gt_parsing.numpy() == 15).any() and not (
        out["instances"].gt_parsing.numpy() == 14
    ).any()


def test_single_person_mapper(cihp):
    m = SinglePersonParsingMapper(is_train=True, load_size=40, crop_size=32, flip_lut=LUT, seed=0)
    outs = [m(cihp[0]) for _ in range(10)]
    for o in outs:
        assert o["image"].shape == (3, 32, 32) and o["sem_seg"].shape == (32, 32)
        assert o["sem_seg"].dtype == torch.int64 and (o["height"], o["width"]) == (40, 32)
    flipped = [o for o in outs if o["flipped"]]
    assert flipped and not any((o["sem_seg"] == 14).any() for o in flipped)
    assert any((o["sem_seg"] == 15).any() for o in flipped)
    # paper mode: shorter side smaller than the crop -> padded with the ignore label
    m2 = SinglePersonParsingMapper(
        is_train=True,
        resize="shortest_edge",
        load_size=20,
        crop_size=32,
        crop_mode="random",
        seed=1,
    )
    o = m2(cihp[0])
    assert o["image"].shape == (3, 32, 32) and (o["sem_seg"] == 255).any()
    t = SinglePersonParsingMapper(is_train=False, test_size=48)(cihp[0])
    assert t["image"].shape == (3, 48, 48) and not t["flipped"]


def test_single_person_mapper_from_cfg():
    cfg = humanparse_d2.get_humanparse_cfg()
    m = SinglePersonParsingMapper(cfg, is_train=True)
    assert (m.load_size, m.crop_size, m.resize, m.crop_mode) == (286, 256, "squash", "mman")


def test_bad_input_gives_clear_errors(cihp, tmp_path):
    p = flatten_persons(cihp)[0]
    m = InstanceParsingMapper(is_train=False, crop_size=(32, 24))
    bad = dict(p, file_name=str(tmp_path / "nope.jpg"))
    with pytest.raises(BadAnnotationError, match="nope.jpg"):
        m(bad)
    with pytest.raises(BadAnnotationError, match="record says"):
        m(dict(p, height=99))
    with pytest.raises(BadAnnotationError, match="Category"):
        m(dict(p, category_file=str(tmp_path / "Category_missing.png")))


def test_train_loader_with_mapper(make_cihp):
    d, _ = make_cihp(3)
    register_parsing_dataset(
        "mapper_loader_t",
        d / "Images",
        d / "Category_ids",
        classes=[f"c{i}" for i in range(20)],
        flip_map=CIHP_FLIP_MAP,
        human_root=d / "Human_ids",
    )
    from detectron2.data import build_detection_train_loader

    cfg = humanparse_d2.get_humanparse_cfg()
    cfg.DATASETS.TRAIN = ("mapper_loader_t",)
    cfg.INPUT.PARSING.CROP_SIZE = (32, 24)
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SOLVER.IMS_PER_BATCH = 4
    mapper = PARSING_MAPPER_REGISTRY.get("InstanceParsingMapper")(cfg, is_train=True)
    assert mapper.flip_luts.default == MetadataCatalog.get("mapper_loader_t").flip_lut
    persons = mapper.prepare_dataset(DatasetCatalog.get("mapper_loader_t"))
    loader = build_detection_train_loader(cfg, mapper=mapper, dataset=persons)
    batch = next(iter(loader))
    assert len(batch) == 4 and all(b["image"].shape == (3, 32, 24) for b in batch)


def test_workers_get_distinct_augmentation_streams(cihp):
    """Even after the mapper was used in the main process, forked workers do not repeat each other."""
    from torch.utils.data import DataLoader

    m = InstanceParsingMapper(is_train=True, crop_size=(32, 24), flip_lut=LUT)
    p = flatten_persons(cihp)[0]
    m(p)  # creates the stream in the parent before the fork
    from detectron2.data.common import DatasetFromList, MapDataset

    loader = DataLoader(
        MapDataset(DatasetFromList([p] * 8, copy=False), m),
        batch_size=None,
        num_workers=2,
        collate_fn=lambda x: x,
        multiprocessing_context="fork",
    )
    mats = [tuple(o["affine"].flatten().tolist()) for o in loader]
    assert len(set(mats)) == 8


def test_person_label_from_rle_equals_human_ids_path(cihp):
    from humanparse_d2.data import load_person_label

    for p in flatten_persons(cihp):
        ann = p["annotation"]
        no_rle = {k: v for k, v in ann.items() if k != "segmentation"}
        for roi in (None, (3, 4, 20, 33)):
            assert np.array_equal(load_person_label(p, ann, roi), load_person_label(p, no_rle, roi))


def test_flip_lut_for_reads_flip_lut_or_flip_map():
    from humanparse_d2.data import FlipLUTs, flip_lut_for

    MetadataCatalog.get("flip_t_lut").set(flip_lut=LUT)
    MetadataCatalog.get("flip_t_map").set(flip_map=[(1, 2)], num_parsing=4)
    assert flip_lut_for(["flip_t_none", "flip_t_lut"]) == LUT
    assert flip_lut_for(["flip_t_map"]) == [0, 2, 1, 3]
    assert flip_lut_for(["flip_t_map"], 5) == [
        0,
        2,
        1,
        3,
        4,
    ]  # C of the model when only pairs exist
    assert flip_lut_for(["flip_t_none"]) is None
    with pytest.raises(ValueError, match="MODEL.X.NUM_CLASSES=7"):
        flip_lut_for(["flip_t_lut"], 7, key="MODEL.X.NUM_CLASSES")
    luts = FlipLUTs([9, 9])
    assert luts({"dataset_name": "flip_t_map"}) == [0, 2, 1, 3] and luts({}) == [9, 9]
    assert luts({"dataset_name": "flip_t_none"}) == [9, 9]


def test_single_person_geometry_registry(cihp):
    from humanparse_d2.data import SINGLE_PERSON_GEOMETRY_REGISTRY
    from humanparse_d2.projects.mman.transforms import MMANRandomGeometry

    assert {"mman", "random"} <= {name for name, _ in SINGLE_PERSON_GEOMETRY_REGISTRY}
    m = SinglePersonParsingMapper(is_train=True, load_size=40, crop_size=32, seed=0)
    assert isinstance(m.geometry, MMANRandomGeometry) and m.geometry.rng is m.rng  # one stream
    with pytest.raises(ValueError, match="crop_mode must be one of"):
        SinglePersonParsingMapper(is_train=True, crop_mode="nope")


def test_mappers_log_their_augmentations(caplog):
    import logging

    with caplog.at_level(logging.INFO):
        InstanceParsingMapper(is_train=True, crop_size=(32, 24))
    assert (
        "[InstanceParsingMapper] Augmentations used in training: [RandomPersonCrop(" in caplog.text
    )
