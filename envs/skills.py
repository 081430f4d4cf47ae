"""Building blocks of the scripted experts.

Each skill is a *stateless* function of privileged state (object poses, the commanded gripper
pose, the finger opening, contacts): asked at any state, it returns the next action. Stateless
experts can be queried after a perturbation, which SEIL's transition simulation needs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING
from collections.abc import Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from equimanip.envs.tabletop import TabletopEnv

SAFE_Z = 0.10  # height at which the gripper travels above objects
XY_TOL = 0.004
YAW_TOL = math.radians(4.0)
Z_TOL = 0.004
CLOSED_EMPTY = 0.004  # finger opening below which a closed gripper holds nothing


def yaw_error(env: TabletopEnv, yaw: float, period: float) -> float:
    """Shortest turn from the commanded gripper yaw to ``yaw`` modulo ``period``."""
    return (yaw - env.robot.target_yaw + period / 2) % period - period / 2


def travel(env: TabletopEnv, xy: Sequence[float], z: float, yaw: float | None, period: float, open_gripper: bool,
           safe_z: float = SAFE_Z) -> np.ndarray:
    """Go to ``(xy, z)``: rise to ``safe_z`` first when far away in xy, then descend."""
    here = env.robot.target_position
    far = np.linalg.norm(np.asarray(xy) - here[:2]) > 2 * XY_TOL
    if far and here[2] < safe_z - Z_TOL and z >= here[2]:
        return env.gripper_action((here[0], here[1], safe_z), yaw, open_gripper, period)  # climb first
    return env.gripper_action((xy[0], xy[1], z), yaw, open_gripper, period)


def pick(env: TabletopEnv, body: str, grasp_xy: Sequence[float], grasp_z: float, grasp_yaw: float, *,
         yaw_period: float = math.pi, lift_z: float = 0.25, overhead: bool = False) -> np.ndarray:
    """Align above ``body``, descend, close, and lift while holding it.

    A closed gripper that holds nothing (a missed grasp) opens and tries again. By default the gripper
    descends towards the travel height while it moves; ``overhead`` keeps its height (above
    ``SAFE_Z``) until it is within one step (``dpos``) of the grasp in xy, so that every descent in a
    demonstration starts with the object under the gripper.
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
    approach_z = max(grasp_z, SAFE_Z)
    if overhead and np.linalg.norm(np.asarray(grasp_xy) - here[:2]) > env.options.dpos:
        approach_z = max(approach_z, float(here[2]))
    return travel(env, grasp_xy, approach_z, grasp_yaw, yaw_period, open_gripper=True)


def place(env: TabletopEnv, body: str, xy: Sequence[float], bottom_z: float, yaw: float | None = None, *,
          yaw_period: float = math.pi, clearance: float = 0.004, carry_clearance: float = 0.05) -> np.ndarray:
    """Carry the held ``body`` over ``xy``, turn it to ``yaw``, lower it and let go.

    ``bottom_z`` is the height the body's lowest point should come to rest at (the top of the
    surface below). The body is released ``clearance`` above it and is carried with its lowest
    point at least ``carry_clearance`` above it. Targets are servoed on the *body*'s measured pose,
    so an off-centre or turned grasp is corrected. Once released (gripper open, nothing held), the
    gripper rises. The body's lowest point is read off its AABB: exact for boxes and cylinders,
    padded by up to ~1 cm for meshes.
    """
    robot = env.robot
    here = robot.target_position
    if not robot.is_holding(body):
        if robot.finger_width() < 1.8 * robot.config.finger_open:  # let the fingers open before rising
            return env.gripper_action(here, None, open_gripper=True)
        return env.gripper_action((here[0], here[1], here[2] + env.options.dpos), None, open_gripper=True)
    body_xy, _, body_yaw = env.body_xy_yaw(body)
    lowest = float(env.sim.aabb(body)[0][2])
    hand, hand_yaw = robot.ee_pose()  # measured: the body's offset in the grasp is hand -> body
    shift = np.asarray(xy, dtype=float) - body_xy
    goal_xy = hand[:2] + shift  # the gripper position that puts the body over xy
    turn = 0.0 if yaw is None else (yaw - body_yaw + yaw_period / 2) % yaw_period - yaw_period / 2
    goal_yaw = hand_yaw + turn
    release_z = hand[2] + (bottom_z + clearance - lowest)
    carry_z = max(SAFE_Z, hand[2] + (bottom_z + carry_clearance - lowest))
    aligned = np.linalg.norm(shift) <= XY_TOL and abs(turn) <= YAW_TOL
    close = np.linalg.norm(shift) <= 2 * XY_TOL and abs(turn) <= 2 * YAW_TOL
    if aligned and abs(release_z - here[2]) <= Z_TOL:
        return env.gripper_action(here, None, open_gripper=True)
    if aligned or (close and here[2] < carry_z - Z_TOL):  # lower, still correcting small errors
        return env.gripper_action((goal_xy[0], goal_xy[1], release_z), goal_yaw, False, yaw_period)
    return travel(env, goal_xy, carry_z, goal_yaw, yaw_period, open_gripper=False, safe_z=carry_z)


