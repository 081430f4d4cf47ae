"""Simulator facade: tasks talk to bodies by name through :class:`Simulator`, never to pybullet."""

from equimanip.envs.sim.base import Contact, RenderResult, Simulator
from equimanip.envs.sim.pybullet_sim import PyBulletSimulator

__all__ = ["Contact", "RenderResult", "Simulator", "PyBulletSimulator", "make_simulator"]


def make_simulator(backend: str = "pybullet", **kwargs) -> Simulator:
    """Create a simulator by backend name (``pybullet``; ``mujoco`` is planned)."""
    if backend == "pybullet":
        return PyBulletSimulator(**kwargs)
    raise ValueError(f"unknown simulator backend {backend!r}; accepted: 'pybullet'")
