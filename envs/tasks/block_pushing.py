"""Block Pushing: push a cube onto a goal disc drawn on the table."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from equimanip.envs import skills
from equimanip.envs.registry import register_task
from equimanip.envs.tabletop import TabletopEnv

BLOCK = "block"
GOAL = "goal"
HALF = 0.02  # 4 cm cube
GOAL_RADIUS = 0.03
GOAL_HEIGHT = 0.004  # a flat pad: visible in depth images, no collision


@register_task("BlockPushing-v0", max_episode_steps=50)
class BlockPushing(TabletopEnv):
    """Push the cube so that its centre lies within 5 cm of the goal.

    Randomizations: cube xy uniform in the workspace (6 cm margin), yaw uniform in [0, 2π); goal
    xy uniform in the workspace (5 cm margin), at least 10 cm from the cube.
    Success: the cube rests on the table with its centre within 5 cm of the goal centre.
    """

    task_state_dim = 7
    success_radius = 0.05

    def build_scene(self) -> None:
        self.sim.create_box(BLOCK, (HALF, HALF, HALF), (0.5, 0.0, HALF), mass=0.1, rgba=(0.85, 0.25, 0.2, 1.0))
        # fingers touch the cube near its top edge: with table friction μ it tips over unless μ < half-width / height
        self.sim.set_dynamics(BLOCK, lateral_friction=0.4, spinning_friction=0.002)
        self.sim.create_cylinder(GOAL, GOAL_RADIUS, GOAL_HEIGHT, (0.5, 0.0, GOAL_HEIGHT / 2), mass=0.0,
                                 rgba=(0.2, 0.7, 0.3, 1.0), collision=False)
        self.goal = np.array(self.workspace.centre, dtype=float)

    def reset_task(self, rng: np.random.Generator) -> None:
        # a 6 cm margin leaves room behind the cube for the fingers whatever the goal's direction
        block_xy = self.sample_xy(rng, margin=0.06)
        self.place(BLOCK, block_xy, HALF, rng.uniform(0, 2 * math.pi))
        self.goal = self.scene_point(self.sample_xy(rng, margin=0.05, avoid=[block_xy], min_distance=0.1))
        self.sim.set_pose(GOAL, (self.goal[0], self.goal[1], GOAL_HEIGHT / 2))

    def save_task_state(self) -> Any:
        return self.goal.copy()

    def restore_task_state(self, state: Any) -> None:
        self.goal = np.asarray(state, dtype=float).copy()

    def tracked_bodies(self) -> list[str]:
        return [BLOCK]

    def is_success(self) -> bool:
        xy, z, _ = self.body_xy_yaw(BLOCK)
        return z < HALF + 0.005 and float(np.linalg.norm(xy - self.goal)) < self.success_radius

    def task_state(self) -> np.ndarray:
        return np.array([*self.pose_features(BLOCK), self.goal[0], self.goal[1]])

    def expert_action(self) -> np.ndarray:
        xy, _, _ = self.body_xy_yaw(BLOCK)
        return skills.push(self, xy, self.goal, HALF)
