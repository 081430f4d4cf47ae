"""Shared fixtures: tests are parametrised over the task registry, so a new task needs no new test."""

from __future__ import annotations

import gymnasium as gym
import pytest

import equimanip  # noqa: F401  (registers the environments)


@pytest.fixture
def make_env():
    """Factory that closes every env it made."""
    made: list[gym.Env] = []

    def factory(env_id: str, **kwargs) -> gym.Env:
        env = gym.make(env_id, **kwargs)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()
