"""Config plumbing: every key documented, helpful errors, every shipped yaml merges."""

import re
from pathlib import Path

import pytest
from detectron2.config import get_cfg

import humanparse_d2
from humanparse_d2.config import merge_config_file
from humanparse_d2.engine import check_config_names, load_config

REPO = Path(__file__).resolve().parents[2]
CONFIG_MODULES = [
    REPO / "humanparse_d2/config.py",
    REPO / "humanparse_d2/data/config.py",
    REPO / "humanparse_d2/evaluation/config.py",
    REPO / "humanparse_d2/modeling/config.py",
    REPO / "projects/QANet/qanet/config.py",
    REPO / "projects/MMAN/mman/config.py",
]
ALL_YAMLS = sorted(
    list((REPO / "configs").rglob("*.yaml")) + list((REPO / "projects").rglob("configs/**/*.yaml"))
)


def test_add_humanparse_config_is_idempotent():
    cfg = get_cfg()
    humanparse_d2.add_humanparse_config(cfg)
    before = cfg.dump()
    humanparse_d2.add_humanparse_config(cfg)
    assert cfg.dump() == before
    assert tuple(cfg.MODEL.QAM.WEIGHTS) == (1.0, 0.5, 3.0)


def test_paper_packages_add_their_keys_through_registered_adders(monkeypatch):
    import humanparse_d2.config as hc
    from humanparse_d2.projects.mman import add_mman_config
    from humanparse_d2.projects.qanet import add_qanet_config

    assert add_qanet_config in hc._CONFIG_ADDERS and add_mman_config in hc._CONFIG_ADDERS
    monkeypatch.setattr(hc, "_CONFIG_ADDERS", list(hc._CONFIG_ADDERS))
    calls = []

    def add_extra(cfg):
        calls.append(cfg)
        cfg.MODEL.EXTRA_KEY = 1

    assert hc.register_config_adder(add_extra) is add_extra
    hc.register_config_adder(add_extra)  # a second registration is a no-op
    cfg = hc.get_humanparse_cfg()
    assert calls == [cfg] and cfg.MODEL.EXTRA_KEY == 1 and "QANET" in cfg.MODEL


@pytest.mark.parametrize("path", CONFIG_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_config_key_has_a_comment(path):
    lines = path.read_text().splitlines()
    undocumented = []
    for i, line in enumerate(lines):
        m = re.match(r"\s*_C\.([A-Z0-9_.]+)\s*=\s*(.*)", line)
        if not m or m.group(2).startswith("CN("):
            continue
        prev = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        if not (prev.startswith("#") or "#" in line):
            undocumented.append(m.group(1))
    assert not undocumented, f"keys without a comment in {path.name}: {undocumented}"


def test_missing_add_call_names_the_function(tmp_path):
    yaml = tmp_path / "c.yaml"
    yaml.write_text("MODEL:\n  QAM:\n    WEIGHTS: (1.0, 0.0, 1.0)\n")
    cfg = get_cfg()
    with pytest.raises(KeyError, match="add_humanparse_config"):
        merge_config_file(cfg, str(yaml))
    # detectron2's own CfgNode is left as it is (no process-wide patch)
    with pytest.raises(KeyError) as e:
        get_cfg().merge_from_file(str(yaml))
    assert "add_humanparse_config" not in str(e.value)
    # a misspelt plugin key is not mistaken for a missing add_humanparse_config call
    yaml.write_text("MODEL:\n  QAM:\n    WEIGHT: (1.0, 0.0, 1.0)\n")
    with pytest.raises(KeyError) as e:
        merge_config_file(humanparse_d2.get_humanparse_cfg(), str(yaml))
    assert "MODEL.QAM.WEIGHT" in str(e.value) and "add_humanparse_config" not in str(e.value)


def test_unknown_meta_arch_lists_registered_names():
    cfg = load_config(None, check_names=False)
    cfg.MODEL.META_ARCHITECTURE = "NoSuchParser"
    with pytest.raises(KeyError) as e:
        check_config_names(cfg)
    assert "NoSuchParser" in str(e.value) and "GeneralizedRCNN" in str(e.value)


def test_unknown_dataset_lists_registered_names():
    cfg = load_config(None, check_names=False)
    cfg.DATASETS.TRAIN = ("no_such_dataset",)
    with pytest.raises(KeyError) as e:
        check_config_names(cfg)
    assert "no_such_dataset" in str(e.value)
    assert "coco_2017_train" in str(e.value) or "did you mean" in str(e.value)
    cfg.DATASETS.TRAIN = ("cihp_trian",)
    with pytest.raises(KeyError, match="did you mean 'cihp_train'"):
        check_config_names(cfg)


@pytest.mark.parametrize("path", ALL_YAMLS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_yaml_merges_with_plain_get_cfg(path):
    cfg = get_cfg()
    humanparse_d2.add_humanparse_config(cfg)
    cfg.merge_from_file(str(path))
    assert cfg.VERSION == 2
