"""Dataset roots, id lists and the file readers / error types every loader uses.

The readers and errors live in :mod:`humanparse_core.io` (torch-free) and are re-exported here
for the loaders and the training stack; record building is in :mod:`.records`, the dict cache
and derived-file folders in :mod:`.cache`.
"""

import os
from pathlib import Path

from humanparse_core.io import (  # noqa: F401  (re-exported for the loaders)
    IMAGE_EXTS,
    BadAnnotationError,
    DatasetNotFoundError,
    TruncatedImageError,
    check_complete,
    encode_mask,
    find_file,
    image_size,
    mask_box,
    read_image,
    read_label,
)

__all__ = [
    "DatasetNotFoundError",
    "BadAnnotationError",
    "TruncatedImageError",
    "check_complete",
    "datasets_root",
    "require_dir",
    "read_ids",
    "list_image_stems",
    "read_image",
    "read_label",
    "image_size",
    "encode_mask",
    "find_file",
    "IMAGE_EXTS",
    "mask_box",
]

_STEM_EXTS = (".jpg", ".jpeg", ".png", ".bmp")  # compared lower-case


def datasets_root() -> Path:
    """``$DETECTRON2_DATASETS`` (default ``./datasets``), read at call time."""
    return Path(os.path.expanduser(os.environ.get("DETECTRON2_DATASETS", "datasets")))


def require_dir(path, dataset: str, layout: str) -> Path:
    """Return ``path`` if it is a directory, else raise one clear :class:`DatasetNotFoundError`."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"Dataset '{dataset}' not found: expected the folder {path.resolve()} with this layout:\n"
            f"{layout}\n"
            "Set $DETECTRON2_DATASETS to the folder that contains it (currently "
            f"{datasets_root().resolve()})."
        )
    return path


def read_ids(path) -> list[str]:
    """Non-empty, stripped lines of an id list (``train_id.txt`` etc.); extensions are removed."""
    out = []
    with open(path) as f:
        for line in f:
            s = line.strip()
            if not s:
                continue
            s = s.split()[0]
            if "/" in s or "\\" in s:  # e.g. "/JPEGImages/2008_000003.jpg" (DeepLab lists)
                s = s.replace("\\", "/").rsplit("/", 1)[-1]
            stem, ext = os.path.splitext(s)
            out.append(stem if ext.lower() in _STEM_EXTS else s)
    return out


def list_image_stems(folder, exts: tuple[str, ...] = _STEM_EXTS) -> list[str]:
    """Sorted stems of the files in ``folder`` whose lower-case extension is in ``exts``."""
    return sorted(p.stem for p in Path(folder).iterdir() if p.suffix.lower() in exts)
