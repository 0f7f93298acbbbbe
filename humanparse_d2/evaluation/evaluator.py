"""detectron2 evaluators for human parsing (the only module of this package that imports detectron2).

* :class:`ParsingEvaluator` (multi-person; metadata ``evaluator_type == "parsing"``): mIoU of the
  global map, AP^p + PCP, AP^r and optionally AP^h, from the model outputs of CONTRACTS B via the
  shared :func:`~.postprocess.parsing_postprocess`.
* :class:`SemanticParsingEvaluator` (single-person; ``evaluator_type == "sem_seg"``): mIoU, pixel and
  mean accuracy, IPR and the low-resolution mIoU (MMAN), with the PPSS label merge from metadata.

Each image is reduced to a compact :class:`~.image_eval.ImageRecord` inside ``process`` (optionally
on worker threads), records are gathered to the main process with ``detectron2.utils.comm`` and the
global phase runs there, so the numbers do not depend on the number of processes.
"""

import itertools
import json
import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence

import numpy as np

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from humanparse_core.evaluation.ap import check_mode
from humanparse_core.evaluation.accumulator import ParsingAccumulator
from humanparse_core.evaluation.image_eval import ImageRecord, evaluate_image
from humanparse_core.evaluation.image_inputs import ImageGT, ImagePred
from humanparse_core.evaluation.metric_names import normalize_metrics
from humanparse_core.evaluation.ipr import isolated_pixel_count
from humanparse_core.evaluation.person_label import person_from_map
from humanparse_core.postprocessing import cap_regions, parsing_postprocess
from humanparse_core.evaluation.semseg import apply_label_merge, confusion_matrix, merge_exclude_classes, nearest_exact_resize
from humanparse_core.evaluation.submission import (
    gt_instance_classes_from_maps,
    read_gt_instance_txt,
    write_submission,
)
from humanparse_core.io import read_label

__all__ = [
    "ParsingEvaluator",
    "SemanticParsingEvaluator",
    "build_parsing_evaluator",
    "results_to_flat",
]

logger = logging.getLogger(__name__)


def _np(x):
    if x is None:
        return None
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _stem(d: dict) -> str:
    fn = d.get("file_name") or str(d.get("image_id"))
    return os.path.splitext(os.path.basename(str(fn)))[0]


def results_to_flat(summary: dict, class_names: Sequence[str]) -> "OrderedDict[str, float]":
    """The summary of :class:`ParsingAccumulator` as detectron2's flat float dict."""
    out: "OrderedDict[str, float]" = OrderedDict()
    for k in ("mIoU", "pixel_acc", "mean_acc"):
        if k in summary:
            out[k] = float(summary[k])
    for name, v in summary.get("IoU", {}).items():
        out[f"IoU-{name}"] = float(v)
    for k in ("mIoU_lowres", "IPR"):
        if k in summary:
            out[k] = float(summary[k])
    if "AP_p" in summary:
        out["AP_p_vol"] = float(summary["AP_p_vol"])
        out["AP_p50"] = float(summary["AP_p50"])
        out["PCP50"] = float(summary["PCP50"])
        for t, v in summary["AP_p"].items():
            out[f"AP_p@{t:g}"] = float(v)
        for t, v in summary["PCP"].items():
            out[f"PCP@{t:g}"] = float(v)
    if "AP_r" in summary:
        out["AP_r_vol"] = float(summary["AP_r_vol"])
        out["AP_r50"] = float(summary["AP_r50"])
        for t, v in summary["AP_r"].items():
            out[f"AP_r@{t:g}"] = float(v)
    if "AP_h" in summary:
        out["AP_h"] = float(summary["AP_h"])
        out["AP_h50"] = float(summary["AP_h50"])
        out["AP_h75"] = float(summary["AP_h75"])
    return out


def _classes_from_metadata(metadata, num_classes, who, missing_keys):
    """(C, class names): C from the argument, ``num_parsing`` or ``stuff_classes``; names fall back
    to "0".."C-1" when the metadata has none of length C."""
    names = metadata.get("stuff_classes", None)
    C = num_classes or metadata.get("num_parsing", None) or (len(names) if names else None)
    if C is None:
        raise ValueError(f"{who}: metadata of {metadata.name} has no {missing_keys}")
    C = int(C)
    return C, (list(names) if names and len(names) == C else [str(i) for i in range(C)])


