"""scripts/install.sh: one clear sentence when the package registry cannot be reached."""

import os
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
