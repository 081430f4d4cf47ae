"""Edge grasp construction (Huang et al. 2023): pose from an edge, sampling and pruning, preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equimanip.policies.grasp.edges import (TABLE_MARGIN, _frames, _table_collision, cloud_collision, column_points,
                                            beyond_crop_points, grasp_pose_from_edge, preprocess_cloud, sample_edges,
                                            shadow_points)
from equimanip.policies.grasp.gripper import FRANKA_HAND
from equimanip.policies.grasp.synthetic import box_cloud

G = FRANKA_HAND


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def box():
    """A 5 × 4 × 6 cm box, downsampled as a detector would see it (exact normals, no table points)."""
    return preprocess_cloud(*box_cloud((0.05, 0.04, 0.06)))


def test_top_down_edge_across_the_box_width():
    # approach point on the top face's centre, contact 5 mm down the +y side face
    pose, width = grasp_pose_from_edge([0.0, 0.0, 0.06], [0.0, 0.02, 0.055], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(pose[:3, 2], [0.0, 0.0, -1.0], atol=1e-12)  # approach straight down
    np.testing.assert_allclose(pose[:3, 1], [0.0, 1.0, 0.0], atol=1e-12)  # closing across the width
    np.testing.assert_allclose(pose[:3, 0], [-1.0, 0.0, 0.0], atol=1e-12)  # x = y × z
    depth = 0.005
    expected_tcp_z = 0.06 - (depth + G.tip_margin)
    np.testing.assert_allclose(pose[:3, 3], [0.0, 0.0, expected_tcp_z], atol=1e-12)
    # the fingertips reach tip_margin past the contact
    np.testing.assert_allclose(pose[2, 3], 0.055 - G.tip_margin, atol=1e-12)
    assert width == pytest.approx(2 * 0.02 + 0.01)
    np.testing.assert_allclose(pose[3], [0, 0, 0, 1])
    np.testing.assert_allclose(pose[:3, :3].T @ pose[:3, :3], np.eye(3), atol=1e-12)
    assert np.linalg.det(pose[:3, :3]) == pytest.approx(1.0)


def _slab(tilt_deg: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A 6 × 5 × 1.8 cm slab as the table crop leaves it: the top face and, with ``tilt_deg``, the
    sides above 1 cm with normals tilted that far up (PCA over a thin band and the top face)."""
    points, normals = box_cloud((0.06, 0.05, 0.018), sides=tilt_deg is not None)
    keep = (normals[:, 2] > 0.5) | (points[:, 2] > 0.01)
    points, normals = points[keep], normals[keep].copy()
    if tilt_deg is not None:
        side = normals[:, 2] < 0.5
        t = np.radians(tilt_deg)
        normals[side] = normals[side] * np.cos(t) + np.array([0.0, 0.0, np.sin(t)])
    return preprocess_cloud(points, normals)


def _sample(cloud, **kwargs):
    return sample_edges(*cloud, num_approach=48, table_height=0.0, generator=torch.Generator().manual_seed(0), **kwargs)


def test_a_flat_top_face_gets_top_down_rim_grasps():
    cloud = _slab()
    assert len(_sample(cloud, flat_grasps=False)) == 0  # every normal points up: no closing axis
    es = _sample(cloud)
    assert len(es) > 0
    rot, tcp = es.poses[:, :3, :3], es.poses[:, :3, 3]
    torch.testing.assert_close(rot[:, :, 2], torch.tensor([0.0, 0.0, -1.0]).expand(len(es), 3))  # straight down
    assert rot[:, 2, 1].abs().max() < 1e-6  # closing horizontally
    torch.testing.assert_close(tcp[:, 2], torch.full((len(es),), TABLE_MARGIN + 0.001))  # as low as the table allows
    assert not _table_collision(rot, tcp, 0.0, G).any()
    assert not cloud_collision(torch.as_tensor(cloud[0]), rot, tcp, G).any()
    # each contact lies between the pads, on the rim, its closing axis pointing outwards
    contact = torch.as_tensor(cloud[0])[es.edges[:, 1]]
    assert ((contact[:, :2] * rot[:, :2, 1]).sum(-1) > 0).all()
    on_rim = (contact[:, 0].abs() > 0.03 - 0.006) | (contact[:, 1].abs() > 0.025 - 0.006)
    assert on_rim.all()


