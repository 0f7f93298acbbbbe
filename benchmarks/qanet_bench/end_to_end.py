"""End-to-end images/s: detectron2 Faster R-CNN R50-FPN (COCO config as a one-class person
detector with random weights, top 3 detections) -> QANet -> paste-back -> QAM; the detector's share
of the time is reported too."""

import os
import tempfile
import time
from pathlib import Path

from _common import qanet_cfg, sync

from .inputs import R18_QUICK, synthetic_images


def _save_random_detector(zoo, device, out_dir):
    """Random-weight one-class Faster R-CNN from the model-zoo config ``zoo``; returns its .pth."""
    from _random_weights import keep_resnet_finite_
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    dcfg = get_cfg()
    dcfg.merge_from_file(str(zoo))
    dcfg.MODEL.DEVICE = device
    dcfg.MODEL.ROI_HEADS.NUM_CLASSES = (
        1  # a one-class (person) detector: every detection is a person
    )
    det = keep_resnet_finite_(build_model(dcfg))  # else random weights detect nothing
    DetectionCheckpointer(det, save_dir=out_dir).save("det_random")
    return os.path.join(out_dir, "det_random.pth")


def _detector_box_opts(zoo, weights, detector_opts):
    """QANet config overrides that make the detector at ``zoo`` / ``weights`` its box source."""
    det_opts = [
        "MODEL.ROI_HEADS.NUM_CLASSES",
        "1",
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
        "0.0",
        "TEST.DETECTIONS_PER_IMAGE",
        "3",
        "MODEL.PIXEL_STD",
        "[57.375, 57.12, 58.395]",
        *detector_opts,
    ]
    return [
        "MODEL.QANET.BOX_SOURCE", "detector",
        "MODEL.QANET.DETECTOR.CONFIG_FILE", str(zoo),
        "MODEL.QANET.DETECTOR.WEIGHTS", weights,
        "MODEL.QANET.DETECTOR.SCORE_THRESH", "0.0",
        "MODEL.QANET.DETECTOR.OPTS", str(det_opts),
    ]  # fmt: skip


def _time_with_detector(model, device, n_images, image_hw):
    """Runs ``model`` over ``n_images`` synthetic images after one warm-up image.

    Returns (total seconds, seconds inside the box source's ``__call__``, persons found)."""
    import torch

    src = model.box_source_obj
    spent = {"det": 0.0}
    orig_call = type(src).__call__

    def timed_call(self, *a, **k):
        sync(device)
        t0 = time.perf_counter()
        r = orig_call(self, *a, **k)
        sync(device)
        spent["det"] += time.perf_counter() - t0
        return r

    type(src).__call__ = timed_call
    try:
        imgs = synthetic_images(n_images, seed=1, hw=image_hw)
        for x in imgs:
            x.pop("gt_boxes")
        with torch.no_grad():
            model(imgs[:1])
            spent["det"] = 0.0
            n_persons = 0
            sync(device)
            t0 = time.perf_counter()
            for x in imgs:
                n_persons += len(model([x])[0]["instances"])
            sync(device)
            total = time.perf_counter() - t0
    finally:
        type(src).__call__ = orig_call
    return total, spent["det"], n_persons


def bench_end_to_end(
    device, n_images, parser_config=R18_QUICK, parser_opts=(), image_hw=(384, 320), detector_opts=()
):
    """Faster R-CNN R50-FPN (random weights, top-3 detections as persons) + QANet (R18 by default)."""
    import detectron2
    from detectron2.modeling import build_model

    zoo = (
        Path(detectron2.__file__).parent
        / "model_zoo"
        / "configs"
        / "COCO-Detection"
        / "faster_rcnn_R_50_FPN_3x.yaml"
    )
    with tempfile.TemporaryDirectory() as d:
        weights = _save_random_detector(zoo, device, d)
        opts = _detector_box_opts(zoo, weights, detector_opts)
        cfg = qanet_cfg(parser_config, device, opts + list(parser_opts))
        model = build_model(cfg).eval()
        total, det_s, n_persons = _time_with_detector(model, device, n_images, image_hw)
    print(
        f"  end to end (Faster R-CNN R50-FPN + QANet {Path(parser_config).stem}, "
        f"{n_persons / n_images:.1f} persons/image): {n_images / total:.3f} images/s; "
        f"detector {100 * det_s / total:.1f}% of the time",
        flush=True,
    )
    return {
        "images_per_s": round(n_images / total, 4),
        "detector_share_percent": round(100 * det_s / total, 2),
        "persons_per_image": round(n_persons / n_images, 2),
        "detector": "faster_rcnn_R_50_FPN_3x (random weights)",
        "parser_config": parser_config,
    }
