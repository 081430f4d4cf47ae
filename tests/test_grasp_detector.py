"""GraspDetector: bad input, sorting, top_k, determinism, the heuristic's ranking, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equimanip.policies.grasp import detector as detector_module
from equimanip.policies.grasp.detector import MAX_POINTS, GraspDetector
from equimanip.policies.grasp.edge_net import EdgeGraspNet
from equimanip.policies.grasp.edges import TABLE_MARGIN, _table_collision, grasp_pose_from_edge, preprocess_cloud
from equimanip.policies.grasp.heuristic import antipodal_scores
from equimanip.policies.grasp.synthetic import box_cloud
from equimanip.policies.grasp.vn_edge_net import VNEdgeGraspNet


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def box():
    """A 5 × 4 × 6 cm box with exact normals, on a table (table points included)."""
    return box_cloud((0.05, 0.04, 0.06), 0.003, table_half_extent=0.1)


@pytest.fixture(scope="module")
def heuristic():
    return GraspDetector.load("heuristic", device="cpu")


def test_detections_are_sorted_grasps(box, heuristic):
    found = heuristic.detect(*box, top_k=None, table_height=0.0)
    assert found.reason is None and len(found) == found.num_candidates > 10
    scores = [g.score for g in found]
    assert scores == sorted(scores, reverse=True)
    g = found[0]
    assert g.pose.shape == (4, 4) and g.pose.dtype == np.float64 and isinstance(g.width, float)
    assert set(found.timings) >= {"preprocess_ms", "sample_ms", "score_ms", "total_ms"}


@pytest.mark.parametrize("top_k", [1, 3])
def test_top_k_limits_the_result(box, heuristic, top_k):
    assert len(heuristic.detect(*box, top_k=top_k, table_height=0.0)) == top_k


@pytest.mark.parametrize("top_k", [0, -1, 2.5, True, "3"])
def test_bad_top_k_is_refused(box, heuristic, top_k):
    with pytest.raises(ValueError, match="top_k"):
        heuristic.detect(*box, top_k=top_k)


def test_no_grasp_touches_the_table(box, heuristic):
    found = heuristic.detect(*box, top_k=None, table_height=0.0)
    poses = torch.as_tensor(np.stack([g.pose for g in found]))
    assert not _table_collision(poses[:, :3, :3], poses[:, :3, 3], 0.0 + 1e-6, detector_module.FRANKA_HAND).any()
    assert TABLE_MARGIN > 0


def test_same_seed_same_detections_and_random_edge_depends_on_it(box):
    random_edge = GraspDetector.load("random-edge")
    a = random_edge.detect(*box, top_k=5, seed=1, table_height=0.0)
    b = random_edge.detect(*box, top_k=5, seed=1, table_height=0.0)
    c = random_edge.detect(*box, top_k=5, seed=2, table_height=0.0)
    assert [g.score for g in a] == [g.score for g in b]
    assert all(np.array_equal(x.pose, y.pose) for x, y in zip(a, b))
    assert [g.score for g in a] != [g.score for g in c]


def test_heuristic_ranks_an_antipodal_grasp_above_a_one_sided_one():
    points, normals = (torch.as_tensor(a) for a in preprocess_cloud(*box_cloud((0.05, 0.04, 0.06))))
    # across the width, the contact 3.5 cm down the side: the fingers cover most of the box's height
    good, _ = grasp_pose_from_edge([0.0, 0.0, 0.06], [0.0, 0.02, 0.025], [0.0, 1.0, 0.0])
    # from the side at the top rim, closing vertically: the upper finger meets the top face, the lower
    # finger nothing that opposes it (the box continues below)
    bad = np.eye(4)
    bad[:3, 0], bad[:3, 1], bad[:3, 2] = (0.0, -1.0, 0.0), (0.0, 0.0, 1.0), (-1.0, 0.0, 0.0)
    bad[:3, 3] = (-0.005, 0.0, 0.06)
    scores = antipodal_scores(points, normals, torch.as_tensor(np.stack([good, bad])))
    assert scores[0] > 0.8 and scores[1] < 0.5


def test_heuristic_best_grasp_closes_along_a_face_normal(box, heuristic):
    best = heuristic.detect(*box, top_k=1, table_height=0.0)[0]
    closing = best.pose[:3, 1]
    assert max(abs(closing[0]), abs(closing[1])) > 0.95 and best.score > 0.9


# ---------------------------------------------------------------- bad input

def test_empty_cloud_gives_an_empty_result_with_a_reason(heuristic):
    for empty in ([], np.zeros((0, 3))):
        found = heuristic.detect(empty)
        assert len(found) == 0 and "empty" in found.reason and "total_ms" in found.timings


def test_tiny_cloud_gives_an_empty_result_with_a_reason(heuristic):
    found = heuristic.detect(np.random.default_rng(0).random((10, 3)) * 0.05)
    assert len(found) == 0 and "too few points" in found.reason


def test_non_finite_points_are_dropped(box, heuristic):
    points, normals = box
    dirty_p, dirty_n = points.copy(), normals.copy()
    rows = np.arange(0, len(points), 7)
    dirty_p[rows[::2], 0] = np.nan
    dirty_p[rows[1::2], 2] = np.inf
    dirty_n[rows[:3], 1] = -np.inf
    keep = np.ones(len(points), bool)
    keep[rows[::2]] = keep[rows[1::2]] = keep[rows[:3]] = False
    dirty = heuristic.detect(dirty_p, dirty_n, top_k=5, table_height=0.0)
    clean = heuristic.detect(points[keep], normals[keep], top_k=5, table_height=0.0)
    assert len(dirty) == 5 and [g.score for g in dirty] == [g.score for g in clean]


def test_all_non_finite_gives_an_empty_result_with_a_reason(heuristic):
    found = heuristic.detect(np.full((100, 3), np.nan))
    assert len(found) == 0 and "finite" in found.reason


def test_absurdly_large_cloud_is_refused_with_the_limit(heuristic):
    with pytest.raises(ValueError, match="2,000,000"):
        heuristic.detect(np.zeros((MAX_POINTS + 1, 3), np.float32))


@pytest.mark.parametrize("points", [np.zeros((50, 2)), np.zeros((50, 3, 1)), np.zeros(150), [[0.0, 1.0], [2.0]]],
                         ids=["n-by-2", "3-d", "flat", "ragged"])
def test_wrong_shapes_are_refused(heuristic, points):
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        heuristic.detect(points)


@pytest.mark.parametrize("points", [np.array([["a", "b", "c"]] * 30), np.array([[object()] * 3] * 30),
                                    np.ones((30, 3), complex), np.ones((30, 3), bool)],
                         ids=["strings", "objects", "complex", "bool"])
def test_non_numeric_dtypes_are_refused(heuristic, points):
    with pytest.raises(ValueError, match="real numbers"):
        heuristic.detect(points)


def test_normals_of_another_shape_are_refused(box, heuristic):
    with pytest.raises(ValueError, match="normals"):
        heuristic.detect(box[0], box[1][:-1])


def test_torch_tensors_and_estimated_normals_are_accepted(box, heuristic):
    found = heuristic.detect(torch.as_tensor(box[0]), None, top_k=3, table_height=0.0, viewpoint=(0.0, 0.0, 0.5))
    assert len(found) == 3


# ---------------------------------------------------------------- names and checkpoints

def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match="random-edge"):
        GraspDetector.load("no-such-detector")


@pytest.mark.parametrize("name", ["default", "vn-edge"])
def test_missing_shipped_model_says_so(monkeypatch, name):
    monkeypatch.setitem(detector_module.SHIPPED, name, "not_shipped_yet.pt")
    with pytest.raises(ValueError, match="not in this install yet"):
        GraspDetector.load(name)


@pytest.mark.parametrize("kind, cls", [("edge", EdgeGraspNet), ("vn-edge", VNEdgeGraspNet)])
def test_save_load_round_trip_detects_the_same(box, tmp_path, kind, cls):
    torch.manual_seed(0)
    det = GraspDetector(scorer=kind, model=cls(max_ball_points=48), meta={"note": "test"})
    path = det.save(tmp_path / "model.pt")
    loaded = GraspDetector.load(path, device="cpu", kind=kind)
    assert loaded.meta == {"note": "test"} and loaded.model.config == det.model.config
    a = det.detect(*box, top_k=5, table_height=0.0)
    b = loaded.detect(*box, top_k=5, table_height=0.0)
    assert len(a) == 5 and [g.score for g in a] == [g.score for g in b]


def test_heuristic_checkpoint_round_trip(tmp_path):
    path = GraspDetector.load("heuristic").save(tmp_path / "h.pt")
    assert GraspDetector.load(path).scorer == "heuristic"


def test_checkpoint_of_another_kind_is_refused(tmp_path):
    path = GraspDetector(scorer="edge", model=EdgeGraspNet(max_ball_points=48)).save(tmp_path / "edge.pt")
    with pytest.raises(ValueError, match="not 'vn-edge'"):
        GraspDetector.load(path, kind="vn-edge")


def test_weights_of_another_model_are_refused(tmp_path):
    data = GraspDetector(scorer="edge", model=EdgeGraspNet(max_ball_points=48)).checkpoint()
    data["scorer"] = "vn-edge"
    torch.save(data, tmp_path / "swapped.pt")
    with pytest.raises(ValueError, match="do not fit"):
        GraspDetector.load(tmp_path / "swapped.pt")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", None], ids=["empty", "garbage", "truncated"])
def test_corrupted_checkpoint_is_refused(tmp_path, content):
    path = tmp_path / "bad.pt"
    if content is None:
        good = GraspDetector(scorer="edge", model=EdgeGraspNet(max_ball_points=48)).save(tmp_path / "good.pt")
        content = good.read_bytes()[:200]
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable grasp detector checkpoint"):
        GraspDetector.load(path)


def test_foreign_torch_file_is_refused(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a grasp detector checkpoint"):
        GraspDetector.load(tmp_path / "other.pt")


def test_heuristic_scores_with_approach_groups_equal_the_whole_cloud_scores(box):
    from equimanip.policies.grasp.edges import sample_edges

    points, normals = (torch.as_tensor(a) for a in preprocess_cloud(*box, table_height=0.0))
    es = sample_edges(points, normals, num_approach=16, table_height=0.0)
    whole = antipodal_scores(points, normals, es.poses)
    grouped = antipodal_scores(points, normals, es.poses, approach=es.edges[:, 0])
    assert len(es) > 10 and torch.equal(whole, grouped)


@pytest.mark.parametrize("name, kind", [("default", "edge"), ("vn-edge", "vn-edge")])
def test_shipped_models_load_and_detect_out_of_the_box(name, kind, box):
    """`equimanip grasp eval` and the Python API work right after install: the trained models ship."""
    detector = GraspDetector.load(name, device="cpu")
    assert detector.scorer == kind and detector.meta.get("steps", 0) >= 1000
    grasps = detector.detect(*box, top_k=5, table_height=0.0)
    assert len(grasps) == 5 and grasps.reason is None
    assert all(0.0 <= g.width <= 0.08 and np.isfinite(g.score) for g in grasps)


def test_bf16_scores_track_fp32_scores_of_the_shipped_model(box):
    from equimanip.policies.grasp.edges import sample_edges

    fp32 = GraspDetector.load("default", device="cpu")
    bf16 = GraspDetector.load("default", device="cpu", precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    points, normals = (torch.as_tensor(a) for a in preprocess_cloud(*box, table_height=0.0))
    edges = sample_edges(points, normals, num_approach=32, table_height=0.0)
    a, b = fp32.score_edges(points, normals, edges), bf16.score_edges(points, normals, edges)
    assert len(edges) > 50 and a.dtype == b.dtype == torch.float32
    assert float((a - b).abs().max()) < 0.02  # probabilities; bfloat16 keeps 8 bits of mantissa
    top_a, top_b = set(a.topk(10).indices.tolist()), set(b.topk(10).indices.tolist())
    assert len(top_a & top_b) >= 7


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision 'fp16'; accepted: auto, fp32, bf16"):
        GraspDetector.load("default", device="cpu", precision="fp16")
