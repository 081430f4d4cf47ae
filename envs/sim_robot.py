"""The simulation as a :class:`~equimanip.robots.Robot`: a policy runner drives it as it would a real one."""

from __future__ import annotations

import math
import time
from typing import Any

import gymnasium as gym
import numpy as np

from equimanip.robots import Robot, RobotError, RobotObservation, SafetyLimits

# names as in franka_description, so robot_state_publisher and rviz models fit our joint states
PANDA_JOINT_NAMES: tuple[str, ...] = tuple(f"panda_joint{i}" for i in range(1, 8)) + ("panda_finger_joint1",
                                                                                        "panda_finger_joint2")


class SimRobot(Robot):
    """An equimanip env behind the robot interface. Each ``send_action`` is one env step.

    Args:
        env_id: a registered task, e.g. ``BlockInBowl-v0``.
        seed: seed of the first episode (``reset(seed)`` starts others).
        env_options: ``gym.make`` options (camera, image_size, dpos, observations, ...).
    """

    def __init__(self, env_id: str, seed: int = 0, **env_options: Any):
        self.env_id, self.seed, self.env_options = env_id, seed, env_options
        self.env: gym.Env | None = None
        self.holds = 0  # safe stops requested (tests and logs read it)
        self._obs: dict[str, np.ndarray] = {}
        self._stamp, self._done, self._info = 0.0, False, {}

    @property
    def tabletop(self) -> Any:
        if self.env is None:
            raise RobotError("SimRobot is not connected: call connect() first")
        return self.env.unwrapped

    def connect(self) -> None:
        if self.env is not None:
            return
        from equimanip.envs import make

        self.env = make(self.env_id, **self.env_options)
        opts = self.env.unwrapped.options
        self.dpos, self.drot, self.image_size = float(opts.dpos), float(opts.drot), int(opts.image_size)
        self.reset(self.seed)

    def reset(self, seed: int | None = None) -> RobotObservation:
        """Start a new episode (seeded like ``env.reset(seed=...)``)."""
        if self.env is None:
            raise RobotError("SimRobot is not connected: call connect() first")
        self._obs, self._info = self.env.reset(seed=seed)
        self._stamp, self._done = time.time(), False
        return self.observe()

    def observe(self, timeout: float = 1.0) -> RobotObservation:
        if self.env is None:
            raise RobotError("SimRobot is not connected: call connect() first")
        return RobotObservation(self._obs, self._stamp, self._done, dict(self._info))

    def send_action(self, action: np.ndarray) -> None:
        if self.env is None:
            raise RobotError("SimRobot is not connected: call connect() first")
        if self._done:
            raise RobotError("the episode is over: reset() before sending actions")
        self._obs, _, terminated, truncated, self._info = self.env.step(action)
        self._stamp, self._done = time.time(), bool(terminated or truncated)

    def hold(self) -> None:
        # the simulation only moves when stepped: not stepping is holding
        self.holds += 1

    def disconnect(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None

    def ee_position(self) -> np.ndarray | None:
        # the commanded target: the env moves it by each action (the measured pose lags a little)
        return np.asarray(self.tabletop.robot.target_position, dtype=np.float64) if self.env is not None else None

    def safety_limits(self) -> SafetyLimits:
        """The env's own workspace and step sizes: in simulation the limits never change an action
        the env would accept (the env clips its targets to the same box)."""
        ws = self.tabletop.workspace
        return SafetyLimits(tuple(ws.low), tuple(ws.high), max_step=self.dpos * math.sqrt(3) + 1e-9,
                            max_rotation=self.drot + 1e-9)

    def joint_state(self) -> tuple[tuple[str, ...], np.ndarray]:
        """Joint names and positions (7 arm joints, 2 fingers), as a driver's ``joint_states`` reports them."""
        return PANDA_JOINT_NAMES, np.asarray(self.tabletop.robot.joint_positions(), dtype=np.float64)

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Measured grasp-target position and orientation (x, y, z, w) in the world frame, as a driver's TF gives it."""
        return self.tabletop.robot.ee_frame()

    def finger_width(self) -> float:
        """Opening between the fingers in metres."""
        return self.tabletop.robot.finger_width()
