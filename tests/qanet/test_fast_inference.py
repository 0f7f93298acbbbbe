"""The inference fast path (MODEL.QANET.TEST.FAST_PATH "eager"): same outputs as the plain parser."""

import pytest
import torch
from detectron2.modeling import build_model
from torch import nn

import humanparse_d2  # noqa: F401
from humanparse_d2.projects.qanet.fast_inference import InferenceParser, fold_batchnorm_
from humanparse_d2.projects.qanet.official.official_model import randomize_
from tests.tiny_configs import tiny_qanet_cfg as tiny_cfg

from .common import make_image

TOL = 1e-4


def _bn_count(m: nn.Module) -> int:
    from detectron2.layers import FrozenBatchNorm2d

    return sum(isinstance(x, (nn.BatchNorm2d, FrozenBatchNorm2d)) for x in m.modules())


def _tiny_model(fast_path):
    torch.manual_seed(0)
    model = build_model(tiny_cfg(**{"MODEL.QANET.TEST.FAST_PATH": fast_path}))
    randomize_(model, seed=3)  # random BN statistics: folding them must matter
    return model.eval()


def test_eager_parser_matches_plain_and_folds_every_bn():
    model = _tiny_model("eager")
    fast = model.test_parser()
    assert isinstance(fast, InferenceParser)
    assert fast.num_folded == _bn_count(model.parser) > 0
    assert _bn_count(fast) == 0
    x = torch.rand(3, 3, 64, 64) * 255
    with torch.no_grad():
        lg, iou = model.parser(x)
        lg_f, iou_f = fast(x)
    assert lg_f.is_contiguous() and lg_f.shape == lg.shape
    assert (lg_f.softmax(1) - lg.softmax(1)).abs().max() < TOL
    assert (iou_f - iou).abs().max() < TOL
    assert lg.abs().max() > 1.0  # non-trivial logits: the comparison can fail


def test_full_inference_same_scores_and_labels():
    plain, fast = _tiny_model(""), _tiny_model("eager")
    fast.load_state_dict(plain.state_dict())
    img = make_image()
    with torch.no_grad():
        a = plain([img])[0]["instances"]
        b = fast([img])[0]["instances"]
    assert len(a) == len(b) == 2
    for k in ("scores", "iou_scores", "pixel_scores", "part_scores"):
        assert (getattr(a, k) - getattr(b, k)).abs().max() < TOL, k
    agree = (a.pred_parsing == b.pred_parsing).float().mean()
    assert agree > 0.999  # label maps may differ only at float-rounding ties


def test_train_mode_uses_the_trained_parser_and_rebuilds_the_copy():
    model = _tiny_model("eager")
    first = model.test_parser()
    assert model.test_parser() is first  # cached while in eval mode
    model.train()
    assert model.test_parser() is model.parser
    with torch.no_grad():
        model.parser.predictor.classifier.bias.add_(1.0)  # weights change while training
    model.eval()
    second = model.test_parser()
    assert second is not first
    x = torch.rand(1, 3, 64, 64) * 255
    with torch.no_grad():
        assert (second(x)[0] - model.parser(x)[0]).abs().max() < TOL
    with pytest.raises(RuntimeError, match="inference-only"):
        second.train()


@pytest.mark.parametrize("name", ["resnet50c", "hrnet_w18_small"])
def test_fold_timm_backbones(name):
    """The paper's backbone families (timm deep-stem ResNet, HRNet): every BatchNorm folds."""
    timm = pytest.importorskip("timm")
    net = timm.create_model(name, pretrained=False, features_only=True, out_indices=(1, 2, 3, 4))
    randomize_(net, seed=1).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = net(x)
        n_bn = _bn_count(net)
        assert fold_batchnorm_(net) == n_bn
        assert _bn_count(net) == 0
        out = net(x)
    for r, o in zip(ref, out):
        assert (r - o).abs().max() <= TOL * max(1.0, float(r.abs().max()))


def test_bad_fast_path_and_training_module():
    with pytest.raises(ValueError, match="FAST_PATH"):
        build_model(tiny_cfg(**{"MODEL.QANET.TEST.FAST_PATH": "fast"}))
    with pytest.raises(RuntimeError, match="training mode"):
        fold_batchnorm_(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train())


def test_crops_of_all_images_batched_give_per_image_results():
    """QANet.inference parses the crops of every image of the batch together; same as one by one."""
    model = _tiny_model("eager")
    imgs = [make_image(), make_image(boxes=((5.0, 5.0, 30.0, 60.0),)), make_image(boxes=())]
    calls = []
    fast = model.test_parser()
    orig = fast.forward
    fast.forward = lambda x: calls.append(x.shape[0]) or orig(x)
    with torch.no_grad():
        together = model(imgs)
        assert calls == [2 * 3]  # 3 persons x (crop + flip) in one forward
        alone = [model([im])[0] for im in imgs]
    for t, a in zip(together, alone):
        assert len(t["instances"]) == len(a["instances"]) == t["num_boxes"]
        if len(a["instances"]):
            assert (t["instances"].scores - a["instances"].scores).abs().max() < TOL
            assert (
                t["instances"].pred_parsing == a["instances"].pred_parsing
            ).float().mean() > 0.999
