"""Import the repository's scripts (tools/, benchmarks/, projects/*/tools/: folders of scripts, not
packages) so that tests can call their functions in-process."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent


def load_script(rel: str) -> ModuleType:
    """The script at ``REPO / rel`` (e.g. ``"tools/train_net.py"``), executed afresh as module
    ``_script_<rel>`` (so its ``if __name__ == "__main__"`` block does not run). Afresh on every
    call: defaults such as ``file=sys.stdout`` bind to the calling test's captured streams."""
    name = "_script_" + rel.removesuffix(".py").replace("/", "_")
    spec = importlib.util.spec_from_file_location(name, REPO / rel)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look a class's module up there
    spec.loader.exec_module(module)
    return module
