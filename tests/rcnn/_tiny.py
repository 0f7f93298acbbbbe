"""Tiny R-CNN inputs for CPU tests: 64 x 80 images and training batches (configs: tests/tiny_configs.py)."""

from pathlib import Path

import torch
from detectron2.structures import BitMasks, Boxes, Instances

REPO = Path(__file__).resolve().parents[2]
H, W = 64, 80


def image(seed=0, h=H, w=W):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 255, (3, h, w), dtype=torch.uint8, generator=g)


def train_batch(num_persons=(1, 2), parsing_classes=0):
    """Images with ``num_persons[i]`` boxes; masks and (optionally) per-person parsing maps."""
    batch = []
    for i, n in enumerate(num_persons):
        inst = Instances((H, W))
        boxes = torch.tensor([[6.0 + 20 * k, 8.0, 30.0 + 20 * k, 58.0] for k in range(n)]).reshape(
            -1, 4
        )
        inst.gt_boxes = Boxes(boxes)
        inst.gt_classes = torch.zeros(n, dtype=torch.int64)
        masks = torch.zeros(n, H, W, dtype=torch.bool)
        parsing = torch.zeros(n, H, W, dtype=torch.uint8)
        for k, (x0, y0, x1, y1) in enumerate(boxes.long().tolist()):
            masks[k, y0:y1, x0:x1] = True
            if parsing_classes:
                ym = (y0 + y1) // 2
                parsing[k, y0:ym, x0:x1] = 1
                parsing[k, ym:y1, x0:x1] = parsing_classes - 1
        inst.gt_masks = BitMasks(masks)
        if parsing_classes:
            inst.gt_parsing = parsing
        batch.append({"image": image(i), "instances": inst, "height": H, "width": W})
    return batch


def save_random_model(cfg, folder: Path, name: str) -> tuple[Path, Path]:
    """Write ``cfg`` as ``folder/name.yaml`` and a model built from it (random weights) as
    ``folder/name.pth``; returns (config file, weights file)."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    DetectionCheckpointer(build_model(cfg), save_dir=str(folder)).save(name)
    (folder / f"{name}.yaml").write_text(cfg.dump())
    return folder / f"{name}.yaml", folder / f"{name}.pth"


def eval_only_args(cfg, folder: Path, dataset: str, *opts: str):
    """tools/train_net.py's parsed arguments for ``--eval-only`` of a random-weight model of
    ``cfg`` (saved under ``folder`` as m.yaml / m.pth) on ``dataset``, results in ``folder/o``,
    then ``opts`` (key, value pairs)."""
    from detectron2.engine import default_argument_parser

    config_file, weights = save_random_model(cfg, folder, "m")
    return default_argument_parser().parse_args(
        ["--config-file", str(config_file), "--eval-only", "MODEL.WEIGHTS", str(weights),
         "OUTPUT_DIR", str(folder / "o"), "DATASETS.TEST", f"('{dataset}',)", *opts]
    )  # fmt: skip
