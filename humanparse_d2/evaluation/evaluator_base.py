"""What the two parsing evaluators share: the reset / evaluate skeleton (per-image records,
gathered to the main process, merged, summarized, logged and saved), the dataset-dict index, the
thread pool that evaluates images while inference goes on, and the model's run information.

Each image is reduced to a compact :class:`~humanparse_core.evaluation.image_eval.ImageRecord`
inside ``process`` (optionally on worker threads); the records' accumulator states are gathered
to the main process with ``detectron2.utils.comm`` and the global phase runs there, so the
numbers do not depend on the number of processes.
"""

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from humanparse_core.evaluation.accumulator import ParsingAccumulator
from humanparse_core.evaluation.ap import check_mode
from humanparse_core.evaluation.image_eval import ImageRecord
from humanparse_core.evaluation.metric_names import normalize_metrics
from humanparse_core.evaluation.results import headline, results_to_flat, write_json

logger = logging.getLogger(__name__)


def _np(x) -> np.ndarray | None:
    """A tensor (any device) or array-like as a numpy array; None stays None."""
    if x is None:
        return None
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _classes_from_metadata(metadata, num_classes, who: str, missing_keys: str):
    """(C, class names): C from the argument, ``num_parsing`` or ``stuff_classes``; names fall back
    to "0".."C-1" when the metadata has none of length C."""
    names = metadata.get("stuff_classes", None)
    C = num_classes or metadata.get("num_parsing", None) or (len(names) if names else None)
    if C is None:
        raise ValueError(f"{who}: metadata of {metadata.name} has no {missing_keys}")
    C = int(C)
    return C, (list(names) if names and len(names) == C else [str(i) for i in range(C)])


class _DatasetIndex:
    """image_id (else file_name) -> (position in the dataset, dataset dict), loaded on first use."""

    def __init__(self, dataset_name: str):
        self.dataset_name = dataset_name
        self._by_id: dict | None = None
        self._by_file: dict = {}

    def _load(self) -> None:
        self._by_id, self._by_file = {}, {}
        for i, d in enumerate(DatasetCatalog.get(self.dataset_name)):
            self._by_id[d.get("image_id")] = (i, d)
            if d.get("file_name"):
                self._by_file[d["file_name"]] = (i, d)

    def lookup(self, inp: dict) -> tuple[int, dict]:
        if self._by_id is None:
            self._load()
        hit = self._by_id.get(inp.get("image_id"))
        if hit is None and inp.get("file_name"):
            hit = self._by_file.get(inp["file_name"])
        if hit is None:
            raise KeyError(
                f"image {inp.get('image_id')!r} ({inp.get('file_name')}) is not in dataset "
                f"{self.dataset_name}"
            )
        return hit


class _ImagePool:
    """Runs per-image jobs inline (``num_workers <= 0``) or on ``num_workers`` threads named
    ``parsing_eval_<k>`` (numpy / cv2 release the GIL). At most ``2 * num_workers`` jobs wait, so
    the images held in memory stay bounded."""

    def __init__(self, num_workers: int):
        self.num_workers = int(num_workers)
        self._pool: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(max(1, 2 * self.num_workers))
        self._futures: list[Future] = []

    def submit(self, fn, *args) -> ImageRecord | None:
        """``fn(*args)`` now (returned) or on a thread (None; its result comes from drain)."""
        if self.num_workers <= 0:
            return fn(*args)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.num_workers, thread_name_prefix="parsing_eval")
        self._slots.acquire()

        def run():
            try:
                return fn(*args)
            finally:
                self._slots.release()

        self._futures.append(self._pool.submit(run))
        return None

    def drain(self) -> list[ImageRecord]:
        """The results of the submitted jobs, in submission order (re-raises their errors)."""
        out = [f.result() for f in self._futures]
        self._futures = []
        return out


class _RunInfo:
    """What a model reports next to its outputs, recorded with the metrics: the test settings
    (``out["test_settings"]``: box source, views, QAM) and the images that got no person box
    (``out["num_boxes"] == 0``). Too many of those is an error: an AP from no boxes is no result."""

    def __init__(self):
        self.settings, self.images, self.no_box = None, 0, []

    def add(self, inp: dict, out) -> None:
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
        parts = comm.gather((self.settings, self.images, self.no_box), dst=0) or []
        for settings, images, no_box in parts:
            merged.settings = merged.settings or settings
            merged.images += images
            merged.no_box += no_box
        return merged

    def fill(self, summary: dict) -> None:
        """Record into ``summary``; warn once with examples; raise at the allowed share."""
        if self.settings:
            summary["test_settings"] = {
                k: v for k, v in self.settings.items() if k != "no_box_hint"
            }
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
        msg = (
            f"{n} of {self.images} images got no person box from the box source {source} "
            f"(e.g. {', '.join(self.no_box[:5])})"
        )
        if n >= max_share * self.images:
            raise RuntimeError(
                f"{msg}: at least MODEL.QANET.TEST.MAX_NO_BOX_SHARE = {max_share:g} of the images. "
                f"Likely cause: {settings.get('no_box_hint', 'see the box source settings')}"
            )
        logger.warning("%s; they count as misses", msg)


