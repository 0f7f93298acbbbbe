"""Parity of our release-variant MMAN with the official generator and discriminators.

``run_parity`` imports ``models/networks.py`` of an official RoyalVane/MMAN checkout (as a package
of its own name, so the checkout's generic ``models`` never shadows anything), builds its
``UnetGenerator`` as ``define_G('unet_256')`` does (ResNet-101 modules re-wired, ``xavier_U`` init;
torchvision's ``resnet101`` is built without pretrained weights and without ``.cuda()``), gives
every parameter and BatchNorm statistic random values, saves ``netG.state_dict()`` as the release
does (``latest_net_G.pth``), converts that file with the ``mman`` converter and compares, on one
256x256 input, in the official test mode (the network left in train mode: BatchNorm on the
statistics of the image):

- the full-resolution output: log-softmax ``L1`` and ``softmax(5 t)`` ``GAN`` (C x 256 x 256);
- the 1/16 output read by the official forward hook: the same two (C x 16 x 16);
- the official ``NLayerDiscriminator(3 + C, 64, n_layers=2, InstanceNorm)`` (Macro D and Micro D
  of the release, Xavier init) against ours of the release preset, state dicts loaded as they are.
"""

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from humanparse_d2.checkpoint import ParityRow, convert_official_checkpoint

TOL = 1e-4
_PKG = "_humanparse_d2_official_mman_models"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def import_official_networks(official_src: Path):
    """``models/networks.py`` of the checkout, with torchvision's resnet101 made offline + CPU."""
    src = Path(official_src) / "models"
    if not (src / "networks.py").is_file():
        raise FileNotFoundError(
            f"{official_src} is not a RoyalVane/MMAN checkout (no models/networks.py)"
        )
    if _PKG not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            _PKG, src / "__init__.py", submodule_search_locations=[str(src)]
        )
        pkg = importlib.util.module_from_spec(spec)
        sys.modules[_PKG] = pkg
        spec.loader.exec_module(pkg)
    networks = importlib.import_module(_PKG + ".networks")

    def resnet101(pretrained=False, **kwargs):
        import torchvision

        m = torchvision.models.resnet101(weights=None)
        m.cuda = lambda *a, **k: m  # the official code moves it to the GPU; stay where we are
        return m

    networks.models = types.SimpleNamespace(resnet101=resnet101)
    return networks


