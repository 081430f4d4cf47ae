"""Invariants every registered task must satisfy (parametrised over the registry)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

from equimanip.envs import env_ids
from equimanip.envs.cameras import CAMERAS
from equimanip.symmetry import ACTION_INDEX, DihedralGroup, transform_action, transform_image

ALL_OBS = ("rgb", "point_cloud", "state")
ENV_IDS = env_ids()


def short(env_id: str) -> str:
    return env_id.split("/", 1)[1]


def random_actions(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, 5)).astype(np.float32)


def assert_obs_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("camera", CAMERAS)
@pytest.mark.parametrize("env_id", ENV_IDS, ids=short)
def test_gymnasium_env_checker(env_id, camera, make_env):
    from gymnasium.utils.env_checker import check_env

    env = make_env(env_id, camera=camera, observations=ALL_OBS, image_size=64, num_points=256)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("camera", CAMERAS)
@pytest.mark.parametrize("env_id", ENV_IDS, ids=short)
def test_sb3_env_checker(env_id, camera, make_env):
    from stable_baselines3.common.env_checker import check_env

    env = make_env(env_id, camera=camera, image_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, warn=False)


@pytest.mark.parametrize("camera", CAMERAS)
@pytest.mark.parametrize("env_id", ENV_IDS, ids=short)
def test_observations_match_spec_and_change(env_id, camera, make_env):
    env = make_env(env_id, camera=camera, observations=ALL_OBS, image_size=64, num_points=256)
    obs, _ = env.reset(seed=1)
    first = {k: v.copy() for k, v in obs.items()}
    for action in random_actions(4):
        obs, *_ = env.step(action)
        assert env.observation_space.contains(obs), {k: (v.dtype, v.shape) for k, v in obs.items()}
    for key in ("depth", "state"):
        assert not np.array_equal(first[key], obs[key]), f"{key} did not change while the robot moved"


@pytest.mark.parametrize("env_id", ENV_IDS, ids=short)
def test_same_seed_same_actions_same_observations(env_id, make_env):
    runs = []
    for _ in range(2):
        env = make_env(env_id, observations=ALL_OBS, image_size=64, num_points=128)
        obs, _ = env.reset(seed=7)
        trace = [obs]
        for action in random_actions(6, seed=3):
            obs, reward, *_ = env.step(action)
            trace.append({**obs, "reward": np.array([reward])})
        runs.append(trace)
    for a, b in zip(*runs):
        assert_obs_equal(a, b)


@pytest.mark.parametrize("env_id", ENV_IDS, ids=short)
def test_resets_are_randomised(env_id, make_env):
    env = make_env(env_id, observations=("state",), image_size=64)
    states = [env.reset(seed=s)[0]["state"] for s in range(4)]
    task_parts = [s[7:] for s in states]
    assert len({t.tobytes() for t in task_parts}) == 4, "different seeds gave the same initial scene"


@pytest.mark.parametrize("env_id", ENV_IDS, ids=short)
def test_save_and_restore_state(env_id, make_env):
    env = make_env(env_id, observations=("state",), image_size=64)
    unwrapped = env.unwrapped
    env.reset(seed=2)
    for _ in range(3):  # mid-episode, with the expert in contact-rich phases soon after
        env.step(unwrapped.expert_action())
    snapshot = unwrapped.save_state()
    saved_obs = unwrapped.observe()

    def replay() -> list[dict]:
        unwrapped.restore_state(snapshot)
        np.testing.assert_array_equal(unwrapped.observe()["state"], saved_obs["state"])
        return [env.step(unwrapped.expert_action())[0] for _ in range(4)]

    original = [env.step(unwrapped.expert_action())[0] for _ in range(4)]
    first, second = replay(), replay()
    for a, b in zip(first, second):  # replays from one snapshot are bit-identical
        assert_obs_equal(a, b)
    for a, b in zip(original, first):  # and follow the original up to solver warm-starting
        np.testing.assert_allclose(a["state"][:3], b["state"][:3], atol=2e-3)  # gripper position
        np.testing.assert_allclose(a["state"], b["state"], atol=0.05)  # object poses (sin/cos of 4·yaw)


@pytest.mark.parametrize("env_id", ENV_IDS, ids=short)
def test_expert_solves_one_episode(env_id, make_env):
    env = make_env(env_id)
    env.reset(seed=0)
    unwrapped = env.unwrapped
    for _ in range(unwrapped.max_episode_steps):
        action = unwrapped.expert_action()
        assert env.action_space.contains(action)
        _, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert info["is_success"] and terminated and reward == 1.0 and not info["invalid"]


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ENV_IDS, ids=short)
def test_expert_success_rate_over_100_seeds(env_id):
    from equimanip.rollout import rollout

    result = rollout(env_id, "expert", episodes=100, seed=0, progress=False)
    failures = [e.seed for e in result.episodes if not e.success]
    assert result.success_rate >= 0.98, f"expert success {result.success_rate:.2f}, failed seeds {failures}"


@pytest.mark.parametrize("env_id", ENV_IDS, ids=short)
def test_rotated_scene_rotates_image_and_expert_action(env_id, make_env):
    """With the fixed top-down camera, the scene transformed by g (a reset option) renders as the
    image transformed by g, and the expert's first action is the original one transformed by g."""
    env = make_env(env_id, camera="fixed_topdown").unwrapped
    obs0, _ = env.reset(seed=4)
    action0 = env.expert_action()
    # the exact pixel permutations of D4 that the task's declared symmetry group contains
    elements = [g for g in DihedralGroup(4).elements()[1:] if env.symmetry.group.contains(g)]
    assert elements, f"{env_id} declares {env.symmetry.group}, which has no 90° rotation or reflection"
    for g in elements:
        obs, _ = env.reset(seed=4, options={"scene_transform": g})
        diff = np.abs(obs["depth"] - transform_image(obs0["depth"], g))
        # rasterisation ties at object edges may differ by a pixel; everything else is exact
        assert (diff > 2e-3).mean() < 0.01, f"{g}: {(diff > 2e-3).mean():.3%} of pixels differ"
        np.testing.assert_allclose(env.expert_action(), transform_action(action0, g), atol=1e-3, err_msg=str(g))


