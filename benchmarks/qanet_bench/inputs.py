"""Configs and synthetic images shared by the QANet speed benchmarks."""

R18_QUICK = "projects/QANet/configs/quick/QANet_R18_synth.yaml"
R50_PAPER = "projects/QANet/configs/CIHP/QANet_R50c_512x384.yaml"


def synthetic_images(n, seed=0, hw=(384, 320)):
    """``n`` detectron2 inputs: random uint8 (3, H, W) images with three fixed person boxes
    ``gt_boxes`` (3, 4) XYXY (the oracle box source reads them), scaled to ``hw``."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    H, W = hw
    out = []
    for i in range(n):
        img = torch.from_numpy(rng.integers(0, 255, (3, H, W), dtype=np.uint8))
        boxes = torch.tensor(
            [[20.0, 30.0, 120.0, 360.0], [110.0, 40.0, 220.0, 370.0], [200.0, 20.0, 310.0, 350.0]]
        )
        boxes = boxes * torch.tensor([W / 320.0, H / 384.0, W / 320.0, H / 384.0])
        out.append({"image": img, "height": H, "width": W, "image_id": f"b{i}", "gt_boxes": boxes})
    return out
