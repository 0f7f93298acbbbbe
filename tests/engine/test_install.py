"""scripts/install.sh: one clear sentence when the registry or the constraints file is missing; the
constraints pin what it installs."""

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_install_without_registry_fails_with_one_clear_message(tmp_path):
    env = dict(
        os.environ,
        VENV=str(tmp_path / "venv"),
        PIP_INDEX_URL="http://127.0.0.1:9/simple",  # nothing listens on the discard port
        PIP_RETRIES="0",
        PIP_TIMEOUT="2",
        PIP_NO_CACHE_DIR="1",
        PIP_FIND_LINKS="",
    )
    proc = subprocess.run(
        ["bash", str(REPO / "scripts/install.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "could not reach the package registry" in proc.stderr
    # The pip trace goes to the log, not the terminal.
    assert len(proc.stderr.splitlines()) <= 3, proc.stderr
    assert (tmp_path / "venv" / "install.log").stat().st_size > 0


def _install_sh_packages() -> list[str]:
    """Names of the packages install.sh installs from the registry (its DEPS array and lvis)."""
    text = (REPO / "scripts/install.sh").read_text()
    deps = re.search(r"^DEPS=\((.*?)\)", text, re.S | re.M).group(1)
    specs = [s.strip('"') for s in deps.split()] + ["lvis"]
    return [re.split(r"[<>=!\[]", s)[0].lower() for s in specs]


def test_constraints_pin_every_package_install_sh_installs():
    lines = (REPO / "scripts/constraints.txt").read_text().splitlines()
    pins = dict(ln.lower().split("==") for ln in lines if ln and not ln.startswith("#"))
    assert all(re.fullmatch(r"[\w.+-]+", v) for v in pins.values()), pins
    # setuptools is bounded in DEPS itself (pip freeze does not list it)
    missing = [p for p in _install_sh_packages() if p != "setuptools" and p not in pins]
    assert not missing, (
        f"scripts/constraints.txt has no version for {missing}: run make constraints"
    )
    assert pins["ruff"] == "0.17.5"  # the same ruff as DEPS and setup.py's dev extra


def test_missing_constraints_file_is_one_clear_error(tmp_path):
    env = dict(os.environ, VENV=str(tmp_path / "venv"), HUMANPARSE_CONSTRAINTS=str(tmp_path / "no"))
    proc = subprocess.run(
        ["bash", str(REPO / "scripts/install.sh")], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"install: constraints file {tmp_path / 'no'} not found "
        "(HUMANPARSE_CONSTRAINTS= installs without one)"
    )
    assert not (tmp_path / "venv").exists()  # stopped before creating anything
