"""Small MMAN models and an in-memory data source for the tests (R18, 64 px, 6 classes)."""

import itertools
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "projects/MMAN/configs/Base-MMAN.yaml"
# preset name -> the base config that defines it
PRESET_YAMLS = {
    "default": BASE,
    "release": REPO / "projects/MMAN/configs/Base-MMAN-release.yaml",
    "paper": REPO / "projects/MMAN/configs/Base-MMAN-paper.yaml",
}
NUM_CLASSES = 6


def narrow(cfg):
    """Shrink an MMAN config in place to CPU test width: a 16-channel ResNet stem and res2 (same
    geometry, 1/16 of the compute) and 8 base channels in every discriminator."""
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 16
    cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = 16
    for node in (
        cfg.MODEL.MMAN.MICRO,
        cfg.MODEL.MMAN.MACRO,
        cfg.MODEL.MMAN.GLOBAL,
        cfg.MODEL.MMAN.MID,
    ):
        node.NDF = 8


def yaml_keys(path) -> dict:
    """Dotted key -> value of what one yaml file itself sets (its ``_BASE_`` not followed)."""
    import yaml

    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
        return out

    data = yaml.safe_load(Path(path).read_text()) or {}
    data.pop("_BASE_", None)
    return flat(data)


def base_chain(path) -> list:
    """``path`` and the files of its ``_BASE_`` chain, leaf first."""
    import yaml

    chain = [Path(path).resolve()]
    while base := (yaml.safe_load(chain[-1].read_text()) or {}).get("_BASE_"):
        chain.append((chain[-1].parent / base).resolve())
    return chain


def preset_of(path) -> str:
    """The preset a config inherits: the first ``PRESET_YAMLS`` file in its ``_BASE_`` chain."""
    by_file = {p.resolve(): name for name, p in PRESET_YAMLS.items()}
    return next(by_file[f] for f in base_chain(path) if f in by_file)


def tiny_cfg(output_dir=None, preset="default", **overrides):
    """The MMAN base config of ``preset`` shrunk to a CPU test size: narrow R18, 6 classes, narrow
    discriminators."""
    from humanparse_d2.config import get_humanparse_cfg

    cfg = get_humanparse_cfg()
    cfg.merge_from_file(str(PRESET_YAMLS[preset]))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.RESNETS.DEPTH = 18
    narrow(cfg)
    cfg.MODEL.MMAN.NUM_CLASSES = NUM_CLASSES
    cfg.SOLVER.MMAN_D.UPDATE_PERIOD = 1
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.SOLVER.MAX_ITER = 2
    cfg.SOLVER.STEPS = ()
    cfg.SOLVER.CHECKPOINT_PERIOD = 100000
    cfg.DATASETS.TRAIN = ()
    cfg.DATASETS.TEST = ()
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.TEST.MMAN.SCALES = (1.0,)
    if output_dir is not None:
        cfg.OUTPUT_DIR = str(output_dir)
    for k, v in overrides.items():
        cfg.merge_from_list([k, v])
    return cfg


def tiny_batch(batch_size=2, size=64, seed=0, num_classes=NUM_CLASSES):
    """Images (normalised float) with blocky label maps whose colours depend on the labels."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(batch_size):
        h, w = (size, size) if isinstance(size, int) else size
        coarse = torch.randint(0, num_classes, (h // 8 + 1, w // 8 + 1), generator=g)
        labels = coarse.repeat_interleave(8, 0).repeat_interleave(8, 1)[:h, :w].contiguous()
        palette = torch.randn(num_classes, 3, generator=g)
        image = palette[labels].permute(2, 0, 1) + 0.1 * torch.randn(3, h, w, generator=g)
        out.append({"image": image.float(), "sem_seg": labels.long(), "height": h, "width": w})
    return out


def infinite_tiny_loader(batch_size=2, size=32, num_classes=NUM_CLASSES):
    for i in itertools.count():
        yield tiny_batch(batch_size, size, seed=i, num_classes=num_classes)


def tiny_trainer_class(checkpoints: bool = True):
    """MMANTrainer on in-memory batches; without ``checkpoints`` the checkpoint and writer hooks are
    dropped (saving R18 + Adam states is most of a 2-iteration run)."""
    from detectron2.engine import hooks

    from humanparse_d2.projects.mman import MMANTrainer

    class TinyMMANTrainer(MMANTrainer):
        @classmethod
        def build_train_loader(cls, cfg):
            return infinite_tiny_loader(
                cfg.SOLVER.IMS_PER_BATCH, num_classes=cfg.MODEL.MMAN.NUM_CLASSES
            )

        def build_hooks(self):
            ret = super().build_hooks()
            if not checkpoints:
                ret = [
                    h
                    for h in ret
                    if not isinstance(h, (hooks.PeriodicCheckpointer, hooks.PeriodicWriter))
                ]
            return ret

    return TinyMMANTrainer


def grads(module):
    return {n: p.grad for n, p in module.named_parameters()}
