"""Transition simulation (SEIL): ``env.simulate`` is exact and side-effect free, invalid poses are
reported, corrective labels lead back to the expert, and rotation augmentation matches the group."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from equimanip.agents.bc import DEPTH_SCALE, rotate_batch, stack_inputs
from equimanip.agents.transition_sim import replay_samples
from equimanip.symmetry import ACTION_INDEX, GroupElement, transform_action, transform_image

OPTS = {"dpos": 0.02, "image_size": 64}


def _advance(env, steps: int) -> dict:
    obs = None
    for _ in range(steps):
        obs, *_ = env.step(env.unwrapped.expert_action())
    return obs


def test_simulate_leaves_the_scene_untouched(make_env):
    env, twin = make_env("equimanip/BlockInBowl-v0", **OPTS), make_env("equimanip/BlockInBowl-v0", **OPTS)
    env.reset(seed=5)
    twin.reset(seed=5)
    _advance(env, 3)
    _advance(twin, 3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        env.unwrapped.simulate(rng.uniform(-1, 1, 4))
    # the simulated-on env continues bit-identically to one that never simulated
    for _ in range(8):
        a = env.unwrapped.expert_action()
        np.testing.assert_array_equal(a, twin.unwrapped.expert_action())
        o1, *_ = env.step(a)
        o2, *_ = twin.step(a)
        np.testing.assert_array_equal(o1["depth"], o2["depth"])


@pytest.mark.parametrize("camera", ["gripper_topdown", "fixed_topdown"])
def test_simulate_matches_a_real_move_in_free_space(make_env, camera):
    env = make_env("equimanip/BlockInBowl-v0", camera=camera, **OPTS)
    u = env.unwrapped
    env.reset(seed=3)
    _advance(env, 3)
    state = u.save_state()
    p0, y0 = u.robot.ee_pose()
    real, *_ = env.step(np.array([1.0, 0.5, -0.3, 0.2, 0.4], dtype=np.float32))
    p1, y1 = u.robot.ee_pose()
    u.restore_state(state)
    # the virtual gripper goes exactly where the real one went
    view = u.simulate(np.r_[(p1 - p0) / u.options.dpos, (y1 - y0) / u.options.drot])
    assert view.valid, view.reason
    assert np.abs(view.observation["depth"] - real["depth"]).max() < 1e-4


def test_invalid_poses_are_reported(make_env):
    env = make_env("equimanip/BlockPicking-v0", dpos=0.05)
    u = env.unwrapped
    env.reset(seed=0)
    state = u.save_state()
    env.step(np.array([1.0, 0, 0, 1.0, 0], dtype=np.float32))
    env.step(np.array([1.0, 0, 0, 1.0, 0], dtype=np.float32))  # up to the workspace's ceiling
    assert u.simulate([0, 0, 0.5, 0]).reason == "outside_workspace"
    assert u.simulate([0, 0, -0.5, 0]).valid
    u.restore_state(state)
    # fingers straddle the cube just before closing: sliding 3.5 cm along the closing axis puts a finger in it
    for _ in range(40):
        if u.expert_action()[ACTION_INDEX["p"]][0] < 0:
            break
        env.step(u.expert_action())
    assert u.simulate([0, 0, 0, 0]).valid
    yaw = u.robot.target_yaw
    across = np.array([-math.sin(yaw), math.cos(yaw)]) * 0.7
    view = u.simulate([across[0], across[1], 0, 0])
    assert not view.valid and view.reason == "collision"
    assert view.observation is None
    # holding the cube: no transition simulation
    for _ in range(6):
        env.step(u.expert_action())
    assert u.holding()
    assert u.simulate([0.1, 0, 0, 0]).reason == "holding"


def test_carrying_a_held_object_is_exact_and_restores_the_scene(make_env):
    env, twin = make_env("equimanip/BlockInBowl-v0", **OPTS), make_env("equimanip/BlockInBowl-v0", **OPTS)
    u = env.unwrapped
    env.reset(seed=5)
    twin.reset(seed=5)
    _advance(env, 20)
    _advance(twin, 20)
    assert u.holding()
    state = u.save_state()
    p0, y0 = u.robot.ee_pose()
    real, *_ = env.step(np.array([-1.0, 0.5, -0.3, 0.2, 0.4], dtype=np.float32))
    p1, y1 = u.robot.ee_pose()
    u.restore_state(state)
    view = u.simulate(np.r_[(p1 - p0) / u.options.dpos, (y1 - y0) / u.options.drot], carry_held=True)
    assert view.valid and view.observation["holding"][0] == 1.0
    assert np.abs(view.observation["depth"] - real["depth"]).max() < 1e-4  # the cube moved with the gripper
    # after any number of carried simulations the env continues exactly like one that never simulated
    twin.unwrapped.restore_state(twin.unwrapped.save_state())  # same contact-cache history as env
    rng = np.random.default_rng(0)
    for _ in range(10):
        u.simulate(rng.uniform(-1, 1, 4), carry_held=True)
    for _ in range(10):
        a = u.expert_action()
        np.testing.assert_array_equal(a, twin.unwrapped.expert_action())
        o1, *_ = env.step(a)
        o2, *_ = twin.step(a)
        np.testing.assert_array_equal(o1["depth"], o2["depth"])


def test_articulated_objects_are_not_carried(make_env):
    env = make_env("equimanip/DrawerOpening-v0", **OPTS)
    u = env.unwrapped
    data = _Episodes(env, [4])
    env.reset(seed=4)
    while not u.holding():
        env.step(u.expert_action())
    assert u.simulate([0.2, 0, 0, 0], carry_held=True).reason == "holding"  # the handle stays with the drawer
    samples = replay_samples(env, data, n=2, simulate_holding=True)  # and the replay still matches the demo
    assert samples.stats["simulated"] > 0
    # nothing to shift in the hand either: in-hand offsets leave the samples exactly as they were
    shifted = replay_samples(env, data, n=2, simulate_holding=True, grasp_offset_n=2)
    assert samples.stats["holding_steps"] > 0 and shifted.stats["grasp_offsets"] == 0
    for name in ("depth", "holding", "action", "weight"):
        np.testing.assert_array_equal(getattr(shifted, name), getattr(samples, name), err_msg=name)


def test_simulate_rejects_bad_input_and_the_side_camera(make_env):
    env = make_env("equimanip/BlockInBowl-v0", **OPTS)
    env.reset(seed=0)
    for bad in ([1, 2], [np.nan, 0, 0, 0], "left"):
        with pytest.raises(ValueError, match="delta"):
            env.unwrapped.simulate(bad)
    side = make_env("equimanip/BlockInBowl-v0", camera="side", image_size=32)
    side.reset(seed=0)
    with pytest.raises(ValueError, match="top-down camera"):
        side.unwrapped.simulate([0, 0, 0, 0])


def _mid_approach(make_env):
    """A BlockInBowl env four expert steps in (free space), and the expert's commanded pose there."""
    env = make_env("equimanip/BlockInBowl-v0", **OPTS)
    env.reset(seed=7)
    _advance(env, 4)
    return env, env.unwrapped.robot.target_position.copy(), env.unwrapped.robot.target_yaw


