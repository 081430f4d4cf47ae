"""Block Pulling: drag one flat block until it touches the other."""

from __future__ import annotations

import math

import numpy as np

from equimanip.envs import skills
from equimanip.envs.registry import register_task
from equimanip.envs.tabletop import TabletopEnv

BLOCKS = ("block_a", "block_b")
HALF = (0.02, 0.02, 0.0125)  # flat 4 × 4 × 2.5 cm blocks


@register_task("BlockPulling-v0", max_episode_steps=50)
class BlockPulling(TabletopEnv):
    """Pull one of two flat blocks until the two blocks touch (BulletArm's block pulling).

    Randomizations: both blocks' xy uniform in the workspace (5 cm margin), at least 8 cm apart;
    yaws uniform in [0, 2π).
    Success: the two blocks are in contact.
    """

    task_state_dim = 10

    def build_scene(self) -> None:
        for name, rgba in zip(BLOCKS, ((0.85, 0.25, 0.2, 1.0), (0.2, 0.4, 0.85, 1.0))):
            self.sim.create_box(name, HALF, (0.5, 0.0, HALF[2]), mass=0.1, rgba=rgba)
            # table friction low enough that a push at the top edge slides the flat block, never tips it
            self.sim.set_dynamics(name, lateral_friction=0.5, spinning_friction=0.002)

    def reset_task(self, rng: np.random.Generator) -> None:
        placed: list[np.ndarray] = []
        for name in BLOCKS:
            xy = self.sample_xy(rng, margin=0.05, avoid=placed, min_distance=0.08)
            self.place(name, xy, HALF[2], rng.uniform(0, 2 * math.pi))
            placed.append(xy)

    def tracked_bodies(self) -> list[str]:
        return list(BLOCKS)

    def is_success(self) -> bool:
        return self.sim.in_contact(*BLOCKS)

    def task_state(self) -> np.ndarray:
        return np.array([v for name in BLOCKS for v in self.pose_features(name)])

    def expert_action(self) -> np.ndarray:
        (a, _, _), (b, _, _) = (self.body_xy_yaw(name) for name in BLOCKS)
        # drag the block with more room behind it (away from the other one): that room only grows
        # as it moves, so the choice never flips mid-episode
        room_a = skills.workspace_room(self, a, (a - b) / np.linalg.norm(a - b))
        room_b = skills.workspace_room(self, b, (b - a) / np.linalg.norm(a - b))
        moved, other = (a, b) if room_a >= room_b else (b, a)
        return skills.push(self, moved, other, HALF[0])
