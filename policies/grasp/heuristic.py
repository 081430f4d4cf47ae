"""A geometric antipodal grasp score, no network: the baseline detector ``heuristic``.

For each grasp pose the cloud is read in the grasp frame, inside the volume the open fingers sweep
when they close (``|x| < finger_width/2``, ``-finger_depth < z < 0``, ``|y| < max_width/2``):

* antipodality: a parallel-jaw grasp holds when each finger meets a surface whose normal lies
  in the friction cone of its closing direction (normal · (±y) > cos 30°). Each side scores
  ``min(1, cone points / 3)``; the score is their mean, so a far side that the camera did not see
  halves it rather than zeroing it (single views rarely show both sides);
* coverage: how much of the finger length the object fills along the approach axis (deep grasps
  on tall surfaces resist torques better), as ``0.5 + 0.5 · coverage``;
* fit: zero when what lies between the fingers is wider than the opening less 5 mm.

``score = antipodality × coverage term × fit``, in [0, 1].
"""

from __future__ import annotations

import math

import torch

from equimanip.policies.grasp.edges import grasp_frame_coordinates
from equimanip.policies.grasp.gripper import FRANKA_HAND, GripperGeometry

FRICTION_CONE_COS = math.cos(math.radians(30.0))
CONE_POINTS = 3.0  # points in the cone for full credit on one side (a few, against outliers)
FIT_MARGIN = 0.005


def antipodal_scores(points: torch.Tensor, normals: torch.Tensor, poses: torch.Tensor,
                     gripper: GripperGeometry = FRANKA_HAND, approach: torch.Tensor | None = None,
                     chunk_elements: int = 4_000_000) -> torch.Tensor:
    """Antipodal quality of each grasp pose (see the module docstring).

    Args:
        points: ``(N, 3)`` cloud.
        normals: ``(N, 3)`` unit outward normals.
        poses: ``(E, 4, 4)`` grasp poses.
        gripper: hand geometry.
        approach: optional ``(E,)`` approach point index of each pose (``EdgeSet.edges[:, 0]``): poses
            that share one are scored against the points near it only, which is the same result,
            several times faster.
        chunk_elements: bound on ``E_chunk × N`` per step (memory).

    Returns:
        ``(E,)`` scores in [0, 1].
    """
    if approach is None or poses.shape[0] == 0:
        return _scores(points, normals, poses, gripper, chunk_elements)
    # every point of a pose's closing volume lies within `reach` of its TCP
    reach = math.sqrt((gripper.finger_width / 2) ** 2 + (gripper.max_width / 2) ** 2 + gripper.finger_depth ** 2)
    out = torch.zeros(poses.shape[0], dtype=points.dtype, device=points.device)
    for a in torch.unique(approach).tolist():
        rows = (approach == a).nonzero().squeeze(1)
        centre = points[a]
        radius = float((poses[rows, :3, 3].to(points.dtype) - centre).norm(dim=-1).max()) + reach + 1e-6
        near = ((points - centre).square().sum(-1) < radius * radius).nonzero().squeeze(1)
        out[rows] = _scores(points[near], normals[near], poses[rows], gripper, chunk_elements)
    return out


def _scores(points: torch.Tensor, normals: torch.Tensor, poses: torch.Tensor, gripper: GripperGeometry,
            chunk_elements: int) -> torch.Tensor:
    rot, tcp = poses[:, :3, :3].to(points.dtype), poses[:, :3, 3].to(points.dtype)
    half = gripper.max_width / 2
    out = torch.zeros(poses.shape[0], dtype=points.dtype, device=points.device)
    step = max(1, chunk_elements // max(1, points.shape[0]))
    big = torch.finfo(points.dtype).max
    for s in range(0, poses.shape[0], step):
        r, t = rot[s:s + step], tcp[s:s + step]
        x, y, z = grasp_frame_coordinates(points, r, t)  # (e, N) each
        ny = r[:, :, 1] @ normals.T  # (e, N): normal · closing axis
        inside = (x.abs() < gripper.finger_width / 2) & (z > -gripper.finger_depth) & (z < 0.0) & (y.abs() < half)
        pos_side = ((ny > FRICTION_CONE_COS) & inside).sum(-1).to(points.dtype)
        neg_side = ((-ny > FRICTION_CONE_COS) & inside).sum(-1).to(points.dtype)
        antipodal = 0.5 * ((pos_side / CONE_POINTS).clamp(max=1.0) + (neg_side / CONE_POINTS).clamp(max=1.0))
        z_span = (torch.where(inside, z, -big).amax(-1) - torch.where(inside, z, big).amin(-1)).clamp(min=0.0)
        coverage = (z_span / gripper.finger_depth).clamp(0.0, 1.0)
        y_span = torch.where(inside, y, -big).amax(-1) - torch.where(inside, y, big).amin(-1)
        fit = (y_span < gripper.max_width - FIT_MARGIN).to(points.dtype)
        score = antipodal * (0.5 + 0.5 * coverage) * fit
        out[s:s + step] = torch.where(inside.any(-1), score, torch.zeros_like(score))
    return out
