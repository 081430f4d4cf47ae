"""Record scripted-expert demonstrations into a LeRobot v3.0 dataset (:mod:`equimanip.dataset`).

Episode ``i`` is reset with seed ``seed + i``, so a dataset is a pure function of (env, options,
seed, episodes): re-running, resuming or using several worker processes gives the same frames.
Every episode is kept, failed ones too; ``success`` is recorded per episode and reported.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from equimanip.dataset import (DATA_FILES_SIZE_IN_MB, OBSERVATION_FEATURES, PROPRIO_FEATURE, DatasetWriter,
                               features_for_env, resolve_env, task_description)

__all__ = ["collect", "record_episode", "DEFAULT_FLUSH_EVERY"]

DEFAULT_FLUSH_EVERY = 25  # episodes per data file (fewer when they reach data_files_size_in_mb)


def record_episode(env: Any, seed: int) -> dict[str, Any]:
    """Run the scripted expert for one episode from ``env.reset(seed=seed)``.

    Returns the frames as dataset features (``(T, *shape)`` arrays: observations before each
    action, the proprio state, the action, and the reward / done / success after it) plus
    ``seed``, ``success`` and ``length``.
    """
    u = env.unwrapped
    obs, info = env.reset(seed=int(seed))
    frames: dict[str, list[np.ndarray]] = {OBSERVATION_FEATURES.get(k, f"observation.{k}"): [] for k in obs}
    frames.update({PROPRIO_FEATURE: [], "action": [], "next.reward": [], "next.done": [], "next.success": []})
    done = False
    while not done:
        for key, value in obs.items():
            frames[OBSERVATION_FEATURES.get(key, f"observation.{key}")].append(np.array(value, copy=True))
        frames[PROPRIO_FEATURE].append(np.asarray(u.proprio(), dtype=np.float32))
        action = np.asarray(u.expert_action(), dtype=np.float32)
        frames["action"].append(action)
        obs, reward, terminated, truncated, info = env.step(action)
        done = bool(terminated or truncated)
        frames["next.reward"].append(np.array([reward], dtype=np.float32))
        frames["next.done"].append(np.array([done]))
        frames["next.success"].append(np.array([bool(info.get("is_success", False))]))
    episode: dict[str, Any] = {name: np.stack(values) for name, values in frames.items()}
    episode.update(seed=int(seed), success=bool(info.get("is_success", False)), length=len(frames["action"]))
    return episode


# ------------------------------------------------------------------------------------------------
# Worker processes (spawned: each makes its own env)
_WORKER_ENV: Any = None


def _init_worker(env_id: str, env_options: dict[str, Any]) -> None:
    global _WORKER_ENV
    import gymnasium as gym

    import equimanip  # noqa: F401  (registers the environments in this process)

    _WORKER_ENV = gym.make(env_id, **env_options)


def _worker_episode(seed: int) -> dict[str, Any]:
    return record_episode(_WORKER_ENV, seed)


def _episodes(env: Any, env_id: str, env_options: dict[str, Any], seeds: Sequence[int], workers: int) -> Iterator[dict]:
    """Recorded episodes in seed order, from this process or a pool of spawned workers."""
    if workers == 1 or len(seeds) <= 1:
        for seed in seeds:
            yield record_episode(env, seed)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes=min(workers, len(seeds)), initializer=_init_worker, initargs=(env_id, env_options)) as pool:
        yield from pool.imap(_worker_episode, seeds, chunksize=1)  # imap keeps the order


# ------------------------------------------------------------------------------------------------
def collect(env_id: str, episodes: int, seed: int, out: str | os.PathLike, env_options: dict[str, Any] | None = None,
            workers: int = 1, progress: bool = True, flush_every: int = DEFAULT_FLUSH_EVERY) -> dict[str, Any]:
    """Record ``episodes`` expert episodes of ``env_id`` (seeds ``seed`` … ``seed + episodes - 1``) into ``out``.

    ``out`` is created, or resumed when it already holds a dataset of the same env, options and
    seed: recording continues from the first missing episode (a dataset that already has
    ``episodes`` episodes is left as it is). Other settings raise ``ValueError`` and nothing is
    written. Episodes are written every ``flush_every`` episodes (and when the buffer reaches
    ``data_files_size_in_mb``), each time as a new data file plus rewritten meta files, all
    atomically: an interrupted run leaves a valid dataset of the episodes written so far; the
    episodes finished when it is interrupted (Ctrl-C, an error) are written first.
    ``workers > 1`` records in that many spawned processes; the parent writes in episode order,
    so the dataset is identical to ``workers=1``.

    Returns a summary: ``episodes``, ``frames``, ``successes`` (totals of the dataset),
    ``new_episodes``, ``new_frames``, ``success_rate``, ``success_ci95``, ``seconds`` (the whole
    call) and ``env_steps_per_second`` (frames recorded by this call per second of recording,
    writing included, set-up excluded).
    """
    import gymnasium as gym
    from tqdm import tqdm

    from equimanip.rollout import wilson_interval

    for name, value, low in (("episodes", episodes, 1), ("workers", workers, 1), ("flush_every", flush_every, 1),
                             ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    start_time = time.perf_counter()
    canonical, recorded, resolved = resolve_env(env_id, env_options)
    out = Path(out)
    env = gym.make(canonical, **recorded)
    try:
        features, layout = features_for_env(env)
        writer = DatasetWriter.open(out, canonical, recorded, resolved, int(seed), features, layout,
                                    task_description(canonical))
        done_before = writer.num_episodes
        seeds = [int(seed) + i for i in range(done_before, int(episodes))]
        new_frames = 0
        size_limit = int(writer.info.get("data_files_size_in_mb", DATA_FILES_SIZE_IN_MB)) * 2**20
        bar = tqdm(total=max(int(episodes), done_before), initial=done_before, desc=f"collect {canonical}", unit="ep",
                   disable=not progress)
        loop_start = time.perf_counter()
        try:
            for episode in _episodes(env, canonical, recorded, seeds, int(workers)):
                writer.add(episode)
                new_frames += episode["length"]
                if len(writer.buffer) >= flush_every or writer.buffered_bytes >= size_limit:
                    writer.flush()
                bar.update(1)
                bar.set_postfix(success=f"{writer.num_successes / writer.num_episodes:.2f}")
        except BaseException:
            try:  # keep the episodes that were finished
                writer.flush()
            except Exception:  # noqa: BLE001  (the original error is the one to report)
                pass
            raise
        finally:
            bar.close()
        writer.flush()
        loop_seconds = time.perf_counter() - loop_start
    finally:
        env.close()
    seconds = time.perf_counter() - start_time
    total, successes = writer.num_episodes, writer.num_successes
    lo, hi = wilson_interval(successes, total)
    return {
        "out": str(out),
        "env_id": canonical,
        "env_options": recorded,
        "seed": int(seed),
        "episodes": total,
        "frames": writer.num_frames,
        "successes": successes,
        "success_rate": successes / total if total else 0.0,
        "success_ci95": [lo, hi],
        "new_episodes": total - done_before,
        "new_frames": new_frames,
        "seconds": seconds,
        "env_steps_per_second": new_frames / loop_seconds if new_frames else 0.0,
        "workers": int(workers),
    }
