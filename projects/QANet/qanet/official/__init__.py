"""Reading the official QANet release (soeaver/QANet): checkpoint converter and parity runner.

Importing this package registers format ``qanet`` in ``OFFICIAL_FORMAT_REGISTRY`` and the parity
runner ``qanet`` in ``OFFICIAL_PARITY_REGISTRY``. No official code is imported here: the parity
runner and :func:`build_official_qanet` import it from the checkout folder they are given.
"""

from .convert import BackboneStateDict, convert_qanet_state_dict, qanet  # noqa: F401
from .official_model import build_official_qanet, official_config_from_ours  # noqa: F401
from .parity import qanet as _qanet_parity  # noqa: F401  (registers the parity runner)
