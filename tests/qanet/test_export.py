"""The QANet crop parser traces (TorchScript) and exports to ONNX; traced output == eager output."""

import importlib.util

import pytest
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


@pytest.fixture(scope="module")
def parser_and_input():
    """One tiny parser (eval mode) and a batch of 3 crops (3, 3, 64, 64), shared by the module."""
    torch.manual_seed(0)
    parser = build_model(tiny_cfg()).parser.eval()
    x = torch.rand(3, 3, 64, 64) * 255
    return parser, x


def test_trace_matches_eager(parser_and_input, tmp_path):
    parser, x = parser_and_input
    traced = trace_parser(parser, (64, 64))
    with torch.no_grad():
        lg, io = parser(x)
        tl, ti = traced(x)  # a batch size other than the traced one
    torch.testing.assert_close(tl, lg, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ti, io, rtol=1e-5, atol=1e-5)
    p = str(tmp_path / "parser.ts")
    traced.save(p)
    loaded = torch.jit.load(p)
    torch.testing.assert_close(loaded(x)[0], lg, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not HAS_ONNX, reason="onnx/onnxscript not installed")
def test_onnx_export(parser_and_input, tmp_path):
    import onnx

    parser, x = parser_and_input
    p = export_parser_onnx(parser, str(tmp_path / "parser.onnx"), (64, 64))
    model = onnx.load(p)
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["crops"]
    assert [o.name for o in model.graph.output] == ["logits", "iou"]
    if HAS_ORT:
        import onnxruntime as ort

        sess = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
        lg, io = sess.run(None, {"crops": x.numpy()})
        with torch.no_grad():
            elg, eio = parser(x)
        torch.testing.assert_close(torch.from_numpy(lg), elg, rtol=1e-3, atol=1e-3)
        torch.testing.assert_close(torch.from_numpy(io), eio, rtol=1e-3, atol=1e-3)
