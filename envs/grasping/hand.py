"""A floating Franka hand (the gripper of pybullet_data's Panda, without the arm), as in the VGN
benchmark: a free body held by a fixed constraint that is moved in small Cartesian steps, with two
position-controlled fingers.

Poses are TCP poses in the grasp-frame convention of :mod:`equimanip.policies.grasp.gripper`.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable

import numpy as np
import pybullet
import pybullet_data

from equimanip.envs.sim.pybullet_sim import PyBulletSimulator
from equimanip.policies.grasp.gripper import FRANKA_HAND, GripperGeometry

HAND = "hand"
FINGER_JOINTS = (0, 1)


def _urdf_text(mesh_dir: str) -> str:
    def finger(name: str, axis: str, yaw: str) -> str:
        return f"""
  <link name="{name}">
    <inertial><origin xyz="0 0.01 0.02"/><mass value="0.1"/>
      <inertia ixx="1e-4" ixy="0" ixz="0" iyy="1e-4" iyz="0" izz="1e-4"/></inertial>
    <visual><origin rpy="0 0 {yaw}"/><geometry><mesh filename="{mesh_dir}/visual/finger.obj"/></geometry></visual>
    <collision><origin rpy="0 0 {yaw}"/><geometry><mesh filename="{mesh_dir}/collision/finger.obj"/></geometry></collision>
  </link>
  <joint name="{name}_joint" type="prismatic">
    <parent link="panda_hand"/><child link="{name}"/><origin xyz="0 0 0.0584"/><axis xyz="0 {axis} 0"/>
    <limit effort="20" lower="0.0" upper="0.04" velocity="0.2"/>
  </joint>"""

    # the base's inertial origin stays at its link origin: pybullet reports and constrains base
    # poses at the centre of mass
    return f"""<?xml version="1.0"?>
<robot name="floating_panda_hand">
  <link name="panda_hand">
    <inertial><origin xyz="0 0 0"/><mass value="0.81"/>
      <inertia ixx="1e-3" ixy="0" ixz="0" iyy="1e-3" iyz="0" izz="1e-3"/></inertial>
    <visual><geometry><mesh filename="{mesh_dir}/visual/hand.obj"/></geometry></visual>
    <collision><geometry><mesh filename="{mesh_dir}/collision/hand.obj"/></geometry></collision>
  </link>{finger("panda_leftfinger", "1", "0")}{finger("panda_rightfinger", "-1", "3.14159265")}
