"""Smoke test of the torch + detectron2 stack: if an upgrade breaks it, this is the test that says so."""

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.engine import SimpleTrainer
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances
from detectron2.utils.events import EventStorage

from tests.tiny_configs import tiny_d2_mask_rcnn_cfg


def _batch(n=2, size=64):
    batch = []
    for i in range(n):
        img = torch.randint(0, 255, (3, size, size + 16), dtype=torch.uint8)
        inst = Instances((size, size + 16))
        inst.gt_boxes = Boxes(torch.tensor([[8.0 + i, 10.0, 40.0, 56.0]]))
        inst.gt_classes = torch.tensor([0])
        mask = torch.zeros(1, size, size + 16, dtype=torch.bool)
        mask[0, 10:56, 8 + i : 40] = True
        inst.gt_masks = BitMasks(mask)
        batch.append({"image": img, "instances": inst, "height": size, "width": size + 16})
    return batch


def test_tiny_mask_rcnn_trains_saves_and_reloads(tmp_path):
    cfg = tiny_d2_mask_rcnn_cfg()
    model = build_model(cfg)
    model.train()
    data = _batch()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    trainer = SimpleTrainer(model, iter([data, data]), opt)
    with EventStorage(0) as storage:
        trainer.storage = storage
        for it in range(2):
            trainer.iter = it
            trainer.run_step()
        losses = storage.latest()
    assert "loss_mask" in losses and torch.isfinite(torch.tensor(losses["total_loss"][0]))

    ckpt = DetectionCheckpointer(model, save_dir=str(tmp_path))
    ckpt.save("tiny")
    path = tmp_path / "tiny.pth"
    # torch >= 2.6 loads with weights_only=True: everything saved must be tensors or plain python.
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert "model" in state

    model2 = build_model(cfg)
    DetectionCheckpointer(model2).load(str(path))
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), model2.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2), k1

    model2.eval()
    with torch.no_grad():
        out = model2([{"image": data[0]["image"], "height": 64, "width": 80}])
    assert out[0]["instances"].image_size == (64, 80)
