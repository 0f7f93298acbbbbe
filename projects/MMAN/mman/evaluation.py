"""MMAN's evaluation: mIoU under the 256x256 protocol (the paper's number) and at native resolution.

The released code has no mIoU code: it writes the 256x256 argmax of the prediction and the label
map squashed to 256x256 with NEAREST (``--loadSize 256``), so the paper's LIP / PASCAL / PPSS
numbers were very likely computed on those 256x256 pairs. :class:`MMANEvaluator` therefore runs two
``SemanticParsingEvaluator`` s on the same predictions:

- ``mman256`` (reported as ``mIoU``, ``mIoU_256x256``): the argmax of the ensemble **at the size the
  model saw** (``sem_seg_input_size``, 256x256 under the squash test resize, so the prediction is
  never resized twice) against the label map squashed to 256x256 with centre-nearest sampling (PIL
  NEAREST). A prediction made at another size (the paper preset tests at the original size) is
  resized bilinearly to 256x256 first. IPR and the low-resolution mIoU come from this pass.
- ``native`` (``mIoU_native``, ``pixel_acc_native``): the prediction resized to the original image
  size against the original label map.

Next to ``IPR`` (8-neighbour singletons, ``humanparse_core.evaluation.ipr``) it reports ``IPR_4conn``
(4-neighbour singletons; a checkerboard scores 0 under the first and 100 % under the second), both
on the ensembled argmax at the model's input size.

``mman_metrics.json`` in the output folder says which is which (``paper_protocol``), and each pass
writes its full summary under ``mman256/`` and ``native/``.
"""

import json
import os

from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from humanparse_core.evaluation.ipr import isolated_pixel_count
from humanparse_core.evaluation.metric_names import normalize_metrics
from humanparse_core.evaluation.results import json_safe
from humanparse_d2.evaluation import SemanticParsingEvaluator
from humanparse_d2.utils.atomic import atomic_open

__all__ = ["MMANEvaluator", "build_mman_evaluator", "PAPER_SIDE"]

PAPER_SIDE = 256  # the released test code squashes images and labels to 256 x 256


def _at_paper_size(out: dict) -> dict:
    """The output with ``sem_seg`` replaced by the map at the model's input size when that is the
    256x256 squash (no resize back and forth); otherwise unchanged."""
    sem = out.get("sem_seg_input_size")
    if sem is not None and tuple(sem.shape[-2:]) == (PAPER_SIDE, PAPER_SIDE):
        return dict(out, sem_seg=sem)
    return out


class MMANEvaluator(DatasetEvaluator):
    """Two single-person evaluators on the same outputs (see the module docstring).

    Results: ``{"parsing": {"mIoU" (256x256 protocol), "mIoU_256x256", "mIoU_native",
    "pixel_acc_native", ... every other key of the 256x256 pass}}``.
    """

    def __init__(
        self,
        dataset_name: str,
        *,
        metrics=("mIoU", "IPR", "mIoU_lowres"),
        mode: str = "default",
        lowres_gt_squash: int = 256,
        output_dir: str | None = None,
        distributed: bool = True,
        num_workers: int = 0,
    ):
        metrics = [m for m in normalize_metrics(metrics) if m in ("mIoU", "IPR", "mIoU_lowres")]
        if "mIoU" not in metrics:
            metrics = ["mIoU"] + metrics
        sub = (lambda name: os.path.join(output_dir, name)) if output_dir else (lambda name: None)
        common = dict(mode=mode, distributed=distributed, num_workers=num_workers)
        self.paper = SemanticParsingEvaluator(
            dataset_name,
            metrics=metrics,
            protocol="mman256",
            lowres_gt_squash=lowres_gt_squash,
            output_dir=sub("mman256"),
            **common,
        )
        self.native = SemanticParsingEvaluator(
            dataset_name, metrics=["mIoU"], protocol="native", output_dir=sub("native"), **common
        )
        self.dataset_name = dataset_name
        self.output_dir = output_dir
        self.distributed = distributed
        self.last_summary = None
        self._ipr4 = [0, 0]

    def reset(self):
        self.paper.reset()
        self.native.reset()
        self._ipr4 = [0, 0]

    def process(self, inputs, outputs):
        self.paper.process(inputs, [_at_paper_size(o) for o in outputs])
        self.native.process(inputs, outputs)
        for o in outputs:
            lab = o.get("sem_seg_ipr_label")
            if lab is not None:
                lab = lab.detach().cpu().numpy() if hasattr(lab, "detach") else lab
                n, total = isolated_pixel_count(lab, connectivity=4)
                self._ipr4[0] += n
                self._ipr4[1] += total

    def evaluate(self):
        paper = self.paper.evaluate()
        native = self.native.evaluate()
        ipr4 = self._ipr4
        if self.distributed and comm.get_world_size() > 1:
            parts = comm.gather(ipr4, dst=0)
            ipr4 = (
                [sum(p[0] for p in parts), sum(p[1] for p in parts)]
                if comm.is_main_process()
                else ipr4
            )
        if not paper:  # not the main process
            return {}
        flat = dict(paper["parsing"])
        if ipr4[1]:
            flat["IPR_4conn"] = 100.0 * ipr4[0] / ipr4[1]
        flat["mIoU_256x256"] = flat["mIoU"]
        nat = native.get("parsing", {})
        flat["mIoU_native"] = nat.get("mIoU", float("nan"))
        if "pixel_acc" in nat:
            flat["pixel_acc_native"] = nat["pixel_acc"]
        self.last_summary = {
            "dataset": self.dataset_name,
            "paper_protocol": "mman256",
            "protocols": {
                "mman256": "argmax at the 256x256 test input vs labels squashed to 256x256 "
                "(centre-nearest); the paper's number",
                "native": "prediction resized to the original size vs the original labels",
            },
            "mIoU_256x256": flat["mIoU_256x256"],
            "mIoU_native": flat["mIoU_native"],
            "IPR_8conn": flat.get("IPR"),
            "IPR_4conn": flat.get("IPR_4conn"),
            "mman256": self.paper.last_summary,
            "native": self.native.last_summary,
        }
        if self.output_dir:
            os.makedirs(self.output_dir, exist_ok=True)
            with atomic_open(os.path.join(self.output_dir, "mman_metrics.json"), "w") as f:
                json.dump(json_safe(self.last_summary), f, indent=2)
        return {"parsing": flat}


def build_mman_evaluator(cfg, dataset_name: str, output_folder: str | None = None) -> MMANEvaluator:
    """The MMAN evaluator of ``cfg`` (``HUMANPARSE_EVALUATION.METRICS``, ``APR_MATCHING`` mode,
    ``LOWRES_GT_SQUASH``, ``NUM_WORKERS``); ``MIOU_PROTOCOL`` is not read: both protocols run."""
    ev = cfg.HUMANPARSE_EVALUATION
    return MMANEvaluator(
        dataset_name,
        metrics=list(ev.METRICS) + ["IPR", "mIoU_lowres"],
        mode=ev.APR_MATCHING,
        lowres_gt_squash=ev.LOWRES_GT_SQUASH,
        output_dir=output_folder,
        num_workers=ev.NUM_WORKERS,
    )
