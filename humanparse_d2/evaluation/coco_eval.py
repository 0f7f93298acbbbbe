"""COCO and LVIS instance evaluation through faster-coco-eval, behind detectron2's evaluators.

detectron2's ``COCOEvaluator`` needs its compiled ``_C`` ops for the fast path (absent from a pip
install, so it falls back to pycocotools' pure-Python ``evaluate``), and its ``LVISEvaluator`` ends in
``lvis`` 0.5.3, which calls ``np.float`` (removed from numpy 2) and crashes after inference.
:class:`FastCOCOEvaluator` and :class:`FastLVISEvaluator` keep detectron2's interface and everything
it does before scoring (gathering across processes, the contiguous -> dataset category-id mapping,
``coco_instances_results.json`` / ``lvis_instances_results.json``, box proposals, the results table),
and replace only the scoring by faster-coco-eval's C++ ``COCOeval_faster`` (``lvis_style=True`` for
LVIS: federated negatives, not-exhaustive categories, 300 detections per image, APr/APc/APf).

Equality with the reference implementations is tested in ``tests/rcnn/test_lvis_eval.py`` and
measured in ``benchmarks/coco_eval_speed.py`` (pycocotools ``COCOeval`` for COCO, lvis-api for LVIS).
"""

import copy
import itertools
import logging
from collections.abc import Sequence

from detectron2.evaluation import COCOEvaluator, LVISEvaluator
from detectron2.utils.logger import create_small_table

__all__ = [
    "FastCOCOEvaluator",
    "FastLVISEvaluator",
    "evaluate_on_coco",
    "evaluate_on_lvis",
    "limit_dets_per_image",
    "faster_coco_eval_available",
]

logger = logging.getLogger(__name__)

_COCO_METRICS = ["AP", "AP50", "AP75", "APs", "APm", "APl"]
_LVIS_METRICS = _COCO_METRICS + ["APr", "APc", "APf"]
# stats_as_dict keys of faster-coco-eval, in the order of detectron2's metric names.
_FCE_KEYS = ["AP_all", "AP_50", "AP_75", "AP_small", "AP_medium", "AP_large", "APr", "APc", "APf"]


def faster_coco_eval_available() -> bool:
    try:
        import faster_coco_eval  # noqa: F401
    except ImportError:
        return False
    return True


def _require():
    try:
        import faster_coco_eval
    except ImportError as e:  # pragma: no cover - the installer adds it
        raise ImportError(
            "COCO/LVIS evaluation needs faster-coco-eval (pip install faster-coco-eval; "
            "scripts/install.sh installs it)"
        ) from e
    return faster_coco_eval


class _GT:
    """A faster-coco-eval ``COCO`` over an already-loaded COCO/LVIS json dict (not re-read).

    faster-coco-eval's C++ core takes integer image ids only; datasets with other ids (the
    project's parsing datasets use file stems) are renumbered here, on shallow copies, and every
    result / ``img_ids`` list is mapped the same way by :meth:`results` / :meth:`image_ids`."""

    def __init__(self, dataset: dict):
        fce = _require()
        ids = [im["id"] for im in dataset.get("images", [])]
        self.remap = None
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            self.remap = {i: k for k, i in enumerate(ids, start=1)}
            dataset = dict(dataset)
            dataset["images"] = [dict(im, id=self.remap[im["id"]]) for im in dataset["images"]]
            dataset["annotations"] = [
                dict(a, image_id=self.remap[a["image_id"]]) for a in dataset.get("annotations", [])
            ]
        self.api = fce.COCO()
        self.api.dataset = dataset
        self.api.createIndex()

    def results(self, results: list[dict]) -> list[dict]:
        if self.remap is None:
            return results
        return [dict(r, image_id=self.remap[r["image_id"]]) for r in results]

    def image_ids(self, img_ids):
        if img_ids is None or self.remap is None:
            return img_ids
        return [self.remap[i] for i in img_ids]


def _gt_api(dataset: dict) -> "_GT":
    return _GT(dataset)


def limit_dets_per_image(results: list[dict], max_dets: int) -> list[dict]:
    """LVIS keeps the ``max_dets`` highest-scoring detections of each image over all categories
    (the lvis-api ``LVISResults`` rule; COCO caps per image *and* category instead).
    Ties keep their input order (stable sort, as lvis-api's ``sorted``)."""
    by_img: dict[int, list[dict]] = {}
    for r in results:
        by_img.setdefault(r["image_id"], []).append(r)
    out = []
    for dets in by_img.values():
        if len(dets) > max_dets:
            dets = sorted(dets, key=lambda d: d["score"], reverse=True)[:max_dets]
        out.extend(dets)
    return out


def _verified_only(gt, results: list[dict]) -> list[dict]:
    """Drop the detections LVIS ignores (a category neither annotated in the image nor in its
    ``neg_category_ids``), after the per-image cap as lvis-api does. faster-coco-eval would drop
    them too, but it then fails (``unordered_map::at``) on an image whose detections are all dropped
    and which has no annotation."""
    pos = {(a["image_id"], a["category_id"]) for a in gt.dataset["annotations"]}
    neg = {im["id"]: set(im.get("neg_category_ids", ())) for im in gt.dataset["images"]}
    return [
        r
        for r in results
        if (r["image_id"], r["category_id"]) in pos
        or r["category_id"] in neg.get(r["image_id"], ())
    ]


