"""Shared fixtures: tests are parametrised over the task registry, so a new task needs no new test."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

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


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module of small nets: on a busy 2-core machine torch's thread pool
    slows them up to 10× (use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def roscore():
    """A real roscore on 127.0.0.1, on a free port for this module; missing ROS fails, never skips."""
    from equimanip.ros.testing import start_roscore

    try:
        core = start_roscore()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield core
    core.stop()
