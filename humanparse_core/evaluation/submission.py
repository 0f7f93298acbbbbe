"""Submission / interchange files, both ways. numpy + cv2 only.

Layout under an output folder, for an image stem ``<name>`` (may contain sub-folders):

  global_parsing/<name>.png            class id per pixel (mIoU)
  instance_parsing/<name>.png + .txt   region id per pixel; txt line k: ``<class_id> <score>`` (AP^r)
  instance_segmentation/<name>.png + .txt  person id per pixel; line k: ``<score> <y1> <x1> <y2> <x2>``
  person_parsing/<name>_<k>.png        full-image label map of AP^p prediction k (k from 1)
  person_parsing/<name>.txt            line k: score of person k

PNGs are single-channel 8-bit; region/person maps with more than 255 ids are written as 16-bit PNGs
(``legacy=True`` instead drops region ids >= 255, as the reference writer does). Ground truth in the
CIHP layout is read with :func:`read_gt_instance_txt` and :func:`read_label_png`.
"""

import io
import os
import struct
import zlib
from typing import Dict, List, Optional, Tuple

import numpy as np

try:
    import cv2
except ImportError:  # pragma: no cover
    cv2 = None

try:  # optional: zlib-ng inflates label PNGs ~4x faster than zlib (same output)
    from zlib_ng import zlib_ng as _inflate_lib
except ImportError:  # pragma: no cover - depends on the environment
    _inflate_lib = zlib

from ..io import check_complete
from ..postprocessing import ParsingResult, cap_regions

__all__ = [
    "SUBMISSION_DIRS",
    "write_label_png",
    "read_label_png",
    "write_submission",
    "read_region_txt",
    "read_score_txt",
    "read_instance_segmentation_txt",
    "read_gt_instance_txt",
    "read_person_parsing",
    "SubmissionError",
]

SUBMISSION_DIRS = ("global_parsing", "instance_parsing", "instance_segmentation", "person_parsing")


class SubmissionError(ValueError):
    """A malformed prediction or ground-truth file (the message names it)."""


def _png_params():
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # no filter: smaller decode cost for label maps
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
    return params


def write_label_png(path: str, label: np.ndarray) -> None:
    """Write a single-channel label PNG (uint8, or uint16 when a value exceeds 255)."""
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"label PNG must be 2-D, got {label.shape} for {path}")
    if label.size and (label.min() < 0 or label.max() > 65535):
        raise ValueError(f"label values outside [0, 65535] for {path}")
    arr = label.astype(np.uint16 if (label.size and label.max() > 255) else np.uint8)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if not cv2.imwrite(path, np.ascontiguousarray(arr), _png_params()):
        raise OSError(f"could not write {path}")


_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _decode_unfiltered_png(buf: bytes, copy: bool = True) -> Optional[np.ndarray]:
    """Fast path for 8-bit gray / palette, non-interlaced PNGs whose rows use no filter (what
    :func:`write_label_png` writes): inflate and drop the filter bytes. Palette files give their
    indices. Returns None for anything else (the caller falls back to libpng / PIL)."""
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
    return np.ascontiguousarray(rows[:, 1:]) if copy else rows[:, 1:]


def read_label_png(path: str, channel: Optional[int] = None, *, copy: bool = True) -> np.ndarray:
    """Read a label PNG as integer ids (8- or 16-bit gray, or palette indices; never a colour
    conversion).

    Args:
        channel: for 3-channel files, the RGB channel index holding the ids (MHP-v2: 0 = R);
            a 3-channel file without ``channel`` is an error.
        copy: False allows a read-only view (saves a copy per file in bulk evaluation).
    """
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"missing label PNG {path}") from None
    # a cut-short file (interrupted copy) may still decode partially: fail naming it instead
    check_complete(path, buf)
    img = _decode_unfiltered_png(buf, copy)
    if img is not None:
        return img
    if len(buf) > 25 and buf[:8] == _PNG_SIG and buf[25] == 3:  # palette with filters: PIL keeps indices
        from PIL import Image

        with Image.open(io.BytesIO(buf)) as im:
            return np.array(im)
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise SubmissionError(f"cannot decode PNG {path}")
    if img.ndim == 3:
        if channel is None:
            raise SubmissionError(
                f"{path} has {img.shape[2]} channels; label PNGs must be single-channel "
                "(pass the channel that holds the ids)"
            )
        img = img[:, :, 2 - channel] if img.shape[2] >= 3 else img[:, :, channel]  # cv2 is BGR
        img = np.ascontiguousarray(img)
    return img


def _fmt(x: float) -> str:
    return repr(float(x))


