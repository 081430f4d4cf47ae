"""Block Picking: pick a cube up."""

from __future__ import annotations

import math

import numpy as np

from equimanip.envs import skills
from equimanip.envs.registry import register_task
from equimanip.envs.tabletop import TabletopEnv

BLOCK = "block"
HALF = 0.02  # 4 cm cube (the Panda opens 8 cm)


@register_task("BlockPicking-v0", max_episode_steps=50)
class BlockPicking(TabletopEnv):
    """Pick the cube up.

    Randomizations: cube xy uniform in the workspace (4 cm margin), yaw uniform in [0, 2π).
    Success: the gripper holds the cube and the cube is more than 15 cm above the table.
    """

    task_state_dim = 5
    lift_height = 0.15

    def build_scene(self) -> None:
        self.sim.create_box(BLOCK, (HALF, HALF, HALF), (0.5, 0.0, HALF), mass=0.1, rgba=(0.85, 0.25, 0.2, 1.0))
        self.sim.set_dynamics(BLOCK, lateral_friction=1.0, spinning_friction=0.002)

    def reset_task(self, rng: np.random.Generator) -> None:
        self.place(BLOCK, self.sample_xy(rng, margin=0.04), HALF, rng.uniform(0, 2 * math.pi))

    def tracked_bodies(self) -> list[str]:
        return [BLOCK]

    def is_success(self) -> bool:
        return self.lifted_and_held(BLOCK, HALF, self.lift_height)

    def task_state(self) -> np.ndarray:
        return np.array(self.pose_features(BLOCK))

    def expert_action(self) -> np.ndarray:
        xy, z, yaw = self.body_xy_yaw(BLOCK)
        return skills.pick(self, BLOCK, xy, z, yaw, yaw_period=math.pi / 2)
