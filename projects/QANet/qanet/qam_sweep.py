"""Run QANet once over a dataset, then score the same outputs with several QAM weight sets.

QAM is post-hoc: box, IoU and pixel scores do not depend on the weights, so paper Table 1 (and the
demo's box-only vs QAM comparison) re-fuses cached per-person scores instead of re-running the
network. Used by ``tools/run_demo.py`` and ``tools/qam_weight_table.py``. (Not to be confused with
``humanparse_d2.modeling.rescoring``, QAM rescoring inside Mask R-CNN's ROI heads.)
"""

import logging
import time
from collections.abc import Callable, Sequence

import torch
from detectron2.structures import Instances
from tqdm import tqdm

__all__ = ["TABLE1_WEIGHTS", "collect_outputs", "rescore", "evaluate_weight_sets", "weights_name"]

logger = logging.getLogger(__name__)

# Paper Table 1 rows (a)-(h)
TABLE1_WEIGHTS: list[tuple[float, float, float]] = [
    (1.0, 0.0, 0.0),
    (0.0, 1.0, 0.0),
    (0.0, 0.0, 1.0),
    (1.0, 1.0, 0.0),
    (1.0, 0.0, 1.0),
    (0.0, 1.0, 1.0),
    (1.0, 1.0, 1.0),
    (1.0, 0.5, 3.0),
]

_KEEP_INPUT_KEYS = ("image_id", "file_name", "height", "width")


def weights_name(w: Sequence[float]) -> str:
    return "(" + ",".join(f"{float(v):g}" for v in w) + ")"


@torch.no_grad()
def collect_outputs(model, data_loader, *, progress: bool = True, desc: str = "QANet inference"):
    """Run ``model`` over ``data_loader``; returns [(light input dict, Instances on CPU)] and the
    seconds spent in the model.

    Not detectron2's ``inference_on_dataset``: the sweep needs the model seconds returned (the demo
    reports them) and a progress bar; that function only logs its timing."""
    model.eval()
    out: list[tuple[dict, Instances]] = []
    it = data_loader
    bar = None
    if progress:
        n = len(data_loader) if hasattr(data_loader, "__len__") else None
        bar = tqdm(total=n, desc=desc, unit="img", dynamic_ncols=True)
    t_model = 0.0
    for inputs in it:
        t0 = time.perf_counter()
        results = model(inputs)
        t_model += time.perf_counter() - t0
        for inp, res in zip(inputs, results):
            light = {k: inp[k] for k in _KEEP_INPUT_KEYS if k in inp}
            out.append((light, res["instances"].to("cpu")))
        if bar is not None:
            bar.update(len(inputs))
    if bar is not None:
        bar.close()
    return out, t_model


def rescore(model, inst: Instances, weights: Sequence[float]) -> Instances:
    """The same person outputs fused with other QAM weights (new Instances; input untouched)."""
    return model.build_instances(
        inst.pred_boxes.tensor,
        inst.box_scores,
        inst.iou_scores,
        inst.pixel_scores,
        inst.part_pixel_scores,
        inst.pred_parsing,
        inst.image_size,
        qam_weights=weights,
    )


def evaluate_weight_sets(
    model,
    collected,
    evaluator_factory: Callable[[], object],
    weight_sets: dict[str, Sequence[float]],
    *,
    box_source: str = "unknown",
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """Evaluate the cached outputs once per weight set. Returns {name: evaluator "parsing" dict}."""
    results = {}
    items = list(weight_sets.items())
    bar = None
    if progress:
        total = len(items) * len(collected)
        bar = tqdm(total=total, desc="evaluation", unit="img", dynamic_ncols=True)
    for name, w in items:
        ev = evaluator_factory()
        ev.reset()
        for inp, inst in collected:
            ev.process([inp], [{"instances": rescore(model, inst, w), "box_source": box_source}])
            if bar is not None:
                bar.update(1)
        res = ev.evaluate() or {}
        results[name] = dict(res.get("parsing", res))
        results[name]["qam_weights"] = list(float(v) for v in w)
        results[name]["box_source"] = box_source
    if bar is not None:
        bar.close()
    return results
