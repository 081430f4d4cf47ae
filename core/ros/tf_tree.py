"""A small transform tree fed by ``tf2_msgs/TFMessage`` (``/tf``, ``/tf_static``): the end-effector pose
where a driver publishes it only as TF (franka_ros, ur_robot_driver through robot_state_publisher).

Written over plain message dicts rather than ``tf2_ros`` so it works over every transport (rospy
and rosbridge alike). It keeps the newest transform of each child frame and composes the chain
from a frame up to a base frame; it does not interpolate in time (a policy wants the latest pose).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from equimanip.ros.messages import MessageError, header, header_seconds, pose, quaternion_inverse, quaternion_multiply, rotate

MAX_FRAMES = 1000  # a bounded tree: a flood of made-up frame names must not grow memory without end
MAX_DEPTH = 64


@dataclass(frozen=True)
class Transform:
    parent: str
    translation: np.ndarray
    rotation: np.ndarray  # unit quaternion x, y, z, w
    stamp: float
    static: bool


def _transform_from_msg(msg: Mapping[str, Any], static: bool) -> tuple[str, Transform]:
    try:
        parent = str(msg["header"]["frame_id"]).lstrip("/")
        child = str(msg["child_frame_id"]).lstrip("/")
        t, r = msg["transform"]["translation"], msg["transform"]["rotation"]
        translation = np.array([float(t["x"]), float(t["y"]), float(t["z"])])
        rotation = np.array([float(r["x"]), float(r["y"]), float(r["z"]), float(r["w"])])
    except (KeyError, TypeError, ValueError) as exc:
        raise MessageError(f"not a geometry_msgs/TransformStamped: {exc!r}") from None
    if not parent or not child or parent == child:
        raise MessageError(f"transform needs two different frames, got {parent!r} -> {child!r}")
    norm = float(np.linalg.norm(rotation))
    if not (np.all(np.isfinite(translation)) and math.isfinite(norm)) or abs(norm - 1.0) > 1e-3:
        raise MessageError(f"transform {parent} -> {child} is not finite or its rotation not a unit quaternion")
    return child, Transform(parent, translation, rotation / norm, header_seconds(msg), static)


class TransformTree:
    """The newest transform of each frame, from ``tf2_msgs/TFMessage`` dicts."""

    def __init__(self) -> None:
        self._frames: dict[str, Transform] = {}
        self._lock = threading.Lock()

    def update(self, msg: Mapping[str, Any], static: bool = False) -> list[str]:
        """Take the transforms of one TFMessage; returns the problems of the ones skipped (malformed,
        older than the one held, or a new frame beyond ``MAX_FRAMES``)."""
        problems = []
        for item in msg.get("transforms", []) if isinstance(msg, Mapping) else []:
            try:
                child, tf = _transform_from_msg(item, static)
            except MessageError as exc:
                problems.append(str(exc))
                continue
            with self._lock:
                held = self._frames.get(child)
                if held is not None and not held.static and tf.stamp < held.stamp:
                    problems.append(f"transform {tf.parent} -> {child} older than the one held (out of order)")
                    continue
                if held is None and len(self._frames) >= MAX_FRAMES:
                    problems.append(f"more than {MAX_FRAMES} frames: {child!r} ignored")
                    continue
                self._frames[child] = tf
        return problems

    def _to_ancestors(self, frame: str) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
        """Each ancestor of ``frame`` (itself included) → ``frame``'s pose in it and the chain's stamp."""
        position, rotation, stamp = np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]), math.inf
        found = {frame: (position, rotation, stamp)}
        current = frame
        for _ in range(MAX_DEPTH):
            tf = self._frames.get(current)
            if tf is None:
                return found
            # p_parent = t + R p_child; composing child-to-parent up the chain
            position = tf.translation + rotate(tf.rotation, position)
            rotation = quaternion_multiply(tf.rotation, rotation)
            if not tf.static:
                stamp = min(stamp, tf.stamp)
            current = tf.parent
            if current in found:
                raise LookupError(f"the transforms above {frame!r} form a loop at {current!r}")
            found[current] = (position, rotation, stamp)
        raise LookupError(f"a chain above {frame!r} longer than {MAX_DEPTH} frames")

    def lookup(self, base: str, frame: str) -> tuple[np.ndarray, np.ndarray, float]:
        """Position, quaternion (x, y, z, w) and stamp of ``frame`` in ``base``, through their nearest common
        ancestor (``base`` may sit beside the chain, as UR's ``base`` under ``base_link``); the stamp is
        the oldest of the non-static transforms used (how old the pose may be; ``inf`` if all are static).

        Raises:
            LookupError: no chain of known transforms joins ``frame`` and ``base``.
        """
        base, frame = base.lstrip("/"), frame.lstrip("/")
        with self._lock:
            above_frame = self._to_ancestors(frame)
            above_base = self._to_ancestors(base)
        common = next((f for f in above_frame if f in above_base), None)
        if common is None:
            known = ", ".join(sorted(self._frames)) or "none yet"
            raise LookupError(f"no transform from {base!r} to {frame!r}: they share no ancestor "
                              f"(frames with parents: {known})")
        p_f, q_f, t_f = above_frame[common]
        p_b, q_b, t_b = above_base[common]
        q_b_inv = quaternion_inverse(q_b)
        # frame in base = inv(base in common) ∘ (frame in common)
        return rotate(q_b_inv, p_f - p_b), quaternion_multiply(q_b_inv, q_f), min(t_f, t_b)

    def pose(self, base: str, frame: str) -> tuple[dict[str, Any], float]:
        """:meth:`lookup` as a ``geometry_msgs/Pose`` dict and its stamp."""
        position, rotation, stamp = self.lookup(base, frame)
        return pose(position, rotation), stamp


def tf_message(parent: str, child: str, position: Any, quaternion: Any, t: float) -> dict[str, Any]:
    """A ``tf2_msgs/TFMessage`` of one transform ``parent`` → ``child``."""
    p = [float(v) for v in position]
    q = [float(v) for v in quaternion]
    return {"transforms": [{"header": header(parent, t), "child_frame_id": child,
                            "transform": {"translation": {"x": p[0], "y": p[1], "z": p[2]},
                                          "rotation": {"x": q[0], "y": q[1], "z": q[2], "w": q[3]}}}]}
