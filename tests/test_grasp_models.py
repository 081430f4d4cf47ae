"""Edge Grasp Network and VN-Edge: invariances, gradients, save/load, input checks."""

from __future__ import annotations

import pytest
import torch

from equimanip.policies.grasp.balls import build_balls
from equimanip.policies.grasp.edge_net import EdgeGraspNet
from equimanip.policies.grasp.edges import preprocess_cloud
from equimanip.policies.grasp.point_ops import ball_query, farthest_point_sample
from equimanip.policies.grasp.synthetic import box_cloud
from equimanip.policies.grasp.vn_edge_net import VNEdgeGraspNet

MODELS = {"edge": EdgeGraspNet, "vn-edge": VNEdgeGraspNet}
SMALL = {"max_ball_points": 48}  # small balls keep the tests fast; the invariances do not depend on the size


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def scene():
    """Two boxes, jittered: a regular grid has exact distance ties, which rotations break differently."""
    points, normals = [], []
    for centre, yaw in (((-0.04, 0.0), 0.3), ((0.05, 0.02), 1.1)):
        p, n = box_cloud((0.05, 0.04, 0.05), 0.004, centre=centre, yaw=yaw)
        points.append(p)
        normals.append(n)
    p, n = preprocess_cloud(torch.cat([torch.as_tensor(a) for a in points]).numpy(),
                            torch.cat([torch.as_tensor(a) for a in normals]).numpy())
    g = torch.Generator().manual_seed(0)
    p = torch.as_tensor(p, dtype=torch.float64) + 2e-4 * torch.randn(len(p), 3, generator=g, dtype=torch.float64)
    n = torch.as_tensor(n, dtype=torch.float64)
    approach = farthest_point_sample(p, 6)
    idx, mask = ball_query(p[approach], p, 0.038, 32)
    edges = torch.stack([approach[:, None].expand_as(idx)[mask], idx[mask]], dim=1)
    return p, n, edges


def _random_rigid(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.linalg.det(q))  # a rotation, det +1
    return q, torch.randn(3, generator=g, dtype=torch.float64)


def _net(kind: str, dtype=torch.float64) -> torch.nn.Module:
    torch.manual_seed(0)
    return MODELS[kind](**SMALL).to(dtype).eval()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vn_edge_scores_are_se3_invariant_float64(scene, seed):
    p, n, edges = scene
    rot, t = _random_rigid(seed)
    net = _net("vn-edge")
    with torch.no_grad():
        a, b = net(p, n, edges), net(p @ rot.T + t, n @ rot.T, edges)
    assert a.std() > 1e-4  # the scores do vary between edges
    assert (a - b).abs().max() < 1e-9


def test_vn_edge_scores_are_se3_invariant_float32(scene):
    p, n, edges = scene
    rot, t = _random_rigid(3)
    net = _net("vn-edge", torch.float32)
    with torch.no_grad():
        a = net(p.float(), n.float(), edges)
        b = net((p @ rot.T + t).float(), (n @ rot.T).float(), edges)
    assert (a - b).abs().max() < 1e-4


@pytest.mark.parametrize("kind", list(MODELS))
def test_scores_are_translation_invariant(scene, kind):
    p, n, edges = scene
    net = _net(kind)
    with torch.no_grad():
        a, b = net(p, n, edges), net(p + torch.tensor([0.4, -0.3, 0.2], dtype=torch.float64), n, edges)
    assert (a - b).abs().max() < 1e-9


def test_edge_net_is_not_rotation_invariant_before_training(scene):
    """EdgeGraspNet learns rotation invariance from augmentation: an untrained one is not invariant."""
    p, n, edges = scene
    rot, _ = _random_rigid(0)
    net = _net("edge")
    with torch.no_grad():
        assert (net(p, n, edges) - net(p @ rot.T, n @ rot.T, edges)).abs().max() > 1e-6