class _DatasetIndex:
    """image_id -> (position in the dataset, dataset dict), loaded on first use."""

    def __init__(self, dataset_name: str):
        self.dataset_name = dataset_name
        self._by_id = None
        self._by_file = None

    def _load(self):
        dicts = DatasetCatalog.get(self.dataset_name)
        self._by_id = {}
        self._by_file = {}
        for i, d in enumerate(dicts):
            self._by_id[d.get("image_id")] = (i, d)
            if d.get("file_name"):
                self._by_file[d["file_name"]] = (i, d)

    def lookup(self, inp: dict):
        if self._by_id is None:
            self._load()
        hit = self._by_id.get(inp.get("image_id"))
        if hit is None and inp.get("file_name"):
            hit = self._by_file.get(inp["file_name"])
        if hit is None:
            raise KeyError(
                f"image {inp.get('image_id')!r} ({inp.get('file_name')}) is not in dataset {self.dataset_name}"
            )
        return hit


class _Worker:
    """Runs per-image jobs inline or on a small thread pool (numpy/cv2 release the GIL)."""

    def __init__(self, num_workers: int):
        self.num_workers = int(num_workers)
        self._pool = None
        self._futures = []
        self._sem = None

    def submit(self, fn, *args):
        if self.num_workers <= 0:
            return fn(*args)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.num_workers)
            self._sem = threading.BoundedSemaphore(2 * self.num_workers)
        self._sem.acquire()  # bound the images held in memory

        def run():
            try:
                return fn(*args)
            finally:
                self._sem.release()

        self._futures.append(self._pool.submit(run))
        return None

    def drain(self) -> List:
        out = [f.result() for f in self._futures]
        self._futures = []
        return out


class _RunInfo:
    """What a model reports next to its outputs, recorded with the metrics: the test settings
    (``out["test_settings"]``: box source, views, QAM) and the images that got no person box
    (``out["num_boxes"] == 0``). Too many of those is an error: an AP from no boxes is no result."""

    def __init__(self):
        self.settings, self.images, self.no_box = None, 0, []

    def add(self, inp, out) -> None:
        if not isinstance(out, dict):
            return
        if self.settings is None and out.get("test_settings"):
            self.settings = dict(out["test_settings"])
        if out.get("num_boxes") is not None:
            self.images += 1
            if int(out["num_boxes"]) == 0:
                self.no_box.append(str(inp.get("image_id", inp.get("file_name", "?"))))

    def gathered(self, distributed: bool) -> "_RunInfo":
        if not (distributed and comm.get_world_size() > 1):
            return self
        merged = _RunInfo()
        for settings, images, no_box in comm.gather((self.settings, self.images, self.no_box), dst=0) or []:
            merged.settings = merged.settings or settings
            merged.images += images
            merged.no_box += no_box
        return merged

    def fill(self, summary: dict) -> None:
        """Record into ``summary``; warn once with examples; raise at the allowed share."""
        if self.settings:
            summary["test_settings"] = {k: v for k, v in self.settings.items() if k != "no_box_hint"}
        if not self.images:
            return
        n = len(self.no_box)
        summary["images_without_boxes"] = n
        summary["images_without_boxes_examples"] = self.no_box[:5]
        if not n:
            return
        settings = self.settings or {}
        source = settings.get("box_source", summary.get("box_source", "unknown"))
        max_share = float(settings.get("max_no_box_share", 1.0))
        msg = (f"{n} of {self.images} images got no person box from the box source {source} "
               f"(e.g. {', '.join(self.no_box[:5])})")
        if n >= max_share * self.images:
            raise RuntimeError(
                f"{msg}: at least MODEL.QANET.TEST.MAX_NO_BOX_SHARE = {max_share:g} of the images. "
                f"Likely cause: {settings.get('no_box_hint', 'see the box source settings')}"
            )
        logger.warning("%s; they count as misses", msg)


