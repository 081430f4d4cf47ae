"""What code produced a result: recorded in run summaries so benchmark rows say which commit ran them."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path


def _git(*args: str) -> str | None:
    """Output of a git command run in the package's folder; None outside a checkout or without git."""
    try:
        return subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), *args], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def git_commit() -> str | None:
    """Short sha of the checkout's HEAD (what the benchmark reports name), None for an installed package."""
    return _git("rev-parse", "--short", "HEAD") or None


@functools.lru_cache(maxsize=1)
def code_revision() -> str:
    """``0.1.0`` for an installed package; ``0.1.0+g<sha>`` (``.dirty`` with uncommitted changes) in a
    git checkout: numerics of trained policies change with the code, so results name it."""
    from equimanip import __version__

    sha = git_commit()
    if sha is None:
        return __version__
    return f"{__version__}+g{sha}{'.dirty' if _git('status', '--porcelain', '--untracked-files=no') else ''}"


__all__ = ["code_revision", "git_commit"]
