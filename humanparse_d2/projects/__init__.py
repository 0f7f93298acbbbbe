"""Namespace for the paper packages that live under ``projects/`` in the source tree.

A wheel install maps ``projects/QANet/qanet`` to ``humanparse_d2.projects.qanet`` (see setup.py).
In a source checkout the same names resolve through the finder below, detectron2's own approach for
its ``detectron2.projects.*`` packages.
"""

import importlib.abc
import importlib.util
import sys
from pathlib import Path

_PROJECTS = {"qanet": "QANet", "mman": "MMAN"}
_PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent / "projects"


class _ProjectsFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        prefix = __name__ + "."
        if not name.startswith(prefix) or name.count(".") != prefix.count("."):
            return None
        short = name[len(prefix) :]
        folder = _PROJECTS.get(short)
        if folder is None:
            return None
        pkg_dir = _PROJECT_ROOT / folder / short
        init = pkg_dir / "__init__.py"
        if not init.is_file():
            return None
        return importlib.util.spec_from_file_location(
            name, init, submodule_search_locations=[str(pkg_dir)]
        )


if _PROJECT_ROOT.is_dir() and not any(isinstance(f, _ProjectsFinder) for f in sys.meta_path):
    sys.meta_path.append(_ProjectsFinder())
