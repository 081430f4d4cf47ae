"""The SB3 integration: ImageSACPolicy is equivariant end to end, trains, saves and loads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3 import SAC

import equimanip
from equimanip.agents.sb3_policy import ImageSACPolicy
from equimanip.symmetry import DihedralGroup, GroupElement, group_from_name, transform_action, transform_image

SMALL = {"n_hidden": 16}


def make_model(network: str, group: str = "D4", **kwargs) -> SAC:
    env = equimanip.make("BlockPicking-v0", image_size=32)
    return SAC(ImageSACPolicy, env, policy_kwargs=dict(network=network, group=group, **SMALL), buffer_size=1000,
               learning_starts=32, batch_size=16, seed=0, device="cpu", **kwargs)


def rotated(obs: dict, g: GroupElement) -> dict:
    return {**obs, "depth": transform_image(obs["depth"], g).copy()}


@pytest.fixture(scope="module", params=["C4", "D4"])
def equi_model(request):
    torch.manual_seed(0)
    model = make_model("equi", request.param)
    env = model.get_env().envs[0]
    obs, _ = env.reset(seed=3)
    for _ in range(3):
        obs, *_ = env.step(env.action_space.sample())
    obs["holding"] = np.array([1.0], dtype=np.float32)  # exercise the broadcast holding channel too
    return request.param, model, obs


def test_sb3_policy_actions_are_equivariant(equi_model):
    group, model, obs = equi_model
    action, _ = model.policy.predict(obs, deterministic=True)
    assert np.abs(action[1:3]).max() > 1e-4  # not a trivially zero vector
    for g in DihedralGroup(4).elements():
        if not group_from_name(group).contains(g):
            continue
        action_g, _ = model.policy.predict(rotated(obs, g), deterministic=True)
        np.testing.assert_allclose(action_g, transform_action(action, g), atol=1e-4, err_msg=str(g))


def test_sb3_critic_is_invariant(equi_model):
    group, model, obs = equi_model
    policy = model.policy
    action = np.array([0.3, 0.5, -0.2, 0.1, -0.7], dtype=np.float32)
    with torch.no_grad():
        q = policy.critic(policy.obs_to_tensor(obs)[0], torch.tensor(action)[None])
        for g in DihedralGroup(4).elements():
            if not group_from_name(group).contains(g):
                continue
            a_g = torch.tensor(transform_action(action, g), dtype=torch.float32)[None]
            q_g = policy.critic(policy.obs_to_tensor(rotated(obs, g))[0], a_g)
            for qa, qb in zip(q, q_g):
                assert abs(float(qa) - float(qb)) < 1e-4, g


@pytest.mark.parametrize("network", ["equi", "cnn"])
def test_sac_trains_and_round_trips_through_save_and_load(network, tmp_path):
    model = make_model(network, "C4")
    before = [p.detach().clone() for p in model.policy.actor.parameters()]
    model.learn(120)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.actor.parameters())), "no update happened"
    model.save(tmp_path / "model")
    loaded = SAC.load(tmp_path / "model", device="cpu")
    obs, _ = model.get_env().envs[0].reset(seed=0)
    a, _ = model.predict(obs, deterministic=True)
    b, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs,match", [
    ({"network": "mlp"}, "unknown network"),
    ({"group": "X3"}, "accepted"),
    ({"share_features_extractor": True}, "own encoders"),
])
def test_bad_policy_options_raise(kwargs, match):
    env = equimanip.make("BlockPicking-v0", image_size=32)
    with pytest.raises(ValueError, match=match):
        SAC(ImageSACPolicy, env, policy_kwargs={**SMALL, **kwargs}, device="cpu")


def test_gsde_is_rejected():
    env = equimanip.make("BlockPicking-v0", image_size=32)
    with pytest.raises(ValueError, match="gSDE"):
        SAC(ImageSACPolicy, env, policy_kwargs=SMALL, use_sde=True, device="cpu")


@pytest.mark.parametrize("network", ["equi", "cnn"])
def test_the_actor_gradient_is_unchanged_when_the_critic_encoder_skips_autograd(network):
    torch.manual_seed(0)
    policy = make_model(network, "C4").policy
    obs = {"depth": torch.randn(4, 1, 32, 32), "holding": torch.tensor([[0.0], [1.0], [0.0], [1.0]])}
    critic = policy.critic

    def actor_grads(encoder_grad: bool | None) -> tuple[list[torch.Tensor], torch.Tensor]:
        policy.actor.zero_grad(set_to_none=True)
        critic.zero_grad(set_to_none=True)
        actions = policy.actor(obs, deterministic=True)
        if encoder_grad is None:  # the path SAC's actor loss takes
            q = critic(obs, actions)
        else:
            q = critic.net(critic.extract_features(obs, critic.features_extractor), actions, encoder_grad=encoder_grad)
        loss = -torch.min(torch.cat(q, dim=1), dim=1).values.mean()
        loss.backward()
        return [p.grad.clone() for p in policy.actor.parameters() if p.grad is not None], loss.detach()

    skipped, loss_skipped = actor_grads(None)
    assert all(p.grad is None for p in critic.net.encoder.parameters()), "the critic encoder's backward still ran"
    full, loss_full = actor_grads(True)
    assert len(skipped) == len(full) > 0 and torch.equal(loss_skipped, loss_full)
    for a, b in zip(skipped, full):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)
    replay_actions = torch.rand(4, 5) * 2 - 1  # the critic loss (actions without autograd) trains the encoder
    sum(q.sum() for q in critic(obs, replay_actions)).backward()
    assert all(p.grad is not None for p in critic.net.encoder.parameters())