# -- bad input ---------------------------------------------------------------------------------
BAD_ACTIONS = {
    "nan": np.array([0, np.nan, 0, 0, 0], dtype=np.float32),
    "inf": np.array([0, 0, np.inf, 0, 0], dtype=np.float32),
    "short": np.zeros(4, dtype=np.float32),
    "batched": np.zeros((2, 5), dtype=np.float32),
    "text": "open",
}


@pytest.mark.parametrize("kind", list(BAD_ACTIONS))
def test_bad_actions_raise_clear_errors(kind, make_env):
    env = make_env(ENV_IDS[0], image_size=32)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must|got"):
        env.step(BAD_ACTIONS[kind])


def test_out_of_range_actions_are_clipped(make_env):
    env = make_env(ENV_IDS[0], image_size=32)
    env.reset(seed=0)
    start = env.unwrapped.robot.target_position.copy()
    env.step(np.array([1, 0, 0, 50.0, 0], dtype=np.float32))
    assert env.unwrapped.robot.target_position[2] == pytest.approx(min(start[2] + 0.05, 0.30))


@pytest.mark.parametrize("options,match", [
    ({"camera": "fisheye"}, "gripper_topdown, fixed_topdown, side"),
    ({"corruptions": ("fog",)}, "occluder, lighting, grid_floor, mirror"),
    ({"observations": ("lidar",)}, "rgb, point_cloud, state"),
    ({"colour": "red"}, "accepted"),
    ({"dpos": -0.1}, "positive"),
    ({"dpos": float("nan")}, "positive finite"),
    ({"side_elevation_deg": 5}, "15-90"),
    ({"image_size": 3}, "image size"),
    ({"substeps": 0}, "substeps"),
    ({"context_view": 0.3}, "above view_size"),
    ({"context_view": -1.0}, "0 \\(none\\) or a view size"),
    ({"context_view": 0.6, "camera": "side"}, "gripper_topdown"),
])
def test_bad_options_raise_and_list_valid_values(options, match):
    with pytest.raises(ValueError, match=match):
        gym.make(ENV_IDS[0], **options)