def test_tilted_normals_of_a_thin_side_band_are_levelled():
    cloud = _slab(tilt_deg=25.0)
    # tilted closing axes dip the far fingertip into the table: nothing is left on the band
    assert len(_sample(cloud, flat_grasps=False)) == 0
    es = _sample(cloud)
    assert len(es) > 0
    rot = es.poses[:, :3, :3]
    assert rot[:, 2, 1].abs().max() < 1e-6  # levelled closing axes
    assert not _table_collision(rot, es.poses[:, :3, 3], 0.0, G).any()


def test_flat_grasps_leave_edge_grasps_of_tall_objects_alone(box):
    """The rim grasps are a fallback: a box whose sides are seen keeps exactly Edge Grasp's candidates."""
    plain = _sample(box, flat_grasps=False)
    flat = _sample(box)
    assert len(plain) > 0
    torch.testing.assert_close(flat.poses, plain.poses)
    torch.testing.assert_close(flat.edges, plain.edges)


def test_filled_columns_prune_hands_reaching_under_a_top_face():
    # the box as one view from +x, +y sees it: the top and the two faces towards the camera
    points, normals = box_cloud((0.05, 0.04, 0.06))
    seen = (normals[:, 2] > 0.5) | (normals[:, 0] > 0.5) | (normals[:, 1] > 0.5)
    box = preprocess_cloud(points[seen], normals[seen])
    points, normals = (torch.as_tensor(a) for a in box)
    filled = column_points(points, normals, 0.0)
    assert len(filled) > 0 and (filled[:, 2] > 0).all() and (filled[:, 2] < 0.06).all()
    plain, pruned = _sample(box, fill_columns=False), _sample(box)
    assert 0 < len(pruned) < len(plain)
    assert not cloud_collision(filled, pruned.poses[:, :3, :3], pruned.poses[:, :3, 3], G).any()
    gone = cloud_collision(filled, plain.poses[:, :3, :3], plain.poses[:, :3, 3], G)
    assert int(gone.sum()) == len(plain) - len(pruned)


def test_width_is_clipped_to_the_opening():
    _, width = grasp_pose_from_edge([0.0, 0.0, 0.1], [0.0, 0.06, 0.09], [0.0, 1.0, 0.0])
    assert width == G.max_width


def test_degenerate_edge_is_refused():
    with pytest.raises(ValueError, match="degenerate"):
        grasp_pose_from_edge([0.0, 0.0, 0.0], [0.0, 0.02, 0.0], [0.0, 1.0, 0.0])


def test_sampled_poses_are_rigid_and_consistent(box, box_edges):
    es = box_edges
    assert len(es) > 20
    rot = es.poses[:, :3, :3].double()
    eye = torch.eye(3, dtype=torch.float64).expand_as(rot)
    assert torch.allclose(rot.transpose(1, 2) @ rot, eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(len(es), dtype=torch.float64), atol=1e-5)
    points, normals = (torch.as_tensor(a) for a in box)
    p_a, p_c = points[es.edges[:, 0]], points[es.edges[:, 1]]
    dist = (p_c - p_a).norm(dim=1)
    assert ((dist > 0.003) & (dist < 0.038)).all()
    assert torch.allclose(es.poses[:, :3, 1], normals[es.edges[:, 1]], atol=1e-5)  # y is the contact normal
    assert ((es.half_baseline > -0.003) & (es.half_baseline < G.max_width / 2 - 0.002)).all()
    assert ((es.widths >= 0) & (es.widths <= G.max_width)).all()
    assert set(es.edges[:, 0].tolist()) <= set(es.approach_idx.tolist())


@pytest.fixture(scope="module")
def box_edges(box):
    """The box's candidates from 64 approach points, computed once."""
    return sample_edges(*box, num_approach=64)


def test_a_top_down_grasp_across_the_width_is_among_the_candidates(box_edges):
    es = box_edges
    z, y = es.poses[:, :3, 2], es.poses[:, :3, 1]
    top_down = (z[:, 2] < -0.99) & (y[:, 1].abs() > 0.99)
    assert top_down.any()


