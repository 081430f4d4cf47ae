"""Plain-torch FPS, ball query and kNN against brute-force references."""

from __future__ import annotations

import pytest
import torch

from equimanip.policies.grasp.point_ops import ball_query, farthest_point_sample, knn


def _cloud(n: int, seed: int, batch: tuple[int, ...] = ()) -> torch.Tensor:
    return torch.rand(*batch, n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _brute_fps(points: torch.Tensor, k: int, first: int) -> list[int]:
    chosen = [first]
    for _ in range(k - 1):
        best, best_d = -1, -1.0
        for j in range(len(points)):
            d = min(float(((points[j] - points[c]) ** 2).sum()) for c in chosen)
            if d > best_d:
                best, best_d = j, d
        chosen.append(best)
    return chosen


def test_fps_matches_brute_force():
    points = _cloud(200, 0)
    assert farthest_point_sample(points, 16).tolist() == _brute_fps(points, 16, 0)


def test_fps_batched_matches_per_cloud():
    points = _cloud(100, 1, batch=(3,))
    batched = farthest_point_sample(points, 10)
    for b in range(3):
        assert batched[b].tolist() == farthest_point_sample(points[b], 10).tolist()


def test_fps_generator_picks_a_seeded_distinct_start():
    points = _cloud(100, 2)
    a = farthest_point_sample(points, 20, generator=torch.Generator().manual_seed(5))
    b = farthest_point_sample(points, 20, generator=torch.Generator().manual_seed(5))
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 20
    assert a.tolist() == _brute_fps(points, 20, int(a[0]))


def test_fps_rejects_k_above_n():
    with pytest.raises(ValueError, match="k must be"):
        farthest_point_sample(_cloud(5, 0), 6)


def test_knn_matches_brute_force():
    points, query = _cloud(150, 3), _cloud(20, 4)
    idx = knn(query, points, 8)
    d = ((query[:, None] - points[None]) ** 2).sum(-1)
    assert idx.tolist() == d.argsort(dim=1)[:, :8].tolist()


def test_knn_batched_shape_and_self_first():
    points = _cloud(50, 5, batch=(2, 3))
    idx = knn(points, points, 4)
    assert idx.shape == (2, 3, 50, 4)
    assert (idx[..., 0] == torch.arange(50)).all()


def test_ball_query_matches_brute_force():
    points, centres = _cloud(300, 6), _cloud(10, 7)
    radius, max_samples = 0.25, 32
    idx, mask = ball_query(centres, points, radius, max_samples)
    assert idx.shape == mask.shape == (10, max_samples)
    for m in range(10):
        d = ((points - centres[m]) ** 2).sum(-1)
        inside = [int(i) for i in d.argsort() if d[i] < radius ** 2][:max_samples]
        assert idx[m][mask[m]].tolist() == inside
        assert int(mask[m].sum()) == len(inside)


def test_ball_query_pads_small_and_empty_balls_with_safe_indices():
    points = torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [5.0, 5.0, 5.0]])
    centres = torch.tensor([[0.0, 0.0, 0.0], [-9.0, -9.0, -9.0]])
    idx, mask = ball_query(centres, points, 0.5, 6)
    assert mask[0].tolist() == [True, True] + [False] * 4
    assert idx[0, :2].tolist() == [0, 1] and (idx[0, 2:] == 0).all()
    assert not mask[1].any() and (idx[1] >= 0).all() and (idx[1] < 3).all()
