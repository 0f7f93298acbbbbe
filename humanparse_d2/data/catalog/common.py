"""Helpers shared by the dataset loaders: roots, file readers, per-person stats, bad-input policy."""
import hashlib
import logging
import os
import pickle
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import cv2
import numpy as np
import pycocotools.mask as mask_util
from PIL import Image

from detectron2.structures import BoxMode

logger = logging.getLogger(__name__)

__all__ = [
    "DatasetNotFoundError",
    "BadAnnotationError",
    "TruncatedImageError",
    "check_complete",
    "datasets_root",
    "require_dir",
    "read_ids",
    "read_image",
    "read_label",
    "image_size",
    "person_annotations",
    "encode_mask",
    "SkipLog",
    "parallel_map",
    "cached",
    "find_file",
    "IMAGE_EXTS",
    "check_label_values",
    "mask_box",
    "stat_key",
    "derived_dir",
    "write_png_atomic",
]

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG")


class DatasetNotFoundError(FileNotFoundError):
    """A registered dataset's files are not where the catalog expects them."""


class BadAnnotationError(ValueError):
    """An annotation file is unreadable or holds values the dataset does not allow."""


class TruncatedImageError(BadAnnotationError):
    """A JPEG/PNG file ends before its end marker (an interrupted copy or download).

    OpenCV decodes such a file without an error (libjpeg fills the missing rows with grey and
    prints "Premature end of JPEG file" without the file name), which would train on an image that
    no longer matches its label.
    """


_JPEG_SOI, _JPEG_EOI = b"\xff\xd8", b"\xff\xd9"
_PNG_SIG, _PNG_IEND = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
_TAIL = 1024  # bytes searched for the end marker (writers may pad after it)


def _check_markers(path, head: bytes, tail: bytes) -> None:
    if head.startswith(_JPEG_SOI) and _JPEG_EOI not in tail:
        raise TruncatedImageError(f"image file truncated (no JPEG end-of-image marker): {path}")
    if head.startswith(_PNG_SIG) and _PNG_IEND not in tail:
        raise TruncatedImageError(f"image file truncated (no PNG IEND chunk): {path}")


def check_complete(path, data: Optional[bytes] = None) -> None:
    """Raise :class:`TruncatedImageError` naming ``path`` if a JPEG/PNG lacks its end marker.

    Reads only the first 8 and last 1 KiB bytes of the file (or of ``data``, its content). In JPEG
    entropy-coded data every 0xFF byte is stuffed, so 0xFFD9 appears only as the end marker.
    """
    if data is not None:
        _check_markers(path, bytes(data[:8]), bytes(data[-_TAIL:]))
        return
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - _TAIL))
            tail = f.read()
    except FileNotFoundError as e:
        raise BadAnnotationError(f"image file missing: {path}") from e
    except OSError as e:
        raise BadAnnotationError(f"image file unreadable: {path} ({e})") from e
    _check_markers(path, head, tail)


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


def read_ids(path) -> List[str]:
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
            out.append(stem if ext.lower() in (".jpg", ".jpeg", ".png", ".bmp") else s)
    return out


def find_file(folder: Path, stem: str, exts: Sequence[str] = IMAGE_EXTS) -> Optional[Path]:
    for ext in exts:
        p = folder / (stem + ext)
        if p.is_file():
            return p
    return None


def read_image(path, fmt: str = "RGB") -> np.ndarray:
    """Read an image as HxWx3 uint8 in ``fmt`` ("RGB" or "BGR"); grayscale files are converted.

    EXIF orientation is ignored so that images stay pixel-aligned with their label PNGs.
    Raises :class:`BadAnnotationError` naming the file when it is missing or unreadable, and
    :class:`TruncatedImageError` when a JPEG/PNG is cut short.
    """
    try:
        buf = np.fromfile(str(path), dtype=np.uint8)
    except FileNotFoundError as e:
        raise BadAnnotationError(f"image file missing: {path}") from e
    except OSError as e:
        raise BadAnnotationError(f"image file unreadable: {path} ({e})") from e
    check_complete(path, buf)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if buf.size else None
    if img is None:
        try:  # formats OpenCV cannot decode
            img = np.asarray(Image.open(path).convert("RGB"))[:, :, ::-1]
        except Exception as e:  # noqa: BLE001
            raise BadAnnotationError(f"image file unreadable: {path} ({e})") from e
    if fmt == "RGB":
        return np.ascontiguousarray(img[:, :, ::-1])
    if fmt == "BGR":
        return img
    if fmt == "L":
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
    raise ValueError(f"unsupported image format {fmt!r}")


def read_label(path, channel: Optional[int] = None) -> np.ndarray:
    """Read a label PNG as an (H, W) integer array of the stored ids (never a colour conversion).

    Palette ("P") and gray ("L") files give their index values; 16-bit files stay uint16. A
    multi-channel file is an error unless ``channel`` (RGB order) says which channel holds the ids.
    """
    if str(path).lower().endswith(".png"):
        check_complete(path)
    if channel is None and str(path).lower().endswith(".png"):
        # fast path: OpenCV returns gray / 16-bit PNGs as 2-D arrays of the stored values; palette
        # and colour files come back 3-channel and take the PIL path below (which keeps indices)
        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is not None and arr.ndim == 2:
            return arr
    try:
        with Image.open(path) as im:
            mode = im.mode
            arr = np.array(im)
    except FileNotFoundError as e:
        raise BadAnnotationError(f"label file missing: {path}") from e
    except Exception as e:  # noqa: BLE001
        raise BadAnnotationError(f"label file unreadable: {path} ({e})") from e
    if arr.ndim == 3:
        if channel is None:
            raise BadAnnotationError(
                f"label file {path} has {arr.shape[2]} channels (mode {mode}); label PNGs must be "
                "single-channel id maps (mode L/P), not colour visualisations"
            )
        arr = arr[:, :, channel]
    if arr.dtype == np.int32 or arr.dtype == np.int64:
        arr = arr.astype(np.uint16) if arr.max(initial=0) < 65536 else arr
    return np.ascontiguousarray(arr)


