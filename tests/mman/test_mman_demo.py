"""tools/demo.py parses a real photo (scikit-image's astronaut, taken by NASA) with a converted
MMAN release model (random weights in the release's layout): the pipeline runs and writes its
outputs. Also tools/convert_official_weights.py end to end on the same file."""

import json

import numpy as np
import pytest
import torch

from tests.scripts import load_script

from .mman_testutils import REPO

RELEASE = REPO / "projects/MMAN/configs/LIP/mman_R101_30ep_release.yaml"


def _random_release_file(path):
    import gzip

    with gzip.open(REPO / "tests/mman/fixtures/mman_release_keys.json.gz", "rt") as f:
        keys = json.load(f)["net_G"]
    g = torch.Generator().manual_seed(0)
    sd = {}
    for k, shape in keys:
        if k.endswith("num_batches_tracked"):
            continue  # as a PyTorch 0.3 file
        if k.endswith("running_var"):
            sd[k] = torch.ones(shape)
        else:
            sd[k] = 0.05 * torch.randn(shape, generator=g)
    torch.save(sd, path)


@pytest.mark.slow
def test_demo_parses_astronaut_with_converted_release_model(tmp_path):
    data = pytest.importorskip("skimage.data")
    convert_official_weights = load_script("tools/convert_official_weights.py")
    demo = load_script("tools/demo.py")
    from PIL import Image

    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    official, converted = tmp_path / "latest_net_G.pth", tmp_path / "mman_lip_release.pth"
    _random_release_file(official)
    assert (
        convert_official_weights.main(
            ["--format", "mman", "--config-file", str(RELEASE), str(official), str(converted)]
        )
        == 0
    )
    out = tmp_path / "out"
    # one scale, no flip: the pipeline, not the ensemble, is under test
    stats = demo.run(
        demo.argparse.Namespace(
            config_file=str(RELEASE),
            input=[str(photo)],
            output=str(out),
            whole_image_box=False,
            box_file="",
            device="cpu",
            opts=[
                "MODEL.WEIGHTS",
                str(converted),
                "TEST.MMAN.SCALES",
                "(1.0,)",
                "TEST.MMAN.FLIP",
                "False",
            ],
        )
    )
    assert stats["images"] == 1 and not stats["skipped_files"]
    label = np.asarray(Image.open(out / "astronaut_label.png"))
    assert label.shape == (512, 512) and label.max() < 20  # the photo's own size, LIP class ids
    assert (out / "astronaut_overlay.jpg").stat().st_size > 0
    info = json.loads((out / "astronaut.json").read_text())
    assert info["height"] == 512 and set(info["classes_present"]) <= set(range(1, 20))


def test_demo_refuses_imagenet_weights(tmp_path):
    demo = load_script("tools/demo.py")

    args = demo.argparse.Namespace(
        config_file=str(RELEASE),
        input=[str(tmp_path)],
        output=str(tmp_path / "o"),
        whole_image_box=False,
        box_file="",
        device="cpu",
        opts=[],
    )
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(SystemExit, match="ImageNet weights of the backbone only"):
        demo.run(args)
