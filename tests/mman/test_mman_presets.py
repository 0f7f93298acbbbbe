"""Each MMAN preset (a base yaml) gives its documented values; each config names its preset; the
release preset's training switches (Macro-D detach, pre-crop thumbnail, random D steps, D init, LR)."""

import re

import numpy as np
import pytest
import torch

import humanparse_d2  # noqa: F401
from humanparse_d2.engine import load_config

from .mman_testutils import (
    PRESET_YAMLS,
    REPO,
    base_chain,
    preset_of,
    tiny_batch,
    tiny_cfg,
    yaml_keys,
)

CONFIGS = sorted((REPO / "projects/MMAN/configs").rglob("*.yaml"))  # the quick configs too


def _p(default, release, paper):
    return {"default": default, "release": release, "paper": paper}


# What each preset must give for every key that depends on it: the table of
# projects/MMAN/mman/config.py and projects/MMAN/README.md, written out independently of the yamls.
EXPECTED = {
    "MODEL.MMAN.GENERATOR.VARIANT": _p("standard", "release", "standard"),
    "MODEL.MMAN.GAN_MODE": _p("lsgan", "lsgan", "vanilla"),
    "MODEL.MMAN.LOSS_WEIGHTS": _p(
        (1.0, 50.0, 1.0, 250.0), (1.0, 50.0, 1.0, 250.0), (1.0, 25.0, 1.0, 100.0)
    ),
    "MODEL.MMAN.MICRO.STRIDES": _p((2, 2, 1, 1), (2, 2, 1, 1), (2, 2, 1)),
    "MODEL.MMAN.MACRO.STRIDES": _p((2, 2, 1, 1), (2, 2, 1, 1), (2, 2, 2, 2)),
    "MODEL.MMAN.MACRO.G_STEP": _p("live", "detached", "live"),
    "MODEL.MMAN.MACRO.CONDITION": _p("crop", "precrop", "crop"),
    "MODEL.MMAN.GLOBAL.STRIDES": _p((2,) * 6, (2,) * 6, (2,) * 6 + (1,)),
    "MODEL.MMAN.DECODER_DROPOUT": _p(0.0, 0.0, 0.5),
    "MODEL.MMAN.INIT": _p("code", "code", "paper"),
    "MODEL.MMAN.D_INIT": _p("xavier", "xavier", "paper"),
    "SOLVER.MMAN_G.BETAS": _p((0.5, 0.999), (0.5, 0.999), (0.9, 0.999)),
    "SOLVER.MMAN_G.BACKBONE_LR_FACTOR": _p(0.1, 0.1, 1.0),
    "SOLVER.MMAN_D.BETAS": _p((0.5, 0.999), (0.5, 0.999), (0.9, 0.999)),
    "SOLVER.MMAN_D.UPDATE_PERIOD": _p(10, 10, 1),
    "SOLVER.MMAN_D.UPDATE_MODE": _p("period", "random", "period"),
    "TEST.MMAN.SCALES": _p((0.75, 1.0, 1.25), (0.75, 1.0, 1.25), (0.8, 1.0, 1.2)),
    "TEST.MMAN.ALIGN_CORNERS": _p(0, 1, 0),
}
PRESET_NAMES = tuple(PRESET_YAMLS)


def _get(cfg, path):
    for p in path.split("."):
        cfg = cfg[p]
    return tuple(cfg) if isinstance(cfg, (list, tuple)) else cfg


def _differing(preset):
    return {k for k, v in EXPECTED.items() if v[preset] != v["default"]}


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_preset_gives_the_expected_values(preset):
    cfg = load_config(str(PRESET_YAMLS[preset]), check_names=False)
    for path, values in EXPECTED.items():
        assert _get(cfg, path) == values[preset], path
    if preset == "default":  # the key defaults themselves are the default preset
        bare = load_config(None, check_names=False)
        assert {k: _get(bare, k) for k in EXPECTED} == {
            k: v["default"] for k, v in EXPECTED.items()
        }
    # Multiple AN's third D has Micro D's architecture in every preset (the paper's definition)
    from humanparse_d2.projects.mman.adversary import MMANAdversary

    assert _get(cfg, "MODEL.MMAN.MID.STRIDES") == ()  # "empty = Micro D's", resolved when built
    adv = MMANAdversary(tiny_cfg(preset=preset, **{"MODEL.MMAN.MID.ENABLED": True}))
    assert adv.discriminators["mid"].strides == EXPECTED["MODEL.MMAN.MICRO.STRIDES"][preset]


