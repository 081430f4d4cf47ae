"""Action ↔ ROS command conventions (see ``assets/robots/README.md``), shared by both ends of the loop."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from equimanip.ros.messages import MessageError, header, pose, vector3
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
    x1, y1, z1, w1 = qz
    x2, y2, z2, w2 = (float(q[k]) for k in "xyzw")
    turned = (w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2, w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
              w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2, w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2)
    return {"header": header(frame_id, t), "pose": pose(position, turned)}
