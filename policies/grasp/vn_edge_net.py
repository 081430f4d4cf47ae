"""VN-Edge: the Edge Grasp Network with vector-neuron layers, exactly SE(3)-invariant scores.

After Huang, Wang, Zhu, Walters & Platt, "Edge Grasp Network: A Graph-Based SE(3)-invariant
Approach to Grasp Detection" (ICRA 2023, arXiv:2211.00191), VN variant, with the layers of Deng
et al., "Vector Neurons: A General Framework for SO(3)-Equivariant Networks" (ICCV 2021).

Features are lists of 3-vectors (stored ``(..., 3, C)``); every layer commutes with rotations and only
relative positions enter, so the logits are invariant to any rotation and translation of the
cloud (up to float rounding; the ball and kNN graphs only use distances, so exact distance ties,
as on a synthetic regular grid, may be broken differently after a rotation; sensor clouds have none). Inputs per point: its
position relative to the approach point and its normal, two vector channels.

For CPU latency each graph layer is a VN-MLP of the point's features and their mean over its kNN
neighbours (nonlinearities per point, not per graph edge); the ball's global feature uses the VN
max pool with a learned direction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from equimanip.policies.grasp.balls import (GraspFramePointNet, build_balls, check_inputs, gather_neighbours,
                                            grasp_frame_points, tip_margins)

_EPS = 1e-8


@dataclass
class VNEdgeNetConfig:
    """Hyper-parameters of :class:`VNEdgeGraspNet` (channel counts are numbers of 3-vectors)."""

    radius: float = 0.04
    max_ball_points: int = 192
    k: int = 16
    conv_channels: tuple[int, ...] = (16, 32, 64)
    global_channels: int = 128
    edge_channels: int = 64
    head: tuple[int, ...] = (128,)
    negative_slope: float = 0.2
    position_scale: float = 20.0
    # the ball's points in each edge's grasp frame (exactly invariant coordinates), through a small PointNet
    frame_points: int = 96
    frame_channels: tuple[int, ...] = (32, 64)
    # trained on hands pushed up to this much deeper (EdgeSet.extra, m): the detector then scores every depth
    # that fits and executes the best (0: trained at Edge Grasp's depth only)
    max_extra_depth: float = 0.0

    def __post_init__(self) -> None:
        self.conv_channels = tuple(self.conv_channels)
        self.head = tuple(self.head)
        self.frame_channels = tuple(self.frame_channels)


class VNLinear(nn.Module):
    """``(..., 3, C_in) → (..., 3, C_out)``: a channel mix with no bias (a bias would not rotate).

    Vector features are stored channels-last, ``(..., 3, C)``, so this is one plain matrix product.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / c_in ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T


def vn_leaky_relu(x: torch.Tensor, direction: torch.Tensor, negative_slope: float) -> torch.Tensor:
    """Keep the part of each vector on the positive side of its learned direction's half-space."""
    dot = (x * direction).sum(-2, keepdim=True)
    dsq = direction.square().sum(-2, keepdim=True)
    # x - (1 - slope)·[dot < 0]·(dot / |d|²)·d: the VN-LeakyReLU of Deng et al. in one expression
    coeff = (1 - negative_slope) * torch.clamp(dot, max=0.0) / (dsq + _EPS)
    return x - coeff * direction


class VNLeakyReLU(nn.Module):
    """VN-LeakyReLU (Deng et al. 2021) with a learned direction per channel."""

    def __init__(self, channels: int, negative_slope: float = 0.2):
        super().__init__()
        self.direction = VNLinear(channels, channels)
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return vn_leaky_relu(x, self.direction(x), self.negative_slope)


class VNLinearLeakyReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, negative_slope: float = 0.2):
        super().__init__(VNLinear(c_in, c_out), VNLeakyReLU(c_out, negative_slope))