@pytest.mark.parametrize("preset", ["release", "paper"])
def test_preset_yaml_sets_exactly_the_keys_that_differ(preset):
    path = PRESET_YAMLS[preset]
    assert yaml_keys(path).keys() == _differing(preset)
    assert preset_of(path) == preset and path.read_text().startswith(f"# Preset: {preset}.")


def test_paper_single_an_d_sees_the_whole_map():
    from humanparse_d2.projects.mman.adversary import MMANAdversary

    cfg = tiny_cfg(preset="paper", **{"MODEL.MMAN.GLOBAL.ENABLED": True})
    d = MMANAdversary(cfg).discriminators["global"]
    assert (
        d.receptive_field >= 256 + 2
    )  # every output cell sees all of a 256x256 map (and its padding)
    assert d.output_size(256) >= 1


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_names_its_preset(path):
    first = path.read_text().splitlines()[0]
    m = re.match(r"# Preset: (\w+)\.", first)
    assert m and m.group(1) in PRESET_NAMES, f"{path.name}: first line must say '# Preset: <name>.'"
    named = m.group(1)
    assert preset_of(path) == named, f"{path.name} says {named} but inherits {preset_of(path)}"
    # what tells the presets apart holds, except where a leaf sets a key on purpose
    cfg = load_config(str(path), check_names=False)
    own = set().union(*(yaml_keys(f) for f in _chain_below_preset(path)))
    for key in _differing("release") | _differing("paper"):
        if key not in own:
            assert _get(cfg, key) == EXPECTED[key][named], (path.name, key)


def _chain_below_preset(path):
    """The files of ``path``'s ``_BASE_`` chain that come before its preset yaml."""
    presets = {p.resolve() for p in PRESET_YAMLS.values()}
    out = []
    for f in base_chain(path):
        if f in presets:
            return out
        out.append(f)
    raise AssertionError(f"{path} inherits no preset yaml")


