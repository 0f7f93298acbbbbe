"""On-disk dataset-dict cache and writable folders for files derived from read-only datasets.

Location: ``$HUMANPARSE_CACHE``, else ``$DETECTRON2_DATASETS/.humanparse_cache``, else
``~/.cache/humanparse_d2`` (the first writable one); ``HUMANPARSE_CACHE=off`` disables the cache.
"""

import hashlib
import logging
import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from .common import datasets_root

logger = logging.getLogger(__name__)

__all__ = ["cached", "stat_key", "derived_dir", "write_png_atomic"]


def _writable_dir(p: Path) -> bool:
    """Create ``p`` if needed; True when it is a folder this process can write to."""
    try:
        p.mkdir(parents=True, exist_ok=True)
        return os.access(p, os.W_OK)
    except OSError:
        return False


def _cache_dir() -> Path | None:
    env = os.environ.get("HUMANPARSE_CACHE")
    cands = [Path(env)] if env else []
    cands += [datasets_root() / ".humanparse_cache", Path.home() / ".cache" / "humanparse_d2"]
    return next((c for c in cands if _writable_dir(c)), None)


def cached(key_parts: Sequence, fn: Callable[[], list[dict]], *, min_items: int = 2000):
    """Return ``fn()``, cached on disk when the result has >= ``min_items`` records.

    ``key_parts`` must describe the inputs (paths, mtimes, sizes); any change gives a new key.
    Disabled with ``HUMANPARSE_CACHE=off``. The cache is read back with
    :class:`~humanparse_d2.checkpoint.safe_pickle.RestrictedUnpickler` (plain data only), so a
    tampered file cannot run code; an unreadable file is reported and rebuilt.
    """
    if os.environ.get("HUMANPARSE_CACHE", "").lower() in ("off", "0", "none"):
        return fn()
    key = hashlib.sha1(repr(tuple(key_parts)).encode()).hexdigest()[:20]
    cdir = _cache_dir()
    path = cdir / f"dicts_{key}.pkl" if cdir else None
    if path is not None and path.is_file():
        # The cache folder may be shared (a datasets root other users write to): the file is read
        # with the restricted unpickler, which refuses anything but plain data, and any load error
        # is reported before the records are rebuilt from the dataset.
        from humanparse_d2.checkpoint.safe_pickle import safe_load

        try:
            with open(path, "rb") as f:
                out = safe_load(f, source=str(path))
            if not isinstance(out, list):
                raise TypeError(f"expected a list of dataset dicts, got {type(out).__name__}")
            return out
        except Exception as e:  # noqa: BLE001  (corrupt or tampered cache: rebuild, loudly)
            logger.warning(
                "ignoring dataset cache %s (%s: %s); rebuilding it", path, type(e).__name__, e
            )
    out = fn()
    if path is not None and len(out) >= min_items:
        from humanparse_d2.utils.atomic import atomic_open

        with atomic_open(path, "wb") as f:
            pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
    return out


def stat_key(*paths) -> tuple:
    """(path, mtime_ns, size) per existing path, for cache keys."""
    out = []
    for p in paths:
        if p is None:
            continue
        try:
            st = os.stat(p)
            out.append((str(Path(p).resolve()), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(p), None, None))
    return tuple(out)


def derived_dir(dataset_root, name: str) -> Path:
    """A writable folder for files the plugin derives from a raw dataset (converted label maps).

    ``<dataset_root>/<name>`` when writable, else a folder under the cache directory.
    """
    p = Path(dataset_root) / name
    if _writable_dir(p):
        return p
    c = _cache_dir()
    if c is None:
        raise OSError(
            f"no writable folder for derived files of {dataset_root} (set HUMANPARSE_CACHE)"
        )
    key = hashlib.sha1(str(Path(dataset_root).resolve()).encode()).hexdigest()[:10]
    p = c / f"derived_{key}" / name
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_png_atomic(path, arr: np.ndarray) -> None:
    """Write a PNG via a temporary file + rename, so concurrent readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.png")
    if not cv2.imwrite(str(tmp), arr):
        raise OSError(f"could not write {path}")
    os.replace(tmp, path)
