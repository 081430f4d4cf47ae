"""Task registration: ``@register_task("BlockPicking-v0", max_episode_steps=50)``."""

from __future__ import annotations

from typing import TypeVar
from collections.abc import Callable

import gymnasium as gym

NAMESPACE = "equimanip"
TASKS: dict[str, type] = {}

T = TypeVar("T", bound=type)


def register_task(name: str, max_episode_steps: int) -> Callable[[T], T]:
    """Register a task class as the gymnasium environment ``equimanip/<name>``."""

    def decorate(cls: T) -> T:
        env_id = f"{NAMESPACE}/{name}"
        cls.env_id = env_id  # type: ignore[attr-defined]
        cls.max_episode_steps = max_episode_steps  # type: ignore[attr-defined]
        TASKS[env_id] = cls
        if env_id not in gym.registry:
            # a string entry point lets subprocess workers re-import the task on their own
            gym.register(env_id, entry_point=f"{cls.__module__}:{cls.__name__}", max_episode_steps=max_episode_steps)
        return cls

    return decorate


def task_class(env_id: str) -> type:
    """The task class of a registered id (``equimanip/BlockPicking-v0`` or ``BlockPicking-v0``)."""
    key = env_id if env_id.startswith(f"{NAMESPACE}/") else f"{NAMESPACE}/{env_id}"
    try:
        return TASKS[key]
    except KeyError:
        raise ValueError(f"unknown environment {env_id!r}; registered: {', '.join(sorted(TASKS))}") from None


def env_ids() -> list[str]:
    return sorted(TASKS)
