"""Block in Bowl: put a cube into a bowl."""

from __future__ import annotations

import math
from importlib.resources import files

import numpy as np

from equimanip.envs import skills
from equimanip.envs.registry import register_task
from equimanip.envs.tabletop import TabletopEnv

BLOCK = "block"
BOWL = "bowl"
HALF = 0.02  # 4 cm cube, as in BlockPicking
CUBE_PERIOD = math.pi / 2  # a cube looks the same after a quarter turn
# geometry of assets/bowl/bowl.urdf (see scripts/make_assets.py); its pose is its bottom centre
BOWL_RADIUS = 0.075  # at the rim (0.055 at the bottom)
BOWL_HEIGHT = 0.05
BOWL_FLOOR = 0.008  # thickness of the bottom disc


@register_task("BlockInBowl-v0", max_episode_steps=50)
class BlockInBowl(TabletopEnv):
    """Put the cube into the bowl.

    Randomizations: bowl xy uniform in the workspace (7 cm margin); cube xy uniform (4 cm margin)
    at least 14 cm from the bowl's centre (the open fingers clear the rim); cube yaw uniform in
    [0, 2π) (the bowl is round).
    Success: the cube rests in the upright bowl: its centre within 3 cm of the bowl's axis
    (BulletArm), its bottom on the bowl's floor (within 1 cm above it), not held, and the bowl
    tilted less than 15°.
    """

    task_state_dim = 8
    xy_tolerance = 0.03
    max_tilt = math.radians(15.0)

    def build_scene(self) -> None:
        self.sim.load_urdf(BOWL, str(files("equimanip.assets").joinpath("bowl/bowl.urdf")), (0.5, 0.0, 0.0))
        self.sim.set_dynamics(BOWL, lateral_friction=1.0)
        self.sim.create_box(BLOCK, (HALF, HALF, HALF), (0.5, 0.0, HALF), mass=0.1, rgba=(0.85, 0.25, 0.2, 1.0))
        self.sim.set_dynamics(BLOCK, lateral_friction=1.0, spinning_friction=0.002)

    def reset_task(self, rng: np.random.Generator) -> None:
        bowl = self.sample_xy(rng, margin=0.07)
        block = self.sample_xy(rng, margin=0.04, avoid=[bowl], min_distance=0.14)
        self.place(BOWL, bowl, 0.0, rng.uniform(0, 2 * math.pi))
        self.place(BLOCK, block, HALF, rng.uniform(0, 2 * math.pi))

    def tracked_bodies(self) -> list[str]:
        return [BLOCK, BOWL]

    def graspable_bodies(self) -> list[str]:
        return [BLOCK]

    def bowl_upright(self) -> bool:
        _, quat = self.sim.get_pose(BOWL)
        x, y, _, _ = quat
        return 1.0 - 2.0 * (x * x + y * y) >= math.cos(self.max_tilt)  # the bowl's z axis · world z

    def is_success(self) -> bool:
        block_xy, block_z, _ = self.body_xy_yaw(BLOCK)
        bowl_xy, bowl_z, _ = self.body_xy_yaw(BOWL)
        height = block_z - HALF - (bowl_z + BOWL_FLOOR)  # of the cube's bottom above the bowl's floor
        return (float(np.linalg.norm(block_xy - bowl_xy)) <= self.xy_tolerance and -0.005 <= height <= 0.01
                and not self.robot.is_holding(BLOCK) and self.bowl_upright())

    def task_state(self) -> np.ndarray:
        bowl_xy, bowl_z, _ = self.body_xy_yaw(BOWL)
        return np.array([*self.pose_features(BLOCK), bowl_xy[0], bowl_xy[1], bowl_z])

    def expert_action(self) -> np.ndarray:
        block_xy, block_z, block_yaw = self.body_xy_yaw(BLOCK)
        bowl_xy, bowl_z, _ = self.body_xy_yaw(BOWL)
        over_bowl = float(np.linalg.norm(block_xy - bowl_xy)) < BOWL_RADIUS
        if self.robot.is_holding(BLOCK) or over_bowl:  # carry it over the bowl and drop it, or rise after
            return skills.place(self, BLOCK, bowl_xy, bowl_z + BOWL_HEIGHT + 0.005)
        return skills.pick(self, BLOCK, block_xy, block_z, block_yaw, yaw_period=CUBE_PERIOD)
