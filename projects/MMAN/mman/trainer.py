"""The MMAN trainer: the library's ``AdversarialTrainer`` with MMAN's adversary, optimizers, D
schedule, training mapper and evaluators.

Registered as "MMANTrainer" in ``humanparse_d2.engine.TRAINER_REGISTRY``, so ``tools/train_net.py``
trains ``META_ARCHITECTURE: "MMAN"`` with it (the baseline, without discriminators, too).
"""

import torch
from detectron2.data import MetadataCatalog
from detectron2.solver.build import maybe_add_gradient_clipping

from humanparse_d2.data import SinglePersonParsingMapper
from humanparse_d2.engine import TRAINER_REGISTRY
from humanparse_d2.engine.adversarial import AdversarialTrainer

from .adversary import build_mman_adversary
from .config import check_mman_config
from .evaluation import build_mman_evaluator

__all__ = ["MMANTrainer"]


@TRAINER_REGISTRY.register()
class MMANTrainer(AdversarialTrainer):
    """Trainer of the MMAN meta-architecture and all its variants (baseline = no discriminator)."""

    @classmethod
    def build_adversary(cls, cfg):
        return build_mman_adversary(cfg)

    @classmethod
    def d_update_period(cls, cfg) -> int:
        return int(cfg.SOLVER.MMAN_D.UPDATE_PERIOD)

    @classmethod
    def d_update_mode(cls, cfg) -> str:
        check_mman_config(cfg)
        return cfg.SOLVER.MMAN_D.UPDATE_MODE

    @classmethod
    def build_train_mapper(cls, cfg):
        """The configured mapper; with ``MODEL.MMAN.MACRO.CONDITION: precrop`` (release) the
        ``SinglePersonParsingMapper`` also returns the pre-crop thumbnail Macro D is conditioned on."""
        m = cfg.MODEL.MMAN  # checked by the model, which the trainer builds first
        if not (m.MACRO.ENABLED and m.MACRO.CONDITION == "precrop"):
            return super().build_train_mapper(cfg)
        if cfg.INPUT.PARSING.MAPPER != "SinglePersonParsingMapper":
            raise ValueError(
                "MODEL.MMAN.MACRO.CONDITION 'precrop' needs INPUT.PARSING.MAPPER "
                "SinglePersonParsingMapper"
            )
        crop = cfg.INPUT.PARSING.SINGLE.CROP_SIZE
        if crop % m.MACRO.DOWNSAMPLE:
            raise ValueError(
                f"CROP_SIZE {crop} is not a multiple of MODEL.MMAN.MACRO.DOWNSAMPLE "
                f"{m.MACRO.DOWNSAMPLE}"
            )
        thumbnail = crop // m.MACRO.DOWNSAMPLE
        return SinglePersonParsingMapper(cfg, is_train=True, thumbnail_size=thumbnail)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        """Single-person datasets: mIoU under the 256x256 protocol (the paper's number) and at
        native resolution side by side (``mman/evaluation.py``)."""
        if MetadataCatalog.get(dataset_name).get("evaluator_type", "coco") != "sem_seg":
            return super().build_evaluator(cfg, dataset_name, output_folder)
        return build_mman_evaluator(cfg, dataset_name, output_folder)

    @classmethod
    def build_optimizer(cls, cfg, model):
        """Adam on G: ``SOLVER.BASE_LR`` for the new layers, ``x BACKBONE_LR_FACTOR`` for the
        encoder, ``SOLVER.WEIGHT_DECAY`` on every parameter (as released), ``SOLVER.MMAN_G.BETAS``."""
        g = cfg.SOLVER.MMAN_G
        base_lr = cfg.SOLVER.BASE_LR
        backbone, rest = [], []
        for name, p in model.named_parameters():
            if p.requires_grad:
                (backbone if name.startswith("backbone.") else rest).append(p)
        groups = [{"params": rest, "lr": base_lr}]
        if backbone:
            groups.append({"params": backbone, "lr": base_lr * g.BACKBONE_LR_FACTOR})
        opt = torch.optim.Adam(
            groups, lr=base_lr, betas=tuple(g.BETAS), weight_decay=cfg.SOLVER.WEIGHT_DECAY
        )
        return maybe_add_gradient_clipping(cfg, opt)

    @classmethod
    def build_optimizer_d(cls, cfg, adversary):
        d = cfg.SOLVER.MMAN_D
        return torch.optim.Adam(
            adversary.parameters(), lr=d.BASE_LR, betas=tuple(d.BETAS), weight_decay=d.WEIGHT_DECAY
        )
