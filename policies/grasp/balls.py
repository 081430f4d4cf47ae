"""The local graphs that both edge networks read: one ball of points around each approach point, a
kNN graph inside it, and where each edge's contact point sits in its ball.

Positions are taken relative to the approach point, so everything built here is exactly invariant
to translations of the cloud (up to float rounding) and equivariant to its rotations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from equimanip.policies.grasp.point_ops import ball_query, knn, squared_distances


@dataclass
class Balls:
    """Batched approach balls (A balls of K slots, E edges).

    Attributes:
        rel: ``(A, K, 3)`` positions relative to the ball's approach point (0 in empty slots).
        normals: ``(A, K, 3)`` unit normals (0 in empty slots).
        mask: ``(A, K)`` valid slots.
        neighbours: ``(A, K, k)`` kNN graph as slot indices (each valid point is its own first neighbour).
        neighbour_mask: ``(A, K, k)`` valid neighbours.
        edge_ball: ``(E,)`` the ball of each edge.
        edge_slot: ``(E,)`` the slot of each edge's contact point in its ball.
    """

    rel: torch.Tensor
    normals: torch.Tensor
    mask: torch.Tensor
    neighbours: torch.Tensor
    neighbour_mask: torch.Tensor
    edge_ball: torch.Tensor
    edge_slot: torch.Tensor


def check_inputs(points: torch.Tensor, normals: torch.Tensor, edges: torch.Tensor) -> None:
    """Clear errors for the networks' inputs instead of an index error deep inside torch."""
    if points.dim() != 2 or points.shape[1] != 3 or normals.shape != points.shape:
        raise ValueError(f"points and normals must both be (N, 3); got {tuple(points.shape)} and {tuple(normals.shape)}")
    if edges.dim() != 2 or edges.shape[1] != 2 or edges.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"edges must be an (E, 2) integer tensor; got {tuple(edges.shape)} {edges.dtype}")
    if edges.numel() and (int(edges.min()) < 0 or int(edges.max()) >= points.shape[0]):
        raise ValueError(f"edges index points outside [0, {points.shape[0]})")


def build_balls(points: torch.Tensor, normals: torch.Tensor, edges: torch.Tensor, radius: float, max_points: int,
                k: int) -> Balls:
    """Gather the ball of every distinct approach point of ``edges`` and its kNN graph.

    A ball keeps its ``max_points`` nearest points within ``radius``. A contact that falls outside
    its (truncated) ball is represented by the ball's point nearest to it.
    """
    edges = edges.long()
    approach, edge_ball = torch.unique(edges[:, 0], return_inverse=True)
    centres = points[approach]
    idx, mask = ball_query(centres, points, radius, max_points)
    rel = (points[idx] - centres.unsqueeze(1)) * mask.unsqueeze(-1)
    nrm = normals[idx] * mask.unsqueeze(-1)
    # empty slots go far away so that valid points never pick them while they have valid candidates
    far = torch.where(mask.unsqueeze(-1), rel, torch.full_like(rel, 1e3))
    kk = min(k, idx.shape[1])
    neighbours = knn(far, far, kk)
    neighbour_mask = torch.gather(mask.unsqueeze(1).expand(-1, idx.shape[1], -1), 2, neighbours) & mask.unsqueeze(-1)
    # slot of each contact: a dense (ball, point) -> slot lookup; missing contacts take the nearest slot
    lookup = torch.full((len(approach), points.shape[0]), -1, dtype=torch.long, device=points.device)
    slots = torch.arange(idx.shape[1], device=points.device).expand_as(idx)
    lookup.scatter_(1, torch.where(mask, idx, idx[:, :1]), torch.where(mask, slots, slots[:, :1]))
    edge_slot = lookup[edge_ball, edges[:, 1]]
    missing = edge_slot < 0
    if missing.any():
        b = edge_ball[missing]
        target = (points[edges[missing, 1]] - centres[b]).unsqueeze(1)
        d = squared_distances(target, far[b]).squeeze(1)
        edge_slot[missing] = d.argmin(-1)
    return Balls(rel, nrm, mask, neighbours, neighbour_mask, edge_ball, edge_slot)


def gather_neighbours(x: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """``x (A, K, *F)`` gathered at ``neighbours (A, K, k)`` → ``(A, K, k, *F)`` (one flat index_select)."""
    a, kslots, kn = neighbours.shape
    offsets = (torch.arange(a, device=x.device) * x.shape[1]).view(a, 1, 1)
    flat = x.reshape(a * x.shape[1], -1).index_select(0, (neighbours + offsets).reshape(-1))
    return flat.view(a, kslots, kn, *x.shape[2:])


def grasp_frame_points(balls: Balls, points: torch.Tensor, normals: torch.Tensor, edges: torch.Tensor,
                       max_points: int, tip_margin: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each edge's ball points in its own grasp frame (origin at the TCP, axes of
    :mod:`equimanip.policies.grasp.gripper`): what lies between, under and beside the fingers.

    The grasp frame is built from the edge's geometry alone, so these coordinates are exactly
    invariant to rotating and translating the cloud. Returns ``(E, M, 3)`` positions, ``(E, M, 3)``
    normals and an ``(E, M)`` mask, for the ``max_points`` points of the ball nearest the approach point.
    """
    edges = edges.long()
    p_a, p_c, n_c = points[edges[:, 0]], points[edges[:, 1]], normals[edges[:, 1]]
    y = n_c / n_c.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    z = torch.cross(y, torch.cross(y, p_a - p_c, dim=-1), dim=-1)
    z = z / z.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    x = torch.cross(y, z, dim=-1)
    rot = torch.stack([x, y, z], dim=-1)  # (E, 3, 3), columns are the axes
    depth = ((p_c - p_a) * z).sum(-1, keepdim=True)
    tcp_rel = (depth + tip_margin) * z  # TCP relative to the approach point
    m = min(max_points, balls.rel.shape[1])
    rel = balls.rel[balls.edge_ball, :m]  # (E, M, 3), relative to the approach point
    local = torch.einsum("emj,eji->emi", rel - tcp_rel.unsqueeze(1), rot)
    local_normals = torch.einsum("emj,eji->emi", balls.normals[balls.edge_ball, :m], rot)
    return local, local_normals, balls.mask[balls.edge_ball, :m]


class GraspFramePointNet(torch.nn.Module):
    """A shared MLP over an edge's points in its grasp frame, max-pooled: one feature per edge that
    sees where the object lies relative to the fingers and the palm."""

    def __init__(self, channels: tuple[int, ...] = (32, 64), position_scale: float = 20.0):
        super().__init__()
        layers: list[torch.nn.Module] = []
        dims = (6,) + tuple(channels)
        for i in range(len(channels)):
            layers += [torch.nn.Linear(dims[i], dims[i + 1]), torch.nn.ReLU()]
        self.mlp = torch.nn.Sequential(*layers)
        self.position_scale = float(position_scale)
        self.out_dim = dims[-1]

    def forward(self, local: torch.Tensor, local_normals: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.mlp(torch.cat([local * self.position_scale, local_normals], dim=-1))
        return (h * mask.unsqueeze(-1)).amax(1)  # ReLU features are ≥ 0: empty slots are neutral
