"""Where a tool's numbers came from: the commit (flagged when the tree differs) and how busy the machine was.

Shared by the benchmark and reproduction tools so that reports from different runs can be told apart.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=None)
def git_describe() -> str:
    """Commit of the code that produced the numbers, flagged when the working tree differs from it.

    Computed once per process, at the first call: tools call it before they write their outputs, which are
    tracked files themselves and would otherwise flag the tree as dirty.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (with uncommitted changes)" if dirty else "")


def load_average() -> str:
    """The 1-minute load average, so a reader can tell timings taken on a busy machine from a quiet one."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):  # not on every platform
        return "unknown"
