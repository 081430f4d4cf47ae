"""Replay buffer with symmetry augmentation: every transition is stored with k transformed copies.

The group acts through the symmetry core (``transform_image`` on image observations,
``transform_action`` on actions), on exact elements only: multiples of 90° and reflections, which
permute pixels without interpolation. Reward, done flags and invariant keys (``holding``) are copied.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.buffers import DictReplayBuffer

from equimanip.symmetry import DihedralGroup, Group, GroupElement, group_from_name, transform_action, transform_image

IMAGE_KEYS = ("depth", "rgb")
INVARIANT_KEYS = ("holding",)


def exact_elements(group: Group | str) -> list[GroupElement]:
    """Non-identity elements of ``group`` that act on pixel grids exactly (90° multiples, reflections)."""
    group = group_from_name(group) if isinstance(group, str) else group
    return [g for g in DihedralGroup(4).elements()[1:] if group.contains(g)]


def transform_observation(obs: dict[str, np.ndarray], g: GroupElement) -> dict[str, np.ndarray]:
    """Apply ``g`` to a (batched) observation dict: images turn, invariant keys are copied."""
    out = {}
    for key, value in obs.items():
        if key in IMAGE_KEYS:
            out[key] = transform_image(value, g)
        elif key in INVARIANT_KEYS:
            out[key] = value.copy()
        else:
            raise ValueError(f"cannot augment observation key {key!r}; augmentation supports {IMAGE_KEYS + INVARIANT_KEYS}")
    return out


class SymmetricReplayBuffer(DictReplayBuffer):
    """``DictReplayBuffer`` that adds ``n_copies`` randomly transformed copies of every transition.

    Args (``replay_buffer_kwargs``):
        group: the symmetry group (``C4``, ``C8``, ``D4`` …); only its exact elements are used.
        n_copies: extra copies per transition (4 in equivariant SAC, REFERENCES §3).
        seed: seed of the generators that pick the elements and the demonstration samples.
        demo_fraction: share of every sampled batch drawn from the demonstrations (the transitions
            stored before :meth:`mark_demonstrations`), the rest from the transitions stored after them,
            as in RLPD's symmetric sampling; it stands in for equivariant SACfD's prioritised replay
            with an expert bonus. 0 (the default) samples the whole buffer uniformly, as SB3 does. Demos
            are sampled this way until the buffer wraps round and overwrites them.
    """

    def __init__(self, *args: Any, group: str = "D4", n_copies: int = 4, seed: int = 0, demo_fraction: float = 0.0,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        if int(n_copies) != n_copies or n_copies < 0:
            raise ValueError(f"n_copies must be a non-negative integer, got {n_copies!r}")
        if not (isinstance(demo_fraction, (int, float)) and 0 <= demo_fraction < 1):
            raise ValueError(f"demo_fraction must be a number in [0, 1), got {demo_fraction!r}")
        self.elements = exact_elements(group)
        if n_copies and not self.elements:
            raise ValueError(f"group {group} has no exact 90° rotation or reflection to augment with")
        bad = sorted(set(self.observation_space.spaces) - set(IMAGE_KEYS + INVARIANT_KEYS))
        if n_copies and bad:
            raise ValueError(f"cannot augment observation keys {bad}; use observations with only {IMAGE_KEYS + INVARIANT_KEYS}")
        self.n_copies = int(n_copies)
        self._rng = np.random.default_rng(seed)
        self.demo_fraction = float(demo_fraction)
        self.n_demo = 0
        self._sample_rng = np.random.default_rng([seed, 1])

    def mark_demonstrations(self) -> None:
        """Everything stored so far is demonstrations (copies included)."""
        self.n_demo = self.buffer_size if self.full else self.pos

    def sample(self, batch_size: int, env: Any = None) -> Any:  # type: ignore[override]
        fraction, n_demo_stored = getattr(self, "demo_fraction", 0.0), getattr(self, "n_demo", 0)  # older pickles
        if not fraction or not n_demo_stored or self.full or self.pos <= n_demo_stored:
            return super().sample(batch_size, env=env)
        n_demo = int(round(fraction * batch_size))
        inds = np.concatenate([self._sample_rng.integers(0, n_demo_stored, size=n_demo),
                               self._sample_rng.integers(n_demo_stored, self.pos, size=batch_size - n_demo)])
        return self._get_samples(inds, env=env)

    def add(self, obs: dict[str, np.ndarray], next_obs: dict[str, np.ndarray], action: np.ndarray, reward: np.ndarray,
            done: np.ndarray, infos: list[dict[str, Any]]) -> None:
        super().add(obs, next_obs, action, reward, done, infos)
        for _ in range(self.n_copies):
            g = self.elements[int(self._rng.integers(len(self.elements)))]
            super().add(transform_observation(obs, g), transform_observation(next_obs, g),
                        transform_action(action, g).astype(action.dtype), reward, done, infos)
