"""The shared tabletop environment that every task extends with a few hooks.

A task is one small class (see ``envs/tasks/``) that builds its bodies once, places them on each
reset, says when it is solved and scripts an expert. This base owns the simulator, the Panda, the
camera, the action and observation spaces, seeding, scene rotation for symmetry tests, input
validation and the physics-blow-up guard.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from equimanip.envs.cameras import CAMERAS, CORRUPTIONS, Camera, CameraFrame, CameraSpec
from equimanip.envs.robot import PandaRobot, wrap_half_turn
from equimanip.envs.sim import Simulator, make_simulator
from equimanip.symmetry import (ACTION_DIM, ACTION_INDEX, PLANAR_SYMMETRY, GroupElement, TaskSymmetry,
                                transform_planar_pose)

OBS_DEPTH, OBS_HOLDING, OBS_RGB, OBS_POINT_CLOUD, OBS_STATE = "depth", "holding", "rgb", "point_cloud", "state"
OPTIONAL_OBSERVATIONS: tuple[str, ...] = (OBS_RGB, OBS_POINT_CLOUD, OBS_STATE)
TABLE = "table"
OCCLUDER = "occluder"


@dataclass(frozen=True)
class Workspace:
    """The square the gripper and the objects live in (metres, world frame)."""

    centre: tuple[float, float] = (0.5, 0.0)
    size: float = 0.3
    z_min: float = 0.005  # lowest commanded grasp-target height (fingertips just above the table)
    z_max: float = 0.30

    @property
    def low(self) -> np.ndarray:
        return np.array([self.centre[0] - self.size / 2, self.centre[1] - self.size / 2, self.z_min])

    @property
    def high(self) -> np.ndarray:
        return np.array([self.centre[0] + self.size / 2, self.centre[1] + self.size / 2, self.z_max])


def depth_channels(context_view: float | None) -> int:
    """Channels of the depth observation of an env with this ``context_view`` option: 2 with one, else 1."""
    return 2 if float(context_view or 0.0) else 1


@dataclass(frozen=True)
class EnvOptions:
    """Options every task accepts (``gym.make(env_id, **options)``).

    Attributes:
        camera: ``gripper_topdown`` (orthographic, centred on the gripper, fingers painted in),
            ``fixed_topdown`` (orthographic over the workspace) or ``side`` (perspective RGB-D, robot
            in view: the symmetry is latent).
        image_size: height and width of images in pixels.
        view_size: metres seen by the top-down cameras.
        context_view: with ``gripper_topdown``, metres seen by a second, wider view centred on the gripper too
            (0: none). Its image (same pixel count, coarser pixels) becomes the depth observation's second
            channel: fine pixels near the gripper and the rest of the scene in sight, e.g. the other cube that a
            0.4 m view loses when the cubes are far apart. Both channels rotate about the same centre, so the
            image symmetry is unchanged.
        side_elevation_deg: elevation of the side camera (15-90°).
        shadows: render shadows in the side view (BulletArm's latent-symmetry setting; ×2 render cost).
        dpos: metres moved by a unit ``dx``, ``dy`` or ``dz`` (5 cm for RL, 2 cm for SEIL).
        drot: radians turned by a unit ``dθ``.
        observations: extra observation keys among ``rgb``, ``point_cloud``, ``state``.
        num_points: points in the ``point_cloud`` observation (sampled or repeated to that count).
        corruptions: symmetry corruptions among ``occluder``, ``lighting``, ``grid_floor``, ``mirror``.
        substeps: physics steps at 240 Hz per action (fixed: a step costs constant time).
        render_mode: ``rgb_array`` for ``env.render()`` frames (a side view with the robot, for videos).
        render_size: size of ``env.render()`` frames.
    """

    camera: str = "gripper_topdown"
    image_size: int = 128
    view_size: float = 0.4
    context_view: float = 0.0
    side_elevation_deg: float = 50.2
    shadows: bool = True
    dpos: float = 0.05
    drot: float = math.pi / 8
    observations: tuple[str, ...] = ()
    num_points: int = 1024
    corruptions: tuple[str, ...] = ()
    substeps: int = 20
    render_mode: str | None = None
    render_size: int = 256

    def __post_init__(self) -> None:
        if self.camera not in CAMERAS:
            raise ValueError(f"unknown camera {self.camera!r}; accepted: {', '.join(CAMERAS)}")
        obs = (self.observations,) if isinstance(self.observations, str) else tuple(self.observations)
        object.__setattr__(self, "observations", obs)
        bad = [o for o in obs if o not in OPTIONAL_OBSERVATIONS]
        if bad:
            raise ValueError(f"unknown observation keys {bad}; accepted: {', '.join(OPTIONAL_OBSERVATIONS)} "
                             f"(depth and holding are always present)")
        corr = (self.corruptions,) if isinstance(self.corruptions, str) else tuple(self.corruptions)
        object.__setattr__(self, "corruptions", corr)
        bad = [c for c in corr if c not in CORRUPTIONS]
        if bad:
            raise ValueError(f"unknown corruptions {bad}; accepted: {', '.join(CORRUPTIONS)}")
        for name in ("dpos", "drot"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if self.dpos > 0.1:
            raise ValueError(f"dpos must be at most 0.1 m per step, got {self.dpos!r}")
        context = self.context_view
        if not (isinstance(context, (int, float)) and math.isfinite(context) and context >= 0):
            raise ValueError(f"context_view must be 0 (none) or a view size in metres, got {context!r}")
        if context and (self.camera != "gripper_topdown" or not self.view_size < context <= 2.0):
            raise ValueError(f"context_view needs camera='gripper_topdown' and a size in metres above view_size "
                             f"({self.view_size}) and at most 2.0, got {context!r} with camera={self.camera!r}")
        if int(self.substeps) != self.substeps or not 1 <= self.substeps <= 500:
            raise ValueError(f"substeps must be an integer in [1, 500], got {self.substeps!r}")
        if int(self.num_points) != self.num_points or self.num_points < 1:
            raise ValueError(f"num_points must be a positive integer, got {self.num_points!r}")
        if self.render_mode not in (None, "rgb_array"):
            raise ValueError(f"unknown render_mode {self.render_mode!r}; accepted: None, 'rgb_array'")

    @classmethod
    def from_kwargs(cls, task_name: str, extra: Sequence[str] = (), **kwargs: Any) -> tuple[EnvOptions, dict]:
        """Split ``kwargs`` into env options and task options; unknown names raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names - set(extra))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for {task_name}; accepted: {', '.join(sorted(names | set(extra)))}")
        return cls(**{k: v for k, v in kwargs.items() if k in names}), {k: v for k, v in kwargs.items() if k not in names}


