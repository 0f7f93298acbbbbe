"""Random-weight detectors that behave like trained ones for timing (benchmarks only)."""


def keep_resnet_finite_(model):
    """Zero each ResNet bottleneck's last norm scale, in place; returns ``model``.

    Random weights under FrozenBN make activations grow stage after stage until RPN boxes are
    non-finite and get dropped, so a benchmark would time a detector that detects nothing. With
    each residual branch starting at zero (the "zero-init residual" trick) the features stay finite
    and the detector returns its full quota of boxes, as a trained one would.
    """
    for name, module in model.backbone.bottom_up.named_modules():
        if name.endswith("conv3") and hasattr(module, "norm"):
            module.norm.weight.data.zero_()
    return model
