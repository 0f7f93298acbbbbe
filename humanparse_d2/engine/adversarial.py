"""Adversarial training in detectron2: one generator step and discriminator steps per iteration.

``GANStep`` replaces ``SimpleTrainer``/``AMPTrainer``:

1. G forward **once** (``model(data, return_aux=True)`` -> CE losses + outputs), under
   ``torch.amp.autocast("cuda")`` when AMP is on (CUDA only; fp32 on CPU);
2. on iterations with ``iter % d_update_period == 0`` (``d_update_mode="period"``), or with
   probability ``1 / d_update_period`` drawn from ``(d_seed, iter)`` (``"random"``, a released
   GAN's ``random.random() < 0.1``); the same decision on every rank; one D step
   for all discriminators on the **detached** fakes, through the adversary's own DDP wrapper, in fp32
   with its own ``GradScaler``;
3. the discriminators are frozen (``requires_grad_(False)``), the adversarial terms are computed on
   the live fakes with the unwrapped adversary and added to G's losses, G steps.

Only G's terms go through ``write_metrics`` (hence into ``total_loss`` and its NaN check); the D
losses and mean D outputs on real/fake are logged with ``storage.put_scalars``.

``AdversarialTrainer`` (a ``HumanParseTrainer``) owns the adversary, ``optimizer_d`` and
``scheduler_d`` (stepped by ``DiscriminatorLRScheduler``, a separate hook class so its state is
checkpointed next to G's), and registers the adversary as the checkpointable "adversary": a
``--resume`` restores G, Ds, both optimizers, both schedulers, the grad scalers and the iteration.
A checkpoint without discriminator state (e.g. a generator-only baseline) loads G and starts the Ds
fresh, saying so in the log. A model's trainer subclasses ``AdversarialTrainer`` (``build_adversary``,
``build_optimizer_d``, the D schedule) and registers itself in ``TRAINER_REGISTRY``.
"""

import contextlib
import logging
import random
import time

import torch
from detectron2.engine import SimpleTrainer, hooks
from detectron2.utils.events import get_event_storage

from .trainer import HumanParseTrainer, wrap_ddp

__all__ = ["GANStep", "AdversarialTrainer", "DiscriminatorLRScheduler"]

logger = logging.getLogger(__name__)


class DiscriminatorLRScheduler(hooks.LRScheduler):
    """LR schedule of the discriminators' optimizer; logs ``lr_d``.

    A subclass, not a second ``hooks.LRScheduler``: trainer state keeps one entry per hook class
    name, so a second instance of the same class would silently not be checkpointed.
    """

    def __init__(self, optimizer, scheduler):
        super().__init__(optimizer, scheduler)
        self.restored = False

    def after_step(self):
        lr = self._optimizer.param_groups[self._best_param_group_id]["lr"]
        self.trainer.storage.put_scalar("lr_d", lr, smoothing_hint=False)
        self.scheduler.step()

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.restored = True


class GANStep(SimpleTrainer):
    """One iteration of adversarial training (see the module docstring).

    ``adversary`` must provide ``prepare(aux)``, ``discriminator_losses(prepared)`` (also reachable
    as ``forward(prepared, mode="d")`` for DDP) and ``generator_losses(prepared)``; None trains G
    alone (the baseline) with the same step.
    """

    def __init__(
        self,
        model,
        data_loader,
        optimizer,
        *,
        adversary: torch.nn.Module | None = None,
        adversary_ddp: torch.nn.Module | None = None,
        optimizer_d: torch.optim.Optimizer | None = None,
        d_update_period: int = 1,
        d_update_mode: str = "period",
        d_seed: int = 0,
        amp: bool = False,
    ):
        super().__init__(model, data_loader, optimizer)
        if amp and not torch.cuda.is_available():
            raise ValueError("AMP needs CUDA; disable SOLVER.AMP.ENABLED on CPU")
        if (adversary is None) != (optimizer_d is None):
            raise ValueError("adversary and optimizer_d go together")
        if d_update_period < 1:
            raise ValueError(f"d_update_period must be >= 1, got {d_update_period}")
        self.adversary = adversary
        self.adversary_ddp = adversary_ddp if adversary_ddp is not None else adversary
        self.optimizer_d = optimizer_d
        self.d_update_period = int(d_update_period)
        if d_update_mode not in ("period", "random"):
            raise ValueError(f"d_update_mode must be 'period' or 'random', got {d_update_mode!r}")
        self.d_update_mode = d_update_mode
        self.d_seed = int(d_seed)
        self.amp = amp
        self.grad_scaler = torch.amp.GradScaler("cuda", enabled=amp)
        self.grad_scaler_d = torch.amp.GradScaler("cuda", enabled=amp)

    def run_step(self):
        assert self.model.training, "[GANStep] model was changed to eval mode!"
        start = time.perf_counter()
        data = next(self._data_loader_iter)
        data_time = time.perf_counter() - start

        autocast = torch.autocast("cuda") if self.amp else contextlib.nullcontext()
        with autocast:
            loss_dict, aux = self.model(data, return_aux=True)

        d_metrics: dict[str, float] = {}
        if self.adversary is not None:
            prepared = self.adversary.prepare(aux)
            if self.d_step_due(self.iter):
                d_metrics = self.discriminator_step(prepared)
            self.adversary.requires_grad_(False)
            try:
                loss_dict.update(self.adversary.generator_losses(prepared))
            finally:
                self.adversary.requires_grad_(True)

        losses = sum(loss_dict.values())
        self.optimizer.zero_grad(set_to_none=True)
        self.grad_scaler.scale(losses).backward()
        self.after_backward()
        self._write_metrics(loss_dict, data_time)
        if d_metrics:
            get_event_storage().put_scalars(**d_metrics)
        self.grad_scaler.step(self.optimizer)
        self.grad_scaler.update()

    def d_step_due(self, iteration: int) -> bool:
        """Whether the discriminators step at ``iteration`` (a function of it: ranks agree)."""
        if self.d_update_mode == "period":
            return iteration % self.d_update_period == 0
        return (
            random.Random(self.d_seed * 1_000_003 + iteration).random() < 1.0 / self.d_update_period
        )

    def discriminator_step(self, prepared) -> dict[str, float]:
        """One optimizer step of every discriminator on detached fakes; returns scalars to log."""
        out = self.adversary_ddp(prepared, mode="d")
        loss_d = sum(v for k, v in out.items() if k.startswith("loss_d_"))
        self.optimizer_d.zero_grad(set_to_none=True)
        self.grad_scaler_d.scale(loss_d).backward()
        self.grad_scaler_d.step(self.optimizer_d)
        self.grad_scaler_d.update()
        metrics = {k: float(v.detach()) for k, v in out.items()}
        metrics["loss_d"] = float(loss_d.detach())
        return metrics

    def state_dict(self):
        ret = super().state_dict()
        ret["grad_scaler"] = self.grad_scaler.state_dict()
        if self.optimizer_d is not None:
            ret["optimizer_d"] = self.optimizer_d.state_dict()
            ret["grad_scaler_d"] = self.grad_scaler_d.state_dict()
        return ret

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        if state_dict.get("grad_scaler"):
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])
        if self.optimizer_d is None:
            return
        if "optimizer_d" in state_dict:
            self.optimizer_d.load_state_dict(state_dict["optimizer_d"])
            if state_dict.get("grad_scaler_d"):
                self.grad_scaler_d.load_state_dict(state_dict["grad_scaler_d"])
        else:
            logger.warning(
                "the checkpoint's trainer state has no discriminator optimizer: optimizer_d starts fresh"
            )


