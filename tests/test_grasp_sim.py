"""The simulated grasping benchmark: hand, attempts, scenes, the depth view and round bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from equimanip.envs.grasping.benchmark import RoundLog, run_round, summarize
from equimanip.envs.grasping.camera import DepthCamera
from equimanip.envs.grasping.objects import ObjectSet, load_object_set, random_urdf_path
from equimanip.envs.grasping.world import WORKSPACE_HALF, GraspWorld


def topdown_pose(x: float, y: float, z: float, yaw: float = 0.0) -> np.ndarray:
    """TCP pose pointing down, closing along (sin yaw, −cos yaw, 0)."""
    c, s = np.cos(yaw), np.sin(yaw)
    pose = np.eye(4)
    pose[:3, :3] = np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])
    pose[:3, 3] = (x, y, z)
    return pose


def execute_each(world: GraspWorld, grasps) -> list:
    """Each grasp attempted from the same state (VGN's evaluation rule: the hand closes where it stops)."""
    snapshot = world.sim.save_state()
    results = []
    for grasp in grasps:
        world.sim.restore_state(snapshot)
        results.append(world.execute(grasp.pose, allow_contact=True))
    world.sim.restore_state(snapshot)
    world.sim.remove_state(snapshot)
    return results


@pytest.fixture
def box_world():
    world = GraspWorld(ObjectSet("one", (random_urdf_path(9),), scaling="normalize"), camera=DepthCamera(noise="none"))
    world.sim.create_box("box", (0.025, 0.025, 0.025), (0.0, 0.0, 0.025), mass=0.1)
    world.sim.set_dynamics("box", lateral_friction=1.0)
    world.object_names.append("box")
    world.wait_for_rest()
    yield world
    world.close()


def test_grasp_across_a_box_succeeds(box_world):
    result = box_world.execute(topdown_pose(0.0, 0.0, 0.01))
    assert result.success and result.held == ["box"]
    assert 0.045 < result.width < 0.06  # the 5 cm box is between the fingers
    assert box_world.sim.get_pose("box")[0][2] > 0.09  # lifted with the retreat


def test_a_flat_slab_is_grasped_only_with_flat_grasps(box_world):
    """A 6 × 5 × 1.8 cm slab: the table crop leaves its top face and a few millimetres of side, and
    Edge Grasp's construction finds no candidate. The flat grasps close across it, and they hold."""
    from equimanip.policies.grasp.detector import GraspDetector

    box_world.remove_object("box")
    box_world.sim.create_box("slab", (0.03, 0.025, 0.009), (0.02, -0.01, 0.009), mass=0.1)
    box_world.sim.set_dynamics("slab", lateral_friction=1.0)
    box_world.object_names.append("slab")
    box_world.wait_for_rest()
    obs = box_world.observe(np.random.default_rng(0))
    detector = GraspDetector.load("random-edge")
    kwargs = dict(viewpoint=obs.viewpoint, table_height=obs.table_height, top_k=3, num_approach=64)
    none = detector.detect(obs.points, flat_grasps=False, **kwargs)
    assert len(none) == 0 and "no collision-free" in none.reason
    grasps = detector.detect(obs.points, **kwargs)
    assert len(grasps) == 3
    for result in execute_each(box_world, grasps):
        assert result.success and result.held == ["slab"]
        assert 0.045 < result.width < 0.065  # across the slab's 5 or 6 cm


def _cube_grasps(world: GraspWorld, name: str, **kwargs):
    from equimanip.policies.grasp.detector import GraspDetector

    obs = world.observe(np.random.default_rng(0))
    return GraspDetector.load(name).detect(obs.points, viewpoint=obs.viewpoint, table_height=obs.table_height,
                                           top_k=3, num_approach=64, **kwargs)


@pytest.mark.parametrize("name", ["default", "vn-edge"])
def test_the_shipped_models_top_grasps_lift_a_box(box_world, name):
    """Out of the box, on one noise-free view of a 5 cm cube: each of the three best grasps lifts it."""
    grasps = _cube_grasps(box_world, name)
    assert len(grasps) == 3
    assert all(r.success and r.held == ["box"] for r in execute_each(box_world, grasps))


def test_without_filled_columns_vn_edge_pinches_the_cube_with_a_finger_inside(box_world):
    """VN-Edge cannot tell up from down: without the filled-column check it ranks first the grasps that pinch
    the cube's vertical edge with the far finger inside it, under the seen top face, which the cloud alone
    lets through. Each stops on the cube and closes on nothing."""
    results = execute_each(box_world, _cube_grasps(box_world, "vn-edge", fill_columns=False))
    assert len(results) == 3
    assert all(not r.success and r.approach_contact and r.width < 0.005 for r in results)


def test_grasp_in_empty_air_fails(box_world):
    result = box_world.execute(topdown_pose(0.1, 0.1, 0.01))
    assert not result.success and result.reason == "slipped" and result.width < 0.008


def test_grasp_starting_inside_an_object_is_a_collision(box_world):
    # one open finger (4 cm off the TCP along the closing axis) starts inside the box
    result = box_world.execute(topdown_pose(0.0, 0.04, -0.02))
    assert not result.success and result.reason == "pregrasp_collision"


def test_a_contact_on_the_approach_fails_or_closes_there(box_world):
    """A finger lands on the box top while descending: a failure for labels (VGN's data generation);
    in VGN's evaluation convention the hand stops there and closes."""
    pose = topdown_pose(0.0, 0.04, 0.01)  # the finger at y = 0 comes down on the middle of the box top
    strict = box_world.execute(pose)
    assert strict.reason == "approach_collision" and not strict.success
    allowed = box_world.execute(pose, allow_contact=True)
    assert allowed.approach_contact and allowed.reason in ("success", "slipped")
    clear = box_world.execute(topdown_pose(0.1, 0.1, 0.01), allow_contact=True)
    assert not clear.approach_contact


def test_a_side_grasp_lifts_straight_up(box_world):
    """Approaching horizontally (more than 60° from vertical), the retreat lifts the object 10 cm up
    instead of dragging it back along the table (VGN)."""
    pose = np.eye(4)
    pose[:3, :3] = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # columns x, y, z: z = +x approach
    pose[:3, 3] = (0.0, 0.0, 0.04)  # high enough for the palm (±3.2 cm about the TCP here) to clear the table
    result = box_world.execute(pose)
    assert result.success and result.held == ["box"]
    assert box_world.sim.get_pose("box")[0][2] > 0.09


def test_exact_depth_view_sees_the_box_top(box_world):
    obs = box_world.observe(np.random.default_rng(0))
    top = obs.points[obs.points[:, 2] > 0.04]
    assert len(top) > 50
    assert np.all(np.abs(top[:, :2]) < 0.027)  # the 5 cm box, 1 mm slack for pixel footprints
    top_z = box_world.sim.get_pose("box")[0][2] + 0.025  # it rests on Bullet's ≈ 1 mm collision margin
    assert abs(np.median(top[:, 2]) - top_z) < 3e-4
    assert obs.points[:, 2].min() > 0.004  # the table plane is removed


@pytest.mark.parametrize("scene", ["pile", "packed"])
def test_scenes_are_reproducible_and_inside_the_workspace(scene):
    objects = load_object_set("random-urdfs-train")
    poses = []
    for _ in range(2):
        world = GraspWorld(objects)
        n = world.generate(scene, 5, np.random.default_rng(7))
        assert 3 <= n <= 5
        pos = np.array([world.sim.get_pose(name)[0] for name in world.object_names])
        assert np.all(np.abs(pos[:, :2]) <= WORKSPACE_HALF + 0.02) and np.all(pos[:, 2] > -0.01)
        obs = world.observe(np.random.default_rng(1))
        assert np.all(np.abs(obs.points[:, :2]) <= WORKSPACE_HALF) and len(obs.points) > 200
        poses.append((pos, obs.points))
        world.close()
    np.testing.assert_array_equal(poses[0][0], poses[1][0])
    np.testing.assert_array_equal(poses[0][1], poses[1][1])


def test_round_ends_after_two_failures_and_counts_nothing_removed():
    world = GraspWorld(load_object_set("random-urdfs-train"))
    air = topdown_pose(0.14, 0.14, 0.2)  # far above everything
    log = run_round(world, lambda obs, rng: (air, 0.5), scene="packed", num_objects=3, seed=0, round_index=0)
    world.close()
    assert log.end == "failures" and len(log.attempts) == 2 and log.successes == 0 and log.removed == 0


def test_round_ends_when_no_grasp_is_found():
    world = GraspWorld(load_object_set("random-urdfs-train"))
    log = run_round(world, lambda obs, rng: None, scene="pile", num_objects=2, seed=0, round_index=0)
    world.close()
    assert log.end == "no_grasp" and log.attempts == []


def test_low_scored_grasps_are_skipped_and_the_third_skip_ends_the_round():
    world = GraspWorld(load_object_set("random-urdfs-train"))
    air = topdown_pose(0.14, 0.14, 0.2)
    scores = iter([0.5, 0.9, 0.2, 0.84])  # skip, attempt (fails in air), skip, skip -> end
    views = []

    def planner(obs, rng):
        views.append(obs)
        return air, next(scores)

    log = run_round(world, planner, scene="packed", num_objects=3, seed=0, round_index=0, min_score=0.85)
    world.close()
    assert log.end == "low_score" and log.skips == 3 and len(views) == 4
    assert [a["score"] for a in log.attempts] == [0.9] and log.removed == 0
    assert summarize([log])["skips"] == 3 and summarize([log])["end_reasons"]["low_score"] == 1


def test_min_score_outside_the_unit_interval_is_refused():
    from equimanip.envs.grasping.benchmark import EvalSpec, evaluate

    with pytest.raises(ValueError, match=r"min_score must be in \[0, 1\]"):
        evaluate(EvalSpec(detector="heuristic", scene="packed", objects="random-urdfs-test", min_score=85.0),
                 rounds=1, seeds=[0], progress=False)


def test_deepen_outside_the_fingers_reach_is_refused_before_any_round(capsys):
    from equimanip.cli import main

    assert main(["grasp", "eval", "--detector", "heuristic", "--scene", "packed", "--objects", "random-urdfs-test",
                 "--rounds", "1", "--seeds", "0", "--deepen", "16", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "deepen must lie in [0, 0.046]" in err and len(err.strip().splitlines()) == 1


def test_summary_arithmetic():
    def attempts(*ok: bool) -> list[dict]:
        return [{"success": o} for o in ok]

    logs = [RoundLog(seed=0, round=0, objects=5, removed=4, attempts=attempts(True, True, False, True, True)),
            RoundLog(seed=0, round=1, objects=4, removed=2, attempts=attempts(True, False, True, False, False)),
            RoundLog(seed=1, round=0, objects=5, removed=5, attempts=attempts(*[True] * 5))]
    s = summarize(logs)
    assert s["per_seed"]["0"]["gsr"] == pytest.approx(6 / 10) and s["per_seed"]["0"]["dr"] == pytest.approx(6 / 9)
    assert s["per_seed"]["1"]["gsr"] == 1.0 and s["per_seed"]["1"]["dr"] == 1.0
    assert s["gsr"]["mean"] == pytest.approx(0.8) and s["gsr"]["std"] == pytest.approx(0.2)
    assert s["dr"]["mean"] == pytest.approx((6 / 9 + 1) / 2) and s["attempts"] == 15 and s["rounds"] == 3


def test_summary_counts_why_attempts_failed():
    attempts = [{"success": True, "reason": "success", "approach_contact": True},
                {"success": False, "reason": "slipped", "approach_contact": True},
                {"success": False, "reason": "slipped", "approach_contact": False},
                {"success": False, "reason": "approach_collision", "approach_contact": False},
                {"success": False, "reason": "slipped", "approach_contact": True}]
    s = summarize([RoundLog(seed=0, round=0, objects=5, attempts=attempts)])
    assert s["failures"] == {"pregrasp_collision": 0, "approach_collision": 1, "closed_after_contact": 2,
                             "closed_at_pose": 1}


def test_default_split_is_disjoint_and_skips_broken_meshes():
    train = load_object_set("random-urdfs-train").urdfs
    test = load_object_set("random-urdfs-test").urdfs
    assert not set(train) & set(test) and len(test) >= 100
    assert random_urdf_path(168) not in train + test  # a mesh that never comes to rest


@pytest.mark.parametrize("spec, message", [("/nonexistent/objects", "neither a folder"), ("random-urdfs-val", "neither")])
def test_bad_object_sets_are_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        load_object_set(spec)


def test_empty_object_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no .urdf files"):
        load_object_set(tmp_path)


def test_bad_scene_and_pose_are_clear_errors(box_world):
    with pytest.raises(ValueError, match="unknown scene"):
        box_world.generate("heap", 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="4×4"):
        box_world.execute(np.full((4, 4), np.nan))


def test_folder_split_is_disjoint_and_complete(tmp_path):
    for i in range(20):
        (tmp_path / f"object{i}.urdf").write_text("<robot/>")
    everything = set(load_object_set(tmp_path).urdfs)
    train, test = set(load_object_set(f"{tmp_path}#train").urdfs), set(load_object_set(f"{tmp_path}#test").urdfs)
    assert train and test and not train & test and train | test == everything
    with pytest.raises(ValueError, match="unknown split"):
        load_object_set(f"{tmp_path}#val")
