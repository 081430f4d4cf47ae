"""SAC from demonstrations (SACfD), as used for equivariant SAC (Wang, Walters & Platt, ICLR 2022).

Expert episodes from the task's scripted expert go into the replay buffer before training (with
the buffer's symmetry augmentation, if any); with ``bc_weight > 0`` each SAC update is followed by
a behaviour-cloning step of the actor on the demonstrations. SB3's SAC loop is reused as it is
(``train`` calls ``super().train``), not forked.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC


def expert_transitions(env: gym.Env, episodes: int, seed: int) -> tuple[list[tuple], dict[str, float]]:
    """Roll out the scripted expert; returns ``(obs, next_obs, action, reward, terminated, truncated)``
    tuples and statistics (success rate, transitions)."""
    if episodes < 0:
        raise ValueError(f"demo episodes must be non-negative, got {episodes}")
    out, successes = [], 0
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        while True:
            action = np.asarray(env.unwrapped.expert_action(), dtype=np.float32)
            next_obs, reward, terminated, truncated, info = env.step(action)
            out.append((obs, next_obs, action, float(reward), bool(terminated), bool(truncated)))
            obs = next_obs
            if terminated or truncated:
                successes += int(info.get("is_success", False))
                break
    return out, {"demo_episodes": episodes, "demo_transitions": len(out),
                 "demo_success_rate": successes / episodes if episodes else 0.0}


class SACfD(SAC):
    """SAC with scripted-expert demonstrations in the replay buffer and an optional BC loss.

    Args:
        bc_weight: weight of the behaviour-cloning step (MSE between the actor's deterministic
            action and the expert's) after each SAC update; 0 disables it.
        precision: arithmetic of the updates: ``fp32``, ``bf16`` (mixed precision: weights, optimiser
            state, losses and the action distribution stay fp32; convolutions and matrix products run
            in bf16) or ``auto`` (bf16 where the hardware has bf16 matrix units, see
            :func:`equimanip.policies.device.bf16_is_fast`). Acting and evaluation always run in fp32.
        All other arguments are SAC's.
    """

    def __init__(self, *args: Any, bc_weight: float = 0.0, precision: str = "fp32", **kwargs: Any):
        from equimanip.policies.device import check_precision

        if not (isinstance(bc_weight, (int, float)) and bc_weight >= 0 and np.isfinite(bc_weight)):
            raise ValueError(f"bc_weight must be a non-negative number, got {bc_weight!r}")
        self.bc_weight = float(bc_weight)
        self.precision = check_precision(precision)
        self._demo_obs: dict[str, np.ndarray] | None = None
        self._demo_actions: np.ndarray | None = None
        super().__init__(*args, **kwargs)
        self._bc_rng = np.random.default_rng(self.seed)

    @property
    def resolved_precision(self) -> str:
        """``fp32`` or ``bf16``: the precision the updates run in on this model's device."""
        from equimanip.policies.device import resolve_precision

        # models saved before the option existed trained in fp32
        return resolve_precision(getattr(self, "precision", "fp32"), self.device)

    def add_demonstrations(self, env: gym.Env, episodes: int, seed: int = 10_000) -> dict[str, float]:
        """Roll out the expert in ``env`` (an env like the training one) and store its transitions."""
        transitions, stats = expert_transitions(env, episodes, seed)
        for obs, next_obs, action, reward, terminated, truncated in transitions:
            batch = {k: np.asarray(v)[None] for k, v in obs.items()}
            next_batch = {k: np.asarray(v)[None] for k, v in next_obs.items()}
            infos = [{"TimeLimit.truncated": truncated and not terminated}]
            self.replay_buffer.add(batch, next_batch, action[None], np.array([reward]),  # type: ignore[union-attr]
                                   np.array([terminated or truncated]), infos)
        if hasattr(self.replay_buffer, "mark_demonstrations"):
            self.replay_buffer.mark_demonstrations()
        if transitions:
            keys = transitions[0][0].keys()
            self._demo_obs = {k: np.stack([t[0][k] for t in transitions]) for k in keys}
            self._demo_actions = np.stack([t[2] for t in transitions])
        return stats

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        from equimanip.policies.device import autocast

        with autocast(self.device, self.resolved_precision):
            super().train(gradient_steps, batch_size)
            self._train_bc(gradient_steps, batch_size)

    def _train_bc(self, gradient_steps: int, batch_size: int) -> None:
        if self.bc_weight <= 0 or self._demo_actions is None:
            return
        actor = self.policy.actor
        losses = []
        n = len(self._demo_actions)
        for _ in range(gradient_steps):
            idx = self._bc_rng.integers(0, n, size=min(batch_size, n))
            obs = {k: torch.as_tensor(v[idx], device=self.device) for k, v in self._demo_obs.items()}  # type: ignore[union-attr]
            target = torch.as_tensor(self._demo_actions[idx], device=self.device)
            loss = self.bc_weight * torch.nn.functional.mse_loss(actor(obs, deterministic=True), target)
            actor.optimizer.zero_grad()
            loss.backward()
            actor.optimizer.step()
            losses.append(float(loss.detach()))
        self.logger.record("train/bc_loss", float(np.mean(losses)))

    def _excluded_save_params(self) -> list[str]:
        # demonstrations are re-collected (deterministically, from their seed) rather than saved
        return [*super()._excluded_save_params(), "_demo_obs", "_demo_actions", "_bc_rng"]
