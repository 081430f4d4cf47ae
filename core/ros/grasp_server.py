"""``equimanip ros grasp-server``: point clouds in, the best grasps out (PoseArray, scores, rviz markers).

For each ``sensor_msgs/PointCloud2`` on ``cloud_topic`` it publishes, with the cloud's header (its
frame and stamp, so a receiver pairs them and can transform them with TF):

- ``geometry_msgs/PoseArray`` on ``grasps_topic``: the grasp poses, best first, in the frame of
  :mod:`equimanip.policies.grasp.gripper` (empty when nothing graspable was found);
- ``std_msgs/Float32MultiArray`` on ``scores_topic``, right after: ``[score_0, width_0, score_1,
  width_1, …]`` in the same order (layout dims ``grasp`` × ``score_width``; width in metres);
- ``visualization_msgs/MarkerArray`` on ``markers_topic``: per grasp an arrow along the approach
  and a line for the opening, coloured red (low score) to green (high).

The subscription keeps one message: a slow detector skips clouds instead of queueing them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from equimanip.ros.checks import MessageChecks
from equimanip.ros.messages import MessageError, pose, quaternion_from_matrix, xyz_from_cloud
from equimanip.ros.transport import Message, Transport, log

MARKER_NS = "equimanip_grasps"
ARROW, LINE_LIST, DELETEALL = 0, 5, 3  # visualization_msgs/Marker types and action


@dataclass
class GraspServerStats:
    clouds: int = 0
    answered: int = 0
    empty: int = 0
    latencies_ms: list[float] = field(default_factory=list)


def grasp_poses(grasps: list[Any]) -> list[dict[str, Any]]:
    """``geometry_msgs/Pose`` dicts of grasps (4×4 ``pose`` each)."""
    return [pose(g.pose[:3, 3], quaternion_from_matrix(g.pose[:3, :3])) for g in grasps]


def scores_message(grasps: list[Any]) -> dict[str, Any]:
    data = [float(v) for g in grasps for v in (g.score, g.width)]
    n = len(grasps)
    return {"layout": {"dim": [{"label": "grasp", "size": n, "stride": 2 * n},
                               {"label": "score_width", "size": 2, "stride": 2}], "data_offset": 0}, "data": data}


def _point(p: np.ndarray) -> dict[str, float]:
    return {"x": float(p[0]), "y": float(p[1]), "z": float(p[2])}


def markers_message(grasps: list[Any], header: dict[str, Any], approach_axis: int = 2, closing_axis: int = 1,
                    length: float = 0.08) -> dict[str, Any]:
    """Arrows (approach) and lines (opening) for rviz; the first marker clears the previous set."""
    scores = np.array([g.score for g in grasps]) if grasps else np.zeros(0)
    lo, hi = (float(scores.min()), float(scores.max())) if len(scores) else (0.0, 1.0)
    markers: list[dict[str, Any]] = [{"header": header, "ns": MARKER_NS, "id": 0, "action": DELETEALL}]
    for i, g in enumerate(grasps):
        s = (g.score - lo) / (hi - lo) if hi > lo else 1.0
        color = {"r": float(1 - s), "g": float(s), "b": 0.1, "a": 0.9}
        centre, rot = g.pose[:3, 3], g.pose[:3, :3]
        start = centre - rot[:, approach_axis] * length
        half = rot[:, closing_axis] * g.width / 2
        ident = {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}
        base = {"header": header, "ns": MARKER_NS, "action": 0, "color": color,
                "pose": {"position": {"x": 0.0, "y": 0.0, "z": 0.0}, "orientation": ident}}
        markers.append({**base, "id": 2 * i + 1, "type": ARROW, "points": [_point(start), _point(centre)],
                        "scale": {"x": 0.004, "y": 0.008, "z": 0.01}})
        markers.append({**base, "id": 2 * i + 2, "type": LINE_LIST, "points": [_point(centre - half), _point(centre + half)],
                        "scale": {"x": 0.003, "y": 0.0, "z": 0.0}})
    return {"markers": markers}


class GraspServer:
    """Serve ``detector.detect`` on ROS topics (module docstring).

    Args:
        transport: a connected transport.
        detector: a :class:`~equimanip.policies.grasp.detector.GraspDetector`.
        top_k: grasps published per cloud.
        table_height: z of the table plane in the cloud's frame (cropped, and hands touching it
            pruned); ``None``: no table.
        max_age: clouds stamped longer ago than this (seconds) are stale and skipped.
    """

    def __init__(self, transport: Transport, detector: Any, cloud_topic: str = "/equimanip/camera/points",
                 grasps_topic: str = "/equimanip/grasps", scores_topic: str = "/equimanip/grasp_scores",
                 markers_topic: str = "/equimanip/grasp_markers", top_k: int = 10, table_height: float | None = None,
                 max_age: float = 2.0, max_points: int = 2_000_000):
        self.tr, self.detector, self.top_k, self.table_height = transport, detector, top_k, table_height
        self.cloud_topic, self.max_points = cloud_topic, max_points
        self.checks = MessageChecks(max_age)
        self.stats = GraspServerStats()
        self._pub_grasps = transport.publisher(grasps_topic, "geometry_msgs/PoseArray", queue_size=2)
        self._pub_scores = transport.publisher(scores_topic, "std_msgs/Float32MultiArray", queue_size=2)
        self._pub_markers = transport.publisher(markers_topic, "visualization_msgs/MarkerArray", queue_size=2)
        transport.subscribe(cloud_topic, "sensor_msgs/PointCloud2", self.on_cloud, queue_size=1)
        log.info("grasp server: %s -> %s (+ %s, %s), top %d, table at %s", cloud_topic, grasps_topic, scores_topic,
                 markers_topic, top_k, "none" if table_height is None else f"z = {table_height} m")

    def on_cloud(self, msg: Message) -> None:
        self.stats.clouds += 1
        start = time.perf_counter()
        try:
            points, dropped = xyz_from_cloud(msg, max_points=self.max_points)
        except MessageError as exc:
            self.checks.skip(self.cloud_topic, "invalid", str(exc))
            return
        if self.checks.fresh(self.cloud_topic, msg) is None:
            return
        try:
            grasps = self.detector.detect(points, top_k=self.top_k, table_height=self.table_height)
        except ValueError as exc:  # the detector's own checks
            self.checks.skip(self.cloud_topic, "detector", str(exc))
            return
        header = dict(msg["header"])
        self._pub_grasps.publish({"header": header, "poses": grasp_poses(grasps)})
        self._pub_scores.publish(scores_message(grasps))
        self._pub_markers.publish(markers_message(grasps, header))
        self.stats.answered += 1
        self.stats.latencies_ms.append(1000 * (time.perf_counter() - start))
        if not grasps:
            self.stats.empty += 1
            self.checks.skip(self.cloud_topic, "no_grasps", f"no grasp found ({grasps.reason}); published an empty PoseArray")
        elif dropped:
            log.debug("%s: %d non-finite points dropped", self.cloud_topic, dropped)
