"""Tabletop manipulation environments with latent symmetry (gymnasium).

Importing this package registers every task as ``equimanip/<Task>-v0``.
"""

from typing import Any

import gymnasium as gym

from equimanip.envs import tasks as tasks  # noqa: F401  (registers the tasks)
from equimanip.envs.registry import TASKS, env_ids, register_task, task_class
from equimanip.envs.tabletop import EnvOptions, TabletopEnv, Workspace


def make(env_id: str, **options: Any) -> gym.Env:
    """``gym.make`` for our ids (``BlockPicking-v0`` or ``equimanip/BlockPicking-v0``).

    Picklable by reference, so ``functools.partial(equimanip.envs.make, env_id)`` works as an env
    factory in spawned worker processes (``AsyncVectorEnv``, ``SubprocVecEnv``): unpickling it
    imports this package, which registers the tasks there too.
    """
    task_class(env_id)  # clear error for unknown ids
    return gym.make(env_id if env_id.startswith("equimanip/") else f"equimanip/{env_id}", **options)


__all__ = ["TASKS", "env_ids", "make", "register_task", "task_class", "EnvOptions", "TabletopEnv", "Workspace"]
