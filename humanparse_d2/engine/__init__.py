"""Trainers and hooks."""
from .trainer import TRAINERS, HumanParseTrainer, build_trainer_class, wrap_ddp  # noqa: F401
from .defaults import check_config_names, load_config  # noqa: F401,E402
