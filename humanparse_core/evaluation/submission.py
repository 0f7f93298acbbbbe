"""Submission / interchange files, both ways. numpy + cv2 only.

Layout under an output folder, for an image stem ``<name>`` (may contain sub-folders):

  global_parsing/<name>.png            class id per pixel (mIoU)
  instance_parsing/<name>.png + .txt   region id per pixel; txt line k: ``<class_id> <score>`` (AP^r)
  instance_segmentation/<name>.png + .txt  person id per pixel; line k: ``<score> <y1> <x1> <y2> <x2>``
  person_parsing/<name>_<k>.png        full-image label map of AP^p prediction k (k from 1)
  person_parsing/<name>.txt            line k: score of person k

PNGs are single-channel 8-bit; region/person maps with more than 255 ids are written as 16-bit PNGs
(``legacy=True`` instead drops region ids >= 255, as the reference writer does). Ground truth in the
CIHP layout is read with :func:`read_gt_instance_txt` and :func:`humanparse_core.io.read_label`
(which also reads every PNG written here).
"""

import os

import cv2
import numpy as np

from ..io import SubmissionError
from ..postprocessing import ParsingResult, cap_regions
from .hist import joint_hist

__all__ = [
    "SUBMISSION_DIRS",
    "write_label_png",
    "write_submission",
    "read_region_txt",
    "read_score_txt",
    "read_instance_segmentation_txt",
    "read_gt_instance_txt",
    "read_person_parsing",
    "SubmissionError",
]

SUBMISSION_DIRS = ("global_parsing", "instance_parsing", "instance_segmentation", "person_parsing")


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


def _lines(path: str) -> list[list[str]]:
    with open(path) as f:
        return [ln.split() for ln in f.read().splitlines() if ln.strip()]


def read_region_txt(path: str) -> tuple[np.ndarray, np.ndarray]:
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


def read_instance_segmentation_txt(path: str) -> tuple[np.ndarray, np.ndarray]:
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


def read_gt_instance_txt(path: str) -> dict[int, tuple[int, int]]:
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
) -> dict[int, tuple[int, int]]:
    """Regenerate the GT Instance txt when it is absent: each region's most frequent class."""
    n = int(instance.max()) + 1 if instance.size else 1
    J = joint_hist(instance, category, n, 256)
    out = {}
    for rid in np.flatnonzero(J[1:].sum(1) > 0) + 1:
        out[int(rid)] = (int(np.argmax(J[rid])), 0)
    return out


def read_person_parsing(pred_dir: str, name: str) -> tuple[np.ndarray, list[str]] | None:
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
