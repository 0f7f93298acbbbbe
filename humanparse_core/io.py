"""Readers that never fail silently: images, label PNGs, and the binary-mask helpers.

numpy + OpenCV + Pillow + pycocotools only (no torch, no detectron2), so the evaluation CLI and
the synthetic generator can use them without importing the training stack.
"""

import io
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pycocotools.mask as mask_util
from PIL import Image

try:  # optional: zlib-ng inflates label PNGs ~4x faster than zlib (same output)
    from zlib_ng import zlib_ng as _inflate_lib
except ImportError:  # pragma: no cover - depends on the environment
    _inflate_lib = zlib

__all__ = [
    "IMAGE_EXTS",
    "DatasetNotFoundError",
    "BadAnnotationError",
    "TruncatedImageError",
    "MissingLabelError",
    "SubmissionError",
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


class MissingLabelError(BadAnnotationError, FileNotFoundError):
    """A label file that does not exist (dataset loaders skip the record as for any bad
    annotation; the evaluation reports it as a missing file)."""


class SubmissionError(BadAnnotationError):
    """A malformed label, prediction or ground-truth file (the message names it): raised by
    :func:`read_label` and by the submission readers of ``humanparse_core.evaluation``."""


_JPEG_SOI, _JPEG_EOI = b"\xff\xd8", b"\xff\xd9"
_PNG_SIG, _PNG_IEND = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
_TAIL = 1024  # bytes searched for the end marker (writers may pad after it)


def _check_markers(path, head: bytes, tail: bytes) -> None:
    if head.startswith(_JPEG_SOI) and _JPEG_EOI not in tail:
        raise TruncatedImageError(f"image file truncated (no JPEG end-of-image marker): {path}")
    if head.startswith(_PNG_SIG) and _PNG_IEND not in tail:
        raise TruncatedImageError(f"image file truncated (no PNG IEND chunk): {path}")


def check_complete(path, data: bytes | None = None) -> None:
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


def find_file(folder: Path, stem: str, exts: Sequence[str] = IMAGE_EXTS) -> Path | None:
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


def _read_bytes(path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise MissingLabelError(f"label file missing: {path}") from None
    except OSError as e:
        raise BadAnnotationError(f"label file unreadable: {path} ({e})") from e


def _decode_unfiltered_png(buf: bytes, copy: bool = True) -> np.ndarray | None:
    """Decode an 8-bit gray / palette, non-interlaced PNG whose rows use no filter (what the
    submission writer ``write_label_png`` writes): inflate and drop the filter bytes. Palette files
    give their indices. Returns None for anything else (the caller falls back to libpng / PIL)."""
    if len(buf) < 33 or buf[:8] != _PNG_SIG or buf[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", buf[16:29])
    if depth != 8 or ctype not in (0, 3) or interlace != 0:
        return None
    parts, pos, n = [], 8, len(buf)
    while pos + 8 <= n:
        (length,) = struct.unpack(">I", buf[pos : pos + 4])
        kind = buf[pos + 4 : pos + 8]
        if kind == b"IDAT":
            parts.append(buf[pos + 8 : pos + 8 + length])
        elif kind == b"IEND":
            break
        pos += 12 + length
    try:
        raw = _inflate_lib.decompress(b"".join(parts), bufsize=h * (w + 1))
    except Exception:  # noqa: BLE001 - corrupt stream: let libpng report it
        return None
    if len(raw) != h * (w + 1):
        return None
    rows = np.frombuffer(raw, np.uint8).reshape(h, w + 1)
    if rows[:, 0].any():  # filtered rows: let libpng undo the filters
        return None
    # copy=False: a read-only, row-strided view (OpenCV and numpy take it without a copy)
    return rows[:, 1:].copy() if copy else rows[:, 1:]


def _decode_with_pil(path, buf: bytes) -> np.ndarray:
    """Palette files (PIL keeps the indices) and formats OpenCV cannot decode."""
    try:
        with Image.open(io.BytesIO(buf)) as im:
            arr = np.array(im)
    except Exception as e:  # noqa: BLE001
        raise BadAnnotationError(f"label file unreadable: {path} ({e})") from e
    if arr.dtype == np.int32 or arr.dtype == np.int64:
        arr = arr.astype(np.uint16) if arr.max(initial=0) < 65536 else arr
    return arr


def read_label(
    path, channel: int | None = None, *, copy: bool = True, fast_png: bool = True
) -> np.ndarray:
    """Read a label PNG as an (H, W) integer array of the stored ids (never a colour conversion).

    Palette ("P") and gray ("L") files give their index values; 16-bit files stay uint16.

    Args:
        channel: for multi-channel files, the RGB channel index holding the ids (MHP-v2: 0 = R);
            a multi-channel file without ``channel`` is an error.
        copy: False allows a read-only, row-strided view (saves a copy per file in bulk
            evaluation).
        fast_png: decode 8-bit PNGs without row filters (what ``write_label_png`` writes) by
            inflating the IDAT stream directly (zlib-ng when installed), bypassing libpng;
            ``benchmarks/eval_speed.py --png-read`` measures it. Other files take OpenCV / PIL.

    Raises:
        MissingLabelError: the file does not exist.
        TruncatedImageError: a PNG without its IEND chunk.
        SubmissionError: a multi-channel file without ``channel``.
        BadAnnotationError: a file neither OpenCV nor PIL can decode.
    """
    buf = _read_bytes(path)
    # a cut-short file (interrupted copy) may still decode partially: fail naming it instead
    check_complete(path, buf)
    img = _decode_unfiltered_png(buf, copy) if fast_png else None
    if img is not None:
        return img
    if len(buf) > 25 and buf[:8] == _PNG_SIG and buf[25] == 3:  # palette: PIL keeps indices
        return _decode_with_pil(path, buf)
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_UNCHANGED) if buf else None
    if img is None:
        img = _decode_with_pil(path, buf)
    elif img.ndim == 3 and img.shape[2] >= 3:
        img = img[:, :, 2::-1]  # OpenCV is BGR(A): channel indices below are RGB
    if img.ndim == 3:
        if channel is None:
            raise SubmissionError(
                f"label file {path} has {img.shape[2]} channels; label PNGs must be "
                "single-channel id maps (mode L/P), not colour visualisations "
                "(or pass the channel that holds the ids)"
            )
        img = img[:, :, channel]
    return np.ascontiguousarray(img)


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


def encode_mask(mask: np.ndarray) -> dict:
    """COCO compressed RLE of a binary (H, W) mask, with ``counts`` as str (JSON/pickle friendly)."""
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def mask_box(mask: np.ndarray, fmt: str = "xywh"):
    """Tight box of the non-zero pixels of a 2-D mask, or None when it has none.

    Args:
        mask: (H, W) array (bool or integer).
        fmt: "xywh": ``[x0, y0, w, h]`` floats, detectron2's XYWH_ABS (pixel extent, so one pixel
            is 1x1); "yxyx": ``(y0, x0, y1, x1)`` ints, half-open (the metric core's ``Box``).

    detectron2's ``BitMasks.get_bounding_boxes`` computes the XYXY box on torch tensors; this one
    stays numpy/OpenCV so that the torch-free core can use it.
    """
    if fmt not in ("xywh", "yxyx"):
        raise ValueError(f"mask_box: unknown box format {fmt!r} (xywh, yxyx)")
    if mask.size == 0:
        return None
    if mask.dtype == np.uint8 and mask.ndim == 2:
        x, y, w, h = cv2.boundingRect(mask if mask.strides[1] == 1 else np.ascontiguousarray(mask))
        if w == 0 or h == 0:
            return None
        y0, x0, y1, x1 = y, x, y + h, x + w
    else:
        nz = mask != 0
        rows = np.flatnonzero(nz.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(nz.any(axis=0))
        y0, x0, y1, x1 = int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
    if fmt == "yxyx":
        return (y0, x0, y1, x1)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
