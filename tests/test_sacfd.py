"""Replay-buffer symmetry augmentation and SAC from demonstrations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

import equimanip
from equimanip.agents.replay import SymmetricReplayBuffer, exact_elements, transform_observation
from equimanip.agents.sacfd import SACfD, expert_transitions
from equimanip.agents.sb3_policy import ImageSACPolicy
from equimanip.symmetry import transform_action, transform_image

OBS_SPACE = spaces.Dict({"depth": spaces.Box(-3, 3, (1, 8, 8), np.float32), "holding": spaces.Box(0, 1, (1,), np.float32)})
ACT_SPACE = spaces.Box(-1, 1, (5,), np.float32)


def transition(seed: int = 0):
    rng = np.random.default_rng(seed)
    obs = {"depth": rng.normal(size=(1, 1, 8, 8)).astype(np.float32), "holding": np.array([[1.0]], np.float32)}
    nxt = {"depth": rng.normal(size=(1, 1, 8, 8)).astype(np.float32), "holding": np.array([[0.0]], np.float32)}
    return obs, nxt, rng.uniform(-1, 1, (1, 5)).astype(np.float32), np.array([0.5]), np.array([False]), [{}]


def test_every_transition_is_stored_with_k_transformed_copies():
    buffer = SymmetricReplayBuffer(100, OBS_SPACE, ACT_SPACE, device="cpu", group="D4", n_copies=4, seed=0)
    obs, nxt, action, reward, done, infos = transition()
    buffer.add(obs, nxt, action, reward, done, infos)
    assert buffer.pos == 5
    stored = buffer.observations["depth"][:5, 0]
    assert np.array_equal(stored[0], obs["depth"][0])
    for i in range(1, 5):  # each copy is the original under one exact element, consistently for obs and action
        matches = [g for g in exact_elements("D4")
                   if np.array_equal(stored[i], transform_image(obs["depth"][0], g))
                   and np.allclose(buffer.actions[i, 0], transform_action(action[0], g), atol=1e-6)
                   and np.array_equal(buffer.next_observations["depth"][i, 0], transform_image(nxt["depth"][0], g))]
        assert matches, f"copy {i} is not a group transform of the transition"
        assert buffer.observations["holding"][i, 0, 0] == 1.0 and buffer.rewards[i, 0] == 0.5


def test_cyclic_groups_augment_without_reflections():
    assert all(not g.reflection for g in exact_elements("C8"))
    assert len(exact_elements("C8")) == 3 and len(exact_elements("D4")) == 7


@pytest.mark.parametrize("kwargs,match", [({"n_copies": -1}, "non-negative"), ({"group": "C3"}, "no exact")])
def test_bad_augmentation_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SymmetricReplayBuffer(10, OBS_SPACE, ACT_SPACE, device="cpu", **kwargs)


def test_observation_keys_that_cannot_be_transformed_are_rejected():
    space = spaces.Dict({**OBS_SPACE.spaces, "state": spaces.Box(-1, 1, (3,), np.float32)})
    with pytest.raises(ValueError, match="state"):
        SymmetricReplayBuffer(10, space, ACT_SPACE, device="cpu")
    with pytest.raises(ValueError, match="state"):
        transform_observation({"state": np.zeros(3)}, exact_elements("C4")[0])


def test_expert_transitions_are_successful_episodes():
    env = equimanip.make("BlockPicking-v0", image_size=32)
    transitions, stats = expert_transitions(env, 2, seed=0)
    assert stats["demo_success_rate"] == 1.0 and stats["demo_transitions"] == len(transitions)
    assert transitions[-1][4] and transitions[-1][3] == 1.0  # ends terminated with reward 1


def test_sacfd_fills_the_buffer_and_trains_with_bc():
    env = equimanip.make("BlockPicking-v0", image_size=32)
    model = SACfD(ImageSACPolicy, env, policy_kwargs={"network": "equi", "group": "C4", "n_hidden": 16},
                  replay_buffer_class=SymmetricReplayBuffer, replay_buffer_kwargs={"group": "C4", "n_copies": 2},
                  buffer_size=2000, learning_starts=0, batch_size=16, bc_weight=1.0, seed=0, device="cpu")
    stats = model.add_demonstrations(equimanip.make("BlockPicking-v0", image_size=32), episodes=2, seed=100)
    assert model.replay_buffer.pos == 3 * stats["demo_transitions"]  # each with 2 augmented copies
    model.learn(20)
    model.train(gradient_steps=5, batch_size=16)
    assert model.logger.name_to_value["train/bc_loss"] > 0  # the BC step ran on the demonstrations
    model.bc_weight = 0.0
    model.logger.name_to_value.pop("train/bc_loss")
    model.train(gradient_steps=2, batch_size=16)
    assert "train/bc_loss" not in model.logger.name_to_value


def test_bad_bc_weight():
    env = equimanip.make("BlockPicking-v0", image_size=32)
    with pytest.raises(ValueError, match="bc_weight"):
        SACfD(ImageSACPolicy, env, policy_kwargs={"n_hidden": 16}, bc_weight=-1.0, device="cpu")


def test_bf16_updates_run_under_autocast_and_the_precision_survives_save_and_load(tmp_path):
    env = equimanip.make("BlockPicking-v0", image_size=32)
    dtypes: dict[str, set] = {}
    for precision in ("fp32", "bf16"):
        model = SACfD(ImageSACPolicy, env, policy_kwargs={"network": "cnn", "cnn_features": 16}, buffer_size=500,
                      learning_starts=16, batch_size=8, precision=precision, seed=0, device="cpu")
        seen: set = set()
        model.policy.actor.net.encoder.net[0].register_forward_hook(lambda m, i, o, seen=seen: seen.add(o.dtype))
        before = [p.detach().clone() for p in model.policy.critic.parameters()]
        model.learn(40)
        dtypes[precision] = seen
        after = list(model.policy.critic.parameters())
        assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in after)  # weights stay fp32
        assert any(not torch.equal(a, b) for a, b in zip(before, after)), "no update happened"
        assert np.isfinite(model.logger.name_to_value["train/critic_loss"])
    assert dtypes["fp32"] == {torch.float32} and torch.bfloat16 in dtypes["bf16"]  # acting stays fp32, updates bf16
    model.save(tmp_path / "model")
    loaded = SACfD.load(tmp_path / "model", device="cpu")
    assert loaded.precision == "bf16" and loaded.resolved_precision == "bf16"
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])


def test_bad_precision():
    env = equimanip.make("BlockPicking-v0", image_size=32)
    with pytest.raises(ValueError, match="accepted: auto, fp32, bf16"):
        SACfD(ImageSACPolicy, env, policy_kwargs={"n_hidden": 16}, precision="fp16", device="cpu")


def test_demo_fraction_draws_that_share_of_every_batch_from_the_demonstrations():
    buffer = SymmetricReplayBuffer(100, OBS_SPACE, ACT_SPACE, device="cpu", group="D4", n_copies=0, demo_fraction=0.25)
    obs, nxt, action, _, done, infos = transition()
    for i in range(10):
        buffer.add(obs, nxt, action, np.array([i]), done, infos)  # the reward tells where a sample came from
    buffer.mark_demonstrations()
    assert buffer.n_demo == 10
    demo_only = buffer.sample(16).rewards.numpy().ravel()  # no own transitions yet: uniform over the demos
    assert (demo_only < 10).all()
    for i in range(10, 40):
        buffer.add(obs, nxt, action, np.array([i]), done, infos)
    for _ in range(5):
        rewards = buffer.sample(16).rewards.numpy().ravel()
        assert (rewards < 10).sum() == 4 and ((rewards >= 10) & (rewards < 40)).sum() == 12
    buffer.demo_fraction = 0.0  # uniform over everything, SB3's own sampling
    rewards = np.concatenate([buffer.sample(64).rewards.numpy().ravel() for _ in range(20)])
    assert 0.1 < (rewards < 10).mean() < 0.45


@pytest.mark.parametrize("fraction", [-0.1, 1.0, "half"])
def test_bad_demo_fraction(fraction):
    with pytest.raises(ValueError, match="demo_fraction"):
        SymmetricReplayBuffer(10, OBS_SPACE, ACT_SPACE, device="cpu", demo_fraction=fraction)


def test_sacfd_marks_its_demonstrations_in_the_buffer():
    env = equimanip.make("BlockPicking-v0", image_size=32)
    model = SACfD(ImageSACPolicy, env, policy_kwargs={"network": "cnn", "cnn_features": 16},
                  replay_buffer_class=SymmetricReplayBuffer,
                  replay_buffer_kwargs={"group": "C4", "n_copies": 1, "demo_fraction": 0.5},
                  buffer_size=500, learning_starts=0, batch_size=8, device="cpu")
    stats = model.add_demonstrations(equimanip.make("BlockPicking-v0", image_size=32), episodes=1, seed=7)
    assert model.replay_buffer.n_demo == 2 * stats["demo_transitions"]
