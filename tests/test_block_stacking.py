"""BlockStacking's task options ``approach`` (where the expert starts to descend) and ``stack_yaw``
(whether it turns the held cube to the lower one's faces before letting go)."""

from __future__ import annotations

import numpy as np
import pytest

from equimanip.envs.skills import SAFE_Z, Z_TOL

ENV_ID = "equimanip/BlockStacking-v0"


def descents_away_from_cubes(env, seed: int) -> tuple[int, bool]:
    """Run the expert once: how many of its free-hand steps lowered the gripper above ``SAFE_Z``
    while no cube was within one step in xy, and whether the episode succeeded."""
    env.reset(seed=seed)
    u = env.unwrapped
    descents, info = 0, {}
    for _ in range(100):
        before = np.array(u.robot.target_position)
        near = min(np.linalg.norm(u.body_xy_yaw(b)[0] - before[:2]) for b in u.tracked_bodies())
        free = not u.holding()
        _, _, terminated, truncated, info = env.step(u.expert_action())
        after = u.robot.target_position
        if free and near > u.options.dpos and before[2] > SAFE_Z + Z_TOL and after[2] < before[2] - 1e-6:
            descents += 1
        if terminated or truncated:
            break
    return descents, bool(info["is_success"])


def test_overhead_expert_descends_only_above_a_cube(make_env):
    direct = make_env(ENV_ID, dpos=0.02, image_size=32, max_episode_steps=100)
    overhead = make_env(ENV_ID, dpos=0.02, image_size=32, max_episode_steps=100, approach="overhead")
    for seed in range(3):
        n_direct, ok_direct = descents_away_from_cubes(direct, seed)
        n_overhead, ok_overhead = descents_away_from_cubes(overhead, seed)
        assert ok_direct and ok_overhead
        assert n_direct > 0  # the default descends on its way (so this check can fail)
        assert n_overhead == 0


def relative_yaw_deg(env) -> float:
    """How far the two cubes' faces are turned from each other (0-45°)."""
    u = env.unwrapped
    d = (u.body_xy_yaw("block_red")[2] - u.body_xy_yaw("block_blue")[2]) % (np.pi / 2)
    return float(np.degrees(min(d, np.pi / 2 - d)))


def test_any_yaw_expert_stacks_without_turning_the_cube(make_env):
    aligned = make_env(ENV_ID, dpos=0.02, image_size=32, max_episode_steps=100)
    anyyaw = make_env(ENV_ID, dpos=0.02, image_size=32, max_episode_steps=100, stack_yaw="any")
    turned = []
    for seed in range(4):
        for env in (aligned, anyyaw):
            env.reset(seed=seed)
            u = env.unwrapped
            for _ in range(100):
                _, _, terminated, truncated, info = env.step(u.expert_action())
                if terminated or truncated:
                    break
            assert info["is_success"], (seed, u.task_config["stack_yaw"])
        assert relative_yaw_deg(aligned) < 4.0
        turned.append(relative_yaw_deg(anyyaw))
    assert max(turned) > 10.0  # stacked as grasped: the faces stay turned (so this check can fail)


def test_approach_is_recorded_and_checked(make_env):
    from equimanip.dataset import resolve_env

    assert resolve_env(ENV_ID)[2]["approach"] == "direct"
    assert resolve_env(ENV_ID, {"approach": "overhead"})[1] == {"approach": "overhead"}
    with pytest.raises(ValueError, match="unknown approach 'sideways'.*accepted: direct, overhead"):
        make_env(ENV_ID, approach="sideways")
    with pytest.raises(ValueError, match="unknown option"):
        make_env("equimanip/BlockInBowl-v0", approach="overhead")  # a BlockStacking option only
    assert resolve_env(ENV_ID)[2]["stack_yaw"] == "aligned"
    with pytest.raises(ValueError, match="unknown stack_yaw 'square'.*accepted: aligned, any"):
        make_env(ENV_ID, stack_yaw="square")
