"""QANet (Quality-Aware Network, arXiv 2103.05997) as a detectron2 meta-architecture.

Importing this package registers ``META_ARCH`` "QANet", the backbone builder
``build_qanet_resnet_fpn_backbone``, the test mapper "QANetTestMapper", the box sources of
``MODEL.QANET.BOX_SOURCE`` and the QANet config keys (added by
``humanparse_d2.add_humanparse_config``).
"""

from humanparse_d2.config import register_config_adder
from humanparse_d2.engine import register_class_count_key

from . import official  # noqa: F401  (converter + parity runner "qanet"; no official code imported)
from .backbone import build_qanet_resnet_fpn_backbone, build_qanet_timm_fpn_backbone  # noqa: F401
from .boxes import BOX_SOURCE_REGISTRY, build_box_source  # noqa: F401
from .config import add_qanet_config  # noqa: F401
from .heads import ParsingIoUHead, ParsingPredictor, SemanticFPNHead  # noqa: F401
from .inference import expand_boxes, parse_person_boxes  # noqa: F401
from .mapper import QANetTestMapper  # noqa: F401
from .meta_arch import QANet  # noqa: F401
from .parser import QANetCropParser  # noqa: F401

register_config_adder(add_qanet_config)
register_class_count_key("QANet", "MODEL.QANET.NUM_CLASSES")
