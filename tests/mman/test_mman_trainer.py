"""The adversarial trainer: step logic, logging, checkpoint round trip, resume."""

import logging

import pytest
import torch

import humanparse_d2  # noqa: F401
from humanparse_d2.engine import TRAINER_REGISTRY, build_trainer_class
from humanparse_d2.engine.adversarial import DiscriminatorLRScheduler
from humanparse_d2.projects.mman import MMANTrainer

from .mman_testutils import tiny_cfg, tiny_trainer_class


def _train(cfg, resume=False, checkpoints=True):
    trainer = tiny_trainer_class(checkpoints)(cfg)
    trainer.resume_or_load(resume=resume)
    trainer.train()
    return trainer


def _latest(trainer, key):
    return trainer.storage.history(key).latest()


def test_registered_for_the_meta_architecture():
    assert TRAINER_REGISTRY.get("MMANTrainer") is MMANTrainer
    assert build_trainer_class(tiny_cfg()) is MMANTrainer


def test_step_logs_d_losses_outside_total_loss(tmp_path):
    trainer = _train(tiny_cfg(tmp_path), checkpoints=False)
    s = trainer.storage
    for key in ("loss_d_macro", "loss_d_micro", "d_real_micro", "d_fake_macro", "lr_d", "lr"):
        assert key in s.histories(), key
    g_terms = ["loss_ce_hi", "loss_ce_lo", "loss_adv_macro", "loss_adv_micro"]
    total = sum(_latest(trainer, k) for k in g_terms)
    assert _latest(trainer, "total_loss") == pytest.approx(total, rel=1e-5)
    # two separate optimizers, D params only in optimizer_d
    g_ids = {id(p) for grp in trainer.optimizer.param_groups for p in grp["params"]}
    d_ids = {id(p) for grp in trainer.optimizer_d.param_groups for p in grp["params"]}
    assert not g_ids & d_ids and d_ids == {id(p) for p in trainer.adversary.parameters()}
    # the backbone gets 0.1 x LR (default preset)
    lrs = sorted(g["lr"] for g in trainer.optimizer.param_groups)
    assert lrs[0] == pytest.approx(0.1 * lrs[1])
    # the model checkpoint holds only G; the adversary is its own checkpointable
    assert "adversary" in trainer.checkpointer.checkpointables
    assert not any(k.startswith("adversary") for k in trainer.model.state_dict())


def test_d_update_period_is_deterministic(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"SOLVER.MAX_ITER": 3, "SOLVER.MMAN_D.UPDATE_PERIOD": 2})
    trainer = _train(cfg, checkpoints=False)
    iters = [it for _, it in trainer.storage.history("loss_d_micro").values()]
    assert iters == [0, 2]


def test_baseline_has_no_adversary(tmp_path):
    cfg = tiny_cfg(
        tmp_path, **{"MODEL.MMAN.MICRO.ENABLED": False, "MODEL.MMAN.MACRO.ENABLED": False}
    )
    trainer = _train(cfg, checkpoints=False)
    assert trainer.adversary is None and trainer.optimizer_d is None
    assert not any(isinstance(h, DiscriminatorLRScheduler) for h in trainer._hooks)
    assert "loss_d_micro" not in trainer.storage.histories()


def test_checkpoint_round_trip_and_resume(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"SOLVER.MAX_ITER": 2, "SOLVER.STEPS": (1,)})
    first = _train(cfg)
    ckpt = torch.load(tmp_path / "model_final.pth", map_location="cpu", weights_only=True)
    assert {"model", "adversary", "trainer", "iteration"} <= set(ckpt)
    tstate = ckpt["trainer"]
    assert "optimizer_d" in tstate["_trainer"] and "optimizer" in tstate["_trainer"]
    assert {"LRScheduler", "DiscriminatorLRScheduler"} <= set(tstate["hooks"])
    assert tstate["hooks"]["DiscriminatorLRScheduler"]["last_epoch"] == 2

    cfg3 = cfg.clone()
    cfg3.SOLVER.MAX_ITER = 3
    second = tiny_trainer_class()(cfg3)
    second.resume_or_load(resume=True)
    assert second.start_iter == 2
    assert second.adversary.loaded_from_checkpoint
    for (n, a), b in zip(
        first.adversary.state_dict().items(), second.adversary.state_dict().values()
    ):
        torch.testing.assert_close(a, b, msg=n)
    for (n, a), b in zip(first.model.state_dict().items(), second.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=n)
    sd1, sd2 = first.optimizer_d.state_dict(), second.optimizer_d.state_dict()
    for k in sd1["state"]:
        torch.testing.assert_close(sd1["state"][k]["exp_avg"], sd2["state"][k]["exp_avg"])
    assert second.scheduler_d.last_epoch == 2 and second.scheduler.last_epoch == 2
    # past the step at iteration 1 both schedules are at 0.1 x
    assert second.optimizer_d.param_groups[0]["lr"] == pytest.approx(
        0.1 * cfg.SOLVER.MMAN_D.BASE_LR
    )
    second.train()
    assert second.storage.history("loss_d_micro").values()[-1][1] == 2  # iteration 2 ran


def test_resume_from_checkpoint_without_discriminators(tmp_path, caplog):
    base = tiny_cfg(
        tmp_path,
        **{
            "MODEL.MMAN.MICRO.ENABLED": False,
            "MODEL.MMAN.MACRO.ENABLED": False,
            "SOLVER.STEPS": (1,),
        },
    )
    baseline = _train(base)
    cfg = tiny_cfg(tmp_path, **{"SOLVER.MAX_ITER": 3, "SOLVER.STEPS": (1,)})
    trainer = tiny_trainer_class()(cfg)
    fresh = {k: v.clone() for k, v in trainer.adversary.state_dict().items()}
    with caplog.at_level(logging.WARNING):
        trainer.resume_or_load(resume=True)
    text = caplog.text
    assert "no discriminator weights" in text and "start fresh" in text
    assert trainer.start_iter == 2
    for k, v in trainer.adversary.state_dict().items():
        torch.testing.assert_close(v, fresh[k])
    for (n, a), b in zip(baseline.model.state_dict().items(), trainer.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=n)
    # the fresh D schedule is moved to the resumed iteration
    assert trainer.scheduler_d.last_epoch == 2
    assert trainer.optimizer_d.param_groups[0]["lr"] == pytest.approx(
        0.1 * cfg.SOLVER.MMAN_D.BASE_LR
    )
    trainer.train()
    assert torch.isfinite(torch.tensor(trainer.storage.history("total_loss").latest()))


def test_fine_tuning_from_weights_starts_discriminators_fresh(tmp_path, caplog):
    first = _train(tiny_cfg(tmp_path / "a"))
    cfg = tiny_cfg(tmp_path / "b", **{"MODEL.WEIGHTS": str(tmp_path / "a" / "model_final.pth")})
    trainer = tiny_trainer_class()(cfg)
    with caplog.at_level(logging.INFO):
        trainer.resume_or_load(resume=False)
    assert not trainer.adversary.loaded_from_checkpoint
    assert trainer.start_iter == 0
    assert "discriminators start fresh" in caplog.text
    torch.testing.assert_close(first.model.decoder.top.weight, trainer.model.decoder.top.weight)
