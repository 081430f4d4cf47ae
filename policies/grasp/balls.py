"""The local graphs that both edge networks read: one ball of points around each approach point, a
kNN graph inside it, and where each edge's contact point sits in its ball.

Positions are taken relative to the approach point, so everything built here is exactly invariant
to translations of the cloud (up to float rounding) and equivariant to its rotations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from equimanip.policies.grasp.gripper import FRANKA_HAND
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
        rays: ``(A, K, 3)`` unit directions from the camera to each point (0 in empty slots), or ``None``.
    """

    rel: torch.Tensor
    normals: torch.Tensor
    mask: torch.Tensor
    neighbours: torch.Tensor
    neighbour_mask: torch.Tensor
    edge_ball: torch.Tensor
    edge_slot: torch.Tensor
    rays: torch.Tensor | None = None

    def directions(self) -> torch.Tensor:
        """The per-point direction inputs: normals, and the view rays when there are any ``(A, K, 3 or 6)``."""
        return self.normals if self.rays is None else torch.cat([self.normals, self.rays], dim=-1)


def check_inputs(points: torch.Tensor, normals: torch.Tensor, edges: torch.Tensor,
                 extra: torch.Tensor | None = None) -> None:
    """Clear errors for the networks' inputs instead of an index error deep inside torch."""
    if points.dim() != 2 or points.shape[1] != 3 or normals.shape != points.shape:
        raise ValueError(f"points and normals must both be (N, 3); got {tuple(points.shape)} and {tuple(normals.shape)}")
    if edges.dim() != 2 or edges.shape[1] != 2 or edges.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"edges must be an (E, 2) integer tensor; got {tuple(edges.shape)} {edges.dtype}")
    if edges.numel() and (int(edges.min()) < 0 or int(edges.max()) >= points.shape[0]):
        raise ValueError(f"edges index points outside [0, {points.shape[0]})")
    if extra is not None and (not isinstance(extra, torch.Tensor) or tuple(extra.shape) != (edges.shape[0],)):
        shape = tuple(extra.shape) if isinstance(extra, torch.Tensor) else type(extra).__name__
        raise ValueError(f"extra must be an ({edges.shape[0]},) tensor, one extra depth per edge; got {shape}")


def trained_extra_depth(model: torch.nn.Module | None) -> float:
    """How much deeper than Edge Grasp's construction a net was trained to score hands (its config's
    ``max_extra_depth``, m); 0 for depth-blind nets and for scorers without a net."""
    return float(getattr(getattr(model, "config", None), "max_extra_depth", 0.0))


def reads_view_rays(model: torch.nn.Module | None) -> bool:
    """Whether a net reads where each point was seen from (its config's ``view_rays``): it then needs the
    ``viewpoint``; false for other nets and for scorers without a net."""
    return bool(getattr(getattr(model, "config", None), "view_rays", 0))


def tip_margins(extra: torch.Tensor | None) -> float | torch.Tensor:
    """How far each hand's fingertips reach past its contact: Edge Grasp's ``tip_margin`` plus the
    hand's ``extra`` depth (``None``: the margin alone)."""
    return FRANKA_HAND.tip_margin if extra is None else FRANKA_HAND.tip_margin + extra


def camera_position(viewpoint, like: torch.Tensor) -> torch.Tensor:
    """``viewpoint`` as a ``(3,)`` tensor of ``like``'s dtype and device, or a clear error."""
    eye = torch.as_tensor(viewpoint).to(dtype=like.dtype, device=like.device).reshape(-1)
    if eye.numel() != 3 or not bool(torch.isfinite(eye).all()):
        raise ValueError(f"viewpoint must be a finite camera position (3 numbers), got {eye.tolist()!r}")
    return eye


def view_rays(points: torch.Tensor, viewpoint: torch.Tensor | None) -> torch.Tensor:
    """Unit directions ``(N, 3)`` from the camera at ``viewpoint`` to every point: where each point was seen
    from, and so which side of it the view could not see. They rotate with the cloud and the camera together."""
    if viewpoint is None:
        raise ValueError("this net reads the view rays: pass the camera position (viewpoint=...), as the detector "
                         "does when it is given one")
    ray = points - camera_position(viewpoint, points)
    return ray / ray.norm(dim=-1, keepdim=True).clamp_min(1e-9)