def test_no_grasp_approaches_from_below(box, box_edges):
    points, normals = (torch.as_tensor(a) for a in box)
    # the box's side faces do offer from-below candidates (approach point low, contact higher up)
    low_side_point = torch.tensor([0.025, 0.0, 0.01]).expand(len(points), 3)
    rot, *_ = _frames(low_side_point, points, normals, G)
    assert (rot[:, 2, 2] > 0.1).any()
    assert (box_edges.poses[:, 2, 2] <= 0).all()


def test_table_colliding_grasps_are_pruned():
    # a 1.5 cm high box: top-down fingers reach 3.9 cm below the contact, into the table
    points, normals = preprocess_cloud(*box_cloud((0.05, 0.04, 0.015)))
    free = sample_edges(points, normals, num_approach=24)
    pruned = sample_edges(points, normals, num_approach=24, table_height=0.0)
    assert len(pruned) < len(free)
    assert _table_collision(free.poses[:, :3, :3], free.poses[:, :3, 3], 0.0, G).any()
    assert not _table_collision(pruned.poses[:, :3, :3], pruned.poses[:, :3, 3], 0.0, G).any()


def test_table_collision_checks_fingertips_with_a_margin():
    rot = torch.diag(torch.tensor([-1.0, 1.0, -1.0]))[None]  # top-down
    above = torch.tensor([[0.0, 0.0, TABLE_MARGIN + 0.001]])
    below = torch.tensor([[0.0, 0.0, TABLE_MARGIN - 0.001]])
    assert not _table_collision(rot, above, 0.0, G)[0]
    assert _table_collision(rot, below, 0.0, G)[0]


@pytest.mark.parametrize("point, collides", [
    ((0.0, 0.0, -0.02), False),  # between the open fingers
    ((0.0, 0.03, -0.02), False),  # between the fingers, near one pad
    ((0.0, G.max_width / 2 + 0.006, -0.02), True),  # inside the +y finger
    ((0.0, -G.max_width / 2 - 0.006, -0.02), True),  # inside the -y finger
    ((0.0, 0.0, -G.finger_depth - 0.03), True),  # inside the palm
    ((0.0, 0.0, -G.finger_depth + 0.001), True),  # 1 mm in front of the palm face: inside its clearance
    ((0.0, 0.0, -G.finger_depth + 0.004), False),  # 4 mm in front of the palm face: clear
    ((0.0, 0.0, 0.02), False),  # beyond the fingertips
], ids=["between", "near-pad", "finger+y", "finger-y", "palm", "palm-clearance", "palm-clear", "beyond-tips"])
def test_cloud_collision_volumes(point, collides):
    pts = torch.tensor([point])
    assert bool(cloud_collision(pts, torch.eye(3)[None], torch.zeros(1, 3))[0]) is collides


@pytest.mark.parametrize("point, swept", [
    ((0.0, 0.0, -G.finger_depth - G.palm_height - 0.02), True),  # behind the palm, on the way in
    ((0.0, 0.0, -G.finger_depth - G.palm_height - 0.06), False),  # further back than the pre-grasp pose
    ((0.0, 0.0, -0.02), False),  # between the fingers all the way in
    ((0.0, G.palm_half_width + 0.01, -G.finger_depth - G.palm_height - 0.02), False),  # beside the path
], ids=["on-path", "beyond-pregrasp", "between", "beside"])
def test_the_swept_hand_collides_with_what_lies_on_its_way_in(point, swept):
    pts, rot, tcp = torch.tensor([point]), torch.eye(3)[None], torch.zeros(1, 3)
    assert not cloud_collision(pts, rot, tcp)[0]
    assert bool(cloud_collision(pts, rot, tcp, sweep=0.05)[0]) is swept


def test_shadow_points_lie_behind_each_seen_point_on_its_camera_ray():
    points = torch.tensor([[0.0, 0.0, 0.05], [0.03, -0.02, 0.004]], dtype=torch.float64)
    eye = np.array([0.1, 0.2, 0.5])
    behind = shadow_points(points, eye, 0.02, spacing=0.005).reshape(2, 4, 3)
    for p, row in zip(points.numpy(), behind.numpy()):
        ray = (p - eye) / np.linalg.norm(p - eye)
        np.testing.assert_allclose(row, p + np.outer([0.005, 0.01, 0.015, 0.02], ray), atol=1e-12)
    # below the table plane nothing is hidden: the low point's shadow stops there
    cut = shadow_points(points, eye, 0.02, spacing=0.005, table_height=0.0)
    assert len(cut) < 8 and (cut[:, 2] > 0).all()
    assert len(shadow_points(points, eye, 0.004, spacing=0.005)) == 0