class _ParsingEvaluatorBase(DatasetEvaluator):
    """reset / evaluate of the parsing evaluators.

    A subclass calls ``self.reset()`` at the end of its ``__init__`` and defines
    ``_new_accumulator()``, ``process`` (records go through ``self._add(fn, *args)``, which runs
    ``fn(*args) -> ImageRecord`` inline or on the thread pool) and ``_describe(summary, extra,
    settings)``, which adds its run description to the summary. Per-process values other than
    the records (``_local_extra()``) are gathered with them and combined by ``_merge_extra``.
    """

    metrics_file = ""  # the summary JSON written to output_dir

    def __init__(
        self,
        dataset_name: str,
        *,
        metrics,
        mode: str,
        distributed: bool,
        output_dir: str | None,
        num_classes: int | None,
        num_workers: int,
        missing_keys: str,
    ):
        self.dataset_name = dataset_name
        self.metadata = MetadataCatalog.get(dataset_name)
        self.metrics = normalize_metrics(metrics)
        self.mode = check_mode(mode)
        self.distributed = distributed
        self.output_dir = output_dir
        self.num_classes, self.class_names = _classes_from_metadata(
            self.metadata, num_classes, type(self).__name__, missing_keys
        )
        self.num_workers = int(num_workers)
        self._index = _DatasetIndex(dataset_name)

    def _new_accumulator(self) -> ParsingAccumulator:
        raise NotImplementedError

    def _describe(self, summary: dict, extra, settings: dict) -> None:
        raise NotImplementedError

    def _local_extra(self):
        return None

    def _merge_extra(self, parts: list):
        return None

    def reset(self):
        self._acc = self._new_accumulator()
        self._pool = _ImagePool(self.num_workers)
        self._run_info = _RunInfo()

    def _add(self, fn, *args) -> None:
        rec = self._pool.submit(fn, *args)
        if rec is not None:
            self._acc.add(rec)

    def evaluate(self) -> dict:
        """Finish the split (on every process; only the main one returns the metrics).

        Returns:
            ``{"parsing": {metric: float}}`` in percent (see :func:`results_to_flat`), ``{}`` on
            the other processes. The full summary (mode, box source, counts of missing
            predictions, test settings) is kept in ``self.last_summary`` and written to
            ``<output_dir>/<metrics_file>``.
        Raises:
            RuntimeError: too many images got no person box (after the summary is saved).
        """
        for rec in self._pool.drain():
            self._acc.add(rec)
        acc, extra = self._acc, self._local_extra()
        run_info = self._run_info.gathered(self.distributed)
        if self.distributed and comm.get_world_size() > 1:
            comm.synchronize()
            parts = comm.gather((acc.state(), extra), dst=0)
            if not comm.is_main_process():
                return {}
            acc = self._new_accumulator()
            for state, _ in parts:
                acc.merge_state(state)
            extra = self._merge_extra([e for _, e in parts])
        summary = acc.summarize()
        self._describe(summary, extra, run_info.settings or {})
        self.last_summary = summary  # everything, incl. mode / box source / missing (not floats)
        try:
            run_info.fill(summary)
        finally:
            self._log_and_save(summary)
        return {"parsing": results_to_flat(summary)}

    def _log_and_save(self, summary: dict) -> None:
        info = ", ".join(f"{k} {v:.2f}" for k, v in headline(summary))
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
                "images without predictions (%s): %s",
                summary["mode"],
                summary["missing_predictions"],
            )
        n_empty, n_img = summary.get("images_without_predictions", 0), summary.get("num_images", 0)
        if n_img and n_empty >= n_img:
            summary["note"] = (
                f"no image has a prediction (all {n_img} outputs are empty): the metrics above "
                f"score an empty submission; check the box source "
                f"({summary.get('box_source', 'n/a')}), image ids and score thresholds"
            )
            logger.warning("Parsing evaluation on %s: %s", summary.get("dataset"), summary["note"])
        if summary.get("classes_absent"):
            logger.info(
                "classes absent from GT and predictions (excluded from the means): %s",
                summary["classes_absent"],
            )
        if self.output_dir:
            write_json(os.path.join(self.output_dir, self.metrics_file), summary)
