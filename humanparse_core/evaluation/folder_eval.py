"""Score a submission folder against CIHP-layout ground truth (the engine of tools/eval_parsing.py).

numpy/cv2 only. Images are processed in a worker pool (fork) when ``workers > 0``; every image is
reduced to an :class:`~.image_eval.ImageRecord`, so memory does not grow with the split beyond
those short records.
"""

import glob
import logging
import multiprocessing as mp
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .ap import check_mode
from .hist import hist1d
from ..io import read_label
from .accumulator import ParsingAccumulator
from .image_eval import ImageRecord, evaluate_image
from .image_inputs import ImageGT, ImagePred
from .metric_names import normalize_metrics
from .person_label import person_from_map
from .submission import (
    SubmissionError,
    gt_instance_classes_from_maps,
    read_gt_instance_txt,
    read_instance_segmentation_txt,
    read_person_parsing,
    read_region_txt,
)


def read_label_png(path):
    """Read-only label maps: the per-image arrays are never written to here."""
    return read_label(path, copy=False)

__all__ = ["evaluate_folder", "list_gt_images", "FolderEvalConfig"]

logger = logging.getLogger(__name__)


def list_gt_images(gt_root: str, image_list: Optional[str] = None) -> List[str]:
    """Image stems of the split: ``image_list`` file, else the single ``*_id.txt`` in ``gt_root``,
    else every PNG under ``Category_ids/`` (or ``Human_ids/``/``Instance_ids/``), sorted."""
    if image_list is None:
        ids = sorted(glob.glob(os.path.join(gt_root, "*_id.txt")))
        image_list = ids[0] if len(ids) == 1 else None
    if image_list is not None:
        with open(image_list) as f:
            return [ln.strip() for ln in f if ln.strip()]
    for sub in ("Category_ids", "Human_ids", "Instance_ids"):
        d = os.path.join(gt_root, sub)
        if os.path.isdir(d):
            names = []
            for root, _, files in os.walk(d):
                for fn in files:
                    if fn.endswith(".png"):
                        names.append(os.path.relpath(os.path.join(root, fn[:-4]), d))
            return sorted(names)
    raise FileNotFoundError(f"{gt_root} holds none of Category_ids/, Human_ids/, Instance_ids/")


def _legacy_txt_list(d: str) -> List[str]:
    """The reference's image list: ``*.txt`` of the prediction folder, one level deeper until found."""
    if not os.path.isdir(d):
        return []
    pattern = d
    for _ in range(4):
        pattern = pattern + "/*"
        names = [x[len(d) + 1 : -4] for x in glob.glob(pattern) if x[-3:] == "txt"]
        if names:
            return names
    return []


class FolderEvalConfig:
    def __init__(self, gt_root, pred_dir, num_classes, metrics, mode, score_thresh):
        self.gt_root = gt_root
        self.pred_dir = pred_dir
        self.num_classes = int(num_classes)
        self.metrics = normalize_metrics(metrics)
        self.mode = check_mode(mode)
        self.score_thresh = float(score_thresh)


_CFG: Optional[FolderEvalConfig] = None


