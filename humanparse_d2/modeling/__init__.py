"""Shared modeling pieces: QAM, backbones, heads, rescoring."""
from .qam import fuse_quality, mask_pixel_score, pixel_scores  # noqa: F401
