"""Shipped MMAN configs: they load, the removed preset key says what replaced it, bad values are
refused where they are read, every variant builds from config alone and trains."""

import pytest
import torch

import humanparse_d2  # noqa: F401
from humanparse_d2.engine import load_config

from .mman_testutils import PRESET_YAMLS, REPO, narrow, preset_of, tiny_cfg, tiny_trainer_class

QUICK = sorted((REPO / "projects/MMAN/configs/quick").glob("MMAN_*.yaml"))
PROJECT = sorted(
    p for p in (REPO / "projects/MMAN/configs").rglob("*.yaml") if p.parent.name != "quick"
)
EXPECTED_D = {
    "MMAN_synth_lip.yaml": {"macro", "micro"},
    "MMAN_baseline_synth_lip.yaml": None,
    "MMAN_macro_synth_lip.yaml": {"macro"},
    "MMAN_micro_synth_lip.yaml": {"micro"},
    "MMAN_single_an_synth_lip.yaml": {"global"},
    "MMAN_double_an_synth_lip.yaml": {"micro", "global"},
    "MMAN_multiple_an_synth_lip.yaml": {"macro", "micro", "mid"},
    "MMAN_paper_synth_lip.yaml": {"macro", "micro"},
}


def test_every_quick_variant_has_a_config():
    assert {p.name for p in QUICK} == set(EXPECTED_D)


@pytest.mark.parametrize(
    "path", PROJECT, ids=lambda p: str(p.relative_to(REPO / "projects/MMAN/configs"))
)
def test_project_configs_load(path):
    cfg = load_config(str(path), check_names=False)
    assert cfg.MODEL.META_ARCHITECTURE == "MMAN"
    assert cfg.SOLVER.BASE_LR == 2e-4 and cfg.SOLVER.OPTIMIZER == "ADAM"
    if "Base" not in path.name:
        assert cfg.SOLVER.IMS_PER_BATCH == 1
    release = preset_of(path) == "release"
    if "LIP" in str(path) and "Base" not in path.name:
        # release: 0.1 ** (epoch // 14), drops after epochs 14 and 28; else one drop after 15
        steps = (14 * 30_462, 28 * 30_462) if release else (456_930,)
        assert cfg.SOLVER.MAX_ITER == 913_860 and tuple(cfg.SOLVER.STEPS) == steps
    if "paper" in path.name:
        assert cfg.MODEL.MMAN.GAN_MODE == "vanilla"
        assert tuple(cfg.MODEL.MMAN.LOSS_WEIGHTS) == (1.0, 25.0, 1.0, 100.0)
        assert tuple(cfg.TEST.MMAN.SCALES) == (0.8, 1.0, 1.2)
    else:
        assert tuple(cfg.MODEL.MMAN.LOSS_WEIGHTS) == (1.0, 50.0, 1.0, 250.0)


def test_explicit_keys_win_over_the_preset():
    cfg = load_config(
        str(PRESET_YAMLS["paper"]), ["MODEL.MMAN.GAN_MODE", "lsgan"], check_names=False
    )
    assert cfg.MODEL.MMAN.GAN_MODE == "lsgan" and tuple(cfg.MODEL.MMAN.MICRO.STRIDES) == (2, 2, 1)


def test_removed_preset_key_names_the_base_yaml(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text(f'_BASE_: "{PRESET_YAMLS["default"]}"\nMODEL:\n  MMAN:\n    PRESET: "paper"\n')
    hint = (
        r"MODEL.MMAN.PRESET .*Base-MMAN-release.yaml / Base-MMAN-paper.yaml.*Base-MMAN.yaml itself"
    )
    with pytest.raises(KeyError, match=hint):
        load_config(str(old), check_names=False)
    with pytest.raises(KeyError, match=hint):  # as an override (--opts) too
        load_config(None, ["MODEL.MMAN.PRESET", "release"], check_names=False)
    assert "PRESET" not in load_config(None, check_names=False).MODEL.MMAN


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("MODEL.MMAN.GAN_MODE", "wgan", "MODEL.MMAN.GAN_MODE must be one of"),
        ("MODEL.MMAN.GENERATOR.VARIANT", "code", "MODEL.MMAN.GENERATOR.VARIANT must be one of"),
        ("TEST.MMAN.ALIGN_CORNERS", -1, "TEST.MMAN.ALIGN_CORNERS must be one of"),
        ("SOLVER.MMAN_D.UPDATE_MODE", "every", "SOLVER.MMAN_D.UPDATE_MODE must be one of"),
        ("MODEL.MMAN.LOSS_WEIGHTS", (1.0, 25.0, 1.0), "LOSS_WEIGHTS must have 4 entries"),
    ],
)
def test_bad_values_are_refused_where_they_are_read(key, value, match):
    from detectron2.modeling import build_model

    from humanparse_d2.projects.mman import MMANAdversary, MMANTrainer

    cfg = tiny_cfg(**{key: value})
    for build in (build_model, MMANAdversary, MMANTrainer.d_update_mode):
        with pytest.raises(ValueError, match=match):
            build(cfg)


@pytest.mark.parametrize("path", QUICK, ids=lambda p: p.name)
def test_quick_variant_trains_two_iterations(path, tmp_path):
    cfg = load_config(str(path), check_names=False)
    cfg.merge_from_list(
        [
            "SOLVER.MAX_ITER",
            "2",
            "SOLVER.IMS_PER_BATCH",
            "1",
            "OUTPUT_DIR",
            str(tmp_path),
            "DATASETS.TEST",
            "()",
        ]
    )
    narrow(cfg)
    trainer = tiny_trainer_class(checkpoints=False)(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    names = EXPECTED_D[path.name]
    if names is None:
        assert trainer.adversary is None
    else:
        assert set(trainer.adversary.discriminators) == names
        for n in names:
            assert f"loss_d_{n}" in trainer.storage.histories()
    assert torch.isfinite(torch.tensor(trainer.storage.history("total_loss").latest()))