# ----------------------------------------------------------------------------------------------
# Non-prehensile skills: pushing along a line and dragging by friction.
PUSH_Z = 0.018  # grasp-target height for pushing: fingertips ~7 mm above the table
FINGER_HALF_THICKNESS = 0.015  # half the closed fingers' extent across their closing axis
FINGERTIP_DROP = 0.011  # fingertips below the grasp-target frame


def workspace_room(env: TabletopEnv, xy: Sequence[float], direction: Sequence[float]) -> float:
    """Distance from ``xy`` along the unit ``direction`` to the edge of the workspace square."""
    lo, hi = env.workspace.low[:2], env.workspace.high[:2]
    room = math.inf
    for i in range(2):
        if direction[i] > 1e-9:
            room = min(room, (hi[i] - xy[i]) / direction[i])
        elif direction[i] < -1e-9:
            room = min(room, (lo[i] - xy[i]) / direction[i])
    return max(float(room), 0.0)


def push(env: TabletopEnv, body_xy: Sequence[float], goal_xy: Sequence[float], half: float, *,
         push_z: float = PUSH_Z, behind: float = 0.08, overshoot: float = 0.035, speed: float = 0.6,
         lateral_tol: float = 0.012, approach_z: float = 0.07) -> np.ndarray:
    """Push a body of half-width ``half`` at ``body_xy`` towards ``goal_xy`` with the closed fingers.

    Go ``behind`` metres behind the body on the goal line (less where the workspace edge is
    nearer), descend to ``push_z`` and move along the line until the body would be ``overshoot``
    past the goal, re-centring on the line (recomputed every step from the body's position) as
    the body drifts. Off the line or in front of the body, lift and start over.
    """
    robot = env.robot
    here = robot.target_position
    body = np.asarray(body_xy, dtype=float)[:2]
    line = np.asarray(goal_xy, dtype=float)[:2] - body
    dist = float(np.linalg.norm(line))
    d = line / dist if dist > 1e-6 else np.array([1.0, 0.0])
    yaw = math.atan2(d[1], d[0])  # closing axis across the line: both closed fingers push, side by side
    rel = here[:2] - body
    s, lateral = float(rel @ d), float(rel @ np.array([-d[1], d[0]]))
    low = here[2] <= push_z + Z_TOL and robot.ee_pose()[0][2] <= push_z + 0.01
    if low and s <= -half and abs(lateral) <= lateral_tol:
        advance = np.clip(dist + overshoot - (half + FINGER_HALF_THICKNESS) - s, 0.0, speed * env.options.dpos)
        xy = body + d * (s + advance)
        return env.gripper_action((xy[0], xy[1], push_z), yaw, open_gripper=False)
    start = body - d * min(behind, workspace_room(env, body, -d) - 0.003)
    if np.linalg.norm(here[:2] - start) > 2 * XY_TOL:
        if here[2] < approach_z - Z_TOL:
            return env.gripper_action((here[0], here[1], approach_z), yaw, open_gripper=False)  # climb first
        return env.gripper_action((start[0], start[1], approach_z), yaw, open_gripper=False)
    return env.gripper_action((start[0], start[1], push_z), yaw, open_gripper=False)


def drag(env: TabletopEnv, body_xy: Sequence[float], top_z: float, direction: Sequence[float], *,
         press: float = 0.005, yaw: float | None = None, yaw_period: float = math.pi, speed: float = 0.4) -> np.ndarray:
    """Press the closed fingertips on top of a body (top face at ``top_z``) and drag it along ``direction``.

    Friction under the fingertips slides a body out of a place where it can't be grasped (a corner,
    against a wall); the caller decides when it is free. The press is a few millimetres of target
    below the top: the position-controlled arm pushes hard, and a deeper press sinks the body into
    the table and makes it stick. Needs a body whose friction on the table is below the fingers'
    (lateral_friction < 1, see the tasks) or it slips and tips.
    """
    robot = env.robot
    here = robot.target_position
    body = np.asarray(body_xy, dtype=float)[:2]
    press_z = top_z + FINGERTIP_DROP - press
    measured = robot.ee_pose()[0]
    pressing = here[2] <= press_z + 1e-3 and measured[2] <= top_z + FINGERTIP_DROP + 0.002  # tips on the top
    if not robot.gripper_open and pressing and np.linalg.norm(measured[:2] - body) <= 0.015:
        xy = here[:2] + speed * env.options.dpos * np.asarray(direction, dtype=float)[:2]
        return env.gripper_action((xy[0], xy[1], press_z), yaw, False, yaw_period)
    if np.linalg.norm(here[:2] - body) > XY_TOL or (yaw is not None and abs(yaw_error(env, yaw, yaw_period)) > YAW_TOL):
        return travel(env, body, SAFE_Z, yaw, yaw_period, open_gripper=False)
    return env.gripper_action((body[0], body[1], press_z), yaw, False, yaw_period)
