"""Smoke test of the torch + detectron2 stack: if an upgrade breaks it, this is the test that says so."""
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.engine import SimpleTrainer
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances
from detectron2.utils.events import EventStorage


def _tiny_rcnn_cfg():
    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
    cfg.MODEL.BACKBONE.NAME = "build_resnet_fpn_backbone"
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.FPN.OUT_CHANNELS = 32
    cfg.MODEL.RPN.IN_FEATURES = ["p2", "p3", "p4", "p5", "p6"]
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[16], [32], [64], [128], [256]]
    cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    cfg.MODEL.ROI_HEADS.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 1
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 32
    cfg.MODEL.ROI_BOX_HEAD.NAME = "FastRCNNConvFCHead"
    cfg.MODEL.ROI_BOX_HEAD.NUM_FC = 2
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 64
    cfg.MODEL.ROI_MASK_HEAD.NAME = "MaskRCNNConvUpsampleHead"
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 32
    cfg.MODEL.ROI_MASK_HEAD.NUM_CONV = 1
    cfg.MODEL.MASK_ON = True
    return cfg


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
    cfg = _tiny_rcnn_cfg()
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
