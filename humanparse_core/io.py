"""Readers that never fail silently: images, label PNGs, and the binary-mask helpers.

numpy + OpenCV + Pillow + pycocotools only (no torch, no detectron2), so the evaluation CLI and
the synthetic generator can use them without importing the training stack.
"""
import io
import os
from pathlib import Path
from typing import Dict, Optional, Sequence

import cv2
import numpy as np
import pycocotools.mask as mask_util
from PIL import Image

__all__ = [
    "IMAGE_EXTS",
    "DatasetNotFoundError",
    "BadAnnotationError",
    "TruncatedImageError",
    "check_complete",
    "find_file",
    "read_image",
    "read_label",
    "image_size",
    "encode_mask",
    "mask_box",
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


def find_file(folder: Path, stem: str, exts: Sequence[str] = IMAGE_EXTS) -> Optional[Path]:
    for ext in exts:
        p = folder / (stem + ext)
        if p.is_file():
            return p
    return None


def read_image(path, fmt: str = "RGB", *, exif: bool = False) -> np.ndarray:
    """Read an image as HxWx3 uint8 in ``fmt`` ("RGB" or "BGR"; "L" gives HxWx1).

    Args:
        exif: False (dataset images): the EXIF orientation is ignored, so that images stay
            pixel-aligned with their label PNGs (as training and the official code read them);
            decoded by OpenCV, grayscale converted. True (user photos, e.g. the demo): the EXIF
            orientation is applied and any Pillow mode is accepted: grayscale, palette, RGBA (alpha
            dropped), 16-bit and float images (scaled to 8 bits by their peak).

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
    img = _decode_photo(buf, path) if exif else _decode_dataset_image(buf, path)  # BGR
    if fmt == "RGB":
        return np.ascontiguousarray(img[:, :, ::-1])
    if fmt == "BGR":
        return img
    if fmt == "L":
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
    raise ValueError(f"unsupported image format {fmt!r}")


def _decode_dataset_image(buf: np.ndarray, path) -> np.ndarray:
    """(H, W, 3) uint8 BGR in stored pixel order (EXIF ignored); Pillow if OpenCV cannot read it."""
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if buf.size else None
    if img is None:
        try:  # formats OpenCV cannot decode
            img = np.asarray(Image.open(path).convert("RGB"))[:, :, ::-1]
        except Exception as e:  # noqa: BLE001
            raise BadAnnotationError(f"image file unreadable: {path} ({e})") from e
    return img


def _decode_photo(buf: np.ndarray, path) -> np.ndarray:
    """(H, W, 3) uint8 BGR of any Pillow mode, EXIF orientation applied."""
    from PIL import ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(buf.tobytes())) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                peak = 65535.0 if arr.max() > 255 else 255.0
                arr = np.clip(arr / peak * 255.0, 0, 255).astype(np.uint8)
                arr = np.stack([arr] * 3, axis=-1)
            elif im.mode == "F":
                arr = np.asarray(im, dtype=np.float64)
                arr = np.clip(arr / max(arr.max(), 1e-6) * 255.0, 0, 255).astype(np.uint8)
                arr = np.stack([arr] * 3, axis=-1)
            else:
                arr = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise BadAnnotationError(f"cannot read image {path}: {e}") from e
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise BadAnnotationError(f"cannot read image {path}: empty image")
    return np.ascontiguousarray(arr[:, :, ::-1])


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