class VNMaxPool(nn.Module):
    """Per channel, the vector with the largest component along a learned direction (Deng et al. 2021)."""

    def __init__(self, channels: int):
        super().__init__()
        self.direction = VNLinear(channels, channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pool ``x (A, K, 3, C)`` over ``K``, skipping slots where ``mask (A, K)`` is False → ``(A, 3, C)``."""
        score = (x * self.direction(x)).sum(-2)  # (A, K, C)
        score = score.masked_fill(~mask.unsqueeze(-1), float("-inf"))
        best = score.argmax(1, keepdim=True)  # (A, 1, C)
        return torch.gather(x, 1, best.unsqueeze(2).expand(-1, -1, 3, -1)).squeeze(1)


class VNInvariant(nn.Module):
    """Invariant scalars: each vector's coordinates in a learned equivariant frame (Deng et al. 2021)."""

    def __init__(self, channels: int, negative_slope: float = 0.2):
        super().__init__()
        self.frame = nn.Sequential(VNLinearLeakyReLU(channels, max(channels // 2, 3), negative_slope),
                                   VNLinear(max(channels // 2, 3), 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frame = self.frame(x)  # (..., 3, 3): rotates with x, so frameᵀ·x does not
        return (frame.transpose(-1, -2) @ x).flatten(-2)


def _mean_over_neighbours(x: torch.Tensor, neighbours: torch.Tensor, neighbour_mask: torch.Tensor,
                          reference: bool = False) -> torch.Tensor:
    """Masked mean of ``x (A, K, 3, C)`` over ``neighbours (A, K, k)`` → ``(A, K, 3, C)``, summed
    one neighbour at a time (``reference``: through the ``(A, K, k, 3, C)`` gather)."""
    w = neighbour_mask.to(x.dtype)
    count = w.sum(2).clamp_min(1.0)[..., None, None]
    if reference:
        return (gather_neighbours(x, neighbours) * w[..., None, None]).sum(2) / count
    a, kslots, kn = neighbours.shape
    flat = x.reshape(a * kslots, -1)
    index = (neighbours + (torch.arange(a, device=x.device) * kslots).view(a, 1, 1)).reshape(a * kslots, kn)
    w = w.reshape(a * kslots, kn)
    total = flat.index_select(0, index[:, 0]) * w[:, :1]
    for j in range(1, kn):
        total = total + flat.index_select(0, index[:, j]) * w[:, j:j + 1]
    return total.view(x.shape) / count


class VNEdgeGraspNet(nn.Module):
    """Scores edge grasps with exactly SE(3)-invariant logits: ``forward(points, normals, edges) -> (E,)``.

    Args:
        config: hyper-parameters; defaults from :class:`VNEdgeNetConfig`.
    """

    kind = "vn-edge"

    def __init__(self, config: VNEdgeNetConfig | None = None, **overrides):
        super().__init__()
        self.config = config or VNEdgeNetConfig(**overrides)
        c = self.config
        s = c.negative_slope
        self.convs = nn.ModuleList()
        c_prev = 2  # position relative to the approach point, normal
        for ch in c.conv_channels:
            # input: the point's own features and their mean over its kNN neighbours
            self.convs.append(nn.Sequential(VNLinearLeakyReLU(2 * c_prev, ch, s), VNLinearLeakyReLU(ch, ch, s)))
            c_prev = ch
        point_channels = sum(c.conv_channels) + 1  # + the position relative to the approach point
        self.global_layer = VNLinearLeakyReLU(point_channels, c.global_channels, s)
        self.global_pool = VNMaxPool(c.global_channels)
        self.edge_layer = VNLinearLeakyReLU(c.global_channels + point_channels, c.edge_channels, s)
        self.invariant = VNInvariant(c.edge_channels, s)
        self.frame = GraspFramePointNet(c.frame_channels, c.position_scale) if c.frame_points > 0 else None
        dims = (3 * c.edge_channels + (self.frame.out_dim if self.frame is not None else 0),) + c.head + (1,)
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        self.head = nn.Sequential(*layers)

    def hyper_parameters(self) -> dict:
        return asdict(self.config)

    def forward(self, points: torch.Tensor, normals: torch.Tensor, edges: torch.Tensor,
                reference: bool = False, extra: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the edges.

        Args:
            points: ``(N, 3)`` cloud.
            normals: ``(N, 3)`` unit normals.
            edges: ``(E, 2)`` ``(approach, contact)`` point indices.
            reference: compute layer by layer, every intermediate materialised (the same logits up
                to float rounding, slower; tests and ``scripts/bench_grasp_latency.py`` compare the two).
            extra: ``(E,)`` how much deeper than Edge Grasp's construction each hand goes (m;
                ``EdgeSet.extra``): the grasp-frame branch sees the ball from the hand's real TCP.
                ``None``: zeros.

        Returns:
            ``(E,)`` logits, invariant to rotating and translating the cloud.
        """
        check_inputs(points, normals, edges, extra)
        if edges.shape[0] == 0:
            return points.new_zeros(0)
        c = self.config
        balls = build_balls(points, normals, edges, c.radius, c.max_ball_points, c.k)
        mask = balls.mask
        keep = mask[..., None, None].to(points.dtype)
        pos = (balls.rel * c.position_scale).unsqueeze(-1)  # (A, K, 3, 1)
        h = torch.cat([pos, balls.normals.unsqueeze(-1)], dim=-1)
        feats = []
        for conv in self.convs:
            agg = _mean_over_neighbours(h, balls.neighbours, balls.neighbour_mask, reference)
            h = conv(torch.cat([h, agg], dim=-1)) * keep
            feats.append(h)
        point_feat = torch.cat(feats + [pos], dim=-1)  # (A, K, 3, F)
        glob = self.global_pool(self.global_layer(point_feat), mask)  # (A, 3, G)
        contact = point_feat[balls.edge_ball, balls.edge_slot]  # (E, 3, F)
        mix, relu = self.edge_layer
        if reference:
            edge = self.edge_layer(torch.cat([glob[balls.edge_ball], contact], dim=-1))
        else:  # the edge layer starts linear: its global-feature part runs once per ball, not once per edge
            g = glob.shape[-1]
            edge = relu((glob @ mix.weight[:, :g].T)[balls.edge_ball] + contact @ mix.weight[:, g:].T)
        parts = [self.invariant(edge)]
        if self.frame is not None:
            args = (balls, points, normals, edges, c.frame_points, tip_margins(extra))
            parts.append(self.frame(*grasp_frame_points(*args)) if reference else self.frame.from_balls(*args))
        return self.head(torch.cat(parts, dim=-1)).squeeze(-1)
