"""Simulator facade: tasks talk to bodies by name through :class:`Simulator`, never to pybullet.

Backends are imported on first use, so ``import equimanip`` (which registers the environments)
does not load a physics engine.
"""

from __future__ import annotations

from typing import Any

from equimanip.envs.sim.base import Contact, RenderResult, Simulator

BACKENDS = ("pybullet",)

__all__ = ["BACKENDS", "Contact", "RenderResult", "Simulator", "PyBulletSimulator", "make_simulator"]


def make_simulator(backend: str = "pybullet", **kwargs: Any) -> Simulator:
    """Create a simulator by backend name (``pybullet``; ``mujoco`` is planned)."""
    if backend == "pybullet":
        from equimanip.envs.sim.pybullet_sim import PyBulletSimulator

        return PyBulletSimulator(**kwargs)
    raise ValueError(f"unknown simulator backend {backend!r}; accepted: {', '.join(BACKENDS)}")


def __getattr__(name: str) -> Any:
    if name == "PyBulletSimulator":
        from equimanip.envs.sim.pybullet_sim import PyBulletSimulator

        return PyBulletSimulator
    raise AttributeError(name)