def test_filled_shadows_prune_hands_reaching_behind_the_seen_faces():
    # the box as one view from +x, +y sees it: its far side lies in the shadow of the seen top and faces
    eye = np.array([0.3, 0.3, 0.5])
    points, normals = box_cloud((0.05, 0.04, 0.06))
    seen = (normals[:, 2] > 0.5) | (normals[:, 0] > 0.5) | (normals[:, 1] > 0.5)
    box = preprocess_cloud(points[seen], normals[seen])
    shadows = shadow_points(torch.as_tensor(box[0]), eye, 0.02, table_height=0.0)
    plain = _sample(box, fill_columns=False)
    pruned = _sample(box, fill_columns=False, viewpoint=eye, fill_shadows=0.02)
    assert 0 < len(pruned) < len(plain)
    assert not cloud_collision(shadows, pruned.poses[:, :3, :3], pruned.poses[:, :3, 3], G).any()
    gone = cloud_collision(shadows, plain.poses[:, :3, :3], plain.poses[:, :3, 3], G)
    assert int(gone.sum()) == len(plain) - len(pruned)
    # with the filled columns too, a hand survives only when clear of both
    both = _sample(box, viewpoint=eye, fill_shadows=0.02)
    assert len(both) <= min(len(pruned), len(_sample(box)))


@pytest.mark.parametrize("kwargs, message", [({"fill_shadows": 0.02}, "needs the camera position"),
                                             ({"fill_shadows": -0.01, "viewpoint": [0, 0, 1]}, "must lie in"),
                                             ({"fill_shadows": 0.5, "viewpoint": [0, 0, 1]}, "must lie in"),
                                             ({"fill_shadows": 0.02, "viewpoint": [0, np.nan, 1]}, "finite camera")])
