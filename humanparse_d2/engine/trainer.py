"""The plugin's detectron2 trainer.

``HumanParseTrainer`` is detectron2's ``DefaultTrainer`` with the pieces human parsing needs:
a training mapper chosen by config (wrapped in :class:`~humanparse_d2.engine.workers.GuardedMapper`:
bad files are skipped and counted, workers die with the trainer), parsing/COCO/LVIS evaluators
chosen by dataset metadata, Adam, :class:`~humanparse_d2.checkpoint.checkpointer.HumanParseCheckpointer`
(atomic saves, resume fallback, safe loading), and a DDP wrapper that also works for CPU processes (detectron2's ``create_ddp_model`` always passes
``device_ids=[local_rank]``, which DDP rejects for CPU modules, so ``--num-gpus 2`` on a machine
without GPU would fail).
"""

import logging
import os
import weakref

import torch
from detectron2.data import (
    DatasetMapper,
    MetadataCatalog,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, create_ddp_model
from detectron2.engine.train_loop import TrainerBase
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger
from detectron2.utils.registry import Registry

from humanparse_d2.checkpoint.checkpointer import HumanParseCheckpointer

from .workers import GuardedMapper

__all__ = ["HumanParseTrainer", "TRAINER_REGISTRY", "wrap_ddp", "build_trainer_class"]

logger = logging.getLogger(__name__)

TRAINER_REGISTRY = Registry("TRAINER")
TRAINER_REGISTRY.__doc__ = """
Trainers of meta-architectures that need their own training step (e.g. alternating D/G updates,
``adversarial.AdversarialTrainer``). The trainer of ``MODEL.META_ARCHITECTURE`` "X" is the class
registered as "XTrainer"; every other model trains with ``HumanParseTrainer``.
"""


def wrap_ddp(model: torch.nn.Module, **kwargs) -> torch.nn.Module:
    """``create_ddp_model`` with ``device_ids`` that fit the device the model lives on.

    Returns the model unchanged in a single process.
    """
    if comm.get_world_size() == 1:
        return model
    on_cuda = next(model.parameters()).is_cuda if any(True for _ in model.parameters()) else False
    kwargs.setdefault("device_ids", [comm.get_local_rank()] if on_cuda else None)
    return create_ddp_model(model, **kwargs)


def build_trainer_class(cfg) -> type[DefaultTrainer]:
    """The trainer class for ``cfg.MODEL.META_ARCHITECTURE`` (see ``TRAINER_REGISTRY``)."""
    name = f"{cfg.MODEL.META_ARCHITECTURE}Trainer"
    return TRAINER_REGISTRY.get(name) if name in TRAINER_REGISTRY else HumanParseTrainer


class HumanParseTrainer(DefaultTrainer):
    """DefaultTrainer for parsing models; see the module docstring for what differs."""

    def __init__(self, cfg):
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())

        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        model = wrap_ddp(model, broadcast_buffers=False)
        self._trainer = self.build_step_trainer(cfg, model, data_loader, optimizer)

        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = HumanParseCheckpointer(
            model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self)
        )
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    @classmethod
    def build_step_trainer(cls, cfg, model, data_loader, optimizer) -> TrainerBase:
        """The object that runs one iteration; subclasses with their own step override this."""
        if cfg.SOLVER.AMP.ENABLED and torch.cuda.is_available():
            return AMPTrainer(model, data_loader, optimizer)
        if cfg.SOLVER.AMP.ENABLED:
            logger.warning("SOLVER.AMP.ENABLED is set but CUDA is not available: training in fp32")
        return SimpleTrainer(model, data_loader, optimizer)

    @classmethod
    def build_optimizer(cls, cfg, model):
        """SGD (detectron2's default) or Adam, chosen by ``SOLVER.OPTIMIZER``."""
        name = cfg.SOLVER.OPTIMIZER.upper()
        if name == "SGD":
            return DefaultTrainer.build_optimizer(cfg, model)
        if name not in ("ADAM", "ADAMW"):
            raise ValueError(
                f"SOLVER.OPTIMIZER must be SGD, ADAM or ADAMW, got {cfg.SOLVER.OPTIMIZER!r}"
            )
        params = get_default_optimizer_params(
            model,
            base_lr=cfg.SOLVER.BASE_LR,
            weight_decay=cfg.SOLVER.WEIGHT_DECAY,
            weight_decay_norm=cfg.SOLVER.WEIGHT_DECAY_NORM,
            bias_lr_factor=cfg.SOLVER.BIAS_LR_FACTOR,
            weight_decay_bias=cfg.SOLVER.WEIGHT_DECAY_BIAS,
        )
        opt_cls = torch.optim.Adam if name == "ADAM" else torch.optim.AdamW
        return maybe_add_gradient_clipping(
            cfg, opt_cls(params, lr=cfg.SOLVER.BASE_LR, betas=tuple(cfg.SOLVER.BETAS))
        )

    @classmethod
    def build_train_mapper(cls, cfg):
        """The mapper named by ``INPUT.PARSING.MAPPER``, or detectron2's DatasetMapper."""
        name = cfg.INPUT.PARSING.MAPPER
        if not name:
            return DatasetMapper(cfg, is_train=True)
        from humanparse_d2.data import build_parsing_mapper

        return build_parsing_mapper(name, cfg, is_train=True)

    @classmethod
    def build_train_loader(cls, cfg):
        mapper = cls.build_train_mapper(cfg)
        dicts = get_detection_dataset_dicts(
            cfg.DATASETS.TRAIN,
            filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
            min_keypoints=0,
            proposal_files=None,
        )
        # Mappers whose sample is not an image (QANet trains on one record per person) say so.
        prepare = getattr(mapper, "prepare_dataset", None)
        if callable(prepare):
            dicts = prepare(dicts)
        mapper = GuardedMapper(mapper, max_bad=cfg.DATALOADER.MAX_BAD_FILES)
        return build_detection_train_loader(cfg, mapper=mapper, dataset=dicts)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        mapper = None
        name = cfg.INPUT.PARSING.TEST_MAPPER
        if name:
            from humanparse_d2.data import build_parsing_mapper

            mapper = build_parsing_mapper(name, cfg, is_train=False)
        return build_detection_test_loader(cfg, dataset_name, mapper=mapper)

    @classmethod
    def test_with_TTA(cls, cfg, model):
        """detectron2's test-time augmentation (``TEST.AUG``) for R-CNN models; the QAM-aware
        wrapper keeps the rescoring when the ROI heads rescore. Results keys end in ``_TTA``."""
        from collections import OrderedDict

        from humanparse_d2.modeling.test_time_augmentation import build_tta_model

        logger.info("Running inference with test-time augmentation ...")
        tta_model = build_tta_model(cfg, model)
        evaluators = [
            cls.build_evaluator(
                cfg, name, output_folder=os.path.join(cfg.OUTPUT_DIR, "inference_TTA", name)
            )
            for name in cfg.DATASETS.TEST
        ]
        res = cls.test(cfg, tta_model, evaluators)
        return OrderedDict({k + "_TTA": v for k, v in res.items()})

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        """Parsing evaluators for parsing datasets, COCO/LVIS evaluators otherwise."""
        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        evaluator_type = MetadataCatalog.get(dataset_name).get("evaluator_type", "coco")
        # A plain detector/Mask R-CNN on a parsing dataset has no parsing output: score its
        # boxes and masks with COCOEvaluator (the dataset dicts carry person boxes and RLE masks).
        if cfg.MODEL.META_ARCHITECTURE in ("GeneralizedRCNN", "ProposalNetwork"):
            evaluator_type = "coco" if evaluator_type in ("parsing", "sem_seg") else evaluator_type
        if evaluator_type in ("parsing", "sem_seg"):
            from humanparse_d2.evaluation import build_parsing_evaluator

            return build_parsing_evaluator(cfg, dataset_name, output_folder)
        # detectron2's COCO/LVIS evaluators, scored by faster-coco-eval (numpy 2, no compiled ops).
        from humanparse_d2.evaluation.coco_eval import FastCOCOEvaluator, FastLVISEvaluator

        if evaluator_type == "lvis":
            ev = FastLVISEvaluator(dataset_name, output_dir=output_folder)
        else:
            ev = FastCOCOEvaluator(dataset_name, output_dir=output_folder)
        if cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN" and cfg.MODEL.MASK_QUALITY.ENABLED:
            # QAM: the results also say how many detections got a zero mask pixel score (warned
            # about when most did)
            from detectron2.evaluation import DatasetEvaluators

            from humanparse_d2.modeling.rescoring import MaskQualityStats

            return DatasetEvaluators([ev, MaskQualityStats()])
        return ev
