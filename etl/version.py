"""Which code made an output: the package version, and the git commit when run from a clone."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DISTRIBUTION = "mailflow"
REPO = Path(__file__).resolve().parent.parent


@cache
def code_version() -> str:
    """`mailflow 0.3.0 (git 1a2b3c...)`; the git part is left out where there is no clone."""
    try:
        text = f"{DISTRIBUTION} {version(DISTRIBUTION)}"
    except PackageNotFoundError:  # run from a clone without `pip install -e .`
        text = f"{DISTRIBUTION} (not installed)"
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,  # noqa: S607
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return text
    return f"{text} (git {done.stdout.strip()})" if done.returncode == 0 else text
