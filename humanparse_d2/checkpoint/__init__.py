"""Reading checkpoints written by other code bases (the papers' official releases)."""

from .official import (  # noqa: F401
    OFFICIAL_FORMAT_REGISTRY,
    OFFICIAL_PARITY_REGISTRY,
    CheckpointMismatchError,
    ParityRow,
    check_state_dict_matches,
    convert_official_checkpoint,
    format_for_config,
    read_official_state_dict,
    save_converted_checkpoint,
)
