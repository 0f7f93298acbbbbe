"""The QANet crop parser traces (TorchScript) and exports to ONNX; traced output == eager output."""

import importlib.util
import os
import tempfile
import unittest

import torch
from detectron2.modeling import build_model

import humanparse_d2  # noqa: F401
from humanparse_d2.projects.qanet.export import export_parser_onnx, trace_parser
from tests.tiny_configs import tiny_qanet_cfg as tiny_cfg

HAS_ONNX = (
    importlib.util.find_spec("onnx") is not None
    and importlib.util.find_spec("onnxscript") is not None
)
HAS_ORT = importlib.util.find_spec("onnxruntime") is not None


class TestExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        cls.parser = build_model(tiny_cfg()).parser.eval()
        cls.x = torch.rand(3, 3, 64, 64) * 255

    def test_trace_matches_eager(self):
        traced = trace_parser(self.parser, (64, 64))
        with torch.no_grad():
            lg, io = self.parser(self.x)
            tl, ti = traced(self.x)  # a batch size other than the traced one
        torch.testing.assert_close(tl, lg, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ti, io, rtol=1e-5, atol=1e-5)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "parser.ts")
            traced.save(p)
            loaded = torch.jit.load(p)
            torch.testing.assert_close(loaded(self.x)[0], lg, rtol=1e-5, atol=1e-5)

    @unittest.skipUnless(HAS_ONNX, "onnx/onnxscript not installed")
    def test_onnx_export(self):
        import onnx

        with tempfile.TemporaryDirectory() as d:
            p = export_parser_onnx(self.parser, os.path.join(d, "parser.onnx"), (64, 64))
            model = onnx.load(p)
            onnx.checker.check_model(model)
            self.assertEqual([i.name for i in model.graph.input], ["crops"])
            self.assertEqual([o.name for o in model.graph.output], ["logits", "iou"])
            if HAS_ORT:
                import onnxruntime as ort

                sess = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
                lg, io = sess.run(None, {"crops": self.x.numpy()})
                with torch.no_grad():
                    elg, eio = self.parser(self.x)
                torch.testing.assert_close(torch.from_numpy(lg), elg, rtol=1e-3, atol=1e-3)
                torch.testing.assert_close(torch.from_numpy(io), eio, rtol=1e-3, atol=1e-3)


if __name__ == "__main__":
    unittest.main()