def test_corrective_label_brings_the_virtual_gripper_back_to_the_expert_pose(make_env):
    env, expert_target, expert_yaw = _mid_approach(make_env)
    u = env.unwrapped
    rng = np.random.default_rng(1)
    for _ in range(5):
        delta = np.clip(rng.normal(0, 0.4, 4), -1, 1)
        view = u.simulate(delta)
        assert view.valid, view.reason
        label = u.corrective_action(view, expert_target, expert_yaw, gripper=1.0)
        np.testing.assert_allclose(np.r_[label[1:3], label[3:5]], -delta, atol=1e-6)
        # put the real gripper at the virtual pose and execute the label: it lands on the expert's pose
        state = u.save_state()
        u.robot.reset(view.target_position, view.target_yaw, gripper_open=True)
        env.step(label)
        np.testing.assert_allclose(u.robot.target_position, expert_target, atol=1e-7)  # float32 labels
        assert abs(math.remainder(u.robot.target_yaw - expert_yaw, math.pi)) < 1e-6
        u.restore_state(state)


def test_clipped_label_heads_back_from_farther_than_one_step(make_env):
    env, target, yaw = _mid_approach(make_env)
    u = env.unwrapped
    view = u.simulate([2.5, -0.5, 0.0, 0.0])
    assert view.valid, view.reason
    assert u.corrective_action(view, target, yaw, gripper=1.0) is None  # SEIL's rule: more than one step
    label = u.corrective_action(view, target, yaw, gripper=1.0, clip=True)
    np.testing.assert_allclose(label, [1.0, -1.0, 0.5, 0.0, 0.0], atol=1e-6)
    state = u.save_state()
    u.robot.reset(view.target_position, view.target_yaw, gripper_open=True)
    before = np.linalg.norm(u.robot.target_position - target)
    env.step(label)
    assert np.linalg.norm(u.robot.target_position - target) < before - 0.9 * OPTS["dpos"]  # a full step closer
    u.restore_state(state)


