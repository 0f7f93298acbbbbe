"""``ParsingRCNN``: detectron2's ``GeneralizedRCNN`` whose outputs carry full-image parsing maps.

The ROI parsing head predicts box-local class probabilities at the network's input resolution;
they can only be pasted once detectron2 has rescaled the boxes to the requested output size.
``GeneralizedRCNN.inference`` calls ``GeneralizedRCNN._postprocess`` by class name (overriding
``_postprocess`` does nothing), so this subclass overrides ``inference``: detectron2's own flow,
then ``roi_heads.finalize`` per image (batched paste-back + QAM, roi_parsing_head.py).
With ``do_postprocess=False`` (TTA, export) the raw box-local outputs are returned unchanged.
"""

import torch
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.structures import Instances

__all__ = ["ParsingRCNN"]


@META_ARCH_REGISTRY.register()
class ParsingRCNN(GeneralizedRCNN):
    """GeneralizedRCNN + full-image ``pred_parsing`` (needs ``ROI_HEADS.NAME: ParsingROIHeads``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not hasattr(self.roi_heads, "finalize"):
            raise ValueError(
                "META_ARCHITECTURE ParsingRCNN needs ROI heads with a parsing branch "
                f"(MODEL.ROI_HEADS.NAME: ParsingROIHeads), got {type(self.roi_heads).__name__}"
            )

    def inference(
        self,
        batched_inputs: list[dict[str, torch.Tensor]],
        detected_instances: list[Instances] | None = None,
        do_postprocess: bool = True,
    ):
        results = super().inference(batched_inputs, detected_instances, do_postprocess)
        if not do_postprocess:
            return results
        return [dict(r, instances=self.roi_heads.finalize(r["instances"])) for r in results]