def test_unknown_reset_option_raises(make_env):
    env = make_env(ENV_IDS[0], image_size=32)
    with pytest.raises(ValueError, match="scene_transform"):
        env.reset(seed=0, options={"spin": 1})


@pytest.mark.parametrize("env_id", ENV_IDS, ids=short)
def test_physics_blow_up_truncates_with_invalid_flag(env_id, make_env):
    env = make_env(env_id, image_size=32)
    env.reset(seed=0)
    body = env.unwrapped.tracked_bodies()[0]
    env.unwrapped.sim.set_pose(body, (3.0, 3.0, 3.0))  # as if flung out of the workspace
    _, reward, terminated, truncated, info = env.step(np.zeros(5, dtype=np.float32))
    assert truncated and not terminated and info["invalid"] and reward == 0.0


# -- options -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dpos", [0.02, 0.05])
def test_dpos_scales_translation(dpos, make_env):
    env = make_env(ENV_IDS[0], image_size=32, dpos=dpos)
    env.reset(seed=0)
    start = env.unwrapped.robot.target_position.copy()
    action = np.zeros(5, dtype=np.float32)
    action[ACTION_INDEX["p"]] = 1.0
    action[ACTION_INDEX["dxy"]] = (0.5, -1.0)
    env.step(action)
    np.testing.assert_allclose(env.unwrapped.robot.target_position[:2] - start[:2], (0.5 * dpos, -dpos), atol=1e-9)


@pytest.mark.parametrize("corruption", ["occluder", "lighting", "grid_floor", "mirror"])
def test_corruptions_change_what_the_side_camera_sees(corruption, make_env):
    clean = make_env(ENV_IDS[0], camera="side", observations=("rgb",), image_size=64)
    corrupted = make_env(ENV_IDS[0], camera="side", observations=("rgb",), image_size=64, corruptions=(corruption,))
    a, _ = clean.reset(seed=5)
    b, _ = corrupted.reset(seed=5)
    assert corrupted.observation_space.contains(b)
    assert not np.array_equal(a["rgb"], b["rgb"])
    if corruption == "mirror":
        np.testing.assert_array_equal(b["rgb"], a["rgb"][:, :, ::-1])
        np.testing.assert_array_equal(b["depth"], a["depth"][:, :, ::-1])


def test_fixed_topdown_point_cloud_is_in_the_world_frame(make_env):
    env = make_env(ENV_IDS[0], camera="fixed_topdown", observations=("point_cloud", "state"))
    obs, _ = env.reset(seed=0)
    pts = obs["point_cloud"]
    assert pts.shape == (1024, 3)
    assert np.median(pts[:, 2]) == pytest.approx(0.0, abs=1e-3)  # mostly table
    centre = np.array(env.unwrapped.workspace.centre)
    assert np.abs(pts[:, :2] - centre).max() <= 0.2 + 1e-3  # within the 0.4 m view


