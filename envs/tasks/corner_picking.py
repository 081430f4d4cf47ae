"""Corner Picking: slide a cube out of a corner, then pick it up."""

from __future__ import annotations

import math

import numpy as np

from equimanip.envs import skills
from equimanip.envs.registry import register_task
from equimanip.envs.tabletop import TabletopEnv

BLOCK = "block"
WALLS = ("wall_a", "wall_b")
HALF = 0.02  # 4 cm cube
# walls taller than the cube: fingers between cube and wall can't pass over a wall to pinch the cube's top
WALL_LEN, WALL_T, WALL_H = 0.12, 0.01, 0.045  # inner length, thickness, height
FREE = HALF + 0.05  # cube centre this far from both walls: room for an open finger between cube and wall
DRAG = 0.085  # planned drag along the corner's bisector (sampling keeps the dragged cube in the workspace)


@register_task("CornerPicking-v0", max_episode_steps=50)
class CornerPicking(TabletopEnv):
    """Pick up a cube pushed into a corner, where the walls block every top-down grasp.

    The expert presses its closed fingertips on the cube, drags it diagonally out of the corner,
    then picks it.

    Randomizations: corner vertex xy and heading uniform (rejection-sampled so that the walls, the
    cube and the cube dragged 8.5 cm out of the corner lie in the workspace); the cube touches both walls.
    Success: the gripper holds the cube and the cube is more than 15 cm above the table.
    """

    task_state_dim = 10
    lift_height = 0.15

    def build_scene(self) -> None:
        for name in WALLS:
            self.sim.create_box(name, ((WALL_LEN + WALL_T) / 2, WALL_T / 2, WALL_H / 2), (0.5, 0.3, WALL_H / 2),
                                mass=0.0, rgba=(0.55, 0.45, 0.35, 1.0))
        self.sim.create_box(BLOCK, (HALF, HALF, HALF), (0.5, 0.0, HALF), mass=0.1, rgba=(0.85, 0.25, 0.2, 1.0))
        # dragged by friction on its top face: slides (rather than tips or sticks) when the table grips it less
        self.sim.set_dynamics(BLOCK, lateral_friction=0.4, spinning_friction=0.002)

    def reset_task(self, rng: np.random.Generator) -> None:
        for _ in range(1000):
            vertex, yaw = rng.uniform(self.workspace.low[:2], self.workspace.high[:2]), rng.uniform(0, 2 * math.pi)
            u, v = np.array([math.cos(yaw), math.sin(yaw)]), np.array([-math.sin(yaw), math.cos(yaw)])
            cube = vertex + (u + v) * (HALF + 0.0005)  # touching both walls
            dragged = cube + (u + v) / math.sqrt(2) * DRAG
            if (self._inside(cube, 0.03) and self._inside(dragged, 0.04)
                    and self._inside(vertex + u * WALL_LEN, 0.0) and self._inside(vertex + v * WALL_LEN, 0.0)):
                break
        else:
            raise RuntimeError("could not place the corner in the workspace")
        self.place(WALLS[0], vertex + u * (WALL_LEN - WALL_T) / 2 - v * WALL_T / 2, WALL_H / 2, yaw)
        self.place(WALLS[1], vertex + v * (WALL_LEN - WALL_T) / 2 - u * WALL_T / 2, WALL_H / 2, yaw + math.pi / 2)
        self.place(BLOCK, cube, HALF, yaw)

    def _inside(self, xy: np.ndarray, margin: float) -> bool:
        return bool(np.all(xy >= self.workspace.low[:2] + margin) and np.all(xy <= self.workspace.high[:2] - margin))

    def corner(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inner vertex and the unit directions along walls A and B (robust to reflected scenes)."""
        (ca, _, ya), (cb, _, yb) = (self.body_xy_yaw(name) for name in WALLS)
        u, v = np.array([math.cos(ya), math.sin(ya)]), np.array([math.cos(yb), math.sin(yb)])
        u, v = u * np.sign((ca - cb) @ u), v * np.sign((cb - ca) @ v)  # each wall's centre lies beyond the other's
        return ca - u * (WALL_LEN - WALL_T) / 2 + v * WALL_T / 2, u, v

    def tracked_bodies(self) -> list[str]:
        return [BLOCK]

    def is_success(self) -> bool:
        return self.lifted_and_held(BLOCK, HALF, self.lift_height)

    def task_state(self) -> np.ndarray:
        vertex, u, v = self.corner()
        heading = math.atan2(u[1] + v[1], u[0] + v[0])
        return np.array([*self.pose_features(BLOCK), vertex[0], vertex[1], WALL_H / 2, math.sin(heading), math.cos(heading)])

    def expert_action(self) -> np.ndarray:
        xy, z, yaw = self.body_xy_yaw(BLOCK)
        vertex, u, v = self.corner()
        along_a, along_b = (xy - vertex) @ u, (xy - vertex) @ v  # distances to walls B and A
        cornered = min(along_a, along_b) < FREE and max(along_a, along_b) < WALL_LEN
        if cornered and not self.robot.is_holding(BLOCK):
            return skills.drag(self, xy, 2 * HALF, (u + v) / math.sqrt(2), yaw=yaw, yaw_period=math.pi / 2)
        return skills.pick(self, BLOCK, xy, z, yaw, yaw_period=math.pi / 2)
