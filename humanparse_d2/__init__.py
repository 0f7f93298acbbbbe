"""humanparse_d2: human parsing for detectron2.

``import humanparse_d2`` registers every dataset, meta-architecture, backbone, head and evaluator
of the plugin, including the paper packages QANet and MMAN (``humanparse_d2.projects.*``).
"""

# Registration imports: the library's subpackages first, then the paper packages, which build on
# them and register their config keys, trainers, mappers and box sources with them (this module is
# the only place the library imports a project).
from . import (
    checkpoint,  # noqa: F401,E402
    data,  # noqa: F401,E402
    engine,  # noqa: F401,E402
    evaluation,  # noqa: F401,E402
    modeling,  # noqa: F401,E402
)
from .config import add_humanparse_config, get_humanparse_cfg  # noqa: F401
from .projects import mman, qanet  # noqa: F401,E402

__version__ = "0.1.0"
__all__ = ["add_humanparse_config", "get_humanparse_cfg"]
