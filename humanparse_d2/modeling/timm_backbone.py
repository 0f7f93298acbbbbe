"""Any timm CNN (HRNet included) as a detectron2 ``Backbone``.

``timm.create_model(name, features_only=True)`` returns a list of feature maps; this wrapper names
them ``res<k>`` by stride (stride 4 -> ``res2``, 8 -> ``res3``, ...) so heads written for detectron2
ResNets (``res2..res5``) take them unchanged. HRNet needs ``feature_location=""`` to return its raw
branches (48/96/192/384 channels for W48) instead of timm's "incre" classification neck.

Keys: ``MODEL.TIMM.{NAME, OUT_INDICES, FEATURE_LOCATION, PRETRAINED, KWARGS}``.

ImageNet weights (``pretrained=True``) are never fetched when the model is built: building for
``--eval-only MODEL.WEIGHTS x.pth`` or for the demo must work offline. They are fetched by the first
forward in training mode, and only if no checkpoint has been loaded into the backbone before (a
full checkpoint, a resumed run or converted official weights already hold every backbone tensor).
"""

import logging
import math
from collections.abc import Sequence

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

__all__ = ["TimmBackbone", "build_timm_backbone"]

logger = logging.getLogger(__name__)


class TimmBackbone(Backbone):
    """Feature extractor from timm; outputs ``{"res<log2 stride>": (B, C, H/s, W/s)}``."""

    def __init__(
        self,
        model_name: str,
        *,
        out_indices: Sequence[int] | None = None,
        feature_location: str | None = None,
        pretrained: bool = False,
        in_chans: int = 3,
        **kwargs,
    ):
        """
        Args:
            model_name: a timm model name ("hrnet_w48", "resnet50", "convnext_tiny", ...).
            out_indices: which feature levels to return (timm indices); None = timm's default.
            feature_location: timm's ``feature_location`` (``""`` for raw HRNet branches); None
                leaves timm's default.
            pretrained: load timm's ImageNet weights (needs network or a local timm cache).
            kwargs: passed to ``timm.create_model``.
        """
        super().__init__()
        try:
            import timm
        except ImportError as e:  # pragma: no cover - timm is a declared dependency
            raise ImportError(
                "the timm backbone needs the 'timm' package (pip install timm)"
            ) from e
        create_kwargs = dict(features_only=True, in_chans=in_chans, **kwargs)
        if out_indices is not None and len(out_indices):
            create_kwargs["out_indices"] = tuple(int(i) for i in out_indices)
        if feature_location is not None:
            create_kwargs["feature_location"] = feature_location
        self.model_name = model_name
        self._create_kwargs = create_kwargs
        # built without weights: ImageNet weights are fetched lazily (see the module docstring)
        self.model = timm.create_model(model_name, pretrained=False, **create_kwargs)
        self.pretrained_pending = bool(pretrained)
        info = self.model.feature_info
        self._names = []
        self._out_feature_channels = {}
        self._out_feature_strides = {}
        for ch, red in zip(info.channels(), info.reduction()):
            name = f"res{int(round(math.log2(red)))}"
            if name in self._out_feature_strides:
                raise ValueError(
                    f"timm model {model_name} returns two feature maps at stride {red}"
                )
            self._names.append(name)
            self._out_feature_channels[name] = int(ch)
            self._out_feature_strides[name] = int(red)
        self._out_features = list(self._names)
        self._size_div = max(self._out_feature_strides.values())

    @property
    def size_divisibility(self) -> int:
        return self._size_div

    def load_pretrained(self) -> None:
        """Copy timm's ImageNet weights of ``model_name`` into the backbone (downloads on first use)."""
        import timm

        try:
            src = timm.create_model(self.model_name, pretrained=True, **self._create_kwargs)
        except Exception as e:  # noqa: BLE001 - hub/network errors come in many types
            raise RuntimeError(
                f"cannot fetch timm's ImageNet weights of {self.model_name!r} (MODEL.TIMM.PRETRAINED True): "
                f"{type(e).__name__}: {e}. Without network, put the file in timm's cache (HF_HOME), set "
                "MODEL.TIMM.PRETRAINED False, or start from a checkpoint with MODEL.WEIGHTS."
            ) from e
        self.model.load_state_dict(src.state_dict())
        self.pretrained_pending = False
        logger.info("timm backbone %s: loaded timm's ImageNet weights", self.model_name)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a checkpoint that holds backbone tensors supersedes the ImageNet start
        if any(k.startswith(prefix) for k in state_dict):
            self.pretrained_pending = False
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.pretrained_pending and self.training:
            with torch.no_grad():
                self.load_pretrained()
        feats = self.model(x)
        return dict(zip(self._names, feats))

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {
            n: ShapeSpec(
                channels=self._out_feature_channels[n], stride=self._out_feature_strides[n]
            )
            for n in self._names
        }


@BACKBONE_REGISTRY.register()
def build_timm_backbone(cfg, input_shape: ShapeSpec | None = None) -> TimmBackbone:
    """``MODEL.BACKBONE.NAME: build_timm_backbone`` with the model named by ``MODEL.TIMM.NAME``."""
    t = cfg.MODEL.TIMM
    in_chans = input_shape.channels if input_shape is not None and input_shape.channels else 3
    feature_location = t.FEATURE_LOCATION if t.FEATURE_LOCATION != "default" else None
    kwargs = dict(t.KWARGS) if t.KWARGS else {}
    return TimmBackbone(
        t.NAME,
        out_indices=list(t.OUT_INDICES),
        feature_location=feature_location,
        pretrained=bool(t.PRETRAINED),
        in_chans=in_chans,
        **kwargs,
    )
