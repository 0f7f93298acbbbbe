"""Every QANet config loads and builds (no weights, no download)."""
import glob
import os
import unittest

import torch
from detectron2.modeling import build_model

import humanparse_d2  # noqa: F401
from humanparse_d2 import get_humanparse_cfg

from .common import REPO

CONFIGS = sorted(glob.glob(str(REPO / "projects/QANet/configs/**/*.yaml"), recursive=True)) + sorted(
    glob.glob(str(REPO / "configs/quick/QANet_*.yaml"))
)


def load(path):
    cfg = get_humanparse_cfg()
    cfg.merge_from_file(path)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.TIMM.PRETRAINED = False  # no download in tests
    return cfg


def get_raw(path):
    cfg = get_humanparse_cfg()
    cfg.merge_from_file(path)
    return cfg


class TestQANetConfigs(unittest.TestCase):
    def test_found(self):
        names = [os.path.relpath(c, REPO) for c in CONFIGS]
        for ds in ("CIHP", "MHP-v2", "LIP", "PASCAL-Person-Part"):
            for bb in ("R50", "R101", "HRNetW48"):
                self.assertIn(f"projects/QANet/configs/{ds}/QANet_{bb}_512x384.yaml", names)
        self.assertIn("configs/quick/QANet_R18_synth.yaml", names)

    def test_schedule_tool(self):
        import importlib.util

        spec = importlib.util.spec_from_file_location("qanet_schedule", REPO / "projects/QANet/tools/schedule.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        max_iter, steps = mod.epoch_schedule(96152, 96)
        cfg = load(str(REPO / "projects/QANet/configs/CIHP/QANet_R50_512x384.yaml"))
        self.assertEqual(max_iter, cfg.SOLVER.MAX_ITER)
        self.assertEqual(steps, tuple(cfg.SOLVER.STEPS))

    def test_each_config_builds(self):
        for path in CONFIGS:
            with self.subTest(config=os.path.relpath(path, REPO)):
                cfg = load(path)
                self.assertEqual(cfg.VERSION, 2)
                if os.path.basename(path).startswith("Base-"):
                    continue
                self.assertEqual(cfg.MODEL.META_ARCHITECTURE, "QANet")
                self.assertIn(cfg.MODEL.QANET.BOX_SOURCE, ("detector", "file", "oracle", "whole_image"))
                model = build_model(cfg)
                nparams = sum(p.numel() for p in model.parameters())
                self.assertGreater(nparams, 1e6)
                if "configs/quick" not in path:
                    # the paper's schedule: Adam, LR = 2e-3 x batch / 256, steps at 90/140 and 120/140
                    self.assertEqual(cfg.SOLVER.OPTIMIZER, "ADAM")
                    self.assertAlmostEqual(cfg.SOLVER.BASE_LR, 2e-3 * cfg.SOLVER.IMS_PER_BATCH / 256, places=9)
                    self.assertEqual(cfg.SOLVER.WEIGHT_DECAY, 0.0)
                    self.assertEqual(cfg.SOLVER.WARMUP_ITERS, 0)
                    m = cfg.SOLVER.MAX_ITER
                    self.assertEqual(tuple(cfg.SOLVER.STEPS), (90 * m // 140, 120 * m // 140))
                    self.assertEqual(tuple(cfg.INPUT.PARSING.CROP_SIZE), (512, 384))
                    if cfg.MODEL.BACKBONE.NAME == "build_timm_backbone":
                        self.assertTrue(get_raw(path).MODEL.TIMM.PRETRAINED)  # timm ImageNet weights
                    else:
                        self.assertTrue(cfg.MODEL.WEIGHTS.startswith("detectron2://ImageNetPretrained/MSRA/"))
                del model

    def test_r50_shapes(self):
        cfg = load(str(REPO / "projects/QANet/configs/CIHP/QANet_R50_512x384.yaml"))
        model = build_model(cfg).eval()
        with torch.no_grad():
            logits, iou = model.parser(torch.rand(1, 3, 512, 384) * 255)
        self.assertEqual(logits.shape, (1, 20, 512, 384))
        self.assertEqual(iou.shape, (1,))


if __name__ == "__main__":
    unittest.main()