class ParsingEvaluator(DatasetEvaluator):
    """Multi-person parsing evaluator (mIoU, AP^p + PCP, AP^r, AP^h).

    Model outputs (CONTRACTS B): ``{"instances": Instances}`` with ``pred_parsing`` (N, H, W) uint8
    full-image label maps at the original size, ``scores`` (S_q), ``box_scores`` and
    ``part_scores`` (N, C-1). Ground truth comes from the dataset dicts (``category_file`` /
    ``sem_seg_file_name``, ``human_file``, ``instance_file``, ``instance_txt``, ``annotations`` with
    ``parsing_id``, ``iscrowd`` and, for MHP-v2, ``person_file``).

    Results: ``{"parsing": {mIoU, pixel_acc, mean_acc, IoU-<class>, AP_p_vol, AP_p50, PCP50,
    AP_p@t, PCP@t, AP_r_vol, AP_r50, AP_r@t, AP_h...}}`` in percent (floats only, as EvalHook and
    print_csv_format need). The mode, the box source (``outputs[i]["box_source"]`` or the
    ``box_source`` argument) and missing-prediction counts are logged, kept in
    ``self.last_summary`` and written to ``<output_dir>/parsing_metrics.json``.
    """

    def __init__(
        self,
        dataset_name: str,
        *,
        metrics: Sequence[str] = ("mIoU", "APp", "APr"),
        apr_matching: str = "one_to_one",
        distributed: bool = True,
        output_dir: Optional[str] = None,
        num_classes: Optional[int] = None,
        semseg_score_thresh: float = 0.3,
        nms_thresh: float = 0.6,
        score_thresh: float = 0.01,
        output_submission: bool = False,
        num_workers: int = 0,
        box_source: Optional[str] = None,
        legacy_nms_indexing: bool = False,
    ):
        self.dataset_name = dataset_name
        self.metadata = MetadataCatalog.get(dataset_name)
        self.metrics = normalize_metrics(metrics)
        self.mode = check_mode(apr_matching)
        self.distributed = distributed
        self.output_dir = output_dir
        self.num_classes, self.class_names = _classes_from_metadata(
            self.metadata, num_classes, "ParsingEvaluator", "num_parsing/stuff_classes"
        )
        self.semseg_score_thresh = float(semseg_score_thresh)
        self.nms_thresh = float(nms_thresh)
        self.score_thresh = float(score_thresh)
        self.output_submission = bool(output_submission)
        self.num_workers = int(num_workers)
        self.box_source = box_source
        self.legacy_nms_indexing = bool(legacy_nms_indexing)
        self._index = _DatasetIndex(dataset_name)
        self.reset()

    def reset(self):
        self._acc = ParsingAccumulator(
            self.num_classes,
            self.metrics,
            mode=self.mode,
            score_thresh=self.score_thresh,
            class_names=self.class_names,
        )
        self._worker = _Worker(self.num_workers)
        self._run_info = _RunInfo()
        self._box_sources = set()
        self._num_empty = 0  # images whose output has no person (no box, or all filtered)
        if self.box_source:
            self._box_sources.add(str(self.box_source))

    # ---- per image -------------------------------------------------------------------------
    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            idx, d = self._index.lookup(inp)
            if isinstance(out, dict) and out.get("box_source"):
                self._box_sources.add(str(out["box_source"]))
            self._run_info.add(inp, out)
            inst = out["instances"] if isinstance(out, dict) else out
            H, W = (
                int(d.get("height", inp.get("height", 0))),
                int(d.get("width", inp.get("width", 0))),
            )
            pred = self._instances_to_numpy(inst, (H, W))
            self._num_empty += int(pred["maps"].shape[0] == 0)
            rec = self._worker.submit(self._evaluate_one, idx, d, pred)
            if rec is not None:
                self._acc.add(rec)

    def _instances_to_numpy(self, inst, hw):
        n = len(inst)
        get = (
            (lambda k: _np(inst.get(k)) if inst.has(k) else None)
            if hasattr(inst, "has")
            else (lambda k: _np(inst.get(k)))
        )
        maps = get("pred_parsing")
        if maps is None:
            if n:
                raise KeyError("ParsingEvaluator: instances have no pred_parsing (N, H, W) field")
            maps = np.zeros((0,) + tuple(hw), np.uint8)
        maps = maps.reshape((-1,) + maps.shape[-2:])
        if maps.shape[1:] != tuple(hw):
            raise ValueError(
                f"pred_parsing is {maps.shape[1:]} but the image is {tuple(hw)}: parsing maps must be at "
                "the original image size"
            )
        scores = get("scores")
        scores = np.zeros(0) if scores is None else scores.astype(np.float64)
        return {
            "maps": maps.astype(np.uint8, copy=False),
            "scores": scores,
            "box_scores": get("box_scores"),
            "part_scores": get("part_scores"),
        }

    def _evaluate_one(self, idx: int, d: dict, pred: dict) -> ImageRecord:
        C, mode = self.num_classes, self.mode
        H, W = pred["maps"].shape[1:]
        res = parsing_postprocess(
            pred["maps"],
            pred["scores"],
            pred["box_scores"],
            pred["part_scores"],
            C,
            semseg_score_thresh=self.semseg_score_thresh,
            nms_thresh=self.nms_thresh,
            score_thresh=self.score_thresh,
            image_size=(H, W),
            legacy_nms_indexing=self.legacy_nms_indexing,
        )
        name = _stem(d)
        if self.output_submission and self.output_dir:
            write_submission(
                os.path.join(self.output_dir, "submission"), name, res, legacy=mode == "legacy"
            )
        missing = []
        if mode == "legacy" and pred["maps"].shape[0] == 0:
            # the reference writes no files for an image without boxes, so its mIoU and AP^r skip it
            missing = ["global_parsing", "instance_parsing", "instance_segmentation"]
        kw = {}
        metrics = self.metrics
        cat_file = d.get("category_file") or d.get("sem_seg_file_name")
        need_cat = "mIoU" in metrics or "APp" in metrics
        cat = read_label(cat_file) if (need_cat and cat_file) else None
        hum = (
            read_label(d["human_file"])
            if (("APp" in metrics or "APh" in metrics) and d.get("human_file"))
            else None
        )
        if cat is not None:
            kw["gt_category"] = cat
            if cat.shape != (H, W):
                raise ValueError(
                    f"ground truth {cat_file} is {cat.shape} but the prediction is {(H, W)}"
                )
        if "APp" in metrics:
            anns = d.get("annotations", [])
            crowd = [bool(a.get("iscrowd", 0)) for a in anns]
            person_files = [a.get("person_file") for a in anns]
            if mode == "default" and anns and all(person_files):
                # MHP-v2: per-person PNGs (ids in the R channel), overlaps kept
                kw["gt_persons"] = [
                    person_from_map(read_label(p, channel=0), C, is_gt=True)
                    for p in person_files
                ]
                kw["gt_crowd"] = crowd
            else:
                if hum is None:
                    raise KeyError(
                        f"{d.get('file_name')}: APp needs human_file (Human_ids) in the dataset dict"
                    )
                kw["gt_human"] = hum
                kw["gt_person_ids"] = [int(a["parsing_id"]) for a in anns] if anns else []
                kw["gt_crowd"] = crowd
            kw["pred_persons"] = res.person_labels()
            kw["pred_person_scores"] = res.person_scores
        if "mIoU" in metrics:
            kw["pred_global"] = res.global_map
        if "APr" in metrics:
            inst_file = d.get("instance_file")
            if not inst_file:
                raise KeyError(
                    f"{d.get('file_name')}: APr needs instance_file (Instance_ids) in the dataset dict"
                )
            gi = read_label(inst_file)
            txt = d.get("instance_txt")
            if txt and os.path.exists(txt):
                gcls = {k: v[0] for k, v in read_gt_instance_txt(txt).items()}
            else:
                gcls = {
                    k: v[0]
                    for k, v in gt_instance_classes_from_maps(
                        gi, cat if cat is not None else read_label(cat_file)
                    ).items()
                }
            rmap, rcls, rsc = res.part_region_map, res.region_classes, res.region_scores
            if mode == "legacy":
                rmap, rcls, rsc = cap_regions(rmap, rcls, rsc, 254)
            kw.update(
                gt_instance=gi,
                gt_instance_classes=gcls,
                pred_regions=rmap,
                pred_region_classes=rcls,
                pred_region_scores=rsc,
            )
        if "APh" in metrics:
            kw["gt_human"] = hum
            kw.update(pred_person_map=res.person_map, pred_person_map_scores=res.person_map_scores)
        gt = ImageGT(
            category=kw.get("gt_category"),
            human=kw.get("gt_human"),
            person_ids=kw.get("gt_person_ids"),
            persons=kw.get("gt_persons"),
            crowd=kw.get("gt_crowd"),
            instance=kw.get("gt_instance"),
            instance_classes=kw.get("gt_instance_classes"),
        )
        pred_in = ImagePred(
            global_map=kw.get("pred_global"),
            persons=kw.get("pred_persons"),
            person_scores=kw.get("pred_person_scores"),
            regions=kw.get("pred_regions"),
            region_classes=kw.get("pred_region_classes"),
            region_scores=kw.get("pred_region_scores"),
            person_map=kw.get("pred_person_map"),
            person_map_scores=kw.get("pred_person_map_scores"),
            missing=tuple(missing),
        )
        return evaluate_image(
            idx, C, metrics, gt, pred_in, mode=mode, name=name, score_thresh=self.score_thresh
        )

    # ---- global -------------------------------------------------------------------------------
    def evaluate(self):
        for rec in self._worker.drain():
            self._acc.add(rec)
        acc = self._acc
        sources = sorted(self._box_sources)
        num_empty = self._num_empty
        run_info = self._run_info.gathered(self.distributed)
        if self.distributed and comm.get_world_size() > 1:
            comm.synchronize()
            states = comm.gather(acc.state(), dst=0)
            all_sources = comm.gather(sources, dst=0)
            num_empty = sum(comm.gather(num_empty, dst=0) or [0])
            if not comm.is_main_process():
                return {}
            acc = ParsingAccumulator(
                self.num_classes,
                self.metrics,
                mode=self.mode,
                score_thresh=self.score_thresh,
                class_names=self.class_names,
            )
            for st in states:
                acc.merge_state(st)
            sources = sorted(set(itertools.chain.from_iterable(all_sources)))
        summary = acc.summarize()
        summary["box_source"] = ",".join(sources) if sources else "unknown"
        summary["dataset"] = self.dataset_name
        summary["images_without_predictions"] = int(num_empty)
        summary["legacy_nms_indexing"] = self.legacy_nms_indexing
        settings = run_info.settings or {}
        official = self.mode == "legacy" and self.legacy_nms_indexing and settings.get("clamp_iou") is False
        summary["evaluation_protocol"] = "official (paper)" if official else "project (corrected)"
        self.last_summary = summary  # everything, incl. mode / box source / missing (not floats)
        try:
            run_info.fill(summary)
        finally:
            _log_and_save(summary, self.output_dir, "parsing_metrics.json")
        return {"parsing": results_to_flat(summary, self.class_names)}