@dataclass
class VirtualView:
    """Result of :meth:`TabletopEnv.simulate`: the virtual gripper's observation (``None`` when the
    pose is invalid), why it is invalid, and its commanded pose."""

    observation: dict[str, np.ndarray] | None
    valid: bool
    reason: str
    target_position: np.ndarray
    target_yaw: float


class TabletopEnv(gym.Env):
    """Base class of every tabletop task (gymnasium API).

    Action: ``Box(-1, 1, (5,))`` = ``(p, dx, dy, dz, dθ)``: ``p > 0`` opens the gripper, the deltas
    are scaled by ``dpos``/``drot`` and the target is clipped to the workspace.

    Observation: ``Dict`` with ``depth`` (float32 1×S×S, metres below the camera plane for the
    top-down views, metric depth for the side view) and ``holding`` (float32 (1,)), plus the
    requested ``rgb`` (uint8 3×S×S), ``point_cloud`` (float32 N×3, world frame) and ``state``
    (float32, privileged: gripper pose, opening, holding, then the task's object state).

    Reset options: ``{"scene_transform": GroupElement}`` (or ``{"scene_rotation": radians}``)
    places the randomised scene and the gripper transformed by ``g`` about the workspace centre.

    Subclasses set ``symmetry`` and implement :meth:`build_scene`, :meth:`reset_task`,
    :meth:`is_success`, :meth:`expert_action`, and optionally :meth:`task_state`.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    symmetry: TaskSymmetry = PLANAR_SYMMETRY
    workspace: Workspace = Workspace()
    task_options: dict[str, Any] = {}
    task_state_dim: int = 0
    gripper_start_z: float = 0.20
    env_id: str = ""
    max_episode_steps: int = 50

    def __init__(self, **kwargs: Any):
        options, task_kwargs = EnvOptions.from_kwargs(type(self).__name__, extra=tuple(self.task_options), **kwargs)
        self.options = options
        self.task_config = {**self.task_options, **task_kwargs}
        self.render_mode = options.render_mode
        self.sim: Simulator = make_simulator("pybullet")
        self.sim.create_box(TABLE, (0.6, 0.6, 0.01), (self.workspace.centre[0], self.workspace.centre[1], -0.01),
                            mass=0.0, rgba=(0.78, 0.78, 0.75, 1.0))
        self.sim.set_dynamics(TABLE, lateral_friction=1.0)
        self.robot = PandaRobot(self.sim)
        spec = CameraSpec(name=options.camera, size=int(options.image_size), view_size=float(options.view_size),
                          elevation_deg=float(options.side_elevation_deg), shadows=bool(options.shadows))
        self.camera = Camera(spec, self.workspace.centre)
        self.context_camera = (Camera(dataclasses.replace(spec, view_size=float(options.context_view)), self.workspace.centre)
                               if options.context_view else None)
        self.sim.set_visible("robot", spec.shows_robot)
        if "grid_floor" in options.corruptions:
            from importlib.resources import files

            self.sim.set_texture(TABLE, str(files("equimanip.assets").joinpath("textures/grid.png")))
        if "occluder" in options.corruptions:
            self.sim.create_box(OCCLUDER, (0.06, 0.06, 0.003), (0.0, 0.0, -5.0), mass=0.0,
                                rgba=(0.35, 0.35, 0.4, 1.0), collision=False)
        self._light: tuple[np.ndarray | None, float | None] = (None, None)
        self.scene_transform = GroupElement()
        self.build_scene()
        # every reset starts from this snapshot, so no contact cache or joint motor state of the
        # previous episode leaks into the next (same seed -> bit-identical episodes)
        self._initial_state = self.sim.save_state()

        s = spec.size
        obs_spaces: dict[str, spaces.Space] = {
            OBS_DEPTH: spaces.Box(-3.0, 3.0, (self.depth_channels, s, s), np.float32),
            OBS_HOLDING: spaces.Box(0.0, 1.0, (1,), np.float32),
        }
        if OBS_RGB in options.observations:
            obs_spaces[OBS_RGB] = spaces.Box(0, 255, (3, s, s), np.uint8)
        if OBS_POINT_CLOUD in options.observations:
            obs_spaces[OBS_POINT_CLOUD] = spaces.Box(-5.0, 5.0, (int(options.num_points), 3), np.float32)
        if OBS_STATE in options.observations:
            obs_spaces[OBS_STATE] = spaces.Box(-np.inf, np.inf, (self.state_dim,), np.float32)
        self.observation_space = spaces.Dict(obs_spaces)
        self.action_space = spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        self._steps = 0
        self._frame: CameraFrame | None = None
        self._obs_rng = np.random.default_rng(0)

    # ------------------------------------------------------------------------------------------
    # Task hooks
    def build_scene(self) -> None:
        """Create the task's bodies once (they are placed on every reset)."""

    def reset_task(self, rng: np.random.Generator) -> None:
        """Place the task's bodies; sample with ``rng`` and place with :meth:`place`."""
        raise NotImplementedError

    def is_success(self) -> bool:
        raise NotImplementedError

    def expert_action(self) -> np.ndarray:
        """The scripted expert's next action (privileged state), in the env's action space."""
        raise NotImplementedError

    def task_state(self) -> np.ndarray:
        """Privileged object state (length ``task_state_dim``)."""
        return np.zeros(0)

    def tracked_bodies(self) -> list[str]:
        """Bodies checked for physics blow-ups (NaN poses, flung out of the workspace)."""
        return []

    # ------------------------------------------------------------------------------------------
    # Helpers for tasks
    def place(self, name: str, xy: Sequence[float], z: float, yaw: float = 0.0) -> None:
        """Put a body at ``(xy, z)`` with heading ``yaw``, after the scene transform of this reset."""
        new_xy, new_yaw = transform_planar_pose(xy, yaw, self.scene_transform, self.workspace.centre)
        self.sim.set_pose(name, (new_xy[0], new_xy[1], z), yaw_quaternion(new_yaw))

    def scene_point(self, xy: Sequence[float]) -> np.ndarray:
        """A sampled planar point after the scene transform (for goals that are not bodies)."""
        return transform_planar_pose(xy, 0.0, self.scene_transform, self.workspace.centre)[0]

    def sample_xy(self, rng: np.random.Generator, margin: float = 0.04, avoid: Sequence[np.ndarray] = (),
                  min_distance: float = 0.0) -> np.ndarray:
        """A uniform point in the workspace ``margin`` from its edges and ``min_distance`` from ``avoid``."""
        lo = np.asarray(self.workspace.centre) - self.workspace.size / 2 + margin
        hi = np.asarray(self.workspace.centre) + self.workspace.size / 2 - margin
        for _ in range(1000):
            xy = rng.uniform(lo, hi)
            if all(np.linalg.norm(xy - np.asarray(a)[:2]) >= min_distance for a in avoid):
                return xy
        raise RuntimeError("could not sample a free position; reduce min_distance or the number of objects")

    def body_xy_yaw(self, name: str) -> tuple[np.ndarray, float, float]:
        """A body's position xy, height z and heading (yaw of its x axis)."""
        pos, quat = self.sim.get_pose(name)
        return pos[:2].copy(), float(pos[2]), quaternion_yaw(quat)

    def pose_features(self, name: str, fold: int = 4) -> list[float]:
        """``[x, y, z, sin(fold·yaw), cos(fold·yaw)]`` of a body that looks the same after a
        ``1/fold`` turn (4 for a cube): continuous, and blind to the symmetric yaw ambiguity."""
        xy, z, yaw = self.body_xy_yaw(name)
        return [float(xy[0]), float(xy[1]), z, math.sin(fold * yaw), math.cos(fold * yaw)]

    def lifted_and_held(self, name: str, half_height: float, height: float) -> bool:
        """The gripper holds ``name`` and its bottom is more than ``height`` above the table."""
        _, z, _ = self.body_xy_yaw(name)
        return z - half_height > height and self.robot.is_holding(name)

    def gripper_action(self, target: Sequence[float], yaw: float | None = None, open_gripper: bool = True,
                       yaw_period: float = math.pi) -> np.ndarray:
        """Normalised action that moves the commanded gripper pose toward ``target`` (clipped).

        ``yaw`` is reached modulo ``yaw_period`` (π for any object a parallel gripper grasps the
        same way after a half turn, π/2 for a cube), so the turn is always the shortest one.
        """
        action = np.zeros(ACTION_DIM, dtype=np.float32)
        action[ACTION_INDEX["p"]] = 1.0 if open_gripper else -1.0
        delta = (np.asarray(target, dtype=float) - self.robot.target_position) / self.options.dpos
        action[ACTION_INDEX["dxy"]] = delta[:2]
        action[ACTION_INDEX["dz"]] = delta[2]
        if yaw is not None:
            turn = (yaw - self.robot.target_yaw + yaw_period / 2) % yaw_period - yaw_period / 2
            action[ACTION_INDEX["dtheta"]] = turn / self.options.drot
        return np.clip(action, -1.0, 1.0)

    def at_target(self, target: Sequence[float], tol: float = 0.005) -> bool:
        """Whether the commanded gripper position is within ``tol`` of ``target``."""
        return bool(np.linalg.norm(self.robot.target_position - np.asarray(target, dtype=float)) <= tol)

    # ------------------------------------------------------------------------------------------
    # gymnasium API
    @property
    def state_dim(self) -> int:
        return 7 + int(self.task_state_dim)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        options = dict(options or {})
        g = options.pop("scene_transform", None)
        angle = options.pop("scene_rotation", None)
        if options:
            raise ValueError(f"unknown reset option(s) {sorted(options)}; accepted: scene_transform, scene_rotation")
        if g is not None and angle is not None:
            raise ValueError("give either scene_transform or scene_rotation, not both")
        if angle is not None:
            g = GroupElement(float(angle))
        if g is not None and not isinstance(g, GroupElement):
            raise ValueError(f"scene_transform must be an equimanip.symmetry.GroupElement, got {type(g).__name__}")
        self.scene_transform = g or GroupElement()
        rng = self.np_random
        self.sim.forget_contacts()
        self.sim.restore_state(self._initial_state)
        start_xy, start_yaw = transform_planar_pose(self.workspace.centre, 0.0, self.scene_transform, self.workspace.centre)
        self.robot.reset(np.array([start_xy[0], start_xy[1], self.gripper_start_z]), start_yaw, gripper_open=True)
        self.reset_task(rng)
        self._reset_corruptions(rng)
        # observation noise (point sampling) has its own stream, so asking for a point cloud does
        # not change the scenes of later resets
        self._obs_rng = np.random.default_rng(int(rng.integers(2**63)))
        self._steps = 0
        obs = self.observe()
        return obs, self._info(success=False, invalid=False)

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        action = self._validate_action(action)
        dpos, drot = self.options.dpos, self.options.drot
        robot = self.robot
        measured, _ = robot.ee_pose()
        base = robot.target_position
        if np.linalg.norm(base - measured) > dpos:  # blocked: don't let the target run away
            base = measured
        target = base.copy()
        target[:2] += action[ACTION_INDEX["dxy"]] * dpos
        target[2] += float(action[ACTION_INDEX["dz"]][0]) * dpos
        target = np.clip(target, self.workspace.low, self.workspace.high)
        yaw = robot.target_yaw + float(action[ACTION_INDEX["dtheta"]][0]) * drot
        robot.command(target, yaw, gripper_open=bool(action[ACTION_INDEX["p"]][0] > 0.0))
        self.sim.step(self.options.substeps)
        self._steps += 1
        invalid = self._blown_up()
        success = (not invalid) and bool(self.is_success())
        obs = self.observe()
        return obs, float(success), success, invalid, self._info(success=success, invalid=invalid)

    def render(self) -> np.ndarray | None:
        """An RGB frame (H×W×3 uint8) from the side camera with the robot in view."""
        if self.render_mode != "rgb_array":
            return None
        if not hasattr(self, "_video_camera"):
            spec = CameraSpec(name="side", size=int(self.options.render_size), distance=1.1, elevation_deg=40.0,
                              azimuth_deg=35.0, fov_deg=45.0)
            self._video_camera = Camera(spec, self.workspace.centre)
        shown = self.camera.spec.shows_robot
        self.sim.set_visible("robot", True)
        pos, yaw = self.robot.ee_pose()
        frame = self._video_camera.render(self.sim, pos, yaw, self.robot.finger_width(), rgb=True)
        self.sim.set_visible("robot", shown)
        return frame.rgb.transpose(1, 2, 0).copy()  # type: ignore[union-attr]

    def close(self) -> None:
        self.sim.close()

    # ------------------------------------------------------------------------------------------
    # Save / restore (for search, SEIL transition simulation and tests)
    def save_state(self) -> dict:
        """Snapshot of physics and env bookkeeping; pass to :meth:`restore_state`."""
        return {
            "physics": self.sim.save_state(),
            "robot": self.robot.snapshot(),
            "steps": self._steps,
            "scene_transform": self.scene_transform,
            "task": self.save_task_state(),
        }

    def restore_state(self, state: dict) -> None:
        """Go back to a :meth:`save_state` snapshot. Bullet's contact cache is not part of a
        snapshot, so it is dropped: replays from one snapshot are bit-identical to each other, and
        match the original continuation up to solver warm-starting (sub-millimetre in free space)."""
        self.sim.forget_contacts()
        self.sim.restore_state(state["physics"])
        self.robot.restore(state["robot"])
        self._steps = state["steps"]
        self.scene_transform = state["scene_transform"]
        self.restore_task_state(state["task"])

    def save_task_state(self) -> Any:
        """Task bookkeeping beyond physics (goals, expert phase); override with restore_task_state."""
        return None

    def restore_task_state(self, state: Any) -> None:
        pass

    # ------------------------------------------------------------------------------------------
    # Transition simulation (SEIL)
    def simulate(self, delta: Any, carry_held: bool = False, held_offset: Sequence[float] | None = None) -> VirtualView:
        """What a *virtual* gripper would see after moving by ``delta`` from the current pose.

        ``delta`` is ``(dx, dy, dz, dθ)`` in normalised action units (or a full 5-vector action,
        whose ``p`` is ignored). Only a virtual camera moves: the real scene is rendered from the
        virtual pose, so the view is exact; no physics runs and nothing in the scene changes.
        The pose is reported invalid (``valid=False`` with a ``reason``, no observation) when it
        lies outside the workspace, when the fingers or the hand would be inside an object, or
        while the gripper holds an object — unless ``carry_held`` and the object is one of
        :meth:`carriable_bodies`: then the held object is moved
        rigidly with the virtual gripper for the render and the physics state is restored after
        it; Bullet's broadphase and contact caches may still differ, so later steps are not
        guaranteed bit-identical to a run that never carried (``replay_samples`` rewinds from the
        episode's seed after carrying). A held object's own collisions are not checked. ``held_offset``
        (``(x, y)`` metres, world frame; needs ``carry_held``) also shifts the carried object within the
        virtual hand: the view of the same pose with an off-centre grasp. Needs a top-down camera: the side
        view shows the arm, which only physics could move.
        """
        arr = self._validate_delta(delta)
        shift = np.zeros(2)
        if held_offset is not None:
            shift = np.asarray(held_offset, dtype=float)
            if not carry_held or shift.shape != (2,) or not np.all(np.isfinite(shift)):
                raise ValueError(f"held_offset must be a finite (x, y) shift in metres of a carried object (with "
                                 f"carry_held=True), got {held_offset!r} with carry_held={carry_held}")
        if not self.camera.spec.topdown:
            raise ValueError(f"simulate() needs a top-down camera (gripper_topdown or fixed_topdown), not "
                             f"{self.camera.spec.name!r}: the side view shows the arm, which only physics can move")
        dpos, drot = self.options.dpos, self.options.drot
        robot = self.robot
        target = robot.target_position + arr[:3] * dpos
        target_yaw = wrap_half_turn(robot.target_yaw + float(arr[3]) * drot)
        view = VirtualView(observation=None, valid=False, reason="", target_position=target, target_yaw=target_yaw)
        held = self.held_bodies()
        if held and not (carry_held and self.can_carry(held)):
            view.reason = "holding"
            return view
        ws = self.workspace
        if np.any(target < ws.low - 1e-9) or np.any(target > ws.high + 1e-9):
            view.reason = "outside_workspace"
            return view
        measured, yaw = robot.ee_pose()
        pos = measured + arr[:3] * dpos
        yaw = yaw + float(arr[3]) * drot
        width = robot.finger_width()
        light, specular = self._light
        saved = [(b, *self.sim.get_pose(b), *self.sim.velocity(b)) for b in held]
        snapshot = self.sim.save_state() if held else None
        try:
            for body, b_pos, b_quat, _, _ in saved:  # carried rigidly about the gripper's axis
                turn = float(arr[3]) * drot
                c, s = math.cos(turn), math.sin(turn)
                rel = b_pos[:2] - measured[:2]
                new_xy = measured[:2] + np.array([c * rel[0] - s * rel[1], s * rel[0] + c * rel[1]]) + arr[:2] * dpos + shift
                self.sim.set_pose(body, (new_xy[0], new_xy[1], b_pos[2] + arr[2] * dpos),
                                  _quat_multiply(yaw_quaternion(turn), b_quat))
            frame = self.camera.render(self.sim, pos, yaw, width, rgb=OBS_RGB in self.options.observations,
                                       light_direction=light, specular=specular, mirror="mirror" in self.options.corruptions)
            depth = self._stack_context(frame.depth, pos, yaw, width)  # while the carried bodies are moved
        finally:
            if snapshot is not None:
                self.sim.restore_state(snapshot)
                self.sim.remove_state(snapshot)
        centre = self.camera.matrices(pos[:2])[2]
        height = self.camera.surface_height(frame)
        fingers = self.camera.finger_mask(centre, pos, yaw, width)
        hand = self.camera.hand_mask(centre, pos, yaw)
        tol = 0.002
        if (fingers.any() and height[fingers].max() > pos[2] + tol) or \
                (hand.any() and height[hand].max() > pos[2] + self.camera.FINGER_LENGTH + tol):
            view.reason = "collision"
            return view
        obs: dict[str, np.ndarray] = {OBS_DEPTH: depth,
                                      OBS_HOLDING: np.full(1, float(bool(held)), dtype=np.float32)}
        if frame.rgb is not None:
            obs[OBS_RGB] = frame.rgb
        if OBS_POINT_CLOUD in self.options.observations:
            pts = self.camera.unproject(frame)
            n = int(self.options.num_points)
            rng = np.random.default_rng(len(pts))  # not the env's stream: simulating must not change later observations
            obs[OBS_POINT_CLOUD] = (np.clip(pts[rng.choice(len(pts), size=n, replace=len(pts) < n)], -5, 5).astype(np.float32)
                                    if len(pts) else np.zeros((n, 3), dtype=np.float32))
        if OBS_STATE in self.options.observations:
            obs[OBS_STATE] = self._state(pos, yaw, float(bool(held)))
        view.observation, view.valid = obs, True
        return view

    def corrective_action(self, view: VirtualView, next_target: Sequence[float], next_yaw: float,
                          gripper: float, clip: bool = False) -> np.ndarray | None:
        """The action that takes a virtual gripper back to the commanded pose ``next_target``,
        ``next_yaw`` (the expert's next pose), with gripper command ``gripper``; ``None`` when it
        is more than one step away (some component beyond ±1), or with ``clip`` the step towards it
        clipped to ±1 per component, as the scripted experts clip their own actions."""
        action = np.zeros(ACTION_DIM, dtype=np.float64)
        action[ACTION_INDEX["p"]] = gripper
        delta = (np.asarray(next_target, dtype=float) - view.target_position) / self.options.dpos
        action[ACTION_INDEX["dxy"]] = delta[:2]
        action[ACTION_INDEX["dz"]] = delta[2]
        action[ACTION_INDEX["dtheta"]] = wrap_half_turn(float(next_yaw) - view.target_yaw) / self.options.drot
        if not clip and np.any(np.abs(action) > 1.0 + 1e-6):
            return None
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def _validate_delta(self, delta: Any) -> np.ndarray:
        try:
            arr = np.asarray(delta, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"delta must be 4 floats (dx, dy, dz, dθ) or a 5-float action; got {delta!r}") from None
        if arr.shape == (ACTION_DIM,):
            arr = np.concatenate([arr[ACTION_INDEX["dxy"]], arr[ACTION_INDEX["dz"]], arr[ACTION_INDEX["dtheta"]]])
        if arr.shape != (4,):
            raise ValueError(f"delta must have shape (4,) = (dx, dy, dz, dθ) or ({ACTION_DIM},) = an action; got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"delta must be finite; got {arr.tolist()}")
        return arr

    # ------------------------------------------------------------------------------------------
    # Internals
    def _validate_action(self, action: Any) -> np.ndarray:
        try:
            arr = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"action must be an array of {ACTION_DIM} floats (p, dx, dy, dz, dθ) in [-1, 1]; "
                             f"got {type(action).__name__}: {action!r}") from None
        if arr.shape != (ACTION_DIM,):
            raise ValueError(f"action must have shape ({ACTION_DIM},) = (p, dx, dy, dz, dθ); got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"action must be finite (no NaN/inf); got {arr.tolist()}")
        return np.clip(arr, -1.0, 1.0)

    def _blown_up(self) -> bool:
        centre = np.asarray(self.workspace.centre)
        pos, _ = self.robot.ee_pose()
        if not np.all(np.isfinite(pos)):
            return True
        for name in self.tracked_bodies():
            p, q = self.sim.get_pose(name)
            if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
                return True
            if np.linalg.norm(p[:2] - centre) > 0.8 or p[2] < -0.1 or p[2] > 1.5:
                return True
        return False

    def _reset_corruptions(self, rng: np.random.Generator) -> None:
        corr = self.options.corruptions
        if "occluder" in corr:
            # a plate floating between the side camera and the workspace edge
            ang = rng.uniform(-math.pi / 3, math.pi / 3)
            c = np.asarray(self.workspace.centre)
            xy = c + 0.22 * np.array([math.cos(ang), math.sin(ang)])
            self.sim.set_pose(OCCLUDER, (xy[0], xy[1], rng.uniform(0.12, 0.2)), yaw_quaternion(rng.uniform(0, math.pi)))
        if "lighting" in corr:
            direction = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.5, 1.5)])
            self._light = (direction, float(rng.uniform(0.2, 1.5)))

    def observe(self) -> dict[str, np.ndarray]:
        """Render and assemble the observation of the current state (what step and reset return)."""
        pos, yaw = self.robot.ee_pose()
        want_rgb = OBS_RGB in self.options.observations
        light, specular = self._light
        frame = self.camera.render(self.sim, pos, yaw, self.robot.finger_width(), rgb=want_rgb,
                                   light_direction=light, specular=specular,
                                   mirror="mirror" in self.options.corruptions)
        self._frame = frame
        holding = float(self.holding())
        obs: dict[str, np.ndarray] = {OBS_DEPTH: self._stack_context(frame.depth, pos, yaw, self.robot.finger_width()),
                                      OBS_HOLDING: np.array([holding], dtype=np.float32)}
        if want_rgb:
            obs[OBS_RGB] = frame.rgb  # type: ignore[assignment]
        if OBS_POINT_CLOUD in self.options.observations:
            obs[OBS_POINT_CLOUD] = self._point_cloud(frame)
        if OBS_STATE in self.options.observations:
            obs[OBS_STATE] = self._state(pos, yaw, holding)
        return obs

    @property
    def depth_channels(self) -> int:
        """Channels of the depth observation: 2 with a ``context_view``, else 1."""
        return depth_channels(self.options.context_view)

    def _stack_context(self, depth: np.ndarray, pos: np.ndarray, yaw: float, width: float) -> np.ndarray:
        """The depth observation: ``depth`` (1×S×S) with the context view, rendered now, stacked under it."""
        if self.context_camera is None:
            return depth
        light, specular = self._light
        wide = self.context_camera.render(self.sim, pos, yaw, width, light_direction=light, specular=specular,
                                          mirror="mirror" in self.options.corruptions)
        return np.concatenate([depth, wide.depth], axis=0)

    def _point_cloud(self, frame: CameraFrame) -> np.ndarray:
        pts = self.camera.unproject(frame)
        n = int(self.options.num_points)
        if len(pts) == 0:
            return np.zeros((n, 3), dtype=np.float32)
        idx = self._obs_rng.choice(len(pts), size=n, replace=len(pts) < n)
        return np.clip(pts[idx], -5.0, 5.0).astype(np.float32)

    def _state(self, pos: np.ndarray, yaw: float, holding: float) -> np.ndarray:
        robot = np.array([pos[0], pos[1], pos[2], math.sin(2 * yaw), math.cos(2 * yaw), self.robot.finger_width(), holding])
        task = np.asarray(self.task_state(), dtype=np.float64).ravel()
        if task.shape != (self.task_state_dim,):
            raise RuntimeError(f"{type(self).__name__}.task_state() returned {task.shape}, declared ({self.task_state_dim},)")
        return np.concatenate([robot, task]).astype(np.float32)

    PROPRIO_NAMES: tuple[str, ...] = ("target_x", "target_y", "target_z", "target_yaw", "ee_x", "ee_y", "ee_z", "ee_yaw",
                                      "finger_width")

    def proprio(self) -> np.ndarray:
        """Robot state a real robot also reports (float32, :attr:`PROPRIO_NAMES`): the commanded
        gripper pose, the measured one and the finger opening. Datasets record it with each frame."""
        pos, yaw = self.robot.ee_pose()
        target = self.robot.target_position
        return np.array([target[0], target[1], target[2], self.robot.target_yaw, pos[0], pos[1], pos[2], yaw,
                         self.robot.finger_width()], dtype=np.float32)

    def holding(self) -> bool:
        """Whether the gripper holds one of the task's graspable bodies."""
        return bool(self.held_bodies())

    def graspable_bodies(self) -> list[str]:
        return self.tracked_bodies()

    def carriable_bodies(self) -> list[str]:
        """Graspable bodies that move rigidly with the gripper once held (``simulate`` may carry
        them); articulated ones, like a drawer's handle, are not."""
        return self.graspable_bodies()

    def held_bodies(self) -> list[str]:
        """The graspable bodies the gripper holds."""
        return [b for b in self.graspable_bodies() if self.robot.is_holding(b)]

    def can_carry(self, bodies: list[str]) -> bool:
        """Whether ``bodies`` (e.g. :meth:`held_bodies`) is non-empty and ``simulate`` can carry all of it."""
        return bool(bodies) and set(bodies) <= set(self.carriable_bodies())

    def _info(self, success: bool, invalid: bool) -> dict:
        return {"is_success": bool(success), "invalid": bool(invalid), "steps": self._steps}


def yaw_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """Quaternion (xyzw) of a rotation by ``yaw`` about world z."""
    return (0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))


def _quat_multiply(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float, float]:
    """Hamilton product ``a·b`` of xyzw quaternions (rotation ``b`` then ``a``)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz)


def quaternion_yaw(quat: Sequence[float]) -> float:
    """Heading of a body's x axis (radians) from its quaternion (xyzw)."""
    x, y, z, w = quat
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


__all__ = ["TabletopEnv", "VirtualView", "EnvOptions", "Workspace", "yaw_quaternion", "quaternion_yaw", "wrap_half_turn",
           "OBS_DEPTH", "OBS_HOLDING", "OBS_RGB", "OBS_POINT_CLOUD", "OBS_STATE"]
