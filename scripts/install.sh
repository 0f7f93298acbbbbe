#!/usr/bin/env bash
# One-command, idempotent install of the humanparse_d2 stack into .venv/.
#
# Why detectron2 comes this way: detectron2 publishes nothing on PyPI, and the PyPI sdists named after
# it (pb1-detectron2, detectron2-cdo) lack their C++ sources and break on current numpy/Pillow.
# `sal-detectron2==0.7.2` is upstream detectron2 (commit a59f056) with a Python 3.11 fix; its wheel is
# tagged cp310 only because it carries a cp310 `_C` binary that Python 3.11 ignores (detectron2 runs
# without its compiled ops since 2022). `--python-version 3.10 --target SITE` is what lets pip place it.
# A machine that already has an official detectron2 in the venv keeps it: the fallback is skipped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"
PY="$VENV/bin/python"
STAMP="$VENV/.humanparse_d2_installed"
TORCH_SPEC="torch==2.14.1 torchvision==0.29.1"
D2_SPEC="sal-detectron2==0.7.2"
# scipy and scikit-image: only the comparisons with the official code (benchmarks/eval_vs_official.py,
# qanet/mman official parity); ruff: `make lint` / `make format` (same pin as setup.py's dev extra).
DEPS=("setuptools<81" fvcore iopath pycocotools opencv-python-headless yacs termcolor tabulate
      cloudpickle tqdm matplotlib tensorboard "omegaconf>=2.1,<2.4" hydra-core packaging pytest
      pytest-timeout timm filelock scipy onnx onnxscript zlib-ng "faster-coco-eval>=1.6"
      scikit-image ruff==0.17.5)
LOG="$VENV/install.log"
die() { echo "install: $*" >&2; exit 1; }

# Tested versions (see the file's header); HUMANPARSE_CONSTRAINTS= (empty) installs the newest.
CONSTRAINTS="${HUMANPARSE_CONSTRAINTS-$ROOT/scripts/constraints.txt}"
PIN=()
if [[ -n "$CONSTRAINTS" ]]; then
  [[ -f "$CONSTRAINTS" ]] || die "constraints file $CONSTRAINTS not found (HUMANPARSE_CONSTRAINTS= installs without one)"
  PIN=(-c "$CONSTRAINTS")
fi

# pip that keeps its 200-line traces in the log and says one clear sentence on failure; every call
# gets the constraints (harmless where --no-deps installs one named package).
pipq() {
  if "$PY" -m pip install --disable-pip-version-check -q "${PIN[@]}" "$@" >>"$LOG" 2>&1; then
    return 0
  fi
  # With constraints pip reports an unreachable index as a resolution conflict: resolving once more
  # without them tells the two apart (an offline retry fails with "No matching distribution").
  if [[ ${#PIN[@]} -gt 0 ]] && grep -q "ResolutionImpossible" "$LOG" &&
     "$PY" -m pip install --disable-pip-version-check -q --dry-run "$@" >>"$LOG" 2>&1; then
    die "pip cannot install the versions pinned in $CONSTRAINTS here (a pin is not served by this registry, or conflicts with the venv) while installing: $*. HUMANPARSE_CONSTRAINTS= bash scripts/install.sh installs the newest releases instead. Full log: $LOG"
  fi
  if grep -qiE "Failed to establish|NewConnectionError|Temporary failure in name resolution|No matching distribution|Could not find a version" "$LOG"; then
    die "pip could not reach the package registry (or the package is not served there) while installing: $*. This project needs network access to PyPI for the first install. Full log: $LOG"
  fi
  die "pip failed while installing: $*. Last lines of $LOG:
$(tail -n 15 "$LOG")"
}

# Fast path: everything already installed and the project's setup.py unchanged since.
if [[ -f "$STAMP" && "$STAMP" -nt "$ROOT/setup.py" && "$STAMP" -nt "$0" && ( -z "$CONSTRAINTS" || "$STAMP" -nt "$CONSTRAINTS" ) ]] && "$PY" -c "import detectron2, torch, humanparse_d2" 2>/dev/null; then
  echo "install: .venv is up to date ($("$PY" -c 'import torch,detectron2;print("torch",torch.__version__,"detectron2",detectron2.__version__)'))"
  exit 0
fi

if [[ ! -x "$PY" ]]; then
  echo "install: creating $VENV"
  "$PYTHON_BIN" -m venv "$VENV" || die "could not create a virtualenv with $PYTHON_BIN (is python3-venv installed?)"
fi
mkdir -p "$VENV"; : >"$LOG"

if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
  echo "install: torch + torchvision ($TORCH_SPEC; several GB the first time)"
  # shellcheck disable=SC2086
  pipq $TORCH_SPEC
fi

echo "install: detectron2 dependencies"
pipq "${DEPS[@]}"
# lvis declares opencv-python (the Qt/GUI build) as a requirement: installed next to
# opencv-python-headless, its files overwrite cv2/ and `import cv2` then needs libGL, which servers
# and containers often lack. lvis itself only needs cv2, matplotlib, numpy and pycocotools (above).
pipq --no-deps lvis

if "$PY" -c "import detectron2" 2>/dev/null; then
  echo "install: detectron2 $("$PY" -c 'import detectron2;print(detectron2.__version__)') already importable; keeping it"
else
  echo "install: detectron2 via $D2_SPEC (placed with --python-version 3.10 --target)"
  SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  pipq --no-deps --only-binary=:all: --python-version 3.10 --target "$SITE" --upgrade "$D2_SPEC"
fi

echo "install: humanparse_d2 (editable)"
pipq --no-deps --no-build-isolation -e "$ROOT"

"$PY" -c "import detectron2, torch, humanparse_d2" || die "the stack installed but 'import humanparse_d2' fails; see above"
touch "$STAMP"
echo "install: done ($("$PY" -c 'import torch,detectron2;print("torch",torch.__version__,"detectron2",detectron2.__version__)'))"