class SemanticParsingEvaluator(DatasetEvaluator):
    """Single-person parsing evaluator: global-confusion mIoU, pixel/mean accuracy, IPR, low-res mIoU.

    Model outputs (CONTRACTS B): ``{"sem_seg": (C, H, W) scores}`` plus optional
    ``"sem_seg_lowres"`` (C, h, w) and ``"sem_seg_ipr_label"`` (h, w). With ``label_merge`` in the
    metadata (PPSS) the argmax is mapped through its LUT and the means skip its excluded classes.

    Args:
        protocol: "native" (prediction at the original size) or "mman256" (GT squashed to 256x256
            with centre-nearest; a prediction of another size is resized bilinearly first).
        lowres_gt_squash: the low-res GT is the GT squashed to this size, then downsampled to the
            low-res output size (both centre-nearest); 0 = downsample the original GT.
    """

    def __init__(
        self,
        dataset_name: str,
        *,
        metrics: Sequence[str] = ("mIoU", "IPR", "mIoU_lowres"),
        mode: str = "default",
        protocol: str = "native",
        lowres_gt_squash: int = 256,
        distributed: bool = True,
        output_dir: Optional[str] = None,
        num_classes: Optional[int] = None,
        num_workers: int = 0,
    ):
        self.dataset_name = dataset_name
        self.metadata = MetadataCatalog.get(dataset_name)
        self.metrics = normalize_metrics(metrics)
        self.mode = check_mode(mode)
        if protocol not in ("native", "mman256"):
            raise ValueError(f"MIOU_PROTOCOL must be 'native' or 'mman256', got {protocol!r}")
        self.protocol = protocol
        self.lowres_gt_squash = int(lowres_gt_squash)
        self.distributed = distributed
        self.output_dir = output_dir
        self.num_classes, self.class_names = _classes_from_metadata(
            self.metadata, num_classes, "SemanticParsingEvaluator", "stuff_classes"
        )
        self.label_merge = self.metadata.get("label_merge", None)
        excl = merge_exclude_classes(self.label_merge, self.class_names)
        self.include = [c for c in range(self.num_classes) if c not in excl] if excl else None
        self.num_workers = int(num_workers)
        self._index = _DatasetIndex(dataset_name)
        self.reset()

    def reset(self):
        self._acc = ParsingAccumulator(
            self.num_classes,
            [m for m in self.metrics if m in ("mIoU", "IPR", "mIoU_lowres")],
            mode=self.mode,
            class_names=self.class_names,
            miou_include=self.include,
        )
        self._worker = _Worker(self.num_workers)
        self._run_info = _RunInfo()

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            self._run_info.add(inp, out)
            gt_file = inp.get("sem_seg_file_name")
            idx = -1
            if gt_file is None or "image_id" in inp:
                try:
                    idx, d = self._index.lookup(inp)
                    gt_file = gt_file or d.get("sem_seg_file_name")
                except KeyError:
                    if gt_file is None:
                        raise
            sem = out["sem_seg"]
            if hasattr(sem, "detach"):
                sem = sem.detach()
            if self.protocol == "mman256" and tuple(sem.shape[-2:]) != (256, 256):
                import torch.nn.functional as F

                sem = F.interpolate(
                    sem[None].float(), size=(256, 256), mode="bilinear", align_corners=False
                )[0]
            label = _np(sem.argmax(0) if hasattr(sem, "argmax") else np.asarray(sem).argmax(0))
            ipr_label = _np(out.get("sem_seg_ipr_label")) if "IPR" in self.metrics else None
            if "IPR" in self.metrics and ipr_label is None:
                ipr_label = (
                    _np(out["sem_seg"].argmax(0)) if hasattr(out["sem_seg"], "argmax") else None
                )
            low = out.get("sem_seg_lowres") if "mIoU_lowres" in self.metrics else None
            low_label = _np(low.argmax(0)) if low is not None else None
            rec = self._worker.submit(self._evaluate_one, idx, gt_file, label, ipr_label, low_label)
            if rec is not None:
                self._acc.add(rec)

    def _evaluate_one(self, idx, gt_file, label, ipr_label, low_label) -> ImageRecord:
        C = self.num_classes
        gt = read_label(gt_file)
        lut = self.label_merge.get("lut") if self.label_merge else None
        label = label.astype(np.int64)
        if lut is not None:
            label = apply_label_merge(label, lut)
        if self.protocol == "mman256":
            gt_eval = nearest_exact_resize(gt, (256, 256))
        else:
            gt_eval = gt
        rec = ImageRecord(index=idx, name=os.path.basename(gt_file))
        rec.conf = confusion_matrix(gt_eval, label, C, name=f"prediction for {gt_file}")
        if ipr_label is not None:
            rec.ipr = isolated_pixel_count(ipr_label)
        if low_label is not None:
            g = gt
            if self.lowres_gt_squash > 0:
                g = nearest_exact_resize(g, (self.lowres_gt_squash, self.lowres_gt_squash))
            g = nearest_exact_resize(g, low_label.shape)
            ll = low_label.astype(np.int64)
            if lut is not None:
                ll = apply_label_merge(ll, lut)
            rec.conf_lowres = confusion_matrix(g, ll, C, name=f"low-res prediction for {gt_file}")
        return rec

    def evaluate(self):
        for rec in self._worker.drain():
            self._acc.add(rec)
        acc = self._acc
        run_info = self._run_info.gathered(self.distributed)
        if self.distributed and comm.get_world_size() > 1:
            comm.synchronize()
            states = comm.gather(acc.state(), dst=0)
            if not comm.is_main_process():
                return {}
            acc = ParsingAccumulator(
                self.num_classes,
                self._acc.metrics,
                mode=self.mode,
                class_names=self.class_names,
                miou_include=self.include,
            )
            for st in states:
                acc.merge_state(st)
        summary = acc.summarize()
        summary["protocol"] = self.protocol
        summary["dataset"] = self.dataset_name
        if self.include is not None:
            summary["mean_over_classes"] = [self.class_names[c] for c in self.include]
        if run_info.settings:
            summary["box_source"] = run_info.settings.get("box_source", "unknown")
        self.last_summary = summary
        try:
            run_info.fill(summary)
        finally:
            _log_and_save(summary, self.output_dir, "sem_seg_parsing_metrics.json")
        return {"parsing": results_to_flat(summary, self.class_names)}