def write_submission(
    output_dir: str,
    name: str,
    result: ParsingResult,
    *,
    legacy: bool = False,
    person_parsing: bool = True,
) -> None:
    """Write one image's :class:`ParsingResult` in the submission layout (module docstring)."""
    gp = os.path.join(output_dir, "global_parsing", name + ".png")
    write_label_png(gp, result.global_map)

    rmap, rcls, rsc = result.part_region_map, result.region_classes, result.region_scores
    if legacy:
        rmap, rcls, rsc = cap_regions(rmap, rcls, rsc, 254)
    ip = os.path.join(output_dir, "instance_parsing", name)
    write_label_png(ip + ".png", rmap)
    with open(ip + ".txt", "w") as f:
        f.writelines(f"{int(c)} {_fmt(s)}\n" for c, s in zip(rcls, rsc))

    isg = os.path.join(output_dir, "instance_segmentation", name)
    write_label_png(isg + ".png", result.person_map)
    with open(isg + ".txt", "w") as f:
        f.writelines(
            f"{_fmt(s)} {int(b[0])} {int(b[1])} {int(b[2])} {int(b[3])}\n"
            for s, b in zip(result.person_map_scores, result.person_map_boxes)
        )

    if person_parsing:
        pp = os.path.join(output_dir, "person_parsing", name)
        os.makedirs(os.path.dirname(pp), exist_ok=True)
        for k, m in enumerate(result.person_maps, start=1):
            write_label_png(f"{pp}_{k}.png", m)
        with open(pp + ".txt", "w") as f:
            f.writelines(f"{_fmt(s)}\n" for s in result.person_scores)


def _lines(path: str) -> List[List[str]]:
    with open(path) as f:
        return [ln.split() for ln in f.read().splitlines() if ln.strip()]


def read_region_txt(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """``instance_parsing`` txt -> (classes (R,) int64, scores (R,) float64); line k = region k."""
    rows = _lines(path)
    try:
        cls = np.array([int(r[0]) for r in rows], np.int64)
        sc = np.array([float(r[1]) for r in rows], np.float64)
    except (ValueError, IndexError) as e:
        raise SubmissionError(
            f"malformed line in {path} (expected '<class_id> <score>'): {e}"
        ) from e
    return cls, sc


def read_score_txt(path: str) -> np.ndarray:
    """``person_parsing/<name>.txt`` -> (K,) scores, line k = person k."""
    rows = _lines(path)
    try:
        return np.array([float(r[0]) for r in rows], np.float64)
    except (ValueError, IndexError) as e:
        raise SubmissionError(f"malformed line in {path} (expected '<score>'): {e}") from e


def read_instance_segmentation_txt(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """``instance_segmentation`` txt -> (scores (K,), boxes (K, 4) y1 x1 y2 x2)."""
    rows = _lines(path)
    try:
        sc = np.array([float(r[0]) for r in rows], np.float64)
        bx = np.array([[float(v) for v in r[1:5]] for r in rows], np.float64).reshape(-1, 4)
    except (ValueError, IndexError) as e:
        raise SubmissionError(
            f"malformed line in {path} (expected '<score> y1 x1 y2 x2'): {e}"
        ) from e
    return sc, bx


def read_gt_instance_txt(path: str) -> Dict[int, Tuple[int, int]]:
    """GT ``Instance_ids/<name>.txt`` -> {region id: (class id, human id)} (id-keyed)."""
    out = {}
    for r in _lines(path):
        try:
            out[int(r[0])] = (int(r[1]), int(r[2]) if len(r) > 2 else 0)
        except (ValueError, IndexError) as e:
            raise SubmissionError(
                f"malformed line in {path} (expected '<instance_part_id> <class_id> <human_id>'): {e}"
            ) from e
    return out


def gt_instance_classes_from_maps(
    instance: np.ndarray, category: np.ndarray
) -> Dict[int, Tuple[int, int]]:
    """Regenerate the GT Instance txt when it is absent: each region's most frequent class."""
    from .hist import joint_hist

    n = int(instance.max()) + 1 if instance.size else 1
    J = joint_hist(instance, category, n, 256)
    out = {}
    for rid in np.flatnonzero(J[1:].sum(1) > 0) + 1:
        out[int(rid)] = (int(np.argmax(J[rid])), 0)
    return out


def read_person_parsing(pred_dir: str, name: str) -> Optional[Tuple[np.ndarray, List[str]]]:
    """Scores and PNG paths of the AP^p predictions of one image, or None if its txt is missing."""
    txt = os.path.join(pred_dir, "person_parsing", name + ".txt")
    if not os.path.exists(txt):
        return None
    scores = read_score_txt(txt)
    paths = [
        os.path.join(pred_dir, "person_parsing", f"{name}_{k}.png")
        for k in range(1, len(scores) + 1)
    ]
    for p in paths:
        if not os.path.exists(p):
            raise SubmissionError(f"{txt} lists {len(scores)} persons but {p} is missing")
    return scores, paths
