#!/usr/bin/env python
"""humanparse_d2: a detectron2 plugin for single- and multi-person human parsing.

Like detectron2's own setup.py, the paper packages under ``projects/X/x`` are installed into the
package namespace (``humanparse_d2.projects.x``); an editable/source checkout resolves them through
the finder in ``humanparse_d2/projects/__init__.py`` instead.
"""

from setuptools import find_packages, setup

PROJECTS = {
    "humanparse_d2.projects.qanet": "projects/QANet/qanet",
    "humanparse_d2.projects.mman": "projects/MMAN/mman",
}

packages = find_packages(
    include=["humanparse_core", "humanparse_core.*", "humanparse_d2", "humanparse_d2.*"]
)
packages += list(PROJECTS)
# torch, torchvision and detectron2 are prerequisites installed by scripts/install.sh (detectron2 is
# not on PyPI, so it cannot be a requirement here).
setup(
    name="humanparse_d2",
    version="0.1.0",
    description="Human parsing (QANet, QAM, MMAN) as a detectron2 plugin",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=packages,
    package_dir=PROJECTS,
    include_package_data=True,
    install_requires=[
        "numpy",
        "opencv-python-headless",
        "Pillow",
        "pycocotools",
        "faster-coco-eval>=1.6",  # COCO/LVIS scoring (FastCOCOEvaluator, FastLVISEvaluator)
        "fvcore",
        "tabulate",
        "tqdm",
        "filelock",
        "timm",
    ],
    extras_require={
        "lvis": ["lvis"],  # detectron2's LVISEvaluator and benchmarks/coco_eval_speed.py
        "fast-png": ["zlib-ng"],  # ~4x faster label-PNG inflate in the evaluator (same output)
        "export": ["onnx", "onnxscript"],  # qanet.export (torch's dynamo ONNX exporter)
        # parity with the official code: its GT readers (skimage) and in-memory predictions (scipy)
        "official": ["scikit-image", "scipy"],
        "test": ["pytest", "pytest-timeout", "onnx", "onnxscript"],  # pytest.ini sets `timeout`
        "dev": ["pytest", "pytest-timeout", "onnx", "onnxscript", "ruff==0.17.5"],
    },
)