class _Episodes:
    """A dataset-like view of in-memory expert episodes (what ``replay_samples`` reads)."""

    def __init__(self, env, seeds):
        self.eps = []
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            depth, holding, actions = [], [], []
            done = False
            while not done:
                a = env.unwrapped.expert_action()
                depth.append(obs["depth"])
                holding.append(obs["holding"])
                actions.append(a)
                obs, _, term, trunc, _ = env.step(a)
                done = term or trunc
            self.eps.append({"observation.images.depth": np.stack(depth), "observation.holding": np.stack(holding),
                             "action": np.stack(actions), "seed": seed})

    @property
    def num_episodes(self) -> int:
        return len(self.eps)

    def episode(self, i):
        return self.eps[i]


def test_replay_samples_labels_and_counts(make_env):
    env = make_env("equimanip/BlockInBowl-v0", **OPTS)
    data = _Episodes(env, [11, 12])
    plain = replay_samples(env, data, n=0)
    assert len(plain) == sum(len(e["action"]) for e in data.eps) and not plain.simulated.any()
    aug = replay_samples(env, data, n=3, sigma=0.4, seed=0)
    st = aug.stats
    assert st["simulate_calls"] == 3 * (st["expert"] - st["holding_steps"])
    assert st["simulated"] == aug.simulated.sum() == st["simulate_calls"] - st["rejected_invalid"] - st["rejected_far"]
    assert st["simulated"] > 0.8 * st["simulate_calls"]
    assert np.all(np.abs(aug.action) <= 1.0)
    assert not aug.holding[aug.simulated].any()
    # steps without simulated samples (holding) weigh 1 + n, so every expert step carries the same mass
    assert aug.weight.sum() == pytest.approx(4 * st["expert"])
    assert np.all(aug.weight[aug.holding[:, 0] > 0] == 4)
    # deterministic given the seed
    again = replay_samples(env, data, n=3, sigma=0.4, seed=0)
    np.testing.assert_array_equal(again.action, aug.action)
    np.testing.assert_array_equal(again.depth, aug.depth)
    # lighter simulated samples: the same samples, each step still carrying 1 + n·sim_weight
    light = replay_samples(env, data, n=3, sigma=0.4, seed=0, sim_weight=0.25)
    np.testing.assert_array_equal(light.action, aug.action)
    assert np.all(light.weight[light.simulated] == 0.25)
    assert light.weight.sum() == pytest.approx(1.75 * st["expert"])
    assert np.all(light.weight[~light.simulated] >= 1.0)
    with pytest.raises(ValueError, match="sim_weight > 0"):
        replay_samples(env, data, n=3, sim_weight=0.0)
    # wider perturbations: nothing is rejected as too far, labels stay actions, and they differ from SEIL's
    wide = replay_samples(env, data, n=3, sigma=0.4, seed=0, reach=3.0)
    assert wide.stats["rejected_far"] == 0 and wide.stats["reach"] == 3.0
    assert np.all(np.abs(wide.action) <= 1.0)
    assert (np.abs(wide.action[wide.simulated, 1:3]) > 0.999).mean() > (np.abs(aug.action[aug.simulated, 1:3]) > 0.999).mean()
    with pytest.raises(ValueError, match="reach >= 1"):
        replay_samples(env, data, n=3, reach=0.5)
    # carrying held objects: every step is simulated; carried samples take the gripper command of
    # the pose they return to: closed while carrying, open around the release point
    carried = replay_samples(env, data, n=3, sigma=0.4, seed=0, simulate_holding=True)
    assert carried.stats["simulate_calls"] == 3 * carried.stats["expert"]
    held = carried.simulated & (carried.holding[:, 0] > 0)
    p = carried.action[held, ACTION_INDEX["p"]][:, 0]
    assert 0 < (p > 0).sum() <= 3 * len(data.eps) and np.all(np.abs(p) == 1)


