"""Edge Grasp Network in plain torch.

After Huang, Wang, Zhu, Walters & Platt, "Edge Grasp Network: A Graph-Based SE(3)-invariant
Approach to Grasp Detection" (ICRA 2023, arXiv:2211.00191): the points in a ball around each
approach point, positions relative to it, pass three PointNetConv layers on a kNN-16 graph; a
max-pooled global feature of the ball, concatenated with the contact point's feature, goes
through an MLP to one logit per edge. Scores are exactly translation invariant (relative
positions); rotation invariance is learnt from random-rotation augmentation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from equimanip.policies.grasp.balls import (GraspFramePointNet, build_balls, check_inputs, gather_max, gather_neighbours,
                                            grasp_frame_points, tip_margins, view_rays)


@dataclass
class EdgeNetConfig:
    """Hyper-parameters of :class:`EdgeGraspNet` (saved in checkpoints)."""

    radius: float = 0.04  # ball around each approach point (m): holds every contact the sampler keeps (< 3.8 cm)
    max_ball_points: int = 192  # nearest points kept per ball (the cost grows linearly with it)
    k: int = 16  # kNN graph inside a ball
    conv_channels: tuple[int, ...] = (32, 64, 128)  # the three PointNetConv layers
    global_dim: int = 512  # max-pooled ball feature (the paper: 1024)
    head: tuple[int, ...] = (256, 128)  # edge MLP hidden layers
    position_scale: float = 20.0  # positions are multiplied by this (5 cm ball -> unit scale)
    # the ball's points in each edge's grasp frame, through a small PointNet (0 points: off, the paper's net)
    frame_points: int = 96
    frame_channels: tuple[int, ...] = (32, 64)
    # trained on hands pushed up to this much deeper (EdgeSet.extra, m): the detector then scores every depth
    # that fits and executes the best (0: trained at Edge Grasp's depth only)
    max_extra_depth: float = 0.0
    # read where each point was seen from (unit rays from the camera, a third input next to position and normal):
    # the net then needs the viewpoint, and knows which side of what it sees is hidden (0: off, the paper's net)
    view_rays: int = 0

    def __post_init__(self) -> None:
        self.conv_channels = tuple(self.conv_channels)
        self.head = tuple(self.head)
        self.frame_channels = tuple(self.frame_channels)


class PointNetConv(nn.Module):
    """``h_i' = γ(max_j ReLU(W [h_j, p_j − p_i] + b))`` over the kNN graph (PointNet++ / PyG PointNetConv).

    The message's first layer is linear and the ReLU is monotonic, so
    ``max_j ReLU(W_h h_j + W_p p_j + b − W_p p_i) = ReLU(max_j (W_h h_j + W_p p_j + b) − W_p p_i)``:
    the same function with one gather and one max over the graph instead of a layer per graph edge.
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.local = nn.Linear(in_dim + 3, out_dim)
        self.glob = nn.Sequential(nn.Linear(out_dim, out_dim), nn.ReLU())
        self.in_dim = in_dim

    def forward(self, h: torch.Tensor, pos: torch.Tensor, neighbours: torch.Tensor, mask: torch.Tensor,
                reference: bool = False) -> torch.Tensor:
        w_h, w_p = self.local.weight[:, :self.in_dim], self.local.weight[:, self.in_dim:]
        source = h @ w_h.T + pos @ w_p.T + self.local.bias  # (A, K, C): the neighbour's part
        # empty slots must never win the max (a valid point always has itself as a valid neighbour)
        source = source.masked_fill(~mask.unsqueeze(-1), -1e4)
        pooled = gather_neighbours(source, neighbours).amax(2) if reference else gather_max(source, neighbours)
        return self.glob(torch.relu(pooled - pos @ w_p.T)) * mask.unsqueeze(-1)