def test_gripper_camera_paints_the_fingers(make_env):
    env = make_env(ENV_IDS[0])
    obs, _ = env.reset(seed=0)
    depth = obs["depth"][0]
    s = depth.shape[0]
    # at yaw 0 the fingers close along world y (image up): painted at the gripper plane (depth 0)
    # above and below the image centre, with the table far below between them
    column = depth[:, s // 2 - 1 : s // 2 + 1].min(axis=1)
    assert column[: s // 2].min() == pytest.approx(0.0, abs=1e-6)
    assert column[s // 2 :].min() == pytest.approx(0.0, abs=1e-6)
    assert depth[s // 2, s // 2] > 0.1
    assert depth[s // 2, : s // 4].min() > 0.1  # nothing painted to the left


def test_context_view_is_a_second_depth_channel(make_env):
    """Channel 0 is the plain observation, channel 1 exactly what a gripper camera over the wider view sees,
    in steps and in ``simulate`` (carrying a held cube too)."""
    opts = {"dpos": 0.02, "image_size": 32}
    env = make_env("equimanip/BlockStacking-v0", context_view=0.6, **opts)
    plain = make_env("equimanip/BlockStacking-v0", **opts)
    wide = make_env("equimanip/BlockStacking-v0", view_size=0.6, **opts)
    assert env.observation_space["depth"].shape == (2, 32, 32)
    observations = [e.reset(seed=3)[0] for e in (env, plain, wide)]
    delta = np.array([0.5, -0.4, 0.0, 0.3])
    for _ in range(14):  # past the grasp: the last steps carry the cube
        np.testing.assert_array_equal(observations[0]["depth"][0], observations[1]["depth"][0])
        np.testing.assert_array_equal(observations[0]["depth"][1], observations[2]["depth"][0])
        assert env.observation_space.contains(observations[0])
        views = [e.unwrapped.simulate(delta, carry_held=True) for e in (env, plain, wide)]
        assert len({v.valid for v in views}) == 1
        if views[0].valid:
            np.testing.assert_array_equal(views[0].observation["depth"][0], views[1].observation["depth"][0])
            np.testing.assert_array_equal(views[0].observation["depth"][1], views[2].observation["depth"][0])
        action = env.unwrapped.expert_action()
        observations = [e.step(action)[0] for e in (env, plain, wide)]
    assert env.unwrapped.holding()
    assert not np.array_equal(observations[0]["depth"][0], observations[0]["depth"][1])


def test_holding_flag_set_while_the_block_is_held(make_env):
    env = make_env("equimanip/BlockPicking-v0")
    obs, _ = env.reset(seed=0)
    assert obs["holding"][0] == 0.0
    held = []
    for _ in range(50):
        obs, _, terminated, truncated, _ = env.step(env.unwrapped.expert_action())
        held.append(obs["holding"][0])
        if terminated or truncated:
            break
    assert held[-1] == 1.0 and held[0] == 0.0


# -- vectorisation -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_gymnasium_vector_envs(kind):
    from functools import partial

    import equimanip

    fns = [partial(equimanip.make, ENV_IDS[0], image_size=32) for _ in range(2)]
    venv = gym.vector.SyncVectorEnv(fns) if kind == "sync" else gym.vector.AsyncVectorEnv(fns, context="spawn")
    try:
        obs, _ = venv.reset(seed=0)
        assert obs["depth"].shape == (2, 1, 32, 32)
        for action in random_actions(3):
            obs, reward, terminated, truncated, info = venv.step(np.stack([action, action]))
        assert reward.shape == (2,)
        # seeds 0 and 1 give different scenes
        assert not np.array_equal(obs["depth"][0], obs["depth"][1])
    finally:
        venv.close()


def test_sb3_subproc_vec_env():
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    # "module:id" makes the spawned workers import equimanip (and so register the tasks) first
    venv = make_vec_env(f"equimanip:{ENV_IDS[0]}", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv,
                        vec_env_kwargs={"start_method": "spawn"}, env_kwargs={"image_size": 32})
    try:
        obs = venv.reset()
        assert obs["depth"].shape == (2, 1, 32, 32)
        obs, reward, done, info = venv.step(random_actions(2))
        assert reward.shape == (2,) and len(info) == 2
    finally:
        venv.close()


def test_driving_into_a_workspace_corner_does_not_crash(make_env):
    """The IK twin once wound joint 7 past ±3π at this corner, and choosing its turn crashed."""
    env = make_env("equimanip/BlockInBowl-v0", image_size=32, dpos=0.02)
    env.reset(seed=7)
    for _ in range(40):
        obs, *_ = env.step(np.array([-1.0, -1.0, -1.0, -1.0, 1.0], dtype=np.float32))
    assert np.all(np.isfinite(obs["depth"]))
