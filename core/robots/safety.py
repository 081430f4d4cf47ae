"""Safety limits applied to every action before a robot receives it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from equimanip.symmetry import ACTION_DIM, ACTION_INDEX


class SafetyError(ValueError):
    """An action that cannot be made safe (wrong shape, NaN or inf): the runner holds instead."""


@dataclass(frozen=True)
class SafetyLimits:
    """A workspace box the gripper target stays in, and the largest step per action.

    Attributes:
        workspace_low, workspace_high: corners of the box (metres, robot base frame).
        max_step: largest translation per action (metres, Euclidean).
        max_rotation: largest yaw change per action (radians).
    """

    workspace_low: tuple[float, float, float] = (0.35, -0.15, 0.005)
    workspace_high: tuple[float, float, float] = (0.65, 0.15, 0.30)
    max_step: float = 0.05
    max_rotation: float = float(np.pi / 8)

    def __post_init__(self) -> None:
        low, high = np.asarray(self.workspace_low, float), np.asarray(self.workspace_high, float)
        if low.shape != (3,) or high.shape != (3,) or not np.all(low < high):
            raise ValueError(f"workspace_low must be below workspace_high in x, y, z; got {self.workspace_low}, "
                             f"{self.workspace_high}")
        if not (self.max_step > 0 and self.max_rotation > 0):
            raise ValueError(f"max_step and max_rotation must be positive; got {self.max_step}, {self.max_rotation}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SafetyLimits:
        known = {"workspace_low", "workspace_high", "max_step", "max_rotation"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown safety limit(s) {unknown}; accepted: {', '.join(sorted(known))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def apply(self, action: Any, dpos: float, drot: float,
              position: Sequence[float] | None = None) -> tuple[np.ndarray, list[str]]:
        """The safe version of ``action`` and what was limited.

        Components are clipped to [-1, 1]; the translation ``(dx, dy, dz)·dpos`` is scaled down to
        ``max_step``; with the gripper ``position`` known, the target ``position + delta`` is clamped
        into the workspace box (so a gripper outside it can only move back in); ``dθ·drot`` is clipped
        to ``max_rotation``. Raises :class:`SafetyError` for non-finite or wrongly shaped actions.
        """
        try:
            a = np.asarray(action, dtype=np.float64).copy()
        except (TypeError, ValueError):
            raise SafetyError(f"action must be {ACTION_DIM} floats, got {action!r}") from None
        if a.shape != (ACTION_DIM,):
            raise SafetyError(f"action must have shape ({ACTION_DIM},) = (p, dx, dy, dz, dθ); got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise SafetyError(f"action is not finite: {a.tolist()}")
        limited: list[str] = []
        if np.any(np.abs(a) > 1.0):
            limited.append("clipped to [-1, 1]")
            a = np.clip(a, -1.0, 1.0)
        xy, z = ACTION_INDEX["dxy"], ACTION_INDEX["dz"]
        delta = np.concatenate([a[xy], a[z]]) * dpos
        if position is not None:
            pos = np.asarray(position, dtype=np.float64)
            target = np.clip(pos + delta, self.workspace_low, self.workspace_high)
            if not np.allclose(target, pos + delta):
                limited.append("workspace")
            delta = target - pos
        norm = float(np.linalg.norm(delta))
        if norm > self.max_step:
            limited.append("max_step")
            delta *= self.max_step / norm
        a[xy], a[z] = delta[:2] / dpos, delta[2:] / dpos
        th = ACTION_INDEX["dtheta"]
        rot = a[th] * drot
        if np.any(np.abs(rot) > self.max_rotation):
            limited.append("max_rotation")
            a[th] = np.clip(rot, -self.max_rotation, self.max_rotation) / drot
        # a box far from the gripper can ask for more than one unit step: the robot's own clip would differ
        return np.clip(a, -1.0, 1.0).astype(np.float32), limited