class AdversarialTrainer(HumanParseTrainer):
    """``HumanParseTrainer`` with a ``GANStep``; subclasses say how to build the adversary and the
    discriminator schedule (``build_adversary``, ``d_update_period``)."""

    def __init__(self, cfg):
        # Built before super().__init__, which calls build_step_trainer and build_hooks.
        self.adversary = self.build_adversary(cfg)
        self.optimizer_d = None
        self.scheduler_d = None
        if self.adversary is not None:
            self.optimizer_d = self.build_optimizer_d(cfg, self.adversary)
            self.scheduler_d = self.build_lr_scheduler(cfg, self.optimizer_d)
        super().__init__(cfg)
        if self.adversary is not None:
            self.checkpointer.checkpointables["adversary"] = self.adversary

    # ---------------------------------------------------------------- builders
    @classmethod
    def build_adversary(cls, cfg) -> torch.nn.Module | None:
        """The discriminators (a module on ``cfg.MODEL.DEVICE``), or None for G-only training."""
        return None

    @classmethod
    def build_optimizer_d(cls, cfg, adversary) -> torch.optim.Optimizer:
        raise NotImplementedError

    @classmethod
    def d_update_period(cls, cfg) -> int:
        return 1

    @classmethod
    def d_update_mode(cls, cfg) -> str:
        return "period"

    def build_step_trainer(self, cfg, model, data_loader, optimizer):  # instance method on purpose
        adversary_ddp = None
        if self.adversary is not None:
            adversary_ddp = wrap_ddp(self.adversary, broadcast_buffers=False)
        amp = bool(cfg.SOLVER.AMP.ENABLED) and torch.cuda.is_available()
        if cfg.SOLVER.AMP.ENABLED and not amp:
            logger.warning("SOLVER.AMP.ENABLED is set but CUDA is not available: training in fp32")
        return GANStep(
            model,
            data_loader,
            optimizer,
            adversary=self.adversary,
            adversary_ddp=adversary_ddp,
            optimizer_d=self.optimizer_d,
            d_update_period=self.d_update_period(cfg),
            d_update_mode=self.d_update_mode(cfg),
            d_seed=max(int(cfg.SEED), 0),
            amp=amp,
        )

    def build_hooks(self):
        ret = super().build_hooks()
        if self.scheduler_d is not None:
            idx = next(i for i, h in enumerate(ret) if type(h) is hooks.LRScheduler)
            ret.insert(idx + 1, DiscriminatorLRScheduler(self.optimizer_d, self.scheduler_d))
        return ret

    def resume_or_load(self, resume=True):
        """As ``DefaultTrainer``; a resumed checkpoint without discriminator state (a baseline's,
        say) loads G and starts the discriminators, their optimizer and schedule fresh (the D LR
        schedule is moved to the resumed iteration)."""
        if self.adversary is not None:
            self.adversary.loaded_from_checkpoint = False
        super().resume_or_load(resume=resume)
        if self.adversary is None:
            return
        resumed = resume and self.checkpointer.has_checkpoint()
        if not resumed:
            logger.info(
                "discriminators start fresh (only the generator is loaded from MODEL.WEIGHTS=%r)",
                self.cfg.MODEL.WEIGHTS,
            )
            return
        if not getattr(self.adversary, "loaded_from_checkpoint", False):
            logger.warning(
                "checkpoint %s has no discriminator weights ('adversary'): the generator and the "
                "iteration are restored, the discriminators start fresh",
                self.checkpointer.get_checkpoint_file(),
            )
        d_hook = next((h for h in self._hooks if isinstance(h, DiscriminatorLRScheduler)), None)
        if d_hook is not None and not d_hook.restored:
            self.scheduler_d.last_epoch = self.scheduler.last_epoch
            for group, lr in zip(self.optimizer_d.param_groups, self.scheduler_d.get_lr()):
                group["lr"] = lr
