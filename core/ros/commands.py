"""Action ↔ ROS command conventions (see ``assets/robots/README.md``), shared by both ends of the loop."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from equimanip.ros.messages import MessageError, header, pose, quaternion_inverse, quaternion_multiply, vector3
from equimanip.symmetry import ACTION_DIM, ACTION_INDEX

XY, Z, THETA, P = ACTION_INDEX["dxy"], ACTION_INDEX["dz"], ACTION_INDEX["dtheta"], ACTION_INDEX["p"]


def twist_from_action(action: np.ndarray, dpos: float, drot: float, period: float) -> dict[str, Any]:
    """``geometry_msgs/Twist``: the action's delta as a velocity held for one control ``period``."""
    a = np.asarray(action, dtype=np.float64)
    dx, dy = a[XY] * dpos / period
    dz = float(a[Z][0]) * dpos / period
    return {"linear": vector3(dx, dy, dz), "angular": vector3(0.0, 0.0, float(a[THETA][0]) * drot / period)}


def twist_stamped_from_action(action: np.ndarray, dpos: float, drot: float, period: float, frame_id: str,
                              t: float | None = None) -> dict[str, Any]:
    return {"header": header(frame_id, t), "twist": twist_from_action(action, dpos, drot, period)}


def action_from_twist(twist: Mapping[str, Any], open_gripper: bool, dpos: float, drot: float, period: float) -> np.ndarray:
    """The normalised action a twist held for ``period`` stands for (the inverse of :func:`twist_from_action`)."""
    try:
        lin, ang = twist["linear"], twist["angular"]
        values = [float(lin["x"]), float(lin["y"]), float(lin["z"]), float(ang["z"])]
    except (KeyError, TypeError, ValueError) as exc:
        raise MessageError(f"not a geometry_msgs/Twist: {exc}") from None
    if not all(math.isfinite(v) for v in values):
        raise MessageError(f"twist is not finite: {values}")
    action = np.zeros(ACTION_DIM, dtype=np.float32)
    action[XY] = np.array(values[:2]) * period / dpos
    action[Z] = values[2] * period / dpos
    action[THETA] = values[3] * period / drot
    action[P] = 1.0 if open_gripper else -1.0
    return action


def gripper_value(action: np.ndarray, open_value: float, closed_value: float) -> float:
    """The gripper command for ``p`` (> 0 opens)."""
    return float(open_value if float(np.asarray(action)[P][0]) > 0.0 else closed_value)


def yaw_of(orientation: Mapping[str, float]) -> float:
    x, y, z, w = (float(orientation[k]) for k in "xyzw")
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def pose_stamped_from_action(action: np.ndarray, current: Mapping[str, Any], dpos: float, drot: float,
                             frame_id: str, t: float | None = None) -> dict[str, Any]:
    """``geometry_msgs/PoseStamped``: the ``current`` pose moved by the delta and turned about the base z axis."""
    a = np.asarray(action, dtype=np.float64)
    p, q = current["position"], current["orientation"]
    position = np.array([p["x"], p["y"], p["z"]], dtype=np.float64)
    position[:2] += a[XY] * dpos
    position[2] += float(a[Z][0]) * dpos
    half = float(a[THETA][0]) * drot / 2
    qz = (0.0, 0.0, math.sin(half), math.cos(half))  # rotation about the base frame's z: q' = qz ⊗ q
    turned = quaternion_multiply(qz, [q[k] for k in "xyzw"])
    return {"header": header(frame_id, t), "pose": pose(position, turned)}


def action_from_pose(target: Mapping[str, Any], current: Mapping[str, Any], open_gripper: bool, dpos: float,
                     drot: float) -> np.ndarray:
    """The normalised action that moves ``current`` to ``target`` (the inverse of :func:`pose_stamped_from_action`).

    Raises:
        MessageError: a pose is malformed or not finite, or ``target`` is tilted from ``current``
            (our actions turn about the base z axis only).
    """
    try:
        p1 = np.array([float(target["position"][k]) for k in "xyz"])
        p0 = np.array([float(current["position"][k]) for k in "xyz"])
        q1 = np.array([float(target["orientation"][k]) for k in "xyzw"])
        q0 = np.array([float(current["orientation"][k]) for k in "xyzw"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MessageError(f"not a geometry_msgs/Pose: {exc!r}") from None
    if not (np.all(np.isfinite(p1)) and np.all(np.isfinite(q1))) or abs(np.linalg.norm(q1) - 1.0) > 1e-3:
        raise MessageError(f"target pose is not finite or its orientation not a unit quaternion: {p1}, {q1}")
    turn = quaternion_multiply(q1 / np.linalg.norm(q1), quaternion_inverse(q0))  # target = turn ⊗ current
    if math.hypot(turn[0], turn[1]) > 1e-3:
        raise MessageError("target pose is tilted from the current one: only turns about the base z axis are actions")
    action = np.zeros(ACTION_DIM, dtype=np.float32)
    action[XY] = (p1[:2] - p0[:2]) / dpos
    action[Z] = (p1[2] - p0[2]) / dpos
    if turn[3] < 0:  # q and -q are one rotation: take the short way round
        turn = -turn
    action[THETA] = 2.0 * math.atan2(turn[2], turn[3]) / drot
    action[P] = 1.0 if open_gripper else -1.0
    return action