@pytest.mark.parametrize("kind", list(MODELS))
def test_save_load_round_trip_gives_equal_scores(scene, kind, tmp_path):
    p, n, edges = scene
    net = _net(kind, torch.float32)
    torch.save({"hyper_parameters": net.hyper_parameters(), "state_dict": net.state_dict()}, tmp_path / "m.pt")
    saved = torch.load(tmp_path / "m.pt", weights_only=True)
    other = MODELS[kind](**saved["hyper_parameters"]).eval()
    assert saved["hyper_parameters"]["max_ball_points"] == SMALL["max_ball_points"]
    other.load_state_dict(saved["state_dict"])
    with torch.no_grad():
        assert torch.equal(net(p.float(), n.float(), edges), other(p.float(), n.float(), edges))


@pytest.mark.parametrize("kind", list(MODELS))
def test_gradients_are_finite_with_empty_ball_slots(scene, kind):
    p, n, edges = scene
    net = MODELS[kind](max_ball_points=256)  # more slots than any ball holds: padded slots everywhere
    loss = torch.nn.functional.binary_cross_entropy_with_logits(net(p.float(), n.float(), edges),
                                                                torch.ones(len(edges)))
    loss.backward()
    grads = [q.grad for q in net.parameters() if q.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("kind", list(MODELS))
def test_no_edges_give_no_logits(scene, kind):
    p, n, _ = scene
    out = _net(kind, torch.float32)(p.float(), n.float(), torch.zeros(0, 2, dtype=torch.long))
    assert out.shape == (0,)


@pytest.mark.parametrize("edges, match", [
    (torch.zeros(3, 3, dtype=torch.long), "edges must be"),
    (torch.zeros(3, 2), "edges must be"),
    (torch.tensor([[0, 10**6]]), "outside"),
], ids=["three-columns", "float", "out-of-range"])
def test_bad_edges_raise_clear_errors(scene, edges, match):
    p, n, _ = scene
    with pytest.raises(ValueError, match=match):
        _net("edge", torch.float32)(p.float(), n.float(), edges)


def test_contact_outside_a_truncated_ball_maps_to_its_nearest_slot(scene):
    p, n, edges = scene
    balls = build_balls(p, n, edges, radius=0.04, max_points=8, k=4)
    contact_rel = p[edges[:, 1]] - p[edges[:, 0]]
    slot_rel = balls.rel[balls.edge_ball, balls.edge_slot]
    assert balls.mask[balls.edge_ball, balls.edge_slot].all()
    nearest = ((balls.rel[balls.edge_ball] - contact_rel[:, None]).norm(dim=-1)
               .masked_fill(~balls.mask[balls.edge_ball], 1e9).min(1).values)
    assert torch.allclose((slot_rel - contact_rel).norm(dim=-1), nearest)


@pytest.mark.parametrize("max_ball_points", [48, 256])  # 256: more slots than any ball holds, padded slots everywhere
def test_grasp_frame_branch_equals_its_reference(scene, max_ball_points):
    """The fast grasp-frame feature (weights rotated per edge, ReLU after the max) is the reference
    PointNet over the points moved into each grasp frame."""
    from equimanip.policies.grasp.balls import GraspFramePointNet, grasp_frame_points

    p, n, edges = scene
    torch.manual_seed(0)
    for channels in ((32, 64), (16,), (8, 16, 24)):
        branch = GraspFramePointNet(channels).double()
        balls = build_balls(p, n, edges, 0.04, max_ball_points, 16)
        with torch.no_grad():
            fast = branch.from_balls(balls, p, n, edges, 96, 0.01)
            reference = branch(*grasp_frame_points(balls, p, n, edges, 96, 0.01))
        assert reference.abs().max() > 0.1
        torch.testing.assert_close(fast, reference, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", list(MODELS))
def test_nets_equal_their_layer_by_layer_reference(scene, kind):
    """The fast forward (neighbours pooled one at a time, the global feature's part of the first
    per-edge layer run once per ball, the fast grasp-frame branch) gives the plain composition's logits."""
    p, n, edges = scene
    for overrides in ({}, {"max_ball_points": 256}, {"frame_points": 0}):
        torch.manual_seed(0)
        net = MODELS[kind](**overrides).double().eval()
        with torch.no_grad():
            fast, reference = net(p, n, edges), net(p, n, edges, reference=True)
        assert reference.std() > 1e-4
        torch.testing.assert_close(fast, reference, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", list(MODELS))
def test_extra_depths_move_the_grasp_frame_and_keep_the_invariances(scene, kind):
    p, n, edges = scene
    net = _net(kind)
    g = torch.Generator().manual_seed(0)
    extra = 0.004 * torch.randint(0, 5, (len(edges),), generator=g).double()
    rot, t = _random_rigid(5)
    with torch.no_grad():
        plain, zeros = net(p, n, edges), net(p, n, edges, extra=torch.zeros(len(edges), dtype=torch.float64))
        deep = net(p, n, edges, extra=extra)
        reference = net(p, n, edges, extra=extra, reference=True)
        moved = net(p @ rot.T + t, n @ rot.T, edges, extra=extra)
    torch.testing.assert_close(zeros, plain, rtol=1e-12, atol=1e-12)  # no extra is Edge Grasp's hand
    # (an untrained net's max-pool may ignore a shift for a few edges)
    assert ((deep - plain)[extra > 0].abs() > 0).float().mean() > 0.9
    assert torch.equal(deep[extra == 0], plain[extra == 0])
    torch.testing.assert_close(deep, reference, rtol=1e-10, atol=1e-10)
    if kind == "vn-edge":  # the depth is measured along each hand's own approach: still SE(3)-invariant
        assert (deep - moved).abs().max() < 1e-9


@pytest.mark.parametrize("extra", [torch.zeros(3), [0.0] * 5], ids=["wrong-length", "not-a-tensor"])
def test_bad_extra_depths_raise_clear_errors(scene, extra):
    p, n, edges = scene
    with pytest.raises(ValueError, match="extra must be an"):
        _net("edge")(p, n, edges, extra=extra)


def test_view_rays_reach_the_net_and_keep_its_reference_and_translation_invariance(scene):
    """A net with ``view_rays`` reads where each point was seen from: moving the camera changes its scores;
    moving cloud and camera together by a translation does not; the fast forward equals the reference."""
    p, n, edges = scene
    torch.manual_seed(0)
    net = EdgeGraspNet(view_rays=1).double().eval()
    eye = torch.tensor([0.1, -0.3, 0.5], dtype=torch.float64)
    t = torch.tensor([0.4, -0.3, 0.2], dtype=torch.float64)
    with torch.no_grad():
        seen = net(p, n, edges, viewpoint=eye)
        reference = net(p, n, edges, viewpoint=eye, reference=True)
        moved = net(p + t, n, edges, viewpoint=eye + t)
        elsewhere = net(p, n, edges, viewpoint=torch.tensor([-0.3, 0.2, 0.5], dtype=torch.float64))
    torch.testing.assert_close(seen, reference, rtol=1e-10, atol=1e-10)
    assert (seen - moved).abs().max() < 1e-9
    assert (seen - elsewhere).abs().max() > 1e-6
    with pytest.raises(ValueError, match="pass the camera position"):
        net(p, n, edges)
    with pytest.raises(ValueError, match="finite camera position"):
        net(p, n, edges, viewpoint=torch.tensor([0.0, float("nan"), 1.0]))
    # a net without view rays ignores a viewpoint
    plain = _net("edge")
    with torch.no_grad():
        assert torch.equal(plain(p, n, edges), plain(p, n, edges, viewpoint=eye))


def test_an_ensemble_refuses_nets_that_score_other_depths_and_fewer_than_two():
    from equimanip.policies.grasp.ensemble import EnsembleNet

    with pytest.raises(ValueError, match="must score the same grasp depths"):
        EnsembleNet([EdgeGraspNet(**SMALL), EdgeGraspNet(max_extra_depth=0.016, **SMALL)])
    with pytest.raises(ValueError, match="at least two nets"):
        EnsembleNet([EdgeGraspNet(**SMALL)])
    both = EnsembleNet([EdgeGraspNet(view_rays=1, **SMALL), VNEdgeGraspNet(**SMALL)])
    assert both.config.view_rays == 1 and both.config.max_extra_depth == 0.0
