"""Import the repository's scripts (tools/, benchmarks/, projects/*/tools/: folders of scripts, not
packages) so that tests can call their functions in-process."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent


def load_script(rel: str) -> ModuleType:
    """The module of the script at ``REPO / rel`` (e.g. ``"tools/train_net.py"``), executed once per
    session as ``sys.modules["_script_<rel>"]``, so its ``if __name__ == "__main__"`` block does
    not run and later calls share one module, as ``import`` would."""
    name = "_script_" + rel.removesuffix(".py").replace("/", "_")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / rel)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]
