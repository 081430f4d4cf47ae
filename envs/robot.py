"""The simulated Franka Panda: end-effector control of (x, y, z, yaw) plus the parallel gripper."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from equimanip.envs.sim.base import Simulator

ROBOT = "robot"


def wrap_half_turn(angle: float) -> float:
    """Wrap an angle to [-π/2, π/2): a parallel gripper looks the same after a half turn."""
    return float((angle + math.pi / 2.0) % math.pi - math.pi / 2.0)


def yaw_quaternion_down(yaw: float) -> np.ndarray:
    """Quaternion (xyzw) of the Panda hand pointing down with its closing axis at ``yaw``.

    At yaw 0 the fingers close along world y; the closing axis is ``(-sin yaw, cos yaw)``.
    """
    # qz(ψ)·qx(π) with ψ = yaw + π maps the hand's y axis to (-sin yaw, cos yaw).
    psi = yaw + math.pi
    return np.array([math.cos(psi / 2.0), math.sin(psi / 2.0), 0.0, 0.0])


def _wrap_pi(angle: float) -> float:
    return float((angle + math.pi) % (2 * math.pi) - math.pi)


def _hand_yaw(quat) -> float:
    """Heading (not wrapped to a half turn) of the closing axis of a downward hand."""
    x, y, z, w = quat
    return math.atan2(-2 * (x * y - w * z), 1 - 2 * (x * x + z * z))


@dataclass(frozen=True)
class PandaConfig:
    """Physical settings of the simulated Panda (defaults tuned for 20 sub-steps at 240 Hz)."""

    urdf: str = "franka_panda/panda.urdf"
    base_position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    arm_force: float = 240.0
    arm_gain: float = 0.1
    finger_force: float = 40.0
    finger_open: float = 0.04  # per finger (8 cm opening)
    finger_friction: float = 1.5
    rest_pose: tuple[float, ...] = (0.0, -0.2, 0.0, -2.2, 0.0, 2.0, math.pi / 4)  # arm joints 1-7
    ik_iterations: int = 6  # IK refinements on the kinematic twin per command
    finger_length: float = 0.0584  # grasp-target frame below the hand; tips reach ~1 cm below it


class PandaRobot:
    """The Franka Panda from ``pybullet_data`` driven by inverse kinematics and position control.

    The robot keeps a commanded end-effector target; each action moves that target, the joints are
    driven towards its IK solution for a fixed number of physics sub-steps, and the gripper opens
    or closes. Joint 7 is chosen modulo π, since the gripper is symmetric under a half turn.
    """

    ARM_JOINTS = (0, 1, 2, 3, 4, 5, 6)
    FINGER_JOINTS = (9, 10)
    FINGER_LINKS = (9, 10)
    EE_LINK = 11
    JOINT7_LIMIT = 2.8973

    def __init__(self, sim: Simulator, config: PandaConfig | None = None):
        self.sim = sim
        self.config = config or PandaConfig()
        sim.load_urdf(ROBOT, self.config.urdf, self.config.base_position, fixed=True)
        # a physics-free copy of the arm for inverse kinematics (see _arm_targets)
        self._twin: Simulator = type(sim)()
        self._twin.load_urdf(ROBOT, self.config.urdf, self.config.base_position, fixed=True)
        for link in self.FINGER_LINKS:
            sim.set_dynamics(ROBOT, link, lateral_friction=self.config.finger_friction, spinning_friction=0.003)
        # the real fingers are geared together; uncoupled, two force-limited fingers squeezing an object
        # let it slide freely along the closing axis when the hand moves sideways
        sim.couple_joints(ROBOT, *self.FINGER_JOINTS)
        self.target_position = np.zeros(3)
        self.target_yaw = 0.0
        self.gripper_open = True

    # -- state --------------------------------------------------------------------------------
    def ee_pose(self) -> tuple[np.ndarray, float]:
        """Measured end-effector (grasp-target) position and yaw in [-π/2, π/2)."""
        pos, quat = self.sim.link_pose(ROBOT, self.EE_LINK)
        return pos, wrap_half_turn(_hand_yaw(quat))

    def ee_frame(self) -> tuple[np.ndarray, np.ndarray]:
        """Measured end-effector (grasp-target) position and orientation quaternion (x, y, z, w)."""
        pos, quat = self.sim.link_pose(ROBOT, self.EE_LINK)
        return np.asarray(pos, dtype=np.float64), np.asarray(quat, dtype=np.float64)

    def finger_width(self) -> float:
        """Opening between the fingers in metres (0 closed, 0.08 open)."""
        return float(np.sum(self.sim.joint_positions(ROBOT, self.FINGER_JOINTS)))

    def joint_positions(self) -> np.ndarray:
        return self.sim.joint_positions(ROBOT, self.ARM_JOINTS + self.FINGER_JOINTS)

    def fingers_touch(self, body: str) -> tuple[bool, bool]:
        """Whether each finger touches ``body``."""
        touching = {c.link_a for c in self.sim.contacts(ROBOT, body)}
        return (self.FINGER_LINKS[0] in touching, self.FINGER_LINKS[1] in touching)

    def is_holding(self, body: str, min_width: float = 0.004) -> bool:
        """Both fingers touch ``body`` and the gripper is closed on it, not empty."""
        if self.gripper_open:
            return False
        left, right = self.fingers_touch(body)
        return left and right and self.finger_width() > min_width

    def snapshot(self) -> dict:
        """Controller state beyond physics (commanded pose, gripper, the IK twin's seed)."""
        return {"target_position": self.target_position.copy(), "target_yaw": self.target_yaw,
                "gripper_open": self.gripper_open, "twin": self._twin.joint_positions(ROBOT, self.ARM_JOINTS)}

    def restore(self, snapshot: dict) -> None:
        """Undo to a :meth:`snapshot` (the physics state is restored by the simulator)."""
        self._twin.reset_joints(ROBOT, self.ARM_JOINTS, snapshot["twin"])
        self.target_position = snapshot["target_position"].copy()
        self.target_yaw = snapshot["target_yaw"]
        self.gripper_open = snapshot["gripper_open"]
        self._apply_control()

    # -- commands -----------------------------------------------------------------------------
    def reset(self, position: np.ndarray, yaw: float, gripper_open: bool = True) -> None:
        """Teleport the arm to the IK solution of ``(position, yaw)`` (no physics)."""
        cfg = self.config
        self.sim.reset_joints(ROBOT, self.ARM_JOINTS, cfg.rest_pose)
        self._twin.reset_joints(ROBOT, self.ARM_JOINTS, cfg.rest_pose)
        self.target_position = np.asarray(position, dtype=float).copy()
        self.target_yaw = wrap_half_turn(yaw)
        self.gripper_open = gripper_open
        q = self._arm_targets()
        self.sim.reset_joints(ROBOT, self.ARM_JOINTS, q)
        fingers = cfg.finger_open if gripper_open else 0.0
        self.sim.reset_joints(ROBOT, self.FINGER_JOINTS, (fingers, fingers))
        self._apply_control()

    def command(self, position: np.ndarray, yaw: float, gripper_open: bool) -> None:
        """Set a new end-effector target and gripper command (applied during the next sub-steps)."""
        self.target_position = np.asarray(position, dtype=float).copy()
        self.target_yaw = wrap_half_turn(yaw)
        self.gripper_open = bool(gripper_open)
        self._apply_control()

    def _arm_targets(self) -> np.ndarray:
        """Joint targets for the commanded pose, solved on the kinematic twin.

        pybullet's IK is only accurate from a nearby seed, and seeding it on the real robot would
        mean teleporting its joints. The twin (a robot in a private, physics-free world) keeps the
        last solution as the next seed; we iterate until forward kinematics confirms 0.1 mm.
        """
        twin = self._twin
        # of the two equivalent hand headings (yaw, yaw + π) aim the IK at the one nearer the twin's
        _, twin_quat = twin.link_pose(ROBOT, self.EE_LINK)
        twin_yaw = _hand_yaw(twin_quat)
        yaw = self.target_yaw
        if abs(_wrap_pi(yaw + math.pi - twin_yaw)) < abs(_wrap_pi(yaw - twin_yaw)):
            yaw += math.pi
        quat = yaw_quaternion_down(yaw)
        arm = twin.joint_positions(ROBOT, self.ARM_JOINTS)
        for _ in range(self.config.ik_iterations):
            q = twin.inverse_kinematics(ROBOT, self.EE_LINK, self.target_position, quat)
            arm = np.array(q[: len(self.ARM_JOINTS)], dtype=float)
            twin.reset_joints(ROBOT, self.ARM_JOINTS, arm)
            pos, _ = twin.link_pose(ROBOT, self.EE_LINK)
            if np.linalg.norm(pos - self.target_position) < 1e-4:
                break
        # the gripper is symmetric under a half turn: keep joint 7 within its limits, near its current value
        current7 = float(self.sim.joint_positions(ROBOT, (6,))[0])
        candidates = [arm[6] + k * math.pi for k in range(-3, 4) if abs(arm[6] + k * math.pi) <= self.JOINT7_LIMIT]
        if not candidates:  # the twin's IK seed can wind joint 7 up by more than 3π (seen at workspace corners)
            base = math.remainder(float(arm[6]), math.pi)  # in [-π/2, π/2], always within the limits
            candidates = [base + k * math.pi for k in (-1, 0, 1) if abs(base + k * math.pi) <= self.JOINT7_LIMIT]
        out = arm.copy()
        out[6] = min(candidates, key=lambda c: abs(c - current7))
        return out

    def _apply_control(self) -> None:
        cfg = self.config
        arm = self._arm_targets()
        self.sim.control_joints(ROBOT, self.ARM_JOINTS, arm, [cfg.arm_force] * len(self.ARM_JOINTS),
                                position_gain=cfg.arm_gain)
        finger = cfg.finger_open if self.gripper_open else 0.0
        self.sim.control_joints(ROBOT, self.FINGER_JOINTS, (finger, finger), (cfg.finger_force, cfg.finger_force))
