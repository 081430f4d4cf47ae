"""The robot interface: what a policy runner needs from a simulated, a ROS or a real robot.

Observations use the simulation envs' keys (``depth`` float32 1×S×S, ``holding`` float32 (1,)) and
actions their layout (``p, dx, dy, dz, dθ`` in [-1, 1], see :data:`equimanip.symmetry.ACTION_COMPONENTS`),
so a policy trained in simulation runs unchanged on any :class:`Robot`.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from equimanip.robots.safety import SafetyLimits
from equimanip.symmetry import ACTION_DIM, ACTION_INDEX

OBS_DEPTH, OBS_HOLDING = "depth", "holding"


class RobotError(RuntimeError):
    """A robot could not observe or act (lost connection, driver error)."""


class ObservationTimeout(RobotError):
    """No observation arrived within the timeout."""


@dataclass
class RobotObservation:
    """One observation: the env-style dict, when it was captured (``time.time()`` seconds) and
    whether the episode is over (simulation; a real robot never sets it)."""

    obs: dict[str, np.ndarray]
    stamp: float
    done: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.stamp


def hold_action(open_gripper: bool) -> np.ndarray:
    """The safe-stop command: no motion, the gripper kept as it is (``p`` > 0 opens)."""
    action = np.zeros(ACTION_DIM, dtype=np.float32)
    action[ACTION_INDEX["p"]] = 1.0 if open_gripper else -1.0
    return action


class Robot(abc.ABC):
    """A robot driven by end-effector deltas: ``connect``, ``observe``, ``send_action``, ``hold``, ``disconnect``.

    ``dpos`` (metres per unit ``dx``/``dy``/``dz``) and ``drot`` (radians per unit ``dθ``) give the
    action its physical size, as the env options of the same name do; ``image_size`` is the side of
    the ``depth`` image.
    """

    dpos: float = 0.05
    drot: float = float(np.pi / 8)
    image_size: int = 128

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the connection (start the simulator, subscribe topics); idempotent."""

    @abc.abstractmethod
    def observe(self, timeout: float = 1.0) -> RobotObservation:
        """The newest observation; raises :class:`ObservationTimeout` if none came within ``timeout`` s."""

    @abc.abstractmethod
    def send_action(self, action: np.ndarray) -> None:
        """Execute one action (already checked by :class:`~equimanip.robots.SafetyLimits`)."""

    @abc.abstractmethod
    def hold(self) -> None:
        """Safe stop: command zero motion now. Must not raise (it is called while handling errors)."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Hold and close the connection; idempotent."""

    def safety_limits(self) -> SafetyLimits:
        """The limits a runner applies unless given others (the defaults; robots override it)."""
        return SafetyLimits()

    def ee_position(self) -> np.ndarray | None:
        """The gripper's position (metres, in the frame of the workspace limits), or ``None`` when unknown."""
        return None

    def __enter__(self) -> Robot:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()
