"""Train SAC / SACfD with equivariant or CNN networks on an equimanip task, from a config.

A run directory holds everything: ``config.json`` (the resolved config), ``tb/`` (TensorBoard),
``eval.csv`` (success rate vs env steps), ``checkpoint/`` (model + replay buffer, written
atomically, for ``--resume``), ``model.zip`` (final), ``curve.png`` and ``eval.mp4``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from equimanip.agents.run_dir import open_run, plot_curve, read_eval, write_eval
from equimanip.atomic import atomic_write_text

ALGOS = ("sac", "sacfd")
NETWORKS = ("equi", "cnn")


@dataclass
class RLConfig:
    """Settings of one RL run (defaults: equivariant SAC, REFERENCES §3).

    Attributes:
        env: task id, e.g. ``equimanip/BlockPulling-v0``.
        algo: ``sac`` or ``sacfd`` (scripted-expert demos in the buffer).
        policy: ``equi`` (escnn) or ``cnn``.
        group: symmetry group of the equivariant networks and of the buffer augmentation.
        steps: env steps to train for.
        demos: expert episodes put in the buffer (``sacfd``).
        seed: seed of everything (networks, env resets, demos, augmentation).
        env_options: options passed to ``gym.make`` (camera, image_size, dpos, …).
        n_hidden: regular fields of the equivariant encoder.
        augment_copies: transformed copies of every transition in the buffer (0 disables).
        demo_fraction: share of every batch drawn from the demos (``sacfd``; 0: uniform over the buffer).
        batch_size, learning_rate, gamma, tau, init_temperature: SAC settings.
        bc_weight: behaviour-cloning weight on the demos (``sacfd``; 0 disables). 1 as in equivariant
            SACfD's code (its ``demon_w``).
        eval_every, eval_episodes: periodic deterministic evaluation.
        checkpoint_every: env steps between checkpoints.
        buffer_size: replay capacity (0: just enough for the run, augmentation included).
        device: ``auto``, ``cpu`` or ``cuda``.
        precision: arithmetic of the SAC updates: ``auto`` (bf16 mixed precision where the hardware has
            bf16 matrix units, else fp32), ``fp32`` or ``bf16``; acting and evaluation run in fp32.
        video_episodes: evaluation episodes recorded in ``eval.mp4`` at the end.
    """

    env: str
    algo: str = "sacfd"
    policy: str = "equi"
    group: str = "D4"
    steps: int = 5000
    demos: int = 20
    seed: int = 0
    env_options: dict[str, Any] = field(default_factory=dict)
    n_hidden: int = 64
    augment_copies: int = 4
    demo_fraction: float = 0.0
    batch_size: int = 64
    learning_rate: float = 1e-3
    gamma: float = 0.99
    tau: float = 0.01
    init_temperature: float = 0.01
    bc_weight: float = 1.0
    eval_every: int = 1000
    eval_episodes: int = 20
    checkpoint_every: int = 1000
    buffer_size: int = 0
    device: str = "auto"
    precision: str = "auto"
    video_episodes: int = 2

    def validate(self) -> RLConfig:
        from equimanip.envs import task_class
        from equimanip.symmetry import group_from_name

        cls = task_class(self.env)
        self.env = cls.env_id
        if self.algo not in ALGOS:
            raise ValueError(f"unknown algorithm {self.algo!r}; accepted: {', '.join(ALGOS)}")
        if self.policy not in NETWORKS:
            raise ValueError(f"unknown policy {self.policy!r}; accepted: {', '.join(NETWORKS)}")
        group = group_from_name(self.group)
        self.group = group.name
        if self.policy == "equi" or self.augment_copies:
            cls.symmetry.check_subgroup(group)
        for name in ("steps", "eval_every", "eval_episodes", "checkpoint_every", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("demos", "augment_copies", "buffer_size", "video_episodes"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {getattr(self, name)!r}")
        from equimanip.policies.device import check_precision

        if not (isinstance(self.demo_fraction, (int, float)) and 0 <= self.demo_fraction < 1):
            raise ValueError(f"demo_fraction must be a number in [0, 1), got {self.demo_fraction!r}")
        check_precision(self.precision)
        if self.algo == "sac" and self.demos:
            self.demos = 0  # plain SAC learns without demonstrations
        return self

    @classmethod
    def from_json(cls, path: Path) -> RLConfig:
        data = json.loads(Path(path).read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"kind"})
        if unknown:
            raise ValueError(f"unknown config keys {unknown} in {path}; accepted: {', '.join(sorted(known))}")
        return cls(**{k: v for k, v in data.items() if k in known})


def _make_env(config: RLConfig, render: bool = False, max_episode_steps: int = 0):
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor

    options = dict(config.env_options)
    if render:
        options["render_mode"] = "rgb_array"
    if max_episode_steps:
        options["max_episode_steps"] = int(max_episode_steps)
    return Monitor(gym.make(config.env, **options))


def episode_limit(config: Any, max_episode_steps: int | None = None) -> int:
    """The evaluation episode limit: ``max_episode_steps`` when given, else the config's
    ``max_episode_steps`` when set (> 0), else the task's own limit."""
    from equimanip.envs import task_class

    for limit in (max_episode_steps, getattr(config, "max_episode_steps", 0)):
        if limit:
            if int(limit) != limit or limit < 1:
                raise ValueError(f"max_episode_steps must be a positive integer, got {limit!r}")
            return int(limit)
    return int(task_class(config.env).max_episode_steps)


