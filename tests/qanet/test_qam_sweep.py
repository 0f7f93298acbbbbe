"""Re-scoring cached QANet outputs with QAM weight sets (the demo's box-only vs QAM and Table 1)."""

import pytest
import torch
from detectron2.modeling import build_model

import humanparse_d2  # noqa: F401
from humanparse_d2.modeling.qam import fuse_quality
from humanparse_d2.projects.qanet.qam_sweep import (
    TABLE1_WEIGHTS,
    evaluate_weight_sets,
    rescore,
    weights_name,
)
from tests.tiny_configs import tiny_qanet_cfg as tiny_cfg

from .common import make_image


class _RecordingEvaluator:
    def __init__(self):
        self.seen = []

    def reset(self):
        self.seen = []

    def process(self, inputs, outputs):
        for o in outputs:
            self.seen.append(
                (o["instances"].scores.clone(), o["instances"].part_scores.clone(), o["box_source"])
            )

    def evaluate(self):
        return {"parsing": {"mean_score": float(torch.cat([s for s, _, _ in self.seen]).mean())}}


def test_weight_sets():
    model = build_model(tiny_cfg()).eval()
    x = make_image()
    inst = model.inference([x], detected_boxes=[(x["gt_boxes"], torch.tensor([0.9, 0.3]))])[0][
        "instances"
    ]
    assert len(TABLE1_WEIGHTS) == 8
    box_only = rescore(model, inst, (1, 0, 0))
    torch.testing.assert_close(box_only.scores, torch.tensor([0.9, 0.3]))
    # the original is not modified, and the configured weights reproduce the model's scores
    torch.testing.assert_close(rescore(model, inst, model.qam_weights).scores, inst.scores)
    w = (0.0, 1.0, 1.0)
    exp = fuse_quality(inst.box_scores, inst.iou_scores, inst.pixel_scores, w)
    torch.testing.assert_close(rescore(model, inst, w).scores, exp)
    evs = []

    def factory():
        evs.append(_RecordingEvaluator())
        return evs[-1]

    res = evaluate_weight_sets(
        model,
        [({"image_id": "img0"}, inst)],
        factory,
        {weights_name(w): w for w in TABLE1_WEIGHTS},
        box_source="oracle",
        progress=False,
    )
    assert list(res) == [weights_name(w) for w in TABLE1_WEIGHTS]
    assert res["(1,0,0)"]["box_source"] == "oracle"
    assert res["(1,0,0)"]["mean_score"] == pytest.approx(0.6, abs=5e-6)
    assert evs[0].seen[0][2] == "oracle"