def test_bad_shadow_options_are_clear_errors(box, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _sample(box, **kwargs)


def test_beyond_crop_points_fill_outside_the_walls_the_cloud_touches():
    points = torch.tensor([[0.148, 0.01, 0.03], [0.149, 0.012, 0.05], [0.0, 0.0, 0.02], [-0.05, -0.1495, 0.012]])
    beyond = beyond_crop_points(points, (-0.15, -0.15, 0.15, 0.15), 0.0, reach=0.04, spacing=0.005)
    past_x, past_y = beyond[beyond[:, 0] > 0.15], beyond[beyond[:, 1] < -0.15]
    assert len(past_x) + len(past_y) == len(beyond)  # only beyond the two walls the cloud touches
    # the two points by the +x wall share a 5 mm cell: one column, from the higher one down to the table, 4 cm out
    assert torch.allclose(past_x[:, 1], torch.tensor(0.01)) and float(past_x[:, 2].max()) <= 0.05
    assert float(past_x[:, 0].max()) == pytest.approx(0.19) and float(past_x[:, 2].min()) > 0.0
    assert len(past_x) == 10 * 8 and len(past_y) == 2 * 8
    assert len(beyond_crop_points(points[2:3], (-0.15, -0.15, 0.15, 0.15), 0.0)) == 0


def test_crop_walls_prune_hands_reaching_past_them(box):
    # the box's +x face lies on the crop wall: hands reaching past it are pruned, exactly those
    crop = (-0.1, -0.1, 0.025, 0.1)
    beyond = beyond_crop_points(torch.as_tensor(box[0]), crop, 0.0)
    assert len(beyond) > 0
    plain = _sample(box, fill_columns=False)
    pruned = _sample(box, fill_columns=False, crop_box=crop)
    assert 0 < len(pruned) < len(plain)
    assert not cloud_collision(beyond, pruned.poses[:, :3, :3], pruned.poses[:, :3, 3], G).any()
    gone = cloud_collision(beyond, plain.poses[:, :3, :3], plain.poses[:, :3, 3], G)
    assert int(gone.sum()) == len(plain) - len(pruned)
    # a crop far from the box changes nothing
    assert len(_sample(box, fill_columns=False, crop_box=(-0.5, -0.5, 0.5, 0.5))) == len(plain)


@pytest.mark.parametrize("crop_box", [(0.1, -0.1, -0.1, 0.1), (0, 0, 1), (0, 0, np.inf, 1), "box"])
def test_a_bad_crop_box_is_a_clear_error(box, crop_box):
    with pytest.raises(ValueError, match="crop_box must be"):
        _sample(box, crop_box=crop_box)


def test_clear_approach_prunes_hands_whose_way_in_meets_the_cloud(box):
    # a shelf 22 cm up, over the box: clear of the hands at their grasp poses, across the way in of top-down ones
    xy = np.stack(np.meshgrid(np.linspace(-0.1, 0.1, 41), np.linspace(-0.1, 0.1, 41)), -1).reshape(-1, 2)
    shelf = np.concatenate([xy, np.full((len(xy), 1), 0.22)], 1).astype(np.float32)
    down = np.tile(np.float32([0.0, 0.0, -1.0]), (len(xy), 1))
    scene = (np.concatenate([box[0], shelf]), np.concatenate([box[1], down]))
    def sample(clear: bool):  # enough approach points for the box among the shelf's
        return sample_edges(*scene, num_approach=200, table_height=0.0, generator=torch.Generator().manual_seed(0),
                            fill_columns=False, clear_approach=clear)

    plain, clear = sample(False), sample(True)
    assert 0 < len(clear) < len(plain)
    points = torch.as_tensor(scene[0])
    assert not cloud_collision(points, clear.poses[:, :3, :3], clear.poses[:, :3, 3], G, sweep=0.05).any()
    hit = cloud_collision(points, plain.poses[:, :3, :3], plain.poses[:, :3, 3], G, sweep=0.05)
    assert int(hit.sum()) == len(plain) - len(clear)
    def top_down(es):  # approach axis within 26° of straight down: the way in crosses the shelf's height
        return int((es.poses[:, 2, 2] < -0.9).sum())

    assert top_down(clear) < top_down(plain)


def test_the_sweep_starts_at_the_simulated_pregrasp_pose():
    from equimanip.envs.grasping.world import PREGRASP
    from equimanip.policies.grasp.edges import APPROACH_SWEEP

    assert APPROACH_SWEEP == PREGRASP


def test_sampled_open_hands_do_not_collide_with_the_cloud(box, box_edges):
    points = torch.as_tensor(box[0])
    es = box_edges
    assert not cloud_collision(points, es.poses[:, :3, :3], es.poses[:, :3, 3]).any()


def test_cap_is_a_seeded_uniform_subset(box):
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    full = sample_edges(*box, num_approach=16, generator=g())
    a = sample_edges(*box, num_approach=16, max_edges=10, generator=g())
    b = sample_edges(*box, num_approach=16, max_edges=10, generator=g())
    assert len(full) > 10 and len(a) == 10 and torch.equal(a.edges, b.edges)
    assert {tuple(e) for e in a.edges.tolist()} <= {tuple(e) for e in full.edges.tolist()}


def test_tiny_cloud_gives_no_edges():
    es = sample_edges(np.zeros((1, 3), np.float32), np.ones((1, 3), np.float32))
    assert len(es) == 0 and es.poses.shape == (0, 4, 4)


def test_preprocess_downsamples_and_returns_unit_float32_normals():
    points, normals = box_cloud(spacing=0.0015)
    p, n = preprocess_cloud(points, normals, voxel_size=0.0045)
    assert p.dtype == n.dtype == np.float32 and p.shape == n.shape
    assert len(p) < len(points) / 4
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("viewpoint, sign", [(None, 1.0), ((0.0, 0.0, 0.5), 1.0), ((0.0, 0.0, -0.5), -1.0)],
                         ids=["default-up", "camera-above", "camera-below"])
def test_estimated_normals_face_the_viewpoint(viewpoint, sign):
    points, _ = box_cloud(sides=False)  # the top face only
    _, n = preprocess_cloud(points, viewpoint=viewpoint)
    np.testing.assert_allclose(n[:, 2], sign, atol=1e-3)


def test_preprocess_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        preprocess_cloud(np.zeros((10, 2)))


def test_deepen_pushes_each_hand_to_the_deepest_step_that_still_fits(box):
    from equimanip.policies.grasp.edges import DEEPEN_STEP, PALM_CLEARANCE

    # (no filled columns: the check below is then exactly the cloud, the table and the palm clearance)
    plain, deep = _sample(box, fill_columns=False), _sample(box, fill_columns=False, deepen=0.016)
    # the same candidates in the same order: only the TCPs move, along their own approach axes
    assert torch.equal(plain.edges, deep.edges)
    torch.testing.assert_close(deep.poses[:, :3, :3], plain.poses[:, :3, :3])
    shift = deep.poses[:, :3, 3] - plain.poses[:, :3, 3]
    extra = (shift * plain.poses[:, :3, 2]).sum(-1)
    torch.testing.assert_close(shift, extra.unsqueeze(-1) * plain.poses[:, :3, 2], atol=1e-6, rtol=0)
    steps = extra / DEEPEN_STEP
    torch.testing.assert_close(steps, steps.round(), atol=1e-4, rtol=0)
    assert (steps.round() >= 0).all() and (steps.round() <= 4).all()
    assert (extra > 0.001).float().mean() > 0.3, "most hands on a lone box have room to go deeper"

    points = torch.as_tensor(box[0])
    rot = deep.poses[:, :3, :3]

    def fits(tcp: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        clear_of_palm = deep.depth + G.tip_margin + extra <= G.finger_depth - PALM_CLEARANCE
        return clear_of_palm & ~_table_collision(rot, tcp, 0.0, G) & ~cloud_collision(points, rot, tcp, G)

    assert fits(deep.poses[:, :3, 3], extra).all()
    # a hand short of the 16 mm maximum would not fit one step deeper
    short = extra < 0.016 - 1e-4
    deeper = deep.poses[:, :3, 3] + DEEPEN_STEP * rot[:, :, 2]
    assert short.any() and not (fits(deeper, extra + DEEPEN_STEP) & short).any()


@pytest.mark.parametrize("deepen", [-0.004, 0.5])
def test_deepen_outside_the_fingers_reach_is_a_clear_error(box, deepen):
    with pytest.raises(ValueError, match="deepen must lie in"):
        _sample(box, deepen=deepen)


def test_all_depths_returns_every_depth_that_fits_and_the_deepest_matches(box):
    from equimanip.policies.grasp.edges import depth_levels

    plain = _sample(box, fill_columns=False)
    deepest = _sample(box, fill_columns=False, deepen=0.016)
    every = _sample(box, fill_columns=False, deepen=0.016, all_depths=True)
    assert depth_levels(0.016) == pytest.approx([0.0, 0.004, 0.008, 0.012, 0.016])
    assert len(plain) < len(every) <= 5 * len(plain)
    # each edge once per depth that fits, shallowest first, Edge Grasp's own depth always among them
    pairs = [(tuple(e), round(float(x), 6)) for e, x in zip(every.edges.tolist(), every.extra)]
    assert len(set(pairs)) == len(pairs)
    by_edge: dict[tuple, list[float]] = {}
    for e, x in pairs:
        by_edge.setdefault(e, []).append(x)
    assert list(by_edge) == [tuple(e) for e in plain.edges.tolist()]
    assert all(xs[0] == 0.0 and xs == sorted(xs) for xs in by_edge.values())
    # the deepest of them is the one deepen alone picks
    assert [max(xs) for xs in by_edge.values()] == pytest.approx(deepest.extra.tolist(), abs=1e-6)
    # every returned hand sits `extra` further along its approach than Edge Grasp's and fits
    row = {tuple(e): i for i, e in enumerate(plain.edges.tolist())}
    base = plain.poses[[row[e] for e, _ in pairs]]
    torch.testing.assert_close(every.poses[:, :3, 3], base[:, :3, 3] + every.extra.unsqueeze(-1) * base[:, :3, 2])
    points, rot, tcp = torch.as_tensor(box[0]), every.poses[:, :3, :3], every.poses[:, :3, 3]
    assert not cloud_collision(points, rot, tcp, G).any() and not _table_collision(rot, tcp, 0.0, G).any()