def _mlp(dims: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class EdgeGraspNet(nn.Module):
    """Scores edge grasps: ``forward(points, normals, edges) -> logits (E,)`` (Huang et al. 2023).

    Args:
        config: hyper-parameters; defaults from :class:`EdgeNetConfig`.
    """

    kind = "edge"

    def __init__(self, config: EdgeNetConfig | None = None, **overrides):
        super().__init__()
        self.config = config or EdgeNetConfig(**overrides)
        c = self.config
        dims = (6 + 3 * bool(c.view_rays),) + c.conv_channels  # input features: relative position, normal (and view ray)
        self.convs = nn.ModuleList(PointNetConv(dims[i], dims[i + 1]) for i in range(len(c.conv_channels)))
        point_dim = sum(c.conv_channels)
        self.global_mlp = nn.Sequential(nn.Linear(point_dim, c.global_dim), nn.ReLU())
        self.frame = (GraspFramePointNet(c.frame_channels, c.position_scale, directions=1 + bool(c.view_rays))
                      if c.frame_points > 0 else None)
        frame_dim = self.frame.out_dim if self.frame is not None else 0
        self.head = _mlp((c.global_dim + point_dim + frame_dim,) + c.head + (1,))

    def hyper_parameters(self) -> dict:
        return asdict(self.config)

    def forward(self, points: torch.Tensor, normals: torch.Tensor, edges: torch.Tensor,
                reference: bool = False, extra: torch.Tensor | None = None,
                viewpoint: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the edges.

        Args:
            points: ``(N, 3)`` cloud.
            normals: ``(N, 3)`` unit normals.
            edges: ``(E, 2)`` ``(approach, contact)`` point indices.
            reference: compute layer by layer as the paper's net is written, every intermediate
                materialised and the head over each edge's concatenated features (the same logits
                up to float rounding, slower; tests and ``scripts/bench_grasp_latency.py`` compare the two).
            extra: ``(E,)`` how much deeper than Edge Grasp's construction each hand goes (m;
                ``EdgeSet.extra``): the grasp-frame branch sees the ball from the hand's real TCP.
                ``None``: zeros.
            viewpoint: ``(3,)`` camera position, in the cloud's frame: needed by a net with ``view_rays``
                (ignored by others).

        Returns:
            ``(E,)`` logits (sigmoid → success probability).
        """
        check_inputs(points, normals, edges, extra)
        if edges.shape[0] == 0:
            return points.new_zeros(0)
        c = self.config
        rays = view_rays(points, viewpoint) if c.view_rays else None
        balls = build_balls(points, normals, edges, c.radius, c.max_ball_points, c.k, rays=rays)
        pos = balls.rel * c.position_scale
        h = torch.cat([pos, balls.directions()], dim=-1)
        feats = []
        for conv in self.convs:
            h = conv(h, pos, balls.neighbours, balls.mask, reference)
            feats.append(h)
        point_feat = torch.cat(feats, dim=-1)  # (A, K, F)
        glob = (self.global_mlp(point_feat) * balls.mask.unsqueeze(-1)).amax(1)  # (A, G), >= 0 so zeros are neutral
        contact = point_feat[balls.edge_ball, balls.edge_slot]  # (E, F)
        args = (balls, points, normals, edges, c.frame_points, tip_margins(extra))
        if reference:
            parts = [glob[balls.edge_ball], contact]
            if self.frame is not None:
                parts.append(self.frame(*grasp_frame_points(*args)))
            return self.head(torch.cat(parts, dim=-1)).squeeze(-1)
        # the head's first layer is linear: its global-feature part runs once per ball, not once per edge
        first, w, g, f = self.head[0], self.head[0].weight, glob.shape[1], contact.shape[1]
        h = (glob @ w[:, :g].T)[balls.edge_ball] + contact @ w[:, g:g + f].T + first.bias
        if self.frame is not None:
            h = h + self.frame.from_balls(*args) @ w[:, g + f:].T
        return self.head[1:](h).squeeze(-1)