def _randomize(module: torch.nn.Module, gen: torch.Generator) -> None:
    """Random weights (scaled to keep activations finite) and BatchNorm statistics."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                fan_in = (
                    m.weight[0].numel()
                    if isinstance(m, torch.nn.Conv2d)
                    else m.weight[:, 0].numel()
                )
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) / fan_in**0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))


def load_image(image, size: int = 256) -> torch.Tensor:
    """(1, 3, size, size) ImageNet-normalised: the file given, else scikit-image's astronaut photo
    (squashed with LANCZOS as the release's test loader does)."""
    from PIL import Image

    if image is None:
        try:
            from skimage import data
        except ImportError as e:
            raise RuntimeError(
                "no --image given and scikit-image (its astronaut photo) is not installed"
            ) from e
        pil = Image.fromarray(data.astronaut())
    else:
        pil = Image.open(image).convert("RGB")
    arr = np.asarray(pil.resize((size, size), Image.LANCZOS), np.float32) / 255.0
    arr = (arr - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())[None]


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: official {tuple(a.shape)} vs ours {tuple(b.shape)}")
    return float((a.double() - b.double()).abs().max())


def _generator_rows(cfg, networks, *, device, gen, workdir, image) -> list[ParityRow]:
    from detectron2.modeling import build_model

    C = cfg.MODEL.MMAN.NUM_CLASSES
    hook = networks.UnetHook()
    net = networks.UnetGenerator(
        3, C, 8, hook, 64, norm_layer=networks.get_norm_layer("instance"), use_dropout=False
    )
    networks.init_weights(net, init_type="xavier_U")
    _randomize(net, gen)
    path = Path(workdir) / "latest_net_G.pth"
    torch.save(net.state_dict(), path)  # the release's save_network format
    ours = build_model(cfg)
    ours.load_state_dict(convert_official_checkpoint("mman", path, cfg), strict=True)
    ours.eval().to(device)
    net.train().to(device)  # the official test mode: nothing ever calls eval()
    x = load_image(image).to(device)
    with torch.no_grad():
        off = net(x)
        off_lo = hook.get_value()
        out = ours._generator(x)
    t, z = out["logits_hi"].float(), out["logits_lo"].float()
    control = _standard_generator_diff(cfg, ours.state_dict(), x, off["L1"], device)
    T = 5.0
    # the spread of the official log-probabilities shows the outputs are not saturated
    note_hi = f"C x {tuple(t.shape[-2:])}, official L1 std {float(off['L1'].std()):.3g}"
    note_lo = f"C x {tuple(z.shape[-2:])}, official L1 std {float(off_lo['L1'].std()):.3g}"
    return [
        ParityRow(
            "G full-res log-softmax (L1)",
            _diff(off["L1"], F.log_softmax(t, 1)),
            TOL,
            note_hi + f"; the standard generator with the same weights: {control:.3g}",
        ),
        ParityRow(
            "G full-res softmax(5t) (GAN)", _diff(off["GAN"], F.softmax(T * t, 1)), TOL, note_hi
        ),
        ParityRow(
            "G 1/16 log-softmax (hook L1)", _diff(off_lo["L1"], F.log_softmax(z, 1)), TOL, note_lo
        ),
        ParityRow(
            "G 1/16 softmax(5z) (hook GAN)", _diff(off_lo["GAN"], F.softmax(T * z, 1)), TOL, note_lo
        ),
    ]


def _standard_generator_diff(cfg, state, x, official_l1, device) -> float:
    """Control: the same weights in the standard generator (inner ReLUs, FrozenBN) must differ,
    or the comparison above would prove nothing."""
    from detectron2.modeling import build_model

    std = cfg.clone()
    std.defrost()
    std.MODEL.MMAN.GENERATOR.VARIANT = "standard"
    std.MODEL.RESNETS.NORM = "FrozenBN"
    model = build_model(std)
    model.load_state_dict(
        {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, strict=True
    )
    with torch.no_grad():
        t = model.eval().to(device)._generator(x)["logits_hi"].float()
    return _diff(official_l1, F.log_softmax(t, 1))


def _discriminator_rows(cfg, networks, *, device, gen) -> list[ParityRow]:
    from ..adversary import MMANAdversary

    adversary = MMANAdversary(cfg)
    C = cfg.MODEL.MMAN.NUM_CLASSES
    rows = []
    for name, side in (("macro", 16), ("micro", 256)):
        if name not in adversary.discriminators:
            continue
        off = networks.NLayerDiscriminator(
            3 + C, 64, 2, norm_layer=networks.get_norm_layer("instance"), use_sigmoid=False
        )
        networks.init_weights(off, init_type="xavier")
        ours = adversary.discriminators[name]
        ours.load_state_dict(off.state_dict(), strict=True)  # same layout, same key names
        x = torch.randn(1, 3 + C, side, side, generator=gen).to(device)
        with torch.no_grad():
            a, b = off.to(device)(x), ours.to(device)(x)
        rows.append(
            ParityRow(
                f"{name.capitalize()} D output",
                _diff(a, b),
                TOL,
                f"1 x {tuple(b.shape[-2:])} on {side}x{side}",
            )
        )
    return rows


def run_parity(
    cfg, official_src, *, device="cpu", seed=0, workdir=".", image=None
) -> list[ParityRow]:
    """Rows: the generator's two outputs (two forms each), then Macro D and Micro D."""
    networks = import_official_networks(Path(official_src))
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    rows = _generator_rows(cfg, networks, device=device, gen=gen, workdir=workdir, image=image)
    rows += _discriminator_rows(cfg, networks, device=device, gen=gen)
    return rows
