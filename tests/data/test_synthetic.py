"""Synthetic humans: layouts, determinism, left/right consistency, lock + reuse, catalog entries."""

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from detectron2.data import DatasetCatalog

import humanparse_d2  # noqa: F401
from humanparse_core import synthetic as S
from humanparse_d2.data import load_cihp_layout, load_lip, read_label
from humanparse_d2.data.catalog.cihp import read_instance_txt
from tests.scripts import load_script


def _digest(root: Path) -> str:
    h = hashlib.sha1()
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_cihp_layout_is_valid_and_deterministic(tmp_path):
    a = S.generate_dataset(
        tmp_path / "a", "cihp", "train", 6, seed=3, image_size=160, num_workers=1, progress=False
    )
    b = S.generate_dataset(
        tmp_path / "b", "cihp", "train", 6, seed=3, image_size=160, num_workers=2, progress=False
    )
    c = S.generate_dataset(
        tmp_path / "c", "cihp", "train", 6, seed=4, image_size=160, num_workers=1, progress=False
    )
    assert _digest(a) == _digest(b) != _digest(c)
    d = a / "Training"
    assert (d / "train_id.txt").read_text().split() == [f"train_{i:06d}" for i in range(6)]
    dicts = load_cihp_layout(d, d / "train_id.txt", dataset_name="synth_t")
    assert len(dicts) == 6
    for r in dicts:
        assert max(r["width"], r["height"]) == 160
        cat, hum, inst = (
            read_label(r[k]) for k in ("category_file", "human_file", "instance_file")
        )
        ids = sorted(a["parsing_id"] for a in r["annotations"])
        assert 1 <= len(ids) <= 5 and ids == list(range(1, len(ids) + 1))
        assert cat.max() < 20 and ((cat > 0) == (hum > 0)).all()
        rows = read_instance_txt(r["instance_txt"])
        assert len({rid for rid, _, _ in rows}) == len(rows)
        for rid, c, h in rows:
            assert ((inst == rid) == ((cat == c) & (hum == h))).all()
        assert {(c, h) for _, c, h in rows} == {
            (int(c), int(h)) for c, h in set(zip(cat[hum > 0].tolist(), hum[hum > 0].tolist()))
        }


def test_lip_layout(tmp_path):
    root = S.generate_dataset(
        tmp_path / "lip", "lip", "val", 5, seed=0, image_size=192, num_workers=1, progress=False
    )
    dicts = load_lip(root, "val", dataset_name="synth_lip_t")
    assert len(dicts) == 5
    for r in dicts:
        lab = read_label(r["sem_seg_file_name"])
        assert 100 <= r["height"] <= 150 and lab.max() < 20 and (lab > 0).mean() > 0.1
        assert len(r["annotations"]) == 1


def _side_stats(n=40, size=192, seed=11, kind="cihp"):
    """For visible persons with both arms: does Left-arm lie on the image right (frontal, face seen)?"""
    agree = total = 0
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        if kind == "cihp":
            _, cat, hum = S.render_scene(rng, size)
        else:
            _, cat, hum = S.render_person_crop(rng, size)
        for k in range(1, hum.max() + 1):
            m = hum == k
            xs_l = np.nonzero(m & (cat == 14))[1]
            xs_r = np.nonzero(m & (cat == 15))[1]
            face = (m & (cat == 13)).sum()
            if xs_l.size < 15 or xs_r.size < 15:
                continue
            frontal = face > 10
            total += 1
            agree += (xs_l.mean() > xs_r.mean()) == frontal
    return agree, total


@pytest.mark.parametrize("kind", ["cihp", "lip"])
def test_left_right_follow_the_pose(kind):
    agree, total = _side_stats(kind=kind)
    assert total >= 20
    assert agree / total >= 0.8, (agree, total)


def test_scene_has_occlusion_and_variety(monkeypatch):
    masks = []
    draw = S.scene._draw_person

    def recording(canvas, *args):
        draw(canvas, *args)
        masks.append(canvas > 0)  # the canvas holds this person alone

    monkeypatch.setattr(S.scene, "_draw_person", recording)
    counts, occluded = [], 0
    for i in range(30):
        masks.clear()
        _, cat, hum = S.render_scene(np.random.default_rng([5, i]), 160)
        counts.append(int(hum.max()))
        # persons overlap: the visible union is smaller than the sum of the persons' own areas
        occluded += sum(int(m.sum()) for m in masks) > int((hum > 0).sum())
        if len(masks) == hum.max():  # nobody fully hidden: ids follow the paint order
            nearest = np.zeros_like(hum)
            for k, m in enumerate(masks, start=1):
                nearest[m] = k  # a later (nearer) person covers the earlier ones
            assert (nearest == hum).all(), i
    assert min(counts) >= 1 and max(counts) >= 4 and len(set(counts)) >= 3
    assert occluded >= 10, occluded


def test_ensure_synthetic_locks_and_reuses(tmp_path, monkeypatch):
    calls = []
    real = S.generate_dataset

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(S.writer, "generate_dataset", counting)  # ensure_synthetic's global
    root = tmp_path / "synth_lip"
    with ThreadPoolExecutor(3) as ex:
        list(
            ex.map(
                lambda _: S.ensure_synthetic(root, "lip", "val", 4, 0, 96, progress=False), range(3)
            )
        )
    assert len(calls) == 1
    marker = root / ".synthetic_lip_val.json"
    mtime = marker.stat().st_mtime_ns
    S.ensure_synthetic(root, "lip", "val", 4, 0, 96, progress=False)
    assert len(calls) == 1 and marker.stat().st_mtime_ns == mtime
    # a half-written split (no marker) is regenerated; different parameters too
    marker.unlink()
    S.ensure_synthetic(root, "lip", "val", 4, 0, 96, progress=False)
    S.ensure_synthetic(root, "lip", "val", 5, 0, 96, progress=False)
    assert len(calls) == 3
    assert len((root / "TrainVal_images" / "val_id.txt").read_text().split()) == 5


def test_make_synthetic_cli(tmp_path, capsys):
    mod = load_script("tools/make_synthetic.py")
    mod.main(
        [
            "--out",
            str(tmp_path / "s"),
            "--layout",
            "cihp",
            "--split",
            "val",
            "--num-images",
            "3",
            "--seed",
            "1",
            "--image-size",
            "128",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert "images/s" in capsys.readouterr().out
    assert len(list((tmp_path / "s" / "Validation" / "Images").glob("*.jpg"))) == 3


@pytest.mark.slow
def test_builtin_synth_humans_val_generates_on_first_use():
    """The one default-size set of this suite (100 images, shared cache under $DETECTRON2_DATASETS)."""
    dicts = DatasetCatalog.get("synth_humans_val")
    assert len(dicts) == 100 and dicts[0]["dataset_name"] == "synth_humans_val"
    assert sum(len(d["annotations"]) for d in dicts) >= 150
