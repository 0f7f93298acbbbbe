"""Single-person parsing evaluator (metadata ``evaluator_type == "sem_seg"``): mIoU, pixel and
mean accuracy, IPR and the low-resolution mIoU (MMAN), with the PPSS label merge from metadata."""

import os
from collections.abc import Sequence

import numpy as np
import torch.nn.functional as F

from humanparse_core.evaluation.accumulator import ParsingAccumulator
from humanparse_core.evaluation.image_eval import ImageRecord
from humanparse_core.evaluation.ipr import isolated_pixel_count
from humanparse_core.evaluation.semseg import (
    apply_label_merge,
    confusion_matrix,
    merge_exclude_classes,
    nearest_exact_resize,
)
from humanparse_core.io import read_label

from .evaluator_base import _np, _ParsingEvaluatorBase

__all__ = ["SemanticParsingEvaluator"]

_METRICS = ("mIoU", "IPR", "mIoU_lowres")
_SQUASH = (256, 256)  # the "mman256" protocol's evaluation size


def _argmax(scores) -> np.ndarray:
    """(C, H, W) scores (tensor or array-like) -> (H, W) label map."""
    return _np(scores.argmax(0) if hasattr(scores, "argmax") else np.asarray(scores).argmax(0))


class SemanticParsingEvaluator(_ParsingEvaluatorBase):
    """Single-person parsing evaluator: global-confusion mIoU, pixel / mean accuracy, IPR and the
    low-res mIoU.

    With ``label_merge`` in the metadata (PPSS) the argmax is mapped through its LUT and the means
    skip its excluded classes. The summary is written to
    ``<output_dir>/sem_seg_parsing_metrics.json``.

    Args:
        protocol: "native" (prediction at the original size) or "mman256" (GT squashed to 256x256
            with centre-nearest; a prediction of another size is resized bilinearly first).
        lowres_gt_squash: the low-res GT is the GT squashed to this size, then downsampled to the
            low-res output size (both centre-nearest); 0 = downsample the original GT.
    """

    metrics_file = "sem_seg_parsing_metrics.json"

    def __init__(
        self,
        dataset_name: str,
        *,
        metrics: Sequence[str] = _METRICS,
        mode: str = "default",
        protocol: str = "native",
        lowres_gt_squash: int = 256,
        distributed: bool = True,
        output_dir: str | None = None,
        num_classes: int | None = None,
        num_workers: int = 0,
    ):
        super().__init__(
            dataset_name,
            metrics=metrics,
            mode=mode,
            distributed=distributed,
            output_dir=output_dir,
            num_classes=num_classes,
            num_workers=num_workers,
            missing_keys="stuff_classes",
        )
        if protocol not in ("native", "mman256"):
            raise ValueError(f"MIOU_PROTOCOL must be 'native' or 'mman256', got {protocol!r}")
        self.protocol = protocol
        self.lowres_gt_squash = int(lowres_gt_squash)
        self.label_merge = self.metadata.get("label_merge", None)
        excl = merge_exclude_classes(self.label_merge, self.class_names)
        self.include = [c for c in range(self.num_classes) if c not in excl] if excl else None
        self.reset()

    def _new_accumulator(self) -> ParsingAccumulator:
        return ParsingAccumulator(
            self.num_classes,
            [m for m in self.metrics if m in _METRICS],
            mode=self.mode,
            class_names=self.class_names,
            miou_include=self.include,
        )

    def process(self, inputs, outputs):
        """Evaluate a batch (inline, or on ``num_workers`` threads while inference goes on).

        Args:
            inputs: the model's inputs; ``sem_seg_file_name`` names the (H, W) GT label PNG,
                else ``image_id`` (or ``file_name``) finds the dataset dict that does.
            outputs: per image ``{"sem_seg": (C, H, W) scores}`` at the original size ("native")
                or any size ("mman256"); optional ``"sem_seg_lowres"`` (C, h, w) scores (low-res
                mIoU), ``"sem_seg_ipr_label"`` (h, w) labels (IPR; else the argmax of
                ``sem_seg``), ``test_settings`` and ``num_boxes`` (QANet).
        """
        for inp, out in zip(inputs, outputs):
            self._run_info.add(inp, out)
            idx, gt_file = self._gt_file(inp)
            self._add(self._evaluate_one, idx, gt_file, *self._labels(out))

    def _gt_file(self, inp: dict) -> tuple[int, str]:
        """(position in the dataset or -1, GT label file) of an input."""
        gt_file = inp.get("sem_seg_file_name")
        idx = -1
        if gt_file is None or "image_id" in inp:
            try:
                idx, d = self._index.lookup(inp)
                gt_file = gt_file or d.get("sem_seg_file_name")
            except KeyError:
                if gt_file is None:
                    raise
        return idx, gt_file

    def _labels(self, out: dict):
        """(label (H, W), IPR label or None, low-res label (h, w) or None) of one output."""
        sem = out["sem_seg"]
        if hasattr(sem, "detach"):
            sem = sem.detach()
        if self.protocol == "mman256" and tuple(sem.shape[-2:]) != _SQUASH:
            sem = F.interpolate(
                sem[None].float(), size=_SQUASH, mode="bilinear", align_corners=False
            )[0]
        ipr_label = None
        if "IPR" in self.metrics:
            ipr_label = _np(out.get("sem_seg_ipr_label"))
            if ipr_label is None and hasattr(out["sem_seg"], "argmax"):
                ipr_label = _np(out["sem_seg"].argmax(0))  # at the output size, not squashed
        low = out.get("sem_seg_lowres") if "mIoU_lowres" in self.metrics else None
        return _argmax(sem), ipr_label, (_np(low.argmax(0)) if low is not None else None)

    def _evaluate_one(self, idx, gt_file, label, ipr_label, low_label) -> ImageRecord:
        C = self.num_classes
        gt = read_label(gt_file)
        lut = self.label_merge.get("lut") if self.label_merge else None
        label = label.astype(np.int64)
        if lut is not None:
            label = apply_label_merge(label, lut)
        gt_eval = nearest_exact_resize(gt, _SQUASH) if self.protocol == "mman256" else gt
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

    def evaluate(self) -> dict:
        """The metrics of the split (see :meth:`_ParsingEvaluatorBase.evaluate`).

        Returns:
            ``{"parsing": {mIoU, pixel_acc, mean_acc, IoU-<class>, mIoU_lowres, IPR}}`` in
            percent (the metrics asked for). The summary also records the protocol, the classes
            the means run over (label merge) and the model's box source.
        """
        return super().evaluate()

    def _describe(self, summary: dict, extra, settings: dict) -> None:
        summary["protocol"] = self.protocol
        summary["dataset"] = self.dataset_name
        if self.include is not None:
            summary["mean_over_classes"] = [self.class_names[c] for c in self.include]
        if settings:
            summary["box_source"] = settings.get("box_source", "unknown")
