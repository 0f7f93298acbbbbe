"""Trainers and hooks."""

from .defaults import (  # noqa: F401,E402
    ConfigError,
    check_class_counts,
    check_config_names,
    load_config,
    register_class_count_key,
    run_registrations,
    setup_plugin_logger,
)
from .launch import launch  # noqa: F401
from .trainer import TRAINER_REGISTRY, HumanParseTrainer, build_trainer_class, wrap_ddp  # noqa: F401
