"""What code produced a result: recorded in run summaries so benchmark rows say which commit ran them."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path


@functools.lru_cache(maxsize=1)
def code_revision() -> str:
    """``0.1.0`` for an installed package; ``0.1.0+g<sha>`` (``.dirty`` with uncommitted changes) in a
    git checkout: numerics of trained policies change with the code, so results name it."""
    from equimanip import __version__

    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}{'.dirty' if dirty else ''}" if sha else __version__


__all__ = ["code_revision"]