def image_size(path):
    """(height, width) from the image header, without decoding; a truncated JPEG/PNG is an error."""
    check_complete(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
    except FileNotFoundError as e:
        raise BadAnnotationError(f"image file missing: {path}") from e
    except Exception as e:  # noqa: BLE001
        raise BadAnnotationError(f"image file unreadable: {path} ({e})") from e
    return h, w


def encode_mask(mask: np.ndarray) -> Dict:
    """COCO compressed RLE of a binary (H, W) mask, with ``counts`` as str (JSON/pickle friendly)."""
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def mask_box(mask: np.ndarray):
    """XYWH_ABS box covering the mask's pixels (pixel extent, so one pixel is 1x1), or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    x0, x1, y0, y1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def person_annotations(human: np.ndarray, ids: Optional[Iterable[int]] = None, *, extra=None):
    """Detectron2 annotations for each person id present in a Human_ids map.

    Returns (annotations, missing_ids): one dict per id with bbox (XYWH_ABS), category_id 0, iscrowd 0,
    parsing_id and the person mask as compressed RLE. ``ids`` restricts/orders the ids (ids absent
    from the map are returned in ``missing_ids``); default: every id in the map except 0 and 255.
    """
    present = np.unique(human)
    present = [int(v) for v in present if v != 0 and v != 255]
    if ids is None:
        ids = present
    anns, missing = [], []
    pset = set(present)
    for k in ids:
        k = int(k)
        if k not in pset:
            missing.append(k)
            continue
        m = human == k
        box = mask_box(m)
        ann = {
            "bbox": box,
            "bbox_mode": BoxMode.XYWH_ABS,
            "category_id": 0,
            "iscrowd": 0,
            "parsing_id": k,
            "area": float(m.sum()),
            "segmentation": encode_mask(m),
        }
        if extra:
            ann.update(extra.get(k, {}))
        anns.append(ann)
    return anns, missing


def check_label_values(label: np.ndarray, num_classes: int, path) -> None:
    """Raise BadAnnotationError if ``label`` has a value >= C other than 255 (the ignore label)."""
    mx = int(label.max(initial=0))
    if mx < num_classes:
        return
    vals = np.unique(label)
    bad = [int(v) for v in vals if v >= num_classes and v != 255]
    if bad:
        raise BadAnnotationError(
            f"label file {path} has values {bad[:10]} outside the {num_classes} classes "
            f"(0..{num_classes - 1}, 255 = ignore)"
        )


class SkipLog:
    """Counts skipped items per reason and logs one summary (plus the first examples)."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.counts = Counter()
        self.examples: Dict[str, List[str]] = {}

    def add(self, reason: str, detail: str) -> None:
        self.counts[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < 5:
            ex.append(detail)

    def __bool__(self):
        return bool(self.counts)

    def report(self) -> None:
        for reason, n in self.counts.items():
            logger.warning(
                "[%s] skipped %d item(s): %s. First: %s",
                self.dataset, n, reason, "; ".join(self.examples[reason]),
            )

    def as_dict(self) -> Dict[str, int]:
        return dict(self.counts)


def parallel_map(fn: Callable, items: Sequence, num_workers: Optional[int] = None) -> List:
    """``[fn(x) for x in items]`` on a thread pool (PNG decoding releases the GIL)."""
    if num_workers is None:
        num_workers = min(8, os.cpu_count() or 1)
    if num_workers <= 1 or len(items) < 32:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(num_workers) as ex:
        return list(ex.map(fn, items, chunksize=16))


def load_records(fn: Callable, items: Sequence, dataset_name: str) -> List[dict]:
    """Run a per-item loader over ``items`` (``parallel_map``) and keep the records it returns.

    ``fn(item)`` returns ``(record or None, skipped)`` where ``skipped`` is None, one
    ``(reason, detail)`` pair or a list of them; every skip is counted and reported once per reason.
    """
    skips = SkipLog(dataset_name)
    out = []
    for rec, skipped in parallel_map(fn, items):
        if isinstance(skipped, tuple):
            skipped = [skipped]
        for reason, detail in skipped or ():
            skips.add(reason, detail)
        if rec is not None:
            out.append(rec)
    skips.report()
    return out


def _cache_dir() -> Optional[Path]:
    env = os.environ.get("HUMANPARSE_CACHE")
    cands = [Path(env)] if env else []
    cands += [datasets_root() / ".humanparse_cache", Path.home() / ".cache" / "humanparse_d2"]
    for c in cands:
        try:
            c.mkdir(parents=True, exist_ok=True)
            if os.access(c, os.W_OK):
                return c
        except OSError:
            continue
    return None


def cached(key_parts: Sequence, fn: Callable[[], List[Dict]], *, min_items: int = 2000):
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
            logger.warning("ignoring dataset cache %s (%s: %s); rebuilding it", path, type(e).__name__, e)
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
    try:
        p.mkdir(parents=True, exist_ok=True)
        if os.access(p, os.W_OK):
            return p
    except OSError:
        pass
    c = _cache_dir()
    if c is None:
        raise OSError(f"no writable folder for derived files of {dataset_root} (set HUMANPARSE_CACHE)")
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