def _run(gt, results, iou_type, *, lvis, max_dets, img_ids=None, kpt_oks_sigmas=None):
    """Score ``results`` (dataset category ids) against ``gt``; returns the evaluated object."""
    fce = _require()
    results = copy.deepcopy(gt.results(results))
    img_ids = gt.image_ids(img_ids)
    gt = gt.api
    if iou_type == "segm":
        # As detectron2 does: without the box, the mask area defines small / medium / large.
        for r in results:
            r.pop("bbox", None)
    if lvis:
        results = _verified_only(gt, limit_dets_per_image(results, max_dets[-1]))
    dt = gt.loadRes(results)
    ev = fce.COCOeval_faster(
        gt,
        dt,
        iou_type,
        lvis_style=lvis,
        print_function=logger.info,
        kpt_oks_sigmas=list(kpt_oks_sigmas) if kpt_oks_sigmas else None,
    )
    if iou_type != "keypoints":
        ev.params.maxDets = list(max_dets)
    if img_ids is not None:
        ev.params.imgIds = list(img_ids)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev


def evaluate_on_coco(
    gt_dataset: dict,
    results: list[dict],
    iou_type: str,
    *,
    max_dets=(1, 10, 100),
    img_ids: Sequence[int] | None = None,
    kpt_oks_sigmas=None,
):
    """faster-coco-eval ``COCOeval_faster`` on a COCO json dict; ``.stats`` as pycocotools' COCOeval."""
    if not results:
        raise ValueError("evaluate_on_coco: no detections to score")
    return _run(
        _gt_api(gt_dataset),
        results,
        iou_type,
        lvis=False,
        max_dets=max_dets,
        img_ids=img_ids,
        kpt_oks_sigmas=kpt_oks_sigmas,
    )


def evaluate_on_lvis(gt_dataset: dict, results: list[dict], iou_type: str, *, max_dets: int = 300):
    """LVIS-style scoring of ``results`` on an LVIS json dict. Returns ``{metric: fraction}`` with
    detectron2's LVIS metric names (AP, AP50, AP75, APs, APm, APl, APr, APc, APf)."""
    if not results:
        raise ValueError("evaluate_on_lvis: no detections to score")
    ev = _run(_gt_api(gt_dataset), results, iou_type, lvis=True, max_dets=[max_dets])
    s = ev.stats_as_dict
    return {m: float(s[k]) for m, k in zip(_LVIS_METRICS, _FCE_KEYS)}


class _SkipParentScoring:
    """Run the parent's ``_eval_predictions`` with scoring off: it still maps category ids (in place,
    on the prediction dicts) and writes the results json; the 'annotations are not available' line it
    logs when scoring is off is dropped, since the annotations are there."""

    def __init__(self, evaluator):
        self.ev = evaluator

    def filter(self, record):
        return "not available for evaluation" not in record.getMessage()

    def __enter__(self):
        self.flag = self.ev._do_evaluation
        self.ev._do_evaluation = False
        self.ev._logger.addFilter(self)

    def __exit__(self, *exc):
        self.ev._do_evaluation = self.flag
        self.ev._logger.removeFilter(self)


class FastCOCOEvaluator(COCOEvaluator):
    """detectron2 ``COCOEvaluator`` (same arguments, outputs and files) scored by faster-coco-eval."""

    def _eval_predictions(self, predictions, img_ids=None):
        with _SkipParentScoring(self):
            super()._eval_predictions(predictions, img_ids=img_ids)  # ids mapped, json written
        if not self._do_evaluation:
            self._logger.info("Annotations are not available for evaluation.")
            return
        coco_results = list(itertools.chain(*[x["instances"] for x in predictions]))
        tasks = self._tasks or self._tasks_from_predictions(coco_results)
        gt = _gt_api(self._coco_api.dataset)
        self._logger.info("Evaluating predictions with faster-coco-eval ...")
        for task in sorted(tasks):
            ev = (
                _run(
                    gt,
                    coco_results,
                    task,
                    lvis=False,
                    max_dets=self._max_dets_per_image,
                    img_ids=img_ids,
                    kpt_oks_sigmas=self._kpt_oks_sigmas,
                )
                if coco_results
                else None  # detectron2 reports NaN for every metric
            )
            self._results[task] = self._derive_coco_results(
                ev, task, class_names=self._metadata.get("thing_classes")
            )


class FastLVISEvaluator(LVISEvaluator):
    """detectron2 ``LVISEvaluator`` (same arguments, outputs and files) scored by faster-coco-eval
    in LVIS style, so it runs with numpy 2."""

    def _eval_predictions(self, predictions):
        with _SkipParentScoring(self):
            super()._eval_predictions(predictions)  # ids mapped (+1 / dataset ids), json written
        if not self._do_evaluation:
            self._logger.info("Annotations are not available for evaluation.")
            return
        lvis_results = list(itertools.chain(*[x["instances"] for x in predictions]))
        tasks = self._tasks or self._tasks_from_predictions(lvis_results)
        max_dets = self._max_dets_per_image or 300  # the LVIS default
        gt = _gt_api(self._lvis_api.dataset)
        for task in sorted(tasks):
            if not lvis_results:
                self._logger.warning("No predictions from the model!")
                res = {m: float("nan") for m in _LVIS_METRICS}
            else:
                ev = _run(gt, lvis_results, task, lvis=True, max_dets=[max_dets])
                s = ev.stats_as_dict
                res = {m: float(s[k] * 100) for m, k in zip(_LVIS_METRICS, _FCE_KEYS)}
            self._logger.info(f"Evaluation results for {task}: \n" + create_small_table(res))
            self._results[task] = res