def test_views_after_a_step_that_moved_nothing_lead_on_to_the_next_pose(make_env):
    # at t = 0 (and after a grasp or a release) the views lie around s_t itself; "back to s_t" would
    # teach the policy to stay put, so they are labelled towards s_{t+1} with a_t's gripper command
    env = make_env("equimanip/BlockInBowl-v0", **OPTS)
    data = _Episodes(env, [11])
    u, a0 = env.unwrapped, data.eps[0]["action"][0]
    gripper = float(a0[ACTION_INDEX["p"]][0])
    for seed in range(50):  # a perturbation whose onward label is within one step (most are: not all)
        env.reset(seed=11)
        delta = np.clip(np.random.default_rng(seed).normal(0.0, 0.3, 4), -1.0, 1.0)  # a_prev = 0 at t = 0
        view = u.simulate(delta)
        back = u.corrective_action(view, u.robot.target_position, u.robot.target_yaw, gripper)
        env.step(a0)
        onward = u.corrective_action(view, u.robot.target_position, u.robot.target_yaw, gripper)
        if view.valid and onward is not None:
            break
    assert onward is not None and not np.allclose(onward, back)
    samples = replay_samples(env, data, n=1, sigma=0.3, seed=seed)
    first = samples.action[samples.simulated][0]  # kept views are in step order
    np.testing.assert_allclose(first, onward, atol=1e-6)
    # applying it from the virtual pose reaches the expert's pose after its first step
    env.reset(seed=11)
    env.step(a0)
    expected = u.robot.target_position.copy()
    u.robot.reset(view.target_position, view.target_yaw, gripper_open=True)
    env.step(first)
    np.testing.assert_allclose(u.robot.target_position, expected, atol=1e-6)


def test_replay_refuses_a_dataset_from_another_configuration(make_env):
    env = make_env("equimanip/BlockInBowl-v0", **OPTS)
    data = _Episodes(env, [3])
    other = make_env("equimanip/BlockInBowl-v0", dpos=0.02, image_size=64, view_size=0.3)
    with pytest.raises(ValueError, match="does not replay"):
        replay_samples(other, data, n=2)


def test_rotation_augmentation_matches_the_symmetry_core():
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(4, 2, 16, 16, generator=gen)
    actions = torch.rand(4, 5, generator=gen) * 1.2 - 0.6
    for k in range(4):
        g = GroupElement(k * math.pi / 2)
        rot, rot_a = rotate_batch(images, actions, torch.full((4,), k * math.pi / 2))
        np.testing.assert_allclose(rot.numpy(), transform_image(images.numpy(), g), atol=1e-5)
        np.testing.assert_allclose(rot_a.numpy(), transform_action(actions.numpy(), g), atol=1e-6)


def test_rotated_batch_is_what_the_rotated_scene_looks_like(make_env):
    """At reset the gripper sits over the workspace centre, so turning the scene by θ about it
    turns the gripper-centred view by θ, and the expert's action turns with it."""
    env = make_env("equimanip/BlockInBowl-v0", **OPTS)
    obs, _ = env.reset(seed=2)
    a = env.unwrapped.expert_action()
    angle = math.radians(30)
    turned, _ = env.reset(seed=2, options={"scene_rotation": angle})
    x = stack_inputs(torch.as_tensor(obs["depth"])[None], torch.as_tensor(obs["holding"])[None])
    rot, rot_a = rotate_batch(x, torch.as_tensor(a)[None], torch.tensor([angle]))
    s = rot.shape[-1]
    yy, xx = np.mgrid[:s, :s] - (s - 1) / 2
    disc = yy**2 + xx**2 < (0.4 * s) ** 2  # the corners come from outside the original view
    err = np.abs(rot[0, 0].numpy() / DEPTH_SCALE - turned["depth"][0])[disc]
    assert np.median(err) < 1e-3 and np.mean(err > 0.01) < 0.05  # bilinear resampling blurs edges only
    dxy = ACTION_INDEX["dxy"]
    expected = transform_action(a, GroupElement(angle))
    np.testing.assert_allclose(np.clip(expected[dxy], -1, 1), rot_a[0, dxy].numpy(), atol=1e-5)
    # the label of a turned sample is the expert's action in the turned scene (exact at 90°, where
    # per-component clipping commutes with the rotation)
    env.reset(seed=2, options={"scene_rotation": math.pi / 2})
    _, rot_a = rotate_batch(x, torch.as_tensor(a)[None], torch.tensor([math.pi / 2]))
    np.testing.assert_allclose(env.unwrapped.expert_action(), rot_a[0].numpy(), atol=1e-4)


