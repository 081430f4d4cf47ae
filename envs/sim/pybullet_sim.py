"""pybullet backend of the simulator facade: one private ``BulletClient`` per instance."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

import numpy as np


@contextlib.contextmanager
def _silenced_c_output() -> Iterator[None]:
    """Hide what pybullet's C code prints on stdout/stderr ("argv[0]=", build time) at import and
    connect, so command-line output and JSON written to stdout stay clean."""
    saved = []
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            saved.append((fd, os.dup(fd)))
            os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptors (e.g. some notebook front-ends)
        pass
    try:
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


with _silenced_c_output():
    import pybullet  # noqa: E402
    import pybullet_data
    from pybullet_utils.bullet_client import BulletClient

from equimanip.envs.sim.base import Contact, Quat, RenderResult, Simulator, Vec3  # noqa: E402  (after the silenced import)


class PyBulletSimulator(Simulator):
    """A headless pybullet world (``DIRECT`` mode, TinyRenderer) whose bodies have names.

    Args:
        timestep: physics step in seconds (240 Hz by default, as in BulletArm and VGN).
        solver_iterations: constraint-solver iterations per step.
    """

    def __init__(self, timestep: float = 1.0 / 240.0, solver_iterations: int = 50):
        with _silenced_c_output():
            self.client = BulletClient(connection_mode=pybullet.DIRECT)
        self.client.setAdditionalSearchPath(pybullet_data.getDataPath())
        self.timestep = float(timestep)
        self.client.setTimeStep(self.timestep)
        self.client.setPhysicsEngineParameter(numSolverIterations=int(solver_iterations), deterministicOverlappingPairs=1)
        self.client.setGravity(0, 0, -9.81)
        self._bodies: dict[str, int] = {}
        self._names: dict[int, str] = {}
        self._colors: dict[str, list[tuple[int, tuple[float, ...]]]] = {}
        self._hidden: set[str] = set()
        self._shape_cache: dict[tuple, tuple[int, int]] = {}

    # -- helpers ------------------------------------------------------------------------------
    def _id(self, name: str) -> int:
        try:
            return self._bodies[name]
        except KeyError:
            raise KeyError(f"no body named {name!r}; bodies: {sorted(self._bodies)}") from None

    def _register(self, name: str, body: int) -> None:
        if name in self._bodies:
            raise ValueError(f"a body named {name!r} already exists")
        self._bodies[name] = body
        self._names[body] = name
        self._colors[name] = [(d[1], tuple(d[7])) for d in self.client.getVisualShapeData(body)]

    @staticmethod
    def resolve_path(path: str) -> str:
        """Absolute paths as they are; relative ones inside ``pybullet_data``."""
        if os.path.isabs(path):
            return path
        return os.path.join(pybullet_data.getDataPath(), path)

    # -- bodies -------------------------------------------------------------------------------
    def load_urdf(self, name: str, path: str, position: Vec3, orientation: Quat = (0, 0, 0, 1), *,
                  fixed: bool = False, scale: float = 1.0, inertia_from_file: bool = True) -> None:
        full = self.resolve_path(path)
        if not os.path.exists(full):
            raise FileNotFoundError(f"URDF not found: {full}")
        flags = pybullet.URDF_ENABLE_CACHED_GRAPHICS_SHAPES
        if inertia_from_file:
            flags |= pybullet.URDF_USE_INERTIA_FROM_FILE
        body = self.client.loadURDF(full, list(position), list(orientation), useFixedBase=fixed,
                                    globalScaling=float(scale), flags=flags)
        self._register(name, body)

    def _multibody(self, name: str, key: tuple, make_shapes, position: Vec3, orientation: Quat, mass: float) -> None:
        if key not in self._shape_cache:
            self._shape_cache[key] = make_shapes()
        col, vis = self._shape_cache[key]
        body = self.client.createMultiBody(baseMass=float(mass), baseCollisionShapeIndex=col, baseVisualShapeIndex=vis,
                                           basePosition=list(position), baseOrientation=list(orientation))
        self._register(name, body)

    def create_box(self, name: str, half_extents: Vec3, position: Vec3, orientation: Quat = (0, 0, 0, 1), *,
                   mass: float = 0.1, rgba: Sequence[float] = (0.8, 0.2, 0.2, 1.0), collision: bool = True) -> None:
        he = [float(v) for v in half_extents]
        key = ("box", tuple(he), tuple(rgba), collision)

        def make():
            col = self.client.createCollisionShape(pybullet.GEOM_BOX, halfExtents=he) if collision else -1
            vis = self.client.createVisualShape(pybullet.GEOM_BOX, halfExtents=he, rgbaColor=list(rgba))
            return col, vis

        self._multibody(name, key, make, position, orientation, mass if collision else 0.0)

    def create_cylinder(self, name: str, radius: float, height: float, position: Vec3, orientation: Quat = (0, 0, 0, 1), *,
                        mass: float = 0.1, rgba: Sequence[float] = (0.2, 0.8, 0.2, 1.0), collision: bool = True) -> None:
        key = ("cyl", float(radius), float(height), tuple(rgba), collision)

        def make():
            col = (self.client.createCollisionShape(pybullet.GEOM_CYLINDER, radius=radius, height=height)
                   if collision else -1)
            vis = self.client.createVisualShape(pybullet.GEOM_CYLINDER, radius=radius, length=height, rgbaColor=list(rgba))
            return col, vis

        self._multibody(name, key, make, position, orientation, mass if collision else 0.0)

    def remove(self, name: str) -> None:
        body = self._id(name)
        self.client.removeBody(body)
        del self._bodies[name], self._names[body], self._colors[name]
        self._hidden.discard(name)

    def body_names(self) -> list[str]:
        return list(self._bodies)

    def has(self, name: str) -> bool:
        return name in self._bodies

    def get_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        pos, orn = self.client.getBasePositionAndOrientation(self._id(name))
        return np.asarray(pos), np.asarray(orn)

    def set_pose(self, name: str, position: Vec3, orientation: Quat = (0, 0, 0, 1)) -> None:
        body = self._id(name)
        self.client.resetBasePositionAndOrientation(body, list(position), list(orientation))
        self.client.resetBaseVelocity(body, [0, 0, 0], [0, 0, 0])

    def set_sleeping(self, name: str, sleeping: bool) -> None:
        state = (pybullet.ACTIVATION_STATE_ENABLE_SLEEPING | pybullet.ACTIVATION_STATE_SLEEP if sleeping
                 else pybullet.ACTIVATION_STATE_WAKE_UP | pybullet.ACTIVATION_STATE_DISABLE_SLEEPING)
        self.client.changeDynamics(self._id(name), -1, activationState=state)

    def velocity(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        lin, ang = self.client.getBaseVelocity(self._id(name))
        return np.asarray(lin), np.asarray(ang)

    def set_velocity(self, name: str, linear: Vec3, angular: Vec3) -> None:
        self.client.resetBaseVelocity(self._id(name), list(linear), list(angular))

    def aabb(self, name: str, link: int = -1) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.client.getAABB(self._id(name), link)
        return np.asarray(lo), np.asarray(hi)

    _DYNAMICS_KEYS = {
        "lateral_friction": "lateralFriction", "spinning_friction": "spinningFriction",
        "rolling_friction": "rollingFriction", "restitution": "restitution", "mass": "mass",
        "linear_damping": "linearDamping", "angular_damping": "angularDamping",
        "contact_stiffness": "contactStiffness", "contact_damping": "contactDamping",
    }

    def set_dynamics(self, name: str, link: int = -1, **properties: float) -> None:
        unknown = set(properties) - set(self._DYNAMICS_KEYS)
        if unknown:
            raise ValueError(f"unknown dynamics properties {sorted(unknown)}; accepted: {sorted(self._DYNAMICS_KEYS)}")
        kwargs = {self._DYNAMICS_KEYS[k]: float(v) for k, v in properties.items()}
        self.client.changeDynamics(self._id(name), link, **kwargs)

    def set_visible(self, name: str, visible: bool) -> None:
        body = self._id(name)
        if visible == (name not in self._hidden):
            return
        for link, rgba in self._colors[name]:
            colour = list(rgba) if visible else [rgba[0], rgba[1], rgba[2], 0.0]  # TinyRenderer skips alpha 0
            self.client.changeVisualShape(body, link, rgbaColor=colour)
        (self._hidden.discard if visible else self._hidden.add)(name)

    def set_color(self, name: str, rgba: Sequence[float], link: int = -1) -> None:
        self.client.changeVisualShape(self._id(name), link, rgbaColor=list(rgba))

    def set_texture(self, name: str, image_path: str) -> None:
        tex = self.client.loadTexture(image_path)
        self.client.changeVisualShape(self._id(name), -1, textureUniqueId=tex, rgbaColor=[1, 1, 1, 1])

    # -- joints -------------------------------------------------------------------------------
    def num_joints(self, name: str) -> int:
        return self.client.getNumJoints(self._id(name))

    def joint_positions(self, name: str, joints: Sequence[int]) -> np.ndarray:
        states = self.client.getJointStates(self._id(name), list(joints))
        return np.array([s[0] for s in states])

    def reset_joints(self, name: str, joints: Sequence[int], positions: Sequence[float]) -> None:
        body = self._id(name)
        for j, q in zip(joints, positions):
            self.client.resetJointState(body, int(j), float(q), 0.0)

    def control_joints(self, name: str, joints: Sequence[int], targets: Sequence[float], forces: Sequence[float],
                       position_gain: float | None = None) -> None:
        body = self._id(name)
        kwargs = {} if position_gain is None else {"positionGains": [float(position_gain)] * len(joints)}
        self.client.setJointMotorControlArray(body, list(joints), pybullet.POSITION_CONTROL,
                                              targetPositions=list(targets), forces=list(forces), **kwargs)

    def set_joint_friction(self, name: str, joints: Sequence[int], forces: Sequence[float]) -> None:
        # a zero-velocity motor with a force limit is pybullet's joint friction (it also replaces the
        # stiff default motor that URDF joints get)
        self.client.setJointMotorControlArray(self._id(name), list(joints), pybullet.VELOCITY_CONTROL,
                                              targetVelocities=[0.0] * len(joints), forces=[float(f) for f in forces])

    def couple_joints(self, name: str, joint_a: int, joint_b: int, *, max_force: float = 50.0) -> None:
        body = self._id(name)
        gear = self.client.createConstraint(body, int(joint_a), body, int(joint_b), jointType=pybullet.JOINT_GEAR,
                                            jointAxis=[1, 0, 0], parentFramePosition=[0, 0, 0],
                                            childFramePosition=[0, 0, 0])
        self.client.changeConstraint(gear, gearRatio=-1, erp=0.1, maxForce=float(max_force))  # -1: equal positions

    def link_pose(self, name: str, link: int) -> tuple[np.ndarray, np.ndarray]:
        state = self.client.getLinkState(self._id(name), link, computeForwardKinematics=True)
        return np.asarray(state[4]), np.asarray(state[5])

    def inverse_kinematics(self, name: str, link: int, position: Vec3, orientation: Quat, *,
                           seed: Sequence[float] | None = None, iterations: int = 50) -> np.ndarray:
        kwargs = {}
        if seed is not None:
            kwargs["currentPositions"] = [float(v) for v in seed]
        q = self.client.calculateInverseKinematics(self._id(name), link, list(position), list(orientation),
                                                   maxNumIterations=iterations, residualThreshold=1e-6, **kwargs)
        return np.asarray(q)

    # -- physics ------------------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        for _ in range(int(n)):
            self.client.stepSimulation()

    def contacts(self, name_a: str, name_b: str | None = None) -> list[Contact]:
        a = self._id(name_a)
        pts = self.client.getContactPoints(a) if name_b is None else self.client.getContactPoints(a, self._id(name_b))
        return [Contact(self._names.get(p[1], "?"), p[3], self._names.get(p[2], "?"), p[4], p[9]) for p in pts]

    def in_contact(self, name_a: str, name_b: str) -> bool:
        return len(self.client.getContactPoints(self._id(name_a), self._id(name_b))) > 0

    def forget_contacts(self) -> None:
        # restoreState keeps Bullet's contact manifolds (and their warm-start impulses) from before;
        # parking every body far from the others lets the broadphase drop them all
        for i, body in enumerate(self._bodies.values()):
            _, orn = self.client.getBasePositionAndOrientation(body)
            self.client.resetBasePositionAndOrientation(body, [1000.0 + 10.0 * i, 0.0, 0.0], orn)
        self.client.performCollisionDetection()

    # -- state --------------------------------------------------------------------------------
    def save_state(self) -> int:
        return self.client.saveState()

    def restore_state(self, state_id: int) -> None:
        self.client.restoreState(stateId=int(state_id))

    def remove_state(self, state_id: int) -> None:
        self.client.removeState(int(state_id))

    # -- rendering ----------------------------------------------------------------------------
    def render(self, width: int, height: int, view: np.ndarray, projection: np.ndarray, *, rgb: bool = False,
               light_direction: Vec3 | None = None, specular: float | None = None, shadow: bool = False) -> RenderResult:
        kwargs = {}
        if light_direction is not None:
            kwargs["lightDirection"] = list(light_direction)
        if specular is not None:
            kwargs["lightSpecularCoeff"] = float(specular)
        proj = np.asarray(projection, dtype=np.float64)
        _, _, colour, zbuf, _ = self.client.getCameraImage(
            int(width), int(height),
            viewMatrix=np.asarray(view, dtype=np.float64).T.ravel().tolist(),
            projectionMatrix=proj.T.ravel().tolist(),
            renderer=pybullet.ER_TINY_RENDERER, shadow=int(bool(shadow)),
            flags=pybullet.ER_NO_SEGMENTATION_MASK, **kwargs)
        zbuf = np.asarray(zbuf, dtype=np.float64).reshape(height, width)
        # TinyRenderer stores a perspective-style z-buffer with near/far read off the projection
        # matrix as if it were a perspective one (also for orthographic matrices): invert exactly that.
        near = proj[2, 3] / (proj[2, 2] - 1.0)
        far = proj[2, 3] / (proj[2, 2] + 1.0)
        depth = far * near / (far - (far - near) * zbuf)
        image = None
        if rgb:
            image = np.asarray(colour, dtype=np.uint8).reshape(height, width, 4)[..., :3].copy()
        return RenderResult(depth=depth.astype(np.float32), rgb=image)

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            try:
                self.client.disconnect()
            except pybullet.error:
                pass
            self.client = None  # type: ignore[assignment]

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass
