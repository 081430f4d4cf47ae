"""A trained run as a policy function, with the env options that give its actions their size."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class LoadedPolicy:
    """``act(obs) -> action`` of a run, and the env it was trained in."""

    act: Callable[[dict[str, np.ndarray]], np.ndarray]
    env_id: str
    env_options: dict[str, Any]

    @property
    def dpos(self) -> float:
        return float(self.env_options["dpos"])

    @property
    def drot(self) -> float:
        return float(self.env_options["drot"])

    @property
    def image_size(self) -> int:
        return int(self.env_options["image_size"])


def load_policy(run: str | Path, device: str = "auto") -> LoadedPolicy:
    """The deterministic policy of an RL or BC/SEIL run directory (as ``equimanip eval`` loads it)."""
    from equimanip.cli import _load_any_run  # the one loader of `equimanip eval`: RL and imitation runs alike
    from equimanip.envs.tabletop import EnvOptions

    model, config = _load_any_run(Path(run), device=device)
    defaults = {f.name: f.default for f in dataclasses.fields(EnvOptions)}
    options = {**defaults, **config.env_options}
    keys = ("depth", "holding")

    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        action, _ = model.predict({k: obs[k] for k in keys}, deterministic=True)
        return np.asarray(action, dtype=np.float32)

    return LoadedPolicy(act, config.env, options)


def run_env(run: str | Path) -> tuple[str, dict[str, Any]]:
    """The env id and env options a run directory was trained with (without loading its model)."""
    import json

    try:
        config = json.loads((Path(run) / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{run} is not a readable run directory: {exc}") from None
    options = dict(config.get("env_options", {}))
    if "observations" in options:
        options["observations"] = tuple(options["observations"])
    return config["env"], options
