"""The released MMAN code (RoyalVane/MMAN): converter of its ``net_G`` files and parity runner.

Registers ``mman`` in ``OFFICIAL_FORMAT_REGISTRY`` (used by tools/convert_official_weights.py) and
in ``OFFICIAL_PARITY_REGISTRY`` (tools/check_official_parity.py). Nothing of the official code is
imported here; the parity runner imports it from the checkout the user names, when it runs.
"""

from humanparse_d2.checkpoint import OFFICIAL_FORMAT_REGISTRY, OFFICIAL_PARITY_REGISTRY

from .convert import STAGE_BLOCKS, convert_release_generator, release_key_map  # noqa: F401

__all__ = ["convert_release_generator", "release_key_map"]


def _check_release_cfg(cfg) -> None:
    m = cfg.MODEL.MMAN
    if m.GENERATOR.VARIANT != "release":
        raise ValueError(
            "the released MMAN generator converts into MODEL.MMAN.GENERATOR.VARIANT 'release' "
            f"(the config builds {m.GENERATOR.VARIANT!r}); use a *_release.yaml config or "
            "one inheriting from projects/MMAN/configs/Base-MMAN-release.yaml"
        )
    if cfg.MODEL.RESNETS.DEPTH != 101:
        raise ValueError(
            f"the released MMAN generator is a ResNet-101; the config has depth {cfg.MODEL.RESNETS.DEPTH}"
        )


@OFFICIAL_FORMAT_REGISTRY.register()
def mman(state_dict, cfg):
    """Released ``<epoch>_net_G.pth`` (plain state dict) -> our ``MMAN`` state dict (strictly
    checked by the caller against the model the config builds)."""
    _check_release_cfg(cfg)
    return convert_release_generator(state_dict)


def _parity(cfg, official_src, *, device, seed, workdir, image):
    from .parity import run_parity

    _check_release_cfg(cfg)
    return run_parity(cfg, official_src, device=device, seed=seed, workdir=workdir, image=image)


_parity.__name__ = "mman"
OFFICIAL_PARITY_REGISTRY.register(_parity)
