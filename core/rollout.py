"""Run episodes of a registered environment with the scripted expert or a random policy."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from equimanip.atomic import atomic_path, write_json

__all__ = ["POLICIES", "EpisodeResult", "RolloutResult", "rollout", "wilson_interval", "success_within", "make_policy",
           "write_video", "write_json"]

POLICIES = ("expert", "random")


@dataclass
class EpisodeResult:
    seed: int
    success: bool
    length: int
    ret: float
    invalid: bool


@dataclass
class RolloutResult:
    env: str
    policy: str
    seed: int
    env_options: dict[str, Any]
    episodes: list[EpisodeResult] = field(default_factory=list)
    steps_per_second: float = 0.0

    @property
    def success_rate(self) -> float:
        return float(np.mean([e.success for e in self.episodes])) if self.episodes else 0.0

    def to_json(self) -> dict[str, Any]:
        lo, hi = wilson_interval(sum(e.success for e in self.episodes), len(self.episodes))
        return {
            "env": self.env,
            "policy": self.policy,
            "seed": self.seed,
            "env_options": self.env_options,
            "success_rate": self.success_rate,
            "success_ci95": [lo, hi],
            "num_episodes": len(self.episodes),
            "mean_length": float(np.mean([e.length for e in self.episodes])) if self.episodes else 0.0,
            "mean_return": float(np.mean([e.ret for e in self.episodes])) if self.episodes else 0.0,
            "steps_per_second": self.steps_per_second,
            "episodes": [{"seed": e.seed, "success": e.success, "length": e.length, "return": e.ret, "invalid": e.invalid}
                         for e in self.episodes],
        }


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a success rate (sound for rates near 0 or 1)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    # exact at the ends (floating point leaves 0.999… for n/n otherwise)
    return (0.0 if successes == 0 else lo), (1.0 if successes == n else hi)


def success_within(result: dict, limit: int) -> tuple[int, int]:
    """``(successes, episodes)`` of an evaluation (:func:`equimanip.agents.train_rl.evaluate`) had its
    episodes been cut at ``limit`` steps: the episodes that succeeded within ``limit`` steps."""
    if "episode_success" not in result:
        raise ValueError("this evaluation has no per-episode record (made before episode_success was kept)")
    if limit > result["max_episode_steps"]:
        raise ValueError(f"episodes were cut at {result['max_episode_steps']} steps: their success within {limit} is unknown")
    won = sum(1 for ok, n in zip(result["episode_success"], result["episode_length"]) if ok and n <= limit)
    return won, len(result["episode_success"])


def plot_success(names: list[str], rates: list[float], intervals: list[tuple[float, float]], title: str, path: Path | str,
                 colors: list[str] | None = None) -> None:
    """Bar plot of success rates with their 95 % intervals, written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # rounding can put a bound a hair inside its rate; matplotlib refuses negative error bars
    errs = [[max(0.0, r - lo) for r, (lo, _) in zip(rates, intervals)],
            [max(0.0, hi - r) for r, (_, hi) in zip(rates, intervals)]]
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 3.5))
    ax.bar(names, rates, yerr=errs, capsize=4, color=colors or "#4c72b0")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate (95% CI)")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", rotation=30 if len(names) > 4 else 0)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def make_policy(name: str, env: gym.Env, seed: int = 0) -> Callable[[dict], np.ndarray]:
    """``expert`` (the task's scripted expert) or ``random`` (uniform actions, seeded by ``seed``)."""
    if name == "expert":
        return lambda obs: env.unwrapped.expert_action()
    if name == "random":
        rng = np.random.default_rng(seed)
        return lambda obs: rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32)
    raise ValueError(f"unknown policy {name!r}; accepted: {', '.join(POLICIES)}")


def rollout(env_id: str, policy: str = "expert", episodes: int = 10, seed: int = 0, env_options: dict | None = None,
            video: str | os.PathLike | None = None, video_episodes: int = 1, progress: bool = True) -> RolloutResult:
    """Run ``episodes`` episodes (seeds ``seed``, ``seed + 1``, …) and collect success, length, return.

    With ``video``, the first ``video_episodes`` episodes are written to that mp4 file.
    """
    import time

    from tqdm import tqdm

    if episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes}")
    from equimanip.envs import task_class

    task_class(env_id)  # a clear error for unknown ids
    env_options = dict(env_options or {})
    if video is not None:
        env_options.setdefault("render_mode", "rgb_array")
    env = gym.make(env_id, **env_options)
    act = make_policy(policy, env, seed)
    shown_options = {k: v for k, v in env_options.items() if k != "render_mode"}
    result = RolloutResult(env=env_id, policy=policy, seed=seed, env_options=shown_options)
    frames: list[np.ndarray] = []
    steps, start = 0, time.perf_counter()
    bar = tqdm(range(episodes), desc=f"{env_id} [{policy}]", disable=not progress, unit="ep")
    for i in bar:
        obs, info = env.reset(seed=seed + i)
        record = video is not None and i < video_episodes
        if record:
            frames.append(env.render())
        ret, length, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(act(obs))
            ret += float(reward)
            length += 1
            done = terminated or truncated
            if record:
                frames.append(env.render())
        steps += length
        result.episodes.append(EpisodeResult(seed=seed + i, success=bool(info.get("is_success", False)), length=length,
                                             ret=ret, invalid=bool(info.get("invalid", False))))
        bar.set_postfix(success=f"{result.success_rate:.2f}")
    result.steps_per_second = steps / max(time.perf_counter() - start, 1e-9)
    env.close()
    if video is not None and frames:
        write_video(video, frames, fps=env.metadata.get("render_fps", 10))
    return result


def write_video(path: str | os.PathLike, frames: list[np.ndarray], fps: int = 10) -> None:
    """Write frames (H×W×3 uint8) to an mp4 atomically."""
    import imageio.v2 as imageio

    with atomic_path(path) as tmp:
        with imageio.get_writer(tmp, fps=fps, macro_block_size=1, format="FFMPEG") as writer:
            for frame in frames:
                writer.append_data(frame)
