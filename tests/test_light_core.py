"""The numpy core imports without torch or detectron2 (the evaluation CLI and synthetic tool rely on it)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

LIGHT_MODULES = [
    "humanparse_core.io",
    "humanparse_core.metadata",
    "humanparse_core.synthetic",
    "humanparse_core.postprocessing",
    "humanparse_core.evaluation.folder_eval",
    "humanparse_core.evaluation.submission",
    "humanparse_core.evaluation.image_eval",
]


def test_core_imports_without_torch_or_detectron2():
    code = (
        "import importlib, sys\n"
        f"for m in {LIGHT_MODULES!r}: importlib.import_module(m)\n"
        "heavy = sorted(m for m in ('torch', 'detectron2', 'humanparse_d2') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the light core pulled in: {out.stdout.strip()}"


def test_cli_tools_start_without_torch():
    for tool in (str(REPO / "tools/eval_parsing.py"), str(REPO / "tools/make_synthetic.py")):
        code = (
            "import runpy, sys\n"
            f"sys.argv = [{tool!r}, '--help']\n"
            f"try:\n    runpy.run_path({tool!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'LIGHT')\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip().endswith("LIGHT"), (tool, out.stdout[-300:], out.stderr[-300:])