</robot>
"""


@functools.cache
def hand_urdf() -> str:
    """Path of the floating-hand URDF, written once per process (its meshes are pybullet_data's)."""
    mesh_dir = os.path.join(pybullet_data.getDataPath(), "franka_panda", "meshes")
    folder = tempfile.mkdtemp(prefix="equimanip-hand-")
    path = os.path.join(folder, "floating_panda_hand.urdf")
    with open(path, "w") as f:
        f.write(_urdf_text(mesh_dir))
    return path


def pose_to_pos_quat(pose: np.ndarray) -> tuple[list[float], list[float]]:
    """Position and pybullet quaternion (x, y, z, w) of a 4×4 pose."""
    m = np.asarray(pose, dtype=float)
    return list(m[:3, 3]), list(_matrix_to_quat(m[:3, :3]))


def _matrix_to_quat(r: np.ndarray) -> np.ndarray:
    t = np.trace(r)
    if t > 0:
        s = np.sqrt(t + 1.0) * 2
        q = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2]) * 2
        q = [0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s]
    elif r[1, 1] > r[2, 2]:
        s = np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2]) * 2
        q = [(r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s]
    else:
        s = np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1]) * 2
        q = [(r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s, (r[1, 0] - r[0, 1]) / s]
    q = np.asarray(q)
    return q / np.linalg.norm(q)


class FloatingHand:
    """The Franka hand floating in a :class:`PyBulletSimulator`, steered by its TCP pose.

    The hand is loaded once and parked far from the scene when unused, so physics snapshots taken
    with it present stay valid (``restoreState`` needs the same bodies).
    """

    PARK = np.array([0.0, 0.0, 5.0])

    def __init__(self, sim: PyBulletSimulator, gripper: GripperGeometry = FRANKA_HAND, *,
                 max_force: float = 300.0, finger_force: float = 20.0):
        self.sim, self.gripper = sim, gripper
        self.max_force, self.finger_force = float(max_force), float(finger_force)
        self.on_step: Callable[[], None] | None = None  # called after every motion increment (videos)
        c = sim.client
        park = self._base_pose(self._tcp_pose_at(self.PARK))
        sim.load_urdf(HAND, hand_urdf(), park[0], park[1])
        self.body = sim._id(HAND)
        for link in (-1, *FINGER_JOINTS):
            c.changeDynamics(self.body, link, lateralFriction=1.0, spinningFriction=0.1)
        c.changeDynamics(self.body, -1, linearDamping=0, angularDamping=0)
        self.constraint = c.createConstraint(self.body, -1, -1, -1, pybullet.JOINT_FIXED, [0, 0, 0], [0, 0, 0],
                                             park[0], childFrameOrientation=park[1])
        c.changeConstraint(self.constraint, park[0], park[1], maxForce=self.max_force)
        self.set_width(gripper.max_width, instant=True)

    # -- poses --------------------------------------------------------------------------------
    @staticmethod
    def _tcp_pose_at(position: np.ndarray) -> np.ndarray:
        pose = np.eye(4)
        pose[:3, :3] = np.diag([1.0, -1.0, -1.0])  # pointing down
        pose[:3, 3] = position
        return pose

    def _base_pose(self, tcp_pose: np.ndarray) -> tuple[list[float], list[float]]:
        """The hand link's pose for a TCP pose: the TCP lies ``tcp_offset`` along its z axis."""
        base = np.array(tcp_pose, dtype=float, copy=True)
        base[:3, 3] = base[:3, 3] - self.gripper.tcp_offset * base[:3, 2]
        return pose_to_pos_quat(base)

    def tcp_pose(self) -> np.ndarray:
        pos, quat = self.sim.client.getBasePositionAndOrientation(self.body)
        pose = np.eye(4)
        pose[:3, :3] = np.asarray(self.sim.client.getMatrixFromQuaternion(quat)).reshape(3, 3)
        pose[:3, 3] = np.asarray(pos) + self.gripper.tcp_offset * pose[:3, 2]
        return pose

    def reset(self, tcp_pose: np.ndarray, width: float | None = None) -> None:
        """Teleport the hand (open to ``width``, default fully) to a TCP pose, at rest."""
        pos, quat = self._base_pose(tcp_pose)
        c = self.sim.client
        c.resetBasePositionAndOrientation(self.body, pos, quat)
        c.resetBaseVelocity(self.body, [0, 0, 0], [0, 0, 0])
        c.changeConstraint(self.constraint, pos, quat, maxForce=self.max_force)
        self.set_width(self.gripper.max_width if width is None else width, instant=True)

    def park(self) -> None:
        """Move the hand out of the scene."""
        self.reset(self._tcp_pose_at(self.PARK))

    def move_linear(self, tcp_pose: np.ndarray, *, step: float = 0.002, speed: float = 0.1,
                    abort_on_contact: bool = False) -> bool:
        """Move the TCP in a straight line to ``tcp_pose`` (orientation kept), in ``step`` increments
        at ``speed`` m/s, as VGN does. Returns False when ``abort_on_contact`` and the hand touched
        something on the way."""
        start = self.tcp_pose()
        target = np.asarray(tcp_pose, dtype=float)
        distance = float(np.linalg.norm(target[:3, 3] - start[:3, 3]))
        n = max(1, int(np.ceil(distance / step)))
        substeps = max(1, int(round(step / speed / self.sim.timestep)))
        c = self.sim.client
        for i in range(1, n + 1):
            pose = target.copy()
            pose[:3, 3] = start[:3, 3] + (target[:3, 3] - start[:3, 3]) * i / n
            pos, quat = self._base_pose(pose)
            c.changeConstraint(self.constraint, pos, quat, maxForce=self.max_force)
            self.sim.step(substeps)
            if self.on_step is not None:
                self.on_step()
            if abort_on_contact and self.in_contact():
                return False
        return True

    # -- fingers ------------------------------------------------------------------------------
    def width(self) -> float:
        """Current opening between the finger pads (metres)."""
        states = self.sim.client.getJointStates(self.body, list(FINGER_JOINTS))
        return float(states[0][0] + states[1][0])

    def set_width(self, width: float, *, instant: bool = False) -> None:
        half = float(np.clip(width, 0.0, self.gripper.max_width)) / 2.0
        c = self.sim.client
        if instant:
            for j in FINGER_JOINTS:
                c.resetJointState(self.body, j, half)
        c.setJointMotorControlArray(self.body, list(FINGER_JOINTS), pybullet.POSITION_CONTROL,
                                    targetPositions=[half, half], forces=[self.finger_force] * 2)

    def close(self, duration: float = 0.5) -> None:
        """Close the fingers with their force limit and let them settle."""
        self.set_width(0.0)
        steps = int(round(duration / self.sim.timestep))
        for _ in range(0, steps, 12):
            self.sim.step(12)
            if self.on_step is not None:
                self.on_step()

    # -- contacts -----------------------------------------------------------------------------
    def in_contact(self, *, margin: float = 0.0) -> bool:
        """Whether any part of the hand touches (or lies within ``margin`` of) another body."""
        c = self.sim.client
        # closest points, not contact points: they need no simulation step after a teleport
        return any(other != self.body and c.getClosestPoints(self.body, other, float(margin))
                   for other in self.sim._bodies.values())

    def touching_bodies(self) -> list[str]:
        """Names of the bodies either finger touches."""
        c = self.sim.client
        names = set()
        for link in FINGER_JOINTS:
            for p in c.getContactPoints(bodyA=self.body, linkIndexA=link):
                names.add(self.sim._names.get(p[2], "?"))
        return sorted(names)
