"""Building blocks of the scripted experts.

Each skill is a *stateless* function of privileged state (object poses, the commanded gripper
pose, the finger opening, contacts): asked at any state, it returns the next action. Stateless
experts can be queried after a perturbation, which SEIL's transition simulation needs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from equimanip.envs.tabletop import TabletopEnv

SAFE_Z = 0.10  # height at which the gripper travels above objects
XY_TOL = 0.004
YAW_TOL = math.radians(4.0)
Z_TOL = 0.004
CLOSED_EMPTY = 0.004  # finger opening below which a closed gripper holds nothing


def yaw_error(env: "TabletopEnv", yaw: float, period: float) -> float:
    """Shortest turn from the commanded gripper yaw to ``yaw`` modulo ``period``."""
    return (yaw - env.robot.target_yaw + period / 2) % period - period / 2


def travel(env: "TabletopEnv", xy: Sequence[float], z: float, yaw: float | None, period: float, open_gripper: bool,
           safe_z: float = SAFE_Z) -> np.ndarray:
    """Go to ``(xy, z)``: rise to ``safe_z`` first when far away in xy, then descend."""
    here = env.robot.target_position
    far = np.linalg.norm(np.asarray(xy) - here[:2]) > 2 * XY_TOL
    if far and here[2] < safe_z - Z_TOL and z >= here[2]:
        return env.gripper_action((here[0], here[1], safe_z), yaw, open_gripper, period)  # climb first
    return env.gripper_action((xy[0], xy[1], z), yaw, open_gripper, period)


def pick(env: "TabletopEnv", body: str, grasp_xy: Sequence[float], grasp_z: float, grasp_yaw: float, *,
         yaw_period: float = math.pi, lift_z: float = 0.25) -> np.ndarray:
    """Align above ``body``, descend, close, and lift while holding it.

    A closed gripper that holds nothing (a missed grasp) opens and tries again.
    """
    robot = env.robot
    here = robot.target_position
    if robot.is_holding(body):
        return env.gripper_action((here[0], here[1], lift_z), None, open_gripper=False)
    if not robot.gripper_open:
        if robot.finger_width() > CLOSED_EMPTY and np.linalg.norm(np.asarray(grasp_xy) - here[:2]) < 0.02:
            return env.gripper_action(here, None, open_gripper=False)  # still closing on the object
        return env.gripper_action((here[0], here[1], here[2] + env.options.dpos), None, open_gripper=True)
    aligned = (np.linalg.norm(np.asarray(grasp_xy) - here[:2]) <= XY_TOL
               and abs(yaw_error(env, grasp_yaw, yaw_period)) <= YAW_TOL)
    if aligned and abs(here[2] - grasp_z) <= Z_TOL:
        return env.gripper_action(here, None, open_gripper=False)
    if aligned:
        return env.gripper_action((grasp_xy[0], grasp_xy[1], grasp_z), grasp_yaw, True, yaw_period)
    return travel(env, grasp_xy, max(grasp_z, SAFE_Z), grasp_yaw, yaw_period, open_gripper=True)
