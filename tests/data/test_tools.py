"""tools/visualize_data.py and benchmarks/mapper_speed.py run end to end on tiny sets."""

from pathlib import Path

import cv2

import humanparse_d2  # noqa: F401
from humanparse_core.metadata import CIHP_CLASSES, CIHP_COLORS, CIHP_FLIP_MAP
from humanparse_d2.data import generate_dataset, register_parsing_dataset
from tests.scripts import load_script

REPO = Path(__file__).resolve().parents[2]


def test_visualize_data(tmp_path, capsys):
    root = generate_dataset(
        tmp_path / "syn", "cihp", "val", 2, seed=0, image_size=128, num_workers=1, progress=False
    )
    d = root / "Validation"
    register_parsing_dataset(
        "vis_t",
        d / "Images",
        d / "Category_ids",
        classes=CIHP_CLASSES,
        colors=CIHP_COLORS,
        flip_map=CIHP_FLIP_MAP,
        human_root=d / "Human_ids",
    )
    out = tmp_path / "vis"
    load_script("tools/visualize_data.py").main(
        ["--dataset", "vis_t", "--out", str(out), "-n", "2", "--crops"]
    )
    pngs = sorted(out.glob("*.png"))
    assert len([p for p in pngs if not p.name.startswith("crops_")]) == 2
    assert any(p.name.startswith("crops_") for p in pngs)
    img = cv2.imread(str(pngs[-1]))
    assert img is not None and img.shape[1] >= 2 * 90
    assert "wrote" in capsys.readouterr().out


def test_mapper_speed_benchmark_smoke(capsys):
    rc = load_script("benchmarks/mapper_speed.py").main(
        ["--n", "5", "--images", "2", "--image-size", "128"]
    )
    assert rc == 0 and "crops/s" in capsys.readouterr().out