def _held_body(u) -> str:
    return next(b for b in u.graspable_bodies() if u.robot.is_holding(b))


def _jaw_offset(u, metres: float) -> np.ndarray:
    jaw = u.robot.ee_pose()[1]
    return metres * np.array([math.cos(jaw), math.sin(jaw)])


def test_an_off_centre_grasp_is_rendered_exactly(make_env):
    env = make_env("equimanip/BlockStacking-v0", **OPTS)
    u = env.unwrapped
    env.reset(seed=0)
    while not u.holding():
        env.step(u.expert_action())
    _advance(env, 6)  # lifted and carried
    state, offset = u.save_state(), _jaw_offset(u, 0.012)
    view = u.simulate(np.zeros(4), carry_held=True, held_offset=offset)
    assert view.valid
    centred = u.simulate(np.zeros(4), carry_held=True)
    body = _held_body(u)
    pos, quat = u.sim.get_pose(body)
    u.sim.set_pose(body, (pos[0] + offset[0], pos[1] + offset[1], pos[2]), quat)
    real = u.observe()  # the same scene with the cube really shifted in the hand
    u.restore_state(state)
    assert np.abs(view.observation["depth"] - real["depth"]).max() < 1e-4
    assert np.abs(view.observation["depth"] - centred.observation["depth"]).max() > 0.01
    with pytest.raises(ValueError, match="held_offset"):
        u.simulate(np.zeros(4), held_offset=offset)  # not carried
    with pytest.raises(ValueError, match="held_offset"):
        u.simulate(np.zeros(4), carry_held=True, held_offset=[0.01, np.nan])


@pytest.mark.parametrize("seed", [0, 2])
def test_off_centre_grasp_labels_act_as_the_expert_on_the_way_down(make_env, seed):
    """From the descent onto the other cube to the release, the label of a view whose cube is 3 mm
    off-centre is what the expert (which servos on the held cube) does with that grasp: it shifts
    the gripper back by the offset; at the release both let go (the expert within its 4 mm tolerance
    without moving, the label while shifting back)."""
    from equimanip.agents.transition_sim import _offset_label

    env = make_env("equimanip/BlockStacking-v0", **OPTS)
    u = env.unwrapped
    env.reset(seed=seed)
    compared = released = 0
    descending = False
    for _ in range(60):
        a = u.expert_action()
        if u.holding() and descending:
            offset = _jaw_offset(u, 0.003)
            view = u.simulate(np.zeros(4), carry_held=True, held_offset=offset)
            target = u.robot.target_position + np.r_[a[ACTION_INDEX["dxy"]], a[ACTION_INDEX["dz"]]] * u.options.dpos
            yaw = u.robot.target_yaw + a[ACTION_INDEX["dtheta"]][0] * u.options.drot
            label = _offset_label(u, view, target, yaw, float(a[ACTION_INDEX["p"]][0]), offset, clip=False)
            state, body = u.save_state(), _held_body(u)
            pos, quat = u.sim.get_pose(body)
            u.sim.set_pose(body, (pos[0] + offset[0], pos[1] + offset[1], pos[2]), quat)
            expert = u.expert_action()
            u.restore_state(state)
            if a[ACTION_INDEX["p"]][0] > 0:  # the release: both let go; the label also shifts the 3 mm back
                released += 1
                assert label[ACTION_INDEX["p"]][0] == expert[ACTION_INDEX["p"]][0] == 1.0
                np.testing.assert_allclose(label[ACTION_INDEX["dxy"]], -offset / u.options.dpos, atol=1e-4)
            else:  # the expert servos from the measured hand pose: sub-millimetre differences
                np.testing.assert_allclose(label, expert, atol=2e-3)
            compared += 1
        descending = descending or (u.holding() and a[ACTION_INDEX["dz"]][0] < -0.5)
        env.step(a)
        if u.is_success():
            break
    assert compared >= 3 and released == 1  # the release step included