def test_release_and_paper_configs():
    rel = load_config(
        str(REPO / "projects/MMAN/configs/LIP/mman_R101_30ep_release.yaml"), check_names=False
    )
    epoch = 30_462
    from detectron2.solver import build_lr_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    rel.defrost()
    rel.SOLVER.BASE_LR = 1.0
    sched = build_lr_scheduler(rel, opt)
    for it in (0, 14 * epoch - 1, 14 * epoch, 28 * epoch - 1, 28 * epoch, 30 * epoch - 1):
        sched.last_epoch = it - 1
        sched.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(0.1 ** ((it // epoch) // 14)), it
    pap = load_config(
        str(REPO / "projects/MMAN/configs/LIP/mman_R101_30ep_paper.yaml"), check_names=False
    )
    s = pap.INPUT.PARSING.SINGLE
    assert (s.RESIZE, s.LOAD_SIZE, s.CROP_MODE, s.TEST_RESIZE) == (
        "shortest_edge",
        288,
        "random",
        "none",
    )
    assert pap.TEST.MMAN.FLIP is False


def _aux_and_adversary(preset, **kw):
    from detectron2.modeling import build_model

    from humanparse_d2.projects.mman.adversary import MMANAdversary

    torch.manual_seed(0)
    cfg = tiny_cfg(preset=preset, **kw)
    model = build_model(cfg).train()
    batch = tiny_batch(2, 32)
    for x in batch:
        x["mman_thumbnail"] = torch.randn(3, 2, 2)
    losses, aux = model(batch, return_aux=True)
    return model, MMANAdversary(cfg), aux


@pytest.mark.parametrize("g_step", ["live", "detached"])
def test_macro_term_reaches_g_unless_detached(g_step):
    model, adv, aux = _aux_and_adversary(
        "default", **{"MODEL.MMAN.MACRO.G_STEP": g_step, "MODEL.MMAN.MICRO.ENABLED": False}
    )
    adv.requires_grad_(False)
    loss = adv.generator_losses(adv.prepare(aux))["loss_adv_macro"]
    assert float(loss) > 0  # still computed (and logged)
    if g_step == "detached":
        assert not loss.requires_grad
    else:
        loss.backward()
        assert float(model.aspp.fuse.weight.grad.abs().sum()) > 0


def test_precrop_condition_uses_the_mapper_thumbnail():
    _, adv, aux = _aux_and_adversary("release", **{"MODEL.MMAN.GENERATOR.VARIANT": "standard"})
    prepared = adv.prepare(aux)
    assert torch.equal(prepared["precrop"]["rgb"], aux["thumbnail"])
    assert not torch.equal(prepared["lo"]["rgb"], aux["thumbnail"])
    del aux["thumbnail"]
    with pytest.raises(KeyError, match="mman_thumbnail"):
        adv.prepare(aux)


def test_xavier_d_init_and_random_d_steps():
    from humanparse_d2.engine.adversarial import GANStep
    from humanparse_d2.projects.mman.adversary import MMANAdversary

    adv = MMANAdversary(tiny_cfg(preset="release"))
    conv = adv.discriminators["micro"].model[0]
    fan_in, fan_out = conv.weight[0].numel(), conv.weight.shape[0] * conv.weight[0, 0].numel()
    assert float(conv.weight.std()) == pytest.approx((2.0 / (fan_in + fan_out)) ** 0.5, rel=0.1)
    step = GANStep.__new__(GANStep)
    step.d_update_mode, step.d_update_period, step.d_seed = "random", 10, 3
    due = [step.d_step_due(i) for i in range(5000)]
    assert 0.08 < np.mean(due) < 0.12  # the release's random.random() < 0.1
    assert due == [
        step.d_step_due(i) for i in range(5000)
    ]  # a function of the iteration (ranks agree)
    step.d_update_mode = "period"
    assert [i for i in range(30) if step.d_step_due(i)] == [0, 10, 20]


def test_mapper_thumbnail_is_taken_before_the_crop(tmp_path):
    from PIL import Image

    from humanparse_d2.data.mappers import SinglePersonParsingMapper

    rng = np.random.default_rng(0)
    img = (rng.random((40, 60, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "a.jpg")
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(tmp_path / "a.png")
    rec = {
        "file_name": str(tmp_path / "a.jpg"),
        "sem_seg_file_name": str(tmp_path / "a.png"),
        "height": 40,
        "width": 60,
        "image_id": 0,
    }
    m = SinglePersonParsingMapper(
        True, load_size=36, crop_size=32, flip=False, thumbnail_size=2, seed=0
    )
    out = m(rec)
    sq = Image.open(tmp_path / "a.jpg").convert("RGB").resize((36, 36), Image.LANCZOS)
    want = np.asarray(sq.resize((2, 2), Image.LANCZOS))  # uint8: the model normalises it
    torch.testing.assert_close(
        out["mman_thumbnail"], torch.from_numpy(want.transpose(2, 0, 1).copy())
    )
    assert "mman_thumbnail" not in SinglePersonParsingMapper(True, load_size=36, crop_size=32)(rec)


@pytest.mark.parametrize("preset,size", [("release", 8), ("default", 0)])
def test_trainer_mapper_makes_the_thumbnail_for_release_only(preset, size):
    from humanparse_d2.projects.mman import MMANTrainer

    # the quick config with the keys the preset's base yaml sets
    opts = [x for kv in yaml_keys(PRESET_YAMLS[preset]).items() if preset != "default" for x in kv]
    cfg = load_config(
        str(REPO / "projects/MMAN/configs/quick/MMAN_synth_lip.yaml"), opts, check_names=False
    )
    assert cfg.MODEL.MMAN.MACRO.CONDITION == EXPECTED["MODEL.MMAN.MACRO.CONDITION"][preset]
    mapper = MMANTrainer.build_train_mapper(cfg)
    assert (
        mapper.thumbnail_size == size
    )  # CROP_SIZE 128 / 16 under the release's pre-crop condition
