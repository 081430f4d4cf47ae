"""Drawer Opening: pull a cabinet's drawer open by its handle."""

from __future__ import annotations

import math
from importlib.resources import files

import numpy as np

from equimanip.envs import skills
from equimanip.envs.registry import register_task
from equimanip.envs.tabletop import TabletopEnv

CABINET = "cabinet"
SLIDE = 0  # the drawer's prismatic joint (and the drawer link's index)
# geometry of assets/drawer/drawer.urdf (see scripts/make_assets.py), in the cabinet's frame
CAB_HALF = (0.06, 0.07)  # half depth (along the drawer's axis, +x) and half width
BAR_X = 0.10  # the handle bar's axis (parallel to the front, 4 cm ahead of it) when the drawer is closed
GRASP_Z = 0.05  # grasp-target height: the middle of the bar (4.2-5.8 cm above the table)
# The gripper descends this far outward of the bar, so the inner finger clears the drawer front;
# closing then slides the free drawer until the bar sits between the fingers.
APPROACH_OFFSET = 0.026
SLIDE_FRICTION = 2.0  # N: the drawer stays where it is left


@register_task("DrawerOpening-v0", max_episode_steps=50)
class DrawerOpening(TabletopEnv):
    """Open the drawer of a small cabinet by pulling its handle.

    The handle is a bar held out of the drawer front, parallel to it; the gripper grasps it from
    above, fingers closing along the drawer's axis, and pulls.

    Randomizations: cabinet yaw uniform in [0, 2π); its xy uniform among the positions where the
    cabinet lies in the workspace and the handle stays in reach when pulled open; drawer closed.
    Success: the drawer is open by at least 10 cm (BulletArm's threshold).
    """

    task_state_dim = 5
    open_threshold = 0.10
    pull_to = 0.115  # the expert pulls a little past the threshold
    reach_margin = 0.01

    def build_scene(self) -> None:
        urdf = files("equimanip.assets").joinpath("drawer/drawer.urdf")
        self.sim.load_urdf(CABINET, str(urdf), (0.5, 0.0, 0.0), fixed=True)
        self.sim.set_joint_friction(CABINET, [SLIDE], [SLIDE_FRICTION])
        self.sim.set_dynamics(CABINET, SLIDE, lateral_friction=1.0)

    def reset_task(self, rng: np.random.Generator) -> None:
        yaw = rng.uniform(0, 2 * math.pi)
        axis = np.array([math.cos(yaw), math.sin(yaw)])
        side = np.array([-axis[1], axis[0]])
        corners = [sx * CAB_HALF[0] * axis + sy * CAB_HALF[1] * side for sx in (-1, 1) for sy in (-1, 1)]
        pulled = (BAR_X + self.pull_to) * axis
        lo, hi = self.workspace.low[:2], self.workspace.high[:2]
        for _ in range(1000):  # uniform over the feasible positions for this yaw
            xy = self.sample_xy(rng, margin=0.0)
            inside = all(np.all(xy + c >= lo) and np.all(xy + c <= hi) for c in corners)
            if inside and np.all(xy + pulled >= lo + self.reach_margin) and np.all(xy + pulled <= hi - self.reach_margin):
                break
        else:  # pragma: no cover - the feasible set is never empty for this cabinet size
            raise RuntimeError("no position for the cabinet fits the workspace")
        self.place(CABINET, xy, 0.0, yaw)
        self.sim.reset_joints(CABINET, [SLIDE], [0.0])

    def tracked_bodies(self) -> list[str]:
        return [CABINET]

    def carriable_bodies(self) -> list[str]:
        return []  # the handle slides with the drawer, not with the gripper

    def opening(self) -> float:
        return float(self.sim.joint_positions(CABINET, [SLIDE])[0])

    def is_success(self) -> bool:
        return self.opening() >= self.open_threshold

    def task_state(self) -> np.ndarray:
        xy, _, yaw = self.body_xy_yaw(CABINET)
        return np.array([xy[0], xy[1], math.sin(yaw), math.cos(yaw), self.opening()])

    def expert_action(self) -> np.ndarray:
        xy, _, yaw = self.body_xy_yaw(CABINET)
        axis = np.array([math.cos(yaw), math.sin(yaw)])
        opening = self.opening()
        bar = xy + (BAR_X + opening) * axis
        grip_yaw = yaw + math.pi / 2  # fingers close along the drawer's axis, around the bar
        if self.robot.is_holding(CABINET):
            goal = bar + (self.pull_to - opening) * axis
            return self.gripper_action((goal[0], goal[1], GRASP_Z), grip_yaw, open_gripper=False)
        grasp = bar + (APPROACH_OFFSET * axis if self.robot.gripper_open else 0.0)
        return skills.pick(self, CABINET, grasp, GRASP_Z, grip_yaw, yaw_period=math.pi)