def evaluate(model: Any, config: RLConfig, episodes: int, seed: int, video: Path | None = None,
             video_episodes: int = 0, max_episode_steps: int | None = None) -> dict[str, Any]:
    """Deterministic evaluation episodes (seeds ``seed`` …); success rate with a Wilson interval.

    Episodes last at most :func:`episode_limit` steps. A success ends an episode and no step
    depends on the step count, so the per-episode ``episode_success`` / ``episode_length`` give the
    success rate under any shorter limit too (:func:`equimanip.rollout.success_within`).
    """
    from equimanip.rollout import wilson_interval, write_video

    limit = episode_limit(config, max_episode_steps)
    env = _make_env(config, render=video is not None, max_episode_steps=limit)
    successes, lengths, frames = [], [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        record = video is not None and i < video_episodes
        if record:
            frames.append(env.render())
        length = 0
        while True:
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, info = env.step(action)
            length += 1
            if record:
                frames.append(env.render())
            if terminated or truncated:
                break
        successes.append(bool(info.get("is_success", False)))
        lengths.append(length)
    env.close()
    if video is not None and frames:
        write_video(video, frames)
    lo, hi = wilson_interval(sum(successes), episodes)
    return {"success_rate": float(np.mean(successes)), "success_ci95": [lo, hi], "episodes": episodes,
            "seeds": [seed, seed + episodes - 1], "mean_length": float(np.mean(lengths)), "max_episode_steps": limit,
            "episode_success": successes, "episode_length": lengths}


def _build_model(config: RLConfig, env: Any, run: Path) -> Any:
    from equimanip.agents.replay import SymmetricReplayBuffer
    from equimanip.agents.sacfd import SACfD
    from equimanip.agents.sb3_policy import ImageSACPolicy
    from equimanip.policies import resolve_device

    max_steps = env.unwrapped.max_episode_steps
    buffer = config.buffer_size or (config.steps + config.demos * max_steps) * (1 + config.augment_copies) + 1
    return SACfD(
        ImageSACPolicy, env, learning_rate=config.learning_rate, buffer_size=buffer, learning_starts=config.batch_size,
        batch_size=config.batch_size, tau=config.tau, gamma=config.gamma, ent_coef=f"auto_{config.init_temperature}",
        replay_buffer_class=SymmetricReplayBuffer,
        replay_buffer_kwargs={"group": config.group, "n_copies": config.augment_copies, "seed": config.seed,
                              "demo_fraction": config.demo_fraction if config.algo == "sacfd" else 0.0},
        policy_kwargs={"network": config.policy, "group": config.group, "n_hidden": config.n_hidden},
        bc_weight=config.bc_weight if config.algo == "sacfd" else 0.0, precision=config.precision,
        tensorboard_log=str(run / "tb"), seed=config.seed, device=resolve_device(config.device), verbose=0)


def _checkpoint(model: Any, run: Path) -> None:
    """Write model, replay buffer and step count to ``checkpoint/`` atomically (swap a new folder in)."""
    tmp = Path(tempfile.mkdtemp(dir=run, prefix=".checkpoint-"))
    model.save(tmp / "model.zip")
    model.save_replay_buffer(tmp / "replay_buffer.pkl")
    (tmp / "state.json").write_text(json.dumps({"num_timesteps": int(model.num_timesteps)}))
    final = run / "checkpoint"
    old = run / ".checkpoint-old"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(config: RLConfig, env: Any, run: Path) -> Any:
    from equimanip.agents.sacfd import SACfD
    from equimanip.policies import resolve_device

    path = run / "checkpoint"
    try:
        state = json.loads((path / "state.json").read_text())
        model = SACfD.load(path / "model.zip", env=env, device=resolve_device(config.device))
        model.load_replay_buffer(path / "replay_buffer.pkl")
    except (FileNotFoundError, json.JSONDecodeError, zipfile.BadZipFile, EOFError, ValueError, KeyError, RuntimeError) as exc:
        raise ValueError(f"cannot resume from {path}: the checkpoint is missing or corrupted ({exc}); "
                         "start a new run directory instead") from exc
    if int(state["num_timesteps"]) != model.num_timesteps:
        raise ValueError(f"cannot resume from {path}: state.json and model.zip disagree; the checkpoint is corrupted")
    model.tensorboard_log = str(run / "tb")
    return model


def train(config: RLConfig, run: Path, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) a run; returns the final evaluation."""
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm import tqdm

    run = Path(run)
    config = open_run(run, config, RLConfig.from_json, resume)
    if not resume:
        atomic_write_text(run / "config.json", json.dumps({"kind": "rl", **dataclasses.asdict(config)}, indent=2))

    env = _make_env(config)
    if resume and (run / "checkpoint").exists():
        model = _load_checkpoint(config, env, run)
    else:
        model = _build_model(config, env, run)
        if config.algo == "sacfd" and config.demos:
            stats = model.add_demonstrations(_make_env(config), config.demos, seed=1_000_000 + config.seed * 1000)
            atomic_write_text(run / "demos.json", json.dumps(stats, indent=2))
    if config.algo == "sacfd" and config.bc_weight > 0 and model._demo_actions is None:
        model.add_demonstrations(_make_env(config), config.demos, seed=1_000_000 + config.seed * 1000)

    rows = [r for r in read_eval(run) if r["steps"] <= model.num_timesteps]
    finals: dict[int, dict[str, Any]] = {}
    eval_seed = 2_000_000 + config.seed * 1000

    class RunCallback(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.bar = tqdm(total=config.steps, initial=model.num_timesteps, desc=f"{config.env} {config.algo}/{config.policy}",
                            unit="step", disable=not progress)

        def _on_step(self) -> bool:
            self.bar.update(1)
            steps = self.model.num_timesteps
            if steps % config.eval_every == 0 or steps == config.steps:
                last = steps == config.steps  # the final evaluation: record its video, don't run it twice
                result = evaluate(self.model, config, config.eval_episodes, eval_seed,
                                  video=run / "eval.mp4" if last else None, video_episodes=config.video_episodes)
                if last:
                    finals[steps] = result
                rows.append({"steps": steps, "success_rate": result["success_rate"], "ci_low": result["success_ci95"][0],
                             "ci_high": result["success_ci95"][1], "mean_length": result["mean_length"]})
                write_eval(run, rows)
                self.logger.record("eval/success_rate", result["success_rate"])
                self.bar.set_postfix(success=f"{result['success_rate']:.2f}")
            if steps % config.checkpoint_every == 0:
                _checkpoint(self.model, run)
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    remaining = config.steps - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=RunCallback(), reset_num_timesteps=not resume, tb_log_name="sac")
    _checkpoint(model, run)
    model.save(run / "model.zip")
    final = finals.get(int(model.num_timesteps)) or evaluate(model, config, config.eval_episodes, eval_seed,
                                                           video=run / "eval.mp4", video_episodes=config.video_episodes)
    if rows:
        plot_curve(rows, run / "curve.png", f"{config.env} {config.algo}/{config.policy} {config.group} seed {config.seed}")
    summary = {"config": dataclasses.asdict(config), "final_eval": final, "num_timesteps": int(model.num_timesteps),
               "precision": model.resolved_precision}
    atomic_write_text(run / "summary.json", json.dumps(summary, indent=2))
    return summary


def load_run(run: Path, device: str = "auto") -> tuple[Any, RLConfig]:
    """The trained model and config of a run directory (final model, else the last checkpoint)."""
    from equimanip.agents.sacfd import SACfD
    from equimanip.policies import resolve_device

    run = Path(run)
    if not (run / "config.json").exists():
        raise ValueError(f"{run} is not a run directory (no config.json)")
    config = RLConfig.from_json(run / "config.json").validate()
    path = run / "model.zip" if (run / "model.zip").exists() else run / "checkpoint" / "model.zip"
    try:
        model = SACfD.load(path, device=resolve_device(device))
    except (FileNotFoundError, zipfile.BadZipFile, EOFError, ValueError, KeyError, RuntimeError) as exc:
        raise ValueError(f"cannot load the model in {run}: missing or corrupted ({exc})") from exc
    return model, config
