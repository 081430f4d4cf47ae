"""The grasping world: a table, a floating Franka hand and a pile or packed scene of objects, with
the single-view observation and grasp execution of the VGN / Edge Grasp simulated benchmark.

Frame: the table's top is the plane z = 0 and the workspace is the 30 cm cube
``|x|, |y| ≤ 0.15``, ``0 ≤ z ≤ 0.3``. Physics at 240 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from equimanip.envs.grasping.camera import DepthCamera, crop_to_workspace, random_viewpoint
from equimanip.envs.grasping.hand import FloatingHand
from equimanip.envs.grasping.objects import ObjectSet
from equimanip.envs.sim.pybullet_sim import PyBulletSimulator
from equimanip.policies.grasp.gripper import FRANKA_HAND, GripperGeometry

SCENES = ("pile", "packed")
WORKSPACE_HALF = 0.15
WORKSPACE_HEIGHT = 0.3
SUCCESS_GAP = 0.008  # the hand still holds something when its fingers stay this far apart
PREGRASP = 0.05  # start this far behind the grasp along the approach (VGN)
RETREAT = 0.10  # after closing, move back this far along the approach (side grasps: straight up)
SIDE_GRASP_ANGLE = np.pi / 3  # approaches further than this from straight down lift vertically (VGN)


@dataclass
class Observation:
    """A single noisy depth view: the cropped cloud (table removed) and where it was seen from."""

    points: np.ndarray  # M×3 float32, world frame
    viewpoint: np.ndarray  # camera position (3,)
    depth: np.ndarray  # H×W noisy depth image (metres)
    table_height: float  # the table plane's height under the workspace centre, as seen (noise shifts it)


@dataclass
class AttemptResult:
    """The outcome of one grasp attempt."""

    success: bool
    reason: str  # "success", "pregrasp_collision", "approach_collision", "slipped"
    width: float  # finger gap after the retreat
    held: list[str] = field(default_factory=list)  # bodies between the fingers at the end
    approach_contact: bool = False  # the approach touched something and stopped there (allow_contact)


class GraspWorld:
    """A pybullet world for grasp attempts (one per process; reuse it across scenes)."""

    def __init__(self, objects: ObjectSet, *, camera: DepthCamera | None = None, gripper: GripperGeometry = FRANKA_HAND):
        self.objects, self.camera, self.gripper = objects, camera or DepthCamera(), gripper
        self.sim = PyBulletSimulator(timestep=1.0 / 240.0)
        self.sim.load_urdf("table", "plane.urdf", (0, 0, 0), fixed=True)
        self.hand = FloatingHand(self.sim, gripper)
        self.object_names: list[str] = []
        self._extents: dict[str, np.ndarray] = {}
        self._counter = 0

    def close(self) -> None:
        self.sim.close()

    # -- objects ------------------------------------------------------------------------------
    def _extent(self, urdf: str) -> np.ndarray:
        """Bounding-box size of an object at scale 1 (measured once by loading it)."""
        if urdf not in self._extents:
            self.sim.load_urdf("_probe", urdf, (0, 0, 2.0))
            lo, hi = self.sim.aabb("_probe")
            self.sim.remove("_probe")
            size = hi - lo
            if not np.all(np.isfinite(size)) or size.max() <= 0:
                raise ValueError(f"object {urdf} has a broken collision mesh (bounding box {size})")
            self._extents[urdf] = size
        return self._extents[urdf]

    def _scale(self, urdf: str, rng: np.random.Generator, scene: str) -> float:
        if self.objects.scaling == "normalize":
            return float(rng.uniform(*self.objects.size_range) / self._extent(urdf).max())
        return float(rng.uniform(0.8, 1.0) if scene == "pile" else rng.uniform(0.7, 0.9))

    def _add_object(self, urdf: str, position, orientation, scale: float) -> str:
        name = f"object{self._counter}"
        self._counter += 1
        self.sim.load_urdf(name, urdf, position, orientation, scale=scale)
        self.sim.set_dynamics(name, lateral_friction=1.0)
        self.object_names.append(name)
        return name

    def remove_object(self, name: str) -> None:
        self.sim.remove(name)
        self.object_names.remove(name)

    def clear(self) -> None:
        for name in list(self.object_names):
            self.remove_object(name)
        self.hand.park()

    # -- scenes -------------------------------------------------------------------------------
    def generate(self, scene: str, num_objects: int, rng: np.random.Generator) -> int:
        """Build a ``pile`` or ``packed`` scene of ``num_objects`` objects drawn from the object set;
        returns how many objects remain in the workspace once it has settled."""
        if scene not in SCENES:
            raise ValueError(f"unknown scene {scene!r}; accepted: {', '.join(SCENES)}")
        if num_objects < 1:
            raise ValueError(f"num_objects must be ≥ 1, got {num_objects}")
        self.clear()
        urdfs = [self.objects.urdfs[i] for i in rng.integers(0, len(self.objects.urdfs), size=num_objects)]
        (self._generate_pile if scene == "pile" else self._generate_packed)(urdfs, rng)
        self.remove_outside_workspace()
        return len(self.object_names)

    def _generate_pile(self, urdfs: list[str], rng: np.random.Generator) -> None:
        # objects are dropped one by one into an open box that is then removed (VGN)
        walls = []
        half, thick, height = 0.1, 0.005, 0.12
        for i, (dx, dy, hx, hy) in enumerate([(half, 0, thick, half), (-half, 0, thick, half),
                                              (0, half, half, thick), (0, -half, half, thick)]):
            name = f"wall{i}"
            self.sim.create_box(name, (hx, hy, height / 2), (dx, dy, height / 2), mass=0.0, collision=True)
            walls.append(name)
        for urdf in urdfs:
            quat = _random_quaternion(rng)
            xy = rng.uniform(-0.05, 0.05, size=2)
            self._add_object(urdf, (xy[0], xy[1], 0.2), quat, self._scale(urdf, rng, "pile"))
            self.wait_for_rest(timeout=1.0)
        for name in walls:
            self.sim.remove(name)
        self.wait_for_rest(timeout=2.0)

    def _generate_packed(self, urdfs: list[str], rng: np.random.Generator) -> None:
        # objects stand upright side by side; a placement touching another object is redrawn (VGN)
        queue = list(urdfs)
        attempts = 0
        while queue and attempts < 12 * len(urdfs):
            attempts += 1
            urdf = queue[0]
            yaw = rng.uniform(0, 2 * np.pi)
            quat = (0.0, 0.0, float(np.sin(yaw / 2)), float(np.cos(yaw / 2)))
            xy = rng.uniform(-WORKSPACE_HALF + 0.06, WORKSPACE_HALF - 0.06, size=2)
            name = self._add_object(urdf, (xy[0], xy[1], 1.0), quat, self._scale(urdf, rng, "packed"))
            lo, hi = self.sim.aabb(name)
            self.sim.set_pose(name, (xy[0], xy[1], 1.0 - lo[2] + 0.002), quat)
            others = [n for n in self.object_names if n != name]
            if any(self.sim.client.getClosestPoints(self.sim._id(name), self.sim._id(o), 0.002) for o in others):
                self.remove_object(name)
                continue
            queue.pop(0)
            self.wait_for_rest(timeout=1.0)

    def wait_for_rest(self, timeout: float = 2.0, tolerance: float = 0.01) -> None:
        """Step until every object is (almost) still, or ``timeout`` simulated seconds pass."""
        steps = int(round(timeout / self.sim.timestep))
        for _ in range(0, steps, 12):
            self.sim.step(12)
            if all(np.linalg.norm(self.sim.velocity(n)[0]) < tolerance for n in self.object_names):
                return

    def remove_outside_workspace(self) -> list[str]:
        """Remove objects that fell off the workspace (or through the table); returns their names."""
        gone = []
        for name in list(self.object_names):
            pos, _ = self.sim.get_pose(name)
            if not np.all(np.isfinite(pos)) or np.any(np.abs(pos[:2]) > WORKSPACE_HALF + 0.02) or pos[2] < -0.02:
                self.remove_object(name)
                gone.append(name)
        return gone

    # -- observation --------------------------------------------------------------------------
    def observe(self, rng: np.random.Generator, *, polar: float = np.pi / 6) -> Observation:
        """One noisy depth view from a random viewpoint, as a workspace-cropped cloud without the table."""
        self.hand.park()
        eye = random_viewpoint(rng, np.zeros(3), radius=2 * 2 * WORKSPACE_HALF, polar=polar)
        depth, view = self.camera.render_depth(self.sim, eye, np.zeros(3))
        noisy = self.camera.add_noise(depth, rng)
        points = crop_to_workspace(self.camera.unproject(noisy, view), WORKSPACE_HALF, WORKSPACE_HEIGHT,
                                   table_margin=-0.05)
        points, table = remove_table(points)
        return Observation(points=points, viewpoint=eye, depth=noisy, table_height=table)

    # -- grasp execution ----------------------------------------------------------------------
    def execute(self, pose: np.ndarray, allow_contact: bool = False) -> AttemptResult:
        """Attempt a grasp at a TCP pose (4×4, world frame), as VGN's ``execute_grasp``: open hand
        placed 5 cm behind it along the approach (a contact there fails), linear approach that stops
        at the first contact, close, retreat 10 cm (along the approach; straight up for side grasps,
        more than 60° from vertical). Success: the fingers stay more than 8 mm apart with something
        between them.

        Args:
            pose: the TCP pose.
            allow_contact: what a contact on the approach means. False (VGN's data generation and
                our labels): the attempt fails. True (VGN's clutter-removal evaluation, which Edge
                Grasp and GIGA report): the hand closes where it stopped.
        """
        pose = np.asarray(pose, dtype=float)
        if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
            raise ValueError(f"a grasp pose must be a finite 4×4 matrix, got shape {pose.shape}")
        approach = pose[:3, 2]
        pregrasp = pose.copy()
        pregrasp[:3, 3] -= PREGRASP * approach
        self.hand.reset(pregrasp)
        if self.hand.in_contact():
            return AttemptResult(False, "pregrasp_collision", self.hand.width())
        touched = not self.hand.move_linear(pose, abort_on_contact=True)
        if touched and not allow_contact:
            return AttemptResult(False, "approach_collision", self.hand.width())
        self.hand.close()
        retreat = pose.copy()
        if np.arccos(np.clip(-approach[2], -1.0, 1.0)) > SIDE_GRASP_ANGLE:
            retreat[2, 3] += RETREAT
        else:
            retreat[:3, 3] -= RETREAT * approach
        self.hand.move_linear(retreat)
        width = self.hand.width()
        held = [n for n in self.hand.touching_bodies() if n in self.object_names]
        ok = width > SUCCESS_GAP and bool(held)
        return AttemptResult(ok, "success" if ok else "slipped", width, held if ok else [], approach_contact=touched)


def remove_table(points: np.ndarray, *, threshold: float = 0.006, hypotheses: int = 256) -> tuple[np.ndarray, float]:
    """Drop the table's points: the dominant near-horizontal plane (RANSAC, seeded: the same cloud
    always loses the same points), since depth noise shifts the whole view and a fixed height cut
    would keep or lose a slice of it. Returns the remaining points and the plane's height at the
    workspace centre."""
    pts = points.astype(np.float64)
    if len(pts) < 50:
        return points[points[:, 2] > threshold], 0.0
    rng = np.random.default_rng(0)
    triples = pts[rng.integers(0, len(pts), size=(hypotheses, 3))]
    normals = np.cross(triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0])
    norm = np.linalg.norm(normals, axis=1)
    ok = norm > 1e-9
    normals[ok] /= norm[ok, None]
    ok &= np.abs(normals[:, 2]) > np.cos(np.radians(20))  # near horizontal planes only
    if not ok.any():
        return points[points[:, 2] > threshold], 0.0
    normals, triples = normals[ok], triples[ok]
    offsets = -(normals * triples[:, 0]).sum(1)
    inliers = np.abs(pts @ normals.T + offsets) < threshold  # (M, H)
    best = int(inliers.sum(0).argmax())
    mask = inliers[:, best]
    if mask.sum() < 0.05 * len(pts):
        return points[points[:, 2] > threshold], 0.0
    # least-squares refit z = a x + b y + c on the inliers
    a, b, c = np.linalg.lstsq(np.c_[pts[mask, :2], np.ones(mask.sum())], pts[mask, 2], rcond=None)[0]
    height = a * pts[:, 0] + b * pts[:, 1] + c
    return points[pts[:, 2] > height + threshold].astype(np.float32), float(c)


def _random_quaternion(rng: np.random.Generator) -> tuple[float, float, float, float]:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    return tuple(float(v) for v in q)
