"""equimanip: robot manipulation learning that exploits symmetry.

``import equimanip`` registers the environments (``equimanip/<Task>-v0``) with gymnasium.
"""

from __future__ import annotations

__version__ = "0.1.0"

from equimanip import envs as envs  # noqa: E402  (registers environments)
from equimanip.envs import make  # noqa: E402

__all__ = ["__version__", "envs", "make"]