def _tune_malloc() -> None:
    """Keep freed buffers in the heap (glibc): every image decodes a few 300 kB label maps, and
    fresh mmap'ed buffers cost ~75 page faults each, more than the inflate itself."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 128 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _init_worker(cfg: FolderEvalConfig) -> None:
    global _CFG
    _CFG = cfg
    _tune_malloc()
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


def _check_size(arr: np.ndarray, hw: Tuple[int, int], path: str) -> None:
    if arr.shape[:2] != tuple(hw):
        raise SubmissionError(
            f"size mismatch: {path} is {arr.shape[1]}x{arr.shape[0]} (WxH) but the ground truth is "
            f"{hw[1]}x{hw[0]}"
        )


def _ids_present(m: np.ndarray) -> np.ndarray:
    if m.dtype == np.uint8:
        h = hist1d(m, 256)
        return np.flatnonzero(h[1:]) + 1
    u = np.unique(m)
    return u[u > 0]


def _eval_one(task) -> ImageRecord:
    idx, name, skip, ridx = task
    try:
        return _eval_one_inner(idx, name, skip, ridx)
    except (ValueError, FileNotFoundError):  # SubmissionError included: they name the file
        raise
    except Exception as e:  # add the image to any other error
        raise RuntimeError(f"while evaluating image {name!r}: {type(e).__name__}: {e}") from e


def _eval_one_inner(idx: int, name: str, skip: Tuple[str, ...], ridx: Optional[int]) -> ImageRecord:
    cfg = _CFG
    C, metrics, gt, pd = cfg.num_classes, cfg.metrics, cfg.gt_root, cfg.pred_dir
    need_cat = "mIoU" in metrics or "APp" in metrics
    need_hum = "APp" in metrics or "APh" in metrics
    kw = {}
    missing = []
    files = {}
    cat = hum = None
    if need_cat or ("APr" in metrics):
        p = os.path.join(gt, "Category_ids", name + ".png")
        if need_cat or not os.path.exists(os.path.join(gt, "Instance_ids", name + ".txt")):
            cat = read_label_png(p)
    if need_hum:
        hum = read_label_png(os.path.join(gt, "Human_ids", name + ".png"))
    hw = (
        (cat if cat is not None else hum).shape[:2]
        if (cat is not None or hum is not None)
        else None
    )

    if "mIoU" in metrics and "mIoU" not in skip:
        kw["gt_category"] = cat
        p = os.path.join(pd, "global_parsing", name + ".png")
        files["global_parsing"] = p
        if os.path.exists(p):
            g = read_label_png(p)
            _check_size(g, hw, p)
            kw["pred_global"] = g
        else:
            missing.append("global_parsing")
    if "APp" in metrics:
        _check_size(cat, hum.shape, os.path.join(gt, "Category_ids", name + ".png"))
        kw["gt_person_ids"] = "all"  # every id present in Human_ids
        kw["gt_category"] = cat
        kw["gt_human"] = hum
        pp = read_person_parsing(pd, name)
        if pp is None:
            missing.append("person_parsing")
        else:
            scores, paths = pp
            persons = []
            for p in paths:
                m = read_label_png(p)
                _check_size(m, hw, p)
                persons.append(person_from_map(m, C, name=p))
            kw["pred_persons"] = persons
            kw["pred_person_scores"] = scores
    if "APr" in metrics and "APr" not in skip:
        gp = os.path.join(gt, "Instance_ids", name + ".png")
        inst = read_label_png(gp)
        gtxt = os.path.join(gt, "Instance_ids", name + ".txt")
        if os.path.exists(gtxt):
            gcls = {k: v[0] for k, v in read_gt_instance_txt(gtxt).items()}
        else:
            if cat is None:
                cat = read_label_png(os.path.join(gt, "Category_ids", name + ".png"))
            gcls = {k: v[0] for k, v in gt_instance_classes_from_maps(inst, cat).items()}
        kw["gt_instance"] = inst
        kw["gt_instance_classes"] = gcls
        p = os.path.join(pd, "instance_parsing", name + ".png")
        t = p[:-4] + ".txt"
        files["instance_parsing"] = p
        if os.path.exists(t):
            if not os.path.exists(p):
                raise SubmissionError(f"{t} exists but its region map {p} is missing")
            rm = read_label_png(p)
            _check_size(rm, inst.shape, p)
            cls, sc = read_region_txt(t)
            kw["pred_regions"], kw["pred_region_classes"], kw["pred_region_scores"] = rm, cls, sc
        else:
            missing.append("instance_parsing")
    if "APh" in metrics and "APh" not in skip:
        kw["gt_human"] = hum
        p = os.path.join(pd, "instance_segmentation", name + ".png")
        t = p[:-4] + ".txt"
        files["instance_segmentation"] = p
        if os.path.exists(t):
            pm = read_label_png(p)
            _check_size(pm, hum.shape, p)
            sc, _ = read_instance_segmentation_txt(t)
            kw["pred_person_map"], kw["pred_person_map_scores"] = pm, sc
        else:
            missing.append("instance_segmentation")
    gt = ImageGT(
        category=kw.get("gt_category"),
        human=kw.get("gt_human"),
        person_ids=kw.get("gt_person_ids"),
        instance=kw.get("gt_instance"),
        instance_classes=kw.get("gt_instance_classes"),
    )
    pred = ImagePred(
        global_map=kw.get("pred_global"),
        persons=kw.get("pred_persons"),
        person_scores=kw.get("pred_person_scores"),
        regions=kw.get("pred_regions"),
        region_classes=kw.get("pred_region_classes"),
        region_scores=kw.get("pred_region_scores"),
        person_map=kw.get("pred_person_map"),
        person_map_scores=kw.get("pred_person_map_scores"),
        missing=tuple(missing),
        file_names=files,
    )
    return evaluate_image(
        idx,
        C,
        [m for m in metrics if m not in skip],
        gt,
        pred,
        mode=cfg.mode,
        name=name,
        score_thresh=cfg.score_thresh,
        region_index=ridx,
    )


def evaluate_folder(
    gt_root: str,
    pred_dir: str,
    num_classes: int,
    *,
    metrics: Sequence[str] = ("mIoU", "APp", "APr"),
    mode: str = "default",
    workers: int = 0,
    image_list: Optional[str] = None,
    score_thresh: float = 0.01,
    class_names: Optional[Sequence[str]] = None,
    progress: bool = True,
    limit: Optional[int] = None,
) -> Dict[str, object]:
    """Evaluate a submission folder; returns the summary dict (percent; see ParsingAccumulator).

    Image list: legacy takes AP^r's (and AP^h's) images from the prediction ``*.txt`` files (the
    reference rule) and skips mIoU images whose ``global_parsing`` PNG is missing; default uses
    every GT image and counts missing predictions as misses (reported in ``missing_predictions``).
    """
    cfg = FolderEvalConfig(gt_root, pred_dir, num_classes, metrics, mode, score_thresh)
    names = list_gt_images(gt_root, image_list)
    if limit:
        names = names[: int(limit)]
    tasks: List[Tuple[int, str, Tuple[str, ...], Optional[int]]] = []
    if cfg.mode == "legacy":
        # The reference's AP^r/AP^h image list (and concatenation order) is the listing of the
        # prediction folder's *.txt; AP^p and mIoU follow the GT list.
        gt_pos = {n: i for i, n in enumerate(names)}
        lists = {}
        for metric, sub in (("APr", "instance_parsing"), ("APh", "instance_segmentation")):
            if metric in cfg.metrics:
                lists[metric] = _legacy_txt_list(os.path.join(pred_dir, sub))
                for n in lists[metric]:
                    if n not in gt_pos and not limit:
                        raise SubmissionError(
                            f"{os.path.join(pred_dir, sub, n + '.txt')} has no ground truth in {gt_root}"
                        )
        region_pos = {}
        for metric in ("APr", "APh"):
            for n in lists.get(metric, []):
                if n in gt_pos and n not in region_pos:
                    region_pos[n] = len(region_pos)
        sets = {m: set(v) for m, v in lists.items()}
        for i, n in enumerate(names):
            skip = tuple(m for m in ("APr", "APh") if m in sets and n not in sets[m])
            tasks.append((i, n, skip, region_pos.get(n, len(names) + i)))
    else:
        tasks = [(i, n, (), None) for i, n in enumerate(names)]

    acc = ParsingAccumulator(
        num_classes, cfg.metrics, mode=cfg.mode, score_thresh=score_thresh, class_names=class_names
    )
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    bar = (
        tqdm(
            total=len(tasks), desc="eval_parsing", unit="img", disable=not progress, mininterval=0.5
        )
        if tqdm
        else None
    )
    if workers and workers > 0 and len(tasks) > 1:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(int(workers), initializer=_init_worker, initargs=(cfg,)) as pool:
            chunk = max(1, min(32, len(tasks) // (int(workers) * 8) or 1))
            for rec in pool.imap(_eval_one, tasks, chunksize=chunk):
                acc.add(rec)
                if bar is not None:
                    bar.update(1)
    else:
        _init_worker(cfg)
        for t in tasks:
            acc.add(_eval_one(t))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return acc.summarize()
