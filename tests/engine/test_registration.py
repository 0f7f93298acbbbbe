"""One `import humanparse_d2` registers every dataset, model, head, backbone, evaluator and trainer."""

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY

import humanparse_d2
from humanparse_d2.engine import TRAINER_REGISTRY, HumanParseTrainer, build_trainer_class
from tests.dataset_names import DATASET_NAMES, NUM_PARSING


def _names(registry):
    return {name for name, _ in registry}


def test_models_heads_backbones_registered():
    assert {"QANet", "MMAN", "ParsingRCNN"} <= _names(META_ARCH_REGISTRY)
    assert {"QAMStandardROIHeads", "QAMCascadeROIHeads", "ParsingROIHeads"} <= _names(
        ROI_HEADS_REGISTRY
    )
    assert "build_timm_backbone" in _names(BACKBONE_REGISTRY)


def test_datasets_registered_with_parsing_metadata():
    registered = set(DatasetCatalog.list())
    assert set(DATASET_NAMES) <= registered
    for name in DATASET_NAMES:
        meta = MetadataCatalog.get(name)
        prefix = name.rsplit("_", 1)[0]
        assert meta.num_parsing == NUM_PARSING[prefix] == len(meta.stuff_classes), name
        assert len(meta.flip_lut) == meta.num_parsing, name
        assert meta.evaluator_type in ("parsing", "sem_seg"), name


def test_evaluators_and_trainers_exported():
    from humanparse_d2.evaluation import ParsingEvaluator, SemanticParsingEvaluator  # noqa: F401

    cfg = humanparse_d2.get_humanparse_cfg()
    cfg.MODEL.META_ARCHITECTURE = "MMAN"
    mman_trainer = TRAINER_REGISTRY.get("MMANTrainer")
    assert build_trainer_class(cfg) is mman_trainer and mman_trainer is not HumanParseTrainer
    cfg.MODEL.META_ARCHITECTURE = "QANet"
    assert issubclass(build_trainer_class(cfg), HumanParseTrainer)


def test_mask_rcnn_on_parsing_dataset_gets_coco_evaluator(tmp_path):
    from detectron2.evaluation import COCOEvaluator

    cfg = humanparse_d2.get_humanparse_cfg()
    cfg.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
    cfg.OUTPUT_DIR = str(tmp_path)
    ev = HumanParseTrainer.build_evaluator(cfg, "synth_humans_val", str(tmp_path))
    assert isinstance(ev, COCOEvaluator)
    cfg.MODEL.META_ARCHITECTURE = "QANet"
    assert not isinstance(
        HumanParseTrainer.build_evaluator(cfg, "synth_humans_val", str(tmp_path)), COCOEvaluator
    )
