"""Where a result came from: recorded next to every number the tools and benchmarks write."""

import subprocess
from pathlib import Path

__all__ = ["git_commit"]

_REPO = Path(__file__).resolve().parents[2]


def git_commit(repo=_REPO) -> str:
    """Short hash of ``repo``'s HEAD, ``-dirty`` when tracked files differ from it; "unknown"
    outside a git checkout (e.g. an installed wheel)."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")
