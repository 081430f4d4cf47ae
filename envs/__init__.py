"""Tabletop manipulation environments with latent symmetry (gymnasium).

Importing this package registers every task as ``equimanip/<Task>-v0``.
"""

from equimanip.envs import tasks as tasks  # noqa: F401  (registers the tasks)
from equimanip.envs.registry import TASKS, env_ids, register_task, task_class
from equimanip.envs.tabletop import EnvOptions, TabletopEnv, Workspace

__all__ = ["TASKS", "env_ids", "register_task", "task_class", "EnvOptions", "TabletopEnv", "Workspace"]
