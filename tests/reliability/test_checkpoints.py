"""HumanParseCheckpointer: atomic and finite-only saves, resume fallback, safe .pkl/.pth loading;
the dataset cache read without running code."""

import errno
import os
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from humanparse_d2.checkpoint.checkpointer import (
    HumanParseCheckpointer,
    NoLoadableCheckpointError,
    NonFiniteCheckpointError,
    warn_untrained,
)
from humanparse_d2.checkpoint.safe_pickle import UnsafePickleError

from .log_messages import Messages


class Counter:
    """A checkpointable that records which iteration it was restored to."""

    def __init__(self):
        self.iteration = -1

    def state_dict(self):
        return {"iteration": self.iteration}

    def load_state_dict(self, sd):
        self.iteration = sd["iteration"]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(3, 4)
        self.head = nn.Linear(4, 2)


def _ckpt(tmp_path):
    c = Counter()
    return HumanParseCheckpointer(Net(), str(tmp_path), trainer=c), c


def _save(tmp_path, *iterations):
    ck, c = _ckpt(tmp_path)
    for i in iterations:
        c.iteration = i
        ck.save(f"model_{i:07d}")
    return ck


@pytest.mark.parametrize(
    "fault", [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device")]
)
def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch, fault):
    ck = _save(tmp_path, 1)
    before = (tmp_path / "model_0000001.pth").read_bytes()

    def half_write_then_die(obj, f, *a, **k):
        f.write(b"PK\x03\x04 partial")
        raise fault  # an interrupt or a full disk in the middle of torch.save

    monkeypatch.setattr(torch, "save", half_write_then_die)
    with pytest.raises(type(fault)):
        ck.save("model_0000001")
    assert (tmp_path / "model_0000001.pth").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_non_finite_weights_are_never_saved(tmp_path):
    ck = _save(tmp_path, 1)
    with torch.no_grad():
        ck.model.head.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteCheckpointError, match="head.weight"):
        ck.save("model_0000002")
    assert not (tmp_path / "model_0000002.pth").exists()
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"


@pytest.mark.parametrize("tag", ["", "model_0009999.pth", "garbage\x00\xff", "model_0000005.pth"])
def test_resume_falls_back_to_the_newest_checkpoint_that_loads(tmp_path, tag):
    _save(tmp_path, 1, 3)
    (tmp_path / "model_0000005.pth").write_bytes(
        b"PK\x03\x04 truncated zip"
    )  # a corrupt newest file
    os.utime(tmp_path / "model_0000005.pth")
    (tmp_path / "last_checkpoint").write_text(tag)
    ck, c = _ckpt(tmp_path)
    with Messages("humanparse_d2.checkpoint.checkpointer") as log:
        ck.resume_or_load("", resume=True)
    assert c.iteration == 3 and ck.resumed_from.endswith("model_0000003.pth")
    assert ck.has_checkpoint() and ck.get_checkpoint_file().endswith("model_0000003.pth")
    assert any("resumed from" in m and "model_0000003.pth" in m for m in log.lines), log.lines


def test_resume_without_last_checkpoint_and_all_corrupt(tmp_path):
    _save(tmp_path, 2)
    os.unlink(tmp_path / "last_checkpoint")
    ck, c = _ckpt(tmp_path)
    ck.resume_or_load("", resume=True)
    assert c.iteration == 2
    (tmp_path / "model_0000002.pth").write_bytes(b"")
    with pytest.raises(NoLoadableCheckpointError, match="model_0000002.pth"):
        _ckpt(tmp_path)[0].resume_or_load("", resume=True)


def test_malicious_pkl_weights_do_not_run(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('x')",))

    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps({"model": {"head.bias": Payload()}, "__author__": "x"}))
    ck, _ = _ckpt(tmp_path)
    with pytest.raises(UnsafePickleError, match="builtins.exec"):
        ck.load(str(bad))
    assert not marker.exists()
    # the same file through detectron2's own checkpointer runs the payload (what this guards against)
    from detectron2.checkpoint import DetectionCheckpointer

    try:
        DetectionCheckpointer(Net()).load(str(bad))
    except Exception:  # noqa: BLE001  (it fails after running the code)
        pass
    assert marker.exists()


def test_model_zoo_pkl_loads_and_untrained_heads_are_named(tmp_path):
    net = Net()
    zoo = {
        "model": {k: v.numpy() for k, v in net.state_dict().items() if k.startswith("backbone.")},
        "__author__": "test",
    }
    f = tmp_path / "backbone_only.pkl"
    f.write_bytes(pickle.dumps(zoo, protocol=2))
    model = Net()
    ck = HumanParseCheckpointer(model)
    ck.load(str(f))
    assert torch.equal(model.backbone.weight, net.backbone.weight)
    with Messages("humanparse_d2.checkpoint.checkpointer") as log:
        assert warn_untrained(model, str(f), ck) == ["head.bias", "head.weight"]
        assert warn_untrained(model, "", None) == [""]
    assert "never trained" in log.lines[0] and "empty" in log.lines[1]


def test_pth_is_read_weights_only(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('x')",))

    f = tmp_path / "evil.pth"
    torch.save({"model": {}, "x": Payload()}, f)
    with pytest.raises(Exception, match="[Ww]eights only"):
        _ckpt(tmp_path)[0].load(str(f))
    assert not marker.exists()


def test_tampered_dataset_cache_is_refused_and_rebuilt(tmp_path, monkeypatch):
    from humanparse_d2.data.catalog import cache as dict_cache

    monkeypatch.setenv("HUMANPARSE_CACHE", str(tmp_path))
    records = [
        {"file_name": f"{i}.jpg", "annotations": [{"bbox": [0, 0, 1, 1], "bbox_mode": 1}]}
        for i in range(3)
    ]
    assert dict_cache.cached(("k",), lambda: records, min_items=1) == records
    (cache,) = tmp_path.glob("dicts_*.pkl")
    assert dict_cache.cached(("k",), lambda: pytest.fail("cache not used"), min_items=1) == records
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('x')",))

    cache.write_bytes(pickle.dumps([Payload()]))
    with Messages("humanparse_d2.data.catalog.cache") as log:
        assert dict_cache.cached(("k",), lambda: records, min_items=1) == records
    assert not marker.exists()
    assert any(str(cache) in m and "builtins.exec" in m for m in log.lines), log.lines
    # a truncated cache is reported too, never silently rebuilt
    cache.write_bytes(cache.read_bytes()[:10])
    with Messages("humanparse_d2.data.catalog.cache") as log:
        assert dict_cache.cached(("k",), lambda: records, min_items=1) == records
    assert any("ignoring dataset cache" in m for m in log.lines)
    assert np.all([isinstance(r, dict) for r in records])


def test_offline_remote_weights_name_the_url_and_the_way_out(tmp_path):
    from humanparse_d2.checkpoint.checkpointer import WeightsUnavailableError

    ck, _ = _ckpt(tmp_path)
    with pytest.raises(WeightsUnavailableError, match=r"https://127.0.0.1:9/w.pth.*local path"):
        ck.load(
            "https://127.0.0.1:9/w.pth"
        )  # nothing listens on port 9: refused at once, as offline
    ck.load(str(_save(tmp_path / "again", 1).get_checkpoint_file()))  # the checkpointer still works
