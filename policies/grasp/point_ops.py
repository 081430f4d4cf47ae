"""Point-cloud neighbourhood operations in plain torch: farthest-point sampling, ball query, kNN.

Written so that grasp detection needs no torch-cluster, torch-geometric or CUDA-only pointnet2
kernels. Every function accepts a leading batch shape (``(..., N, 3)``) and runs on any device.
Distances are computed from coordinate differences (not the ``|a|² + |b|² − 2a·b`` expansion of
``torch.cdist``) so that neighbour orders match a brute-force reference exactly.
"""

from __future__ import annotations

import torch


def _check_points(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[-1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a tensor of shape (..., N, 3); got {shape}")


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise squared distances ``(..., M, N)`` between ``a (..., M, 3)`` and ``b (..., N, 3)``."""
    # one coordinate at a time: no (..., M, N, 3) intermediate (3x less memory traffic, same sums)
    out = (a[..., :, None, 0] - b[..., None, :, 0]).square_()
    for j in (1, 2):
        out += (a[..., :, None, j] - b[..., None, :, j]).square_()
    return out


def farthest_point_sample(points: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of ``k`` points chosen by farthest-point sampling.

    Args:
        points: ``(..., N, 3)`` coordinates.
        k: number of samples; at most ``N``.
        generator: picks the first sample at random when given; without it the first sample is
            index 0, so the result is deterministic.

    Returns:
        ``(..., k)`` long indices into the ``N`` axis, all distinct, in selection order.
    """
    _check_points("points", points)
    n = points.shape[-2]
    if not 0 <= k <= n:
        raise ValueError(f"farthest_point_sample: k must be in [0, {n}] for {n} points; got {k}")
    batch = points.shape[:-2]
    flat = points.reshape(-1, n, 3)
    b = flat.shape[0]
    out = torch.empty(b, k, dtype=torch.long, device=points.device)
    if k == 0:
        return out.reshape(*batch, 0)
    if generator is None:
        current = torch.zeros(b, dtype=torch.long, device=points.device)
    else:
        current = torch.randint(n, (b,), generator=generator, device=generator.device).to(points.device)
    nearest = torch.full((b, n), float("inf"), dtype=points.dtype, device=points.device)
    rows = torch.arange(b, device=points.device)
    for i in range(k):
        out[:, i] = current
        d = (flat - flat[rows, current].unsqueeze(1)).square().sum(-1)
        nearest = torch.minimum(nearest, d)
        current = nearest.argmax(-1)
    return out.reshape(*batch, k)


def knn(query: torch.Tensor, points: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` nearest ``points`` of each query point, nearest first.

    Args:
        query: ``(..., M, 3)``.
        points: ``(..., N, 3)`` with the same leading shape; ``k <= N``.
        k: neighbours per query (a query point that is in ``points`` is its own first neighbour).

    Returns:
        ``(..., M, k)`` long indices into the ``N`` axis.
    """
    _check_points("query", query)
    _check_points("points", points)
    if not 0 < k <= points.shape[-2]:
        raise ValueError(f"knn: k must be in [1, {points.shape[-2]}] for {points.shape[-2]} points; got {k}")
    d = squared_distances(query, points)
    return d.topk(k, dim=-1, largest=False, sorted=True).indices


def ball_query(centres: torch.Tensor, points: torch.Tensor, radius: float,
               max_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The points within ``radius`` of each centre, nearest first, padded to ``max_samples``.

    Unlike pointnet2's ball query (the first indices found, in storage order) this keeps the
    ``max_samples`` *nearest* points inside the ball, so a truncated ball is still a smaller ball.

    Args:
        centres: ``(..., M, 3)``.
        points: ``(..., N, 3)`` with the same leading shape.
        radius: ball radius; a point at exactly ``radius`` is outside (strict ``<``).
        max_samples: slots per ball.

    Returns:
        ``(indices, mask)``, both ``(..., M, max_samples)``: long indices into ``N`` and a bool
        mask of the valid slots. Padded slots repeat the ball's nearest point (index 0 when the ball
        is empty), so they can be gathered safely; always read them through ``mask``.
    """
    _check_points("centres", centres)
    _check_points("points", points)
    if max_samples < 1:
        raise ValueError(f"ball_query: max_samples must be >= 1; got {max_samples}")
    n = points.shape[-2]
    d = squared_distances(centres, points)
    k = min(max_samples, n)
    dist, idx = d.topk(k, dim=-1, largest=False, sorted=True)
    mask = dist < radius * radius
    idx = torch.where(mask, idx, idx[..., :1].expand_as(idx))
    idx = torch.where(mask[..., :1], idx, torch.zeros_like(idx))
    if k < max_samples:  # fewer points than slots: pad
        pad = max_samples - k
        idx = torch.cat([idx, idx[..., :1].expand(*idx.shape[:-1], pad)], dim=-1)
        mask = torch.cat([mask, torch.zeros(*mask.shape[:-1], pad, dtype=torch.bool, device=mask.device)], dim=-1)
    return idx, mask