def view_kwargs(model: torch.nn.Module | None, viewpoint) -> dict:
    """The ``viewpoint`` keyword for ``model``'s forward: given to nets that read view rays, to no other."""
    return {"viewpoint": viewpoint} if reads_view_rays(model) else {}


def build_balls(points: torch.Tensor, normals: torch.Tensor, edges: torch.Tensor, radius: float, max_points: int,
                k: int, rays: torch.Tensor | None = None) -> Balls:
    """Gather the ball of every distinct approach point of ``edges`` and its kNN graph.

    A ball keeps its ``max_points`` nearest points within ``radius``. A contact that falls outside
    its (truncated) ball is represented by the ball's point nearest to it. ``rays``: optional ``(N, 3)``
    per-point view directions (:func:`view_rays`), gathered like the normals.
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
    ball_rays = None if rays is None else rays[idx] * mask.unsqueeze(-1)
    return Balls(rel, nrm, mask, neighbours, neighbour_mask, edge_ball, edge_slot, ball_rays)


def gather_neighbours(x: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """``x (A, K, *F)`` gathered at ``neighbours (A, K, k)`` → ``(A, K, k, *F)`` (one flat index_select)."""
    a, kslots, kn = neighbours.shape
    offsets = (torch.arange(a, device=x.device) * x.shape[1]).view(a, 1, 1)
    flat = x.reshape(a * x.shape[1], -1).index_select(0, (neighbours + offsets).reshape(-1))
    return flat.view(a, kslots, kn, *x.shape[2:])


def gather_max(x: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """``gather_neighbours(x, neighbours).amax(2)`` for ``x (A, K, C)`` → ``(A, K, C)``, one
    neighbour at a time: the same values without the ``(A, K, k, C)`` intermediate."""
    a, kslots, kn = neighbours.shape
    offsets = (torch.arange(a, device=x.device) * x.shape[1]).view(a, 1, 1)
    flat = x.reshape(a * x.shape[1], -1)
    index = (neighbours + offsets).reshape(a * kslots, kn)
    out = flat.index_select(0, index[:, 0])
    for j in range(1, kn):
        out = torch.maximum(out, flat.index_select(0, index[:, j]))
    return out.view(a, kslots, -1)


def grasp_frames(points: torch.Tensor, normals: torch.Tensor, edges: torch.Tensor,
                 tip_margin: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each edge's grasp frame from its geometry alone: ``(E, 3, 3)`` rotations (columns are the
    axes of :mod:`equimanip.policies.grasp.gripper`) and ``(E, 3)`` TCP positions relative to the
    approach point. ``tip_margin``: how far the fingertips reach past the contact, one for all edges
    or ``(E,)``, one per edge (a hand pushed deeper: ``EdgeSet.extra``)."""
    if isinstance(tip_margin, torch.Tensor):
        tip_margin = tip_margin.to(points.dtype).reshape(-1, 1)
    edges = edges.long()
    p_a, p_c, n_c = points[edges[:, 0]], points[edges[:, 1]], normals[edges[:, 1]]
    y = n_c / n_c.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    z = torch.cross(y, torch.cross(y, p_a - p_c, dim=-1), dim=-1)
    z = z / z.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    x = torch.cross(y, z, dim=-1)
    depth = ((p_c - p_a) * z).sum(-1, keepdim=True)
    return torch.stack([x, y, z], dim=-1), (depth + tip_margin) * z