def _json_safe(x):
    if isinstance(x, dict):
        return {(f"{k:g}" if isinstance(k, float) else str(k)): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return None if (np.isnan(x) or np.isinf(x)) else x
    if isinstance(x, np.integer):
        return int(x)
    return x


def _log_and_save(summary: dict, output_dir: Optional[str], fname: str) -> None:
    keys = [
        k
        for k in (
            "mIoU",
            "pixel_acc",
            "mean_acc",
            "mIoU_lowres",
            "IPR",
            "AP_p_vol",
            "AP_p50",
            "PCP50",
            "AP_r_vol",
            "AP_r50",
            "AP_h",
        )
        if k in summary
    ]
    info = ", ".join(f"{k} {summary[k]:.2f}" for k in keys)
    logger.info(
        "Parsing evaluation on %s (mode %s, box source %s, %d images): %s",
        summary.get("dataset"),
        summary.get("mode"),
        summary.get("box_source", "n/a"),
        summary.get("num_images", 0),
        info,
    )
    if summary.get("missing_predictions"):
        logger.warning(
            "images without predictions (%s): %s", summary["mode"], summary["missing_predictions"]
        )
    n_empty, n_img = summary.get("images_without_predictions", 0), summary.get("num_images", 0)
    if n_img and n_empty >= n_img:
        summary["note"] = (
            f"no image has a prediction (all {n_img} outputs are empty): the metrics above score an "
            f"empty submission; check the box source ({summary.get('box_source', 'n/a')}), image ids and "
            "score thresholds"
        )
        logger.warning("Parsing evaluation on %s: %s", summary.get("dataset"), summary["note"])
    if summary.get("classes_absent"):
        logger.info(
            "classes absent from GT and predictions (excluded from the means): %s",
            summary["classes_absent"],
        )
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, fname), "w") as f:
            json.dump(_json_safe(summary), f, indent=2)