def test_replay_gives_held_steps_off_centre_grasps(make_env):
    env = make_env("equimanip/BlockStacking-v0", **OPTS)
    data = _Episodes(env, [3])
    base = replay_samples(env, data, n=4, seed=0, simulate_holding=True)
    shifted = replay_samples(env, data, n=4, seed=0, simulate_holding=True, grasp_offset_n=2, grasp_offset=0.02)
    st = shifted.stats
    assert st["simulate_calls"] == base.stats["simulate_calls"] == 4 * st["expert"]  # part of the n views, not more
    assert 0 < st["grasp_offsets"] <= 2 * st["holding_steps"] and st["grasp_offsets"] > 1.5 * st["holding_steps"]
    assert np.all(np.abs(shifted.action) <= 1.0)
    # every step still carries the same mass, and free space is simulated exactly as before
    assert shifted.weight.sum() == pytest.approx(base.weight.sum())
    free = ~shifted.holding[:, 0].astype(bool)
    np.testing.assert_array_equal(shifted.action[free], base.action[~base.holding[:, 0].astype(bool)])
    with pytest.raises(ValueError, match="grasp_offset_n"):
        replay_samples(env, data, n=2, simulate_holding=True, grasp_offset_n=3)
    with pytest.raises(ValueError, match="simulate_holding"):
        replay_samples(env, data, n=4, grasp_offset_n=2)


def test_release_views_see_the_release_point_from_below_too(make_env):
    """``release_views``: the views of the release step (the only held step whose label opens) lie around the
    release pose, so more of them are below it, labelled open and up; every other sample is the same."""
    env = make_env("equimanip/BlockStacking-v0", **OPTS)
    data = _Episodes(env, [0, 1, 2])
    counts = {}
    for release_views in (False, True):
        s = replay_samples(env, data, n=8, sigma=0.4, seed=0, simulate_holding=True, release_views=release_views)
        opening = s.simulated & (s.holding[:, 0] > 0) & (s.action[:, 0] > 0)
        assert opening.sum() > 0
        counts[release_views] = int((opening & (s.action[:, ACTION_INDEX["dz"]][:, 0] > 0)).sum())
        assert s.stats["release_views"] is release_views
        if not release_views:
            plain = s
    assert counts[True] >= counts[False] + 5, counts
    # the releases' views aside, the samples are those of the plain replay (the same random draws)
    def others(x):
        keep = ~(x.simulated & (x.holding[:, 0] > 0) & (x.action[:, 0] > 0))
        return x.action[keep], x.depth[keep]

    for a, b in zip(others(plain), others(s)):
        np.testing.assert_array_equal(a, b)


def test_switch_weight_draws_grasps_and_releases_more_often(make_env):
    env = make_env("equimanip/BlockInBowl-v0", **OPTS)
    data = _Episodes(env, [11, 12])
    plain = replay_samples(env, data, n=3, sigma=0.4, seed=0, simulate_holding=True)
    heavy = replay_samples(env, data, n=3, sigma=0.4, seed=0, simulate_holding=True, switch_weight=4.0)
    assert heavy.stats["switch_steps"] == 4  # a grasp and a release per demo
    np.testing.assert_array_equal(heavy.action, plain.action)  # the same samples, weighted differently
    ratio = heavy.weight / plain.weight
    assert set(np.round(ratio, 6)) == {1.0, 4.0}
    # each switch step's whole mass (1 + n) is drawn 4 times as often
    assert heavy.weight.sum() == pytest.approx(plain.weight.sum() + 3 * 4 * 4)
    switched = (ratio == 4.0) & ~heavy.simulated
    grip = heavy.action[switched][:, ACTION_INDEX["p"]][:, 0]
    assert sorted(grip) == [-1.0, -1.0, 1.0, 1.0]  # the grasps close, the releases open
    expert = replay_samples(env, data, n=0, switch_weight=2.0)
    assert expert.weight.sum() == pytest.approx(len(expert) + 4)
    with pytest.raises(ValueError, match="switch_weight must be a number >= 1"):
        replay_samples(env, data, n=0, switch_weight=0.5)