def grasp_frame_points(balls: Balls, points: torch.Tensor, normals: torch.Tensor, edges: torch.Tensor,
                       max_points: int, tip_margin: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each edge's ball points in its own grasp frame (origin at the TCP): what lies between,
    under and beside the fingers.

    The grasp frame is built from the edge's geometry alone, so these coordinates are exactly
    invariant to rotating and translating the cloud. Returns ``(E, M, 3)`` positions, ``(E, M, 3)``
    normals and an ``(E, M)`` mask, for the ``max_points`` points of the ball nearest the approach point.
    """
    rot, tcp_rel = grasp_frames(points, normals, edges, tip_margin)
    m = min(max_points, balls.rel.shape[1])
    rel = balls.rel[balls.edge_ball, :m]  # (E, M, 3), relative to the approach point
    local = torch.einsum("emj,eji->emi", rel - tcp_rel.unsqueeze(1), rot)
    dirs = balls.directions()[balls.edge_ball, :m]
    local_dirs = torch.cat([torch.einsum("emj,eji->emi", dirs[..., d:d + 3], rot) for d in range(0, dirs.shape[-1], 3)],
                           dim=-1)
    return local, local_dirs, balls.mask[balls.edge_ball, :m]


class GraspFramePointNet(torch.nn.Module):
    """A shared MLP over an edge's points in its grasp frame, max-pooled: one feature per edge that
    sees where the object lies relative to the fingers and the palm.

    :meth:`forward` reads the points already in their grasp frames (the reference);
    :meth:`from_balls` computes the same feature without building them (what the nets call).
    """

    def __init__(self, channels: tuple[int, ...] = (32, 64), position_scale: float = 20.0, directions: int = 1):
        super().__init__()
        layers: list[torch.nn.Module] = []
        dims = (3 + 3 * directions,) + tuple(channels)  # position, then normals (and view rays: 2 directions)
        for i in range(len(channels)):
            layers += [torch.nn.Linear(dims[i], dims[i + 1]), torch.nn.ReLU()]
        self.mlp = torch.nn.Sequential(*layers)
        self.position_scale = float(position_scale)
        self.out_dim = dims[-1]
        self.edge_chunk = 128

    def forward(self, local: torch.Tensor, local_normals: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.mlp(torch.cat([local * self.position_scale, local_normals], dim=-1))
        return (h * mask.unsqueeze(-1)).amax(1)  # ReLU features are ≥ 0: empty slots are neutral

    def from_balls(self, balls: Balls, points: torch.Tensor, normals: torch.Tensor, edges: torch.Tensor,
                   max_points: int, tip_margin: float | torch.Tensor) -> torch.Tensor:
        """:meth:`forward` of :func:`grasp_frame_points`, equal up to float rounding, several times faster.

        Why it is the same function: the first layer is linear, so rotating each edge's points into
        its frame folds into that edge's copy of the weights (a 6×C matrix instead of an E×M×6
        tensor); the last ReLU and bias commute with the max over points, so they run once per
        edge instead of once per point, and empty slots are skipped by −∞ instead of a product.
        """
        linears = [m for m in self.mlp if isinstance(m, torch.nn.Linear)]
        rot, tcp_rel = grasp_frames(points, normals, edges, tip_margin)
        m = min(max_points, balls.rel.shape[1])
        first = linears[0]
        w_pos = torch.einsum("eij,cj->eic", rot, first.weight[:, :3]) * self.position_scale  # (E, 3, C)
        # every direction input (normals, view rays) rotates like the normals
        w_dirs = [torch.einsum("eij,cj->eic", rot, first.weight[:, d:d + 3]) for d in range(3, first.weight.shape[1], 3)]
        weights = torch.cat([w_pos, *w_dirs], dim=1)  # (E, 3 + 3·directions, C)
        biases = first.bias - torch.einsum("ei,eic->ec", tcp_rel, w_pos)  # (E, C)
        ball_in = torch.cat([balls.rel[:, :m], balls.directions()[:, :m]], dim=-1)  # (A, M, 3 + 3·directions)
        valid = balls.mask[:, :m]
        # empty slots repeat slot 0 (the approach point, always in its own ball): a repeated point
        # cannot change a max, so no mask is needed below
        duplicate = bool(valid[:, 0].all())
        if duplicate:
            ball_in = torch.where(valid.unsqueeze(-1), ball_in, ball_in[:, :1])
        out = []
        # chunks of edges keep the E×M×C intermediates small enough to stay in cache
        for lo in range(0, len(edges), self.edge_chunk):
            ball = balls.edge_ball[lo:lo + self.edge_chunk]
            h = torch.bmm(ball_in[ball], weights[lo:lo + self.edge_chunk])  # (e, M, C)
            bias = biases[lo:lo + self.edge_chunk]
            for layer in linears[1:]:
                h = torch.relu_(h.add_(bias.unsqueeze(1))) @ layer.weight.T
                bias = layer.bias.unsqueeze(0)
            if not duplicate:
                h = h.masked_fill_(~valid[ball].unsqueeze(-1), float("-inf"))
            out.append(torch.relu(h.amax(1) + bias))
        return torch.cat(out) if out else points.new_zeros(0, self.out_dim)