def build_parsing_evaluator(
    cfg, dataset_name: str, output_folder: Optional[str] = None
) -> DatasetEvaluator:
    """The parsing evaluator for ``dataset_name``, chosen by its metadata ``evaluator_type``."""
    meta = MetadataCatalog.get(dataset_name)
    et = meta.get("evaluator_type", "parsing")
    ev = cfg.HUMANPARSE_EVALUATION
    box_source = None
    try:
        box_source = cfg.MODEL.QANET.BOX_SOURCE
    except (AttributeError, KeyError):
        pass
    if et == "parsing":
        metrics = [m for m in normalize_metrics(ev.METRICS) if m in ("mIoU", "APp", "APr", "APh")]
        return ParsingEvaluator(
            dataset_name,
            metrics=metrics,
            apr_matching=ev.APR_MATCHING,
            output_dir=output_folder,
            semseg_score_thresh=ev.SEMSEG_SCORE_THRESH,
            nms_thresh=ev.PARSING_NMS_THRESH,
            score_thresh=ev.SCORE_THRESH,
            output_submission=ev.OUTPUT_SUBMISSION,
            num_workers=ev.NUM_WORKERS,
            box_source=box_source,
            legacy_nms_indexing=ev.LEGACY_NMS_INDEXING,
        )
    if et == "sem_seg":
        metrics = [
            m for m in normalize_metrics(ev.METRICS) if m in ("mIoU", "IPR", "mIoU_lowres")
        ] or ["mIoU"]
        if "mIoU" in metrics:
            metrics = list(dict.fromkeys(metrics + ["IPR", "mIoU_lowres"]))
        return SemanticParsingEvaluator(
            dataset_name,
            metrics=metrics,
            mode=ev.APR_MATCHING,
            protocol=ev.MIOU_PROTOCOL,
            lowres_gt_squash=ev.LOWRES_GT_SQUASH,
            output_dir=output_folder,
            num_workers=ev.NUM_WORKERS,
        )
    raise ValueError(
        f"build_parsing_evaluator: dataset {dataset_name} has evaluator_type {et!r}; expected 'parsing' or 'sem_seg'"
    )
