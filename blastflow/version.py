"""Which code is running: shown on every job row, so a stale worker cannot hide (fix J)."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from blastflow import __version__

__all__ = ["code_version"]


@lru_cache(maxsize=1)
def code_version() -> str:
    """`<package version>+<git commit>[.dirty]`, or BLASTFLOW_CODE_VERSION when set (images)."""
    if pinned := os.environ.get("BLASTFLOW_CODE_VERSION"):
        return pinned
    git = shutil.which("git")
    root = Path(__file__).resolve().parent.parent
    if git is None or not (root / ".git").exists():
        return __version__
    try:
        sha = subprocess.run(
            [git, "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+{sha}{'.dirty' if dirty else ''}" if sha else __version__
