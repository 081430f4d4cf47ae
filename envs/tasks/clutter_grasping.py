"""Clutter Grasping: pick any one of five random objects off the table."""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import numpy as np

from equimanip.envs import skills
from equimanip.envs.registry import register_task
from equimanip.envs.tabletop import TabletopEnv
from equimanip.symmetry import SO2, TaskSymmetry

NUM_OBJECTS = 5
SIZE = 0.05  # longest side of an object's bounding box: any footprint then fits the 8 cm gripper
# the pybullet_data random_urdfs ids that scripts/select_clutter_objects.py keeps: they rest stably as
# placed, are at most 3x as costly to simulate as a cube, and the expert never failed on them in 2000 episodes
OBJECT_IDS: tuple[int, ...] = (
    9, 23, 33, 38, 41, 53, 61, 67, 94, 146, 159, 163, 194, 197, 198, 202, 244, 250, 258, 288, 300, 308, 341, 345,
    347, 380, 448, 471, 478, 480, 485, 491, 502, 543, 579, 615, 623, 634, 645, 666, 668, 673, 695, 713, 715, 719,
    745, 751, 757, 759, 761, 792, 863, 905, 906, 936, 953, 960, 984, 986,
)
GRASP_DIRECTIONS = 12  # closing-axis headings tried over a half turn
FINGER_SPAN = (0.04, 0.058, 0.013)  # open fingers: from/to this distance along the closing axis, half-width across
MIN_CLEARANCE = 0.008  # from the open fingers to the other objects
REST = 0.001  # lowest vertex above the table when placed: resting on the collision margin


def urdf_path(object_id: int) -> str:
    return f"random_urdfs/{object_id:03d}/{object_id:03d}.urdf"


def body_name(object_id: int) -> str:
    return f"object{object_id:03d}"


def rotation_matrix(quat: np.ndarray) -> np.ndarray:
    """3×3 rotation of a quaternion (x, y, z, w)."""
    x, y, z, w = quat
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


@functools.cache
def mesh_vertices(urdf_file: str) -> np.ndarray:
    """Vertices (N×3, metres, body frame at scale 1) of a random_urdfs object's mesh."""
    urdf = Path(urdf_file).read_text()
    scale = float(re.search(r'scale="([\d.eE+-]+)', urdf).group(1))  # the mesh scale (x = y = z)
    mesh = Path(urdf_file).parent / re.search(r'filename="([^"]+)"', urdf).group(1)
    with open(mesh) as f:
        verts = np.array([line.split()[1:4] for line in f if line.startswith("v ")], dtype=float)
    return verts * scale


@register_task("ClutterGrasping-v0", max_episode_steps=50)
class ClutterGrasping(TabletopEnv):
    """Grasp any object out of five and lift it.

    Objects are ``pybullet_data/random_urdfs`` blobs from a fixed list of ids checked to rest stably
    as placed, to be cheap to simulate and to be graspable top-down, each scaled so that its
    bounding box's longest side is 5 cm. All of them are loaded once; the unused ones sleep, hidden,
    under the table.

    Randomizations: which 5 objects (without replacement from the list), their xy uniform in the
    workspace (5 cm margin, centres at least 7 cm apart) and yaw uniform in [0, 2π), placed at rest
    (no settling steps, so a rotated scene is exactly the rotated scene). The symmetry group is
    SO(2): reflections would need mirrored blobs.
    Success: the gripper holds an object whose lowest point is more than 10 cm above the table.
    Expert: from the objects' meshes and poses, the nearest object with a top-down grasp whose open
    fingers clear the others (the narrowest such closing axis), picked with ``skills.pick``.
    """

    symmetry = TaskSymmetry(group=SO2())  # a mirrored blob is not in the object set
    task_state_dim = 7 * NUM_OBJECTS
    lift_height = 0.10

    def build_scene(self) -> None:
        self._vertices: dict[str, np.ndarray] = {}  # body frame, scaled
        for k, object_id in enumerate(OBJECT_IDS):
            name, path = body_name(object_id), self.sim.resolve_path(urdf_path(object_id))
            verts = mesh_vertices(path)
            scale = SIZE / float(np.max(verts.max(0) - verts.min(0)))
            self._vertices[name] = verts * scale
            self.sim.load_urdf(name, path, self._parking(k), scale=scale, inertia_from_file=False)
            self.sim.set_dynamics(name, lateral_friction=1.0)  # rolling/spinning friction would double the physics cost
            self._park(name, k)
        self._active = [body_name(i) for i in OBJECT_IDS[:NUM_OBJECTS]]

    @staticmethod
    def _parking(k: int) -> tuple[float, float, float]:
        return (0.2 + 0.1 * (k % 8), -0.4 + 0.1 * (k // 8), -2.0)  # a grid under the table, out of view

    def _park(self, name: str, k: int) -> None:
        self.sim.set_pose(name, self._parking(k))
        self.sim.set_sleeping(name, True)
        self.sim.set_visible(name, False)

    def reset_task(self, rng: np.random.Generator) -> None:
        chosen = [int(k) for k in rng.choice(len(OBJECT_IDS), NUM_OBJECTS, replace=False)]
        for k, object_id in enumerate(OBJECT_IDS):
            self._park(body_name(object_id), k)
        # pybullet applies sleep at the next step: one step with every object parked puts all of them in
        # the same state whatever the last episode did (bit-identical resets after any history)
        self.sim.step(1)
        self._active = [body_name(OBJECT_IDS[k]) for k in chosen]
        placed: list[np.ndarray] = []
        for name in self._active:
            xy = self.sample_xy(rng, margin=0.05, avoid=placed, min_distance=0.07)
            placed.append(xy)
            self.place(name, xy, REST - float(self._vertices[name][:, 2].min()), rng.uniform(0, 2 * math.pi))
            self.sim.set_sleeping(name, False)
            self.sim.set_visible(name, True)

    def tracked_bodies(self) -> list[str]:
        return list(self._active)

    def save_task_state(self) -> list[str]:
        return list(self._active)

    def restore_task_state(self, state: list[str]) -> None:
        self._active = list(state)

    def world_vertices(self, name: str) -> np.ndarray:
        pos, quat = self.sim.get_pose(name)
        return self._vertices[name] @ rotation_matrix(quat).T + pos

    def is_success(self) -> bool:
        return any(self.robot.is_holding(n) and self.world_vertices(n)[:, 2].min() > self.lift_height
                   for n in self._active)

    def task_state(self) -> np.ndarray:
        return np.concatenate([np.concatenate(self.sim.get_pose(n)) for n in self._active])

    def grasp(self, slot: int, world: list[np.ndarray]) -> tuple[np.ndarray, float, float, float, float]:
        """Top-down grasp of an object from all objects' world vertices: (xy, z, yaw, width, clearance).

        Of ``GRASP_DIRECTIONS`` closing axes, the narrowest one whose open fingers stay at least
        ``MIN_CLEARANCE`` from the other objects (else the clearest one); the grasp centre is the
        middle of the footprint along and across it. The fingers close low on the object: squeezing
        a tall object high up can wedge it against the table.
        """
        verts = world[slot]
        top, bottom = float(verts[:, 2].max()), float(verts[:, 2].min())
        z = max(0.012, min(bottom + 0.016, top - 0.008))  # the fingertips reach ~1 cm below z
        others = np.concatenate([w for s, w in enumerate(world) if s != slot])
        others = others[others[:, 2] > z - 0.012, :2]  # what the descending fingertips could hit
        angles = np.pi * np.arange(GRASP_DIRECTIONS) / GRASP_DIRECTIONS
        u = np.stack([np.cos(angles), np.sin(angles)], 1)
        v = np.stack([-np.sin(angles), np.cos(angles)], 1)
        pu, pv = verts[:, :2] @ u.T, verts[:, :2] @ v.T
        mid_u, mid_v = (pu.max(0) + pu.min(0)) / 2, (pv.max(0) + pv.min(0)) / 2
        width = pu.max(0) - pu.min(0)
        # distance from the other objects to the two finger boxes at ±FINGER_SPAN along each axis
        ou, ov = np.abs(others @ u.T - mid_u), np.abs(others @ v.T - mid_v)
        du = np.maximum(np.maximum(FINGER_SPAN[0] - ou, ou - FINGER_SPAN[1]), 0.0)
        clearance = np.hypot(du, np.maximum(ov - FINGER_SPAN[2], 0.0)).min(0) if len(others) else np.ones(len(u))
        ok = clearance >= MIN_CLEARANCE
        best = int(np.argmin(np.where(ok, width, np.inf))) if ok.any() else int(np.argmax(clearance))
        xy = u[best] * mid_u[best] + v[best] * mid_v[best]
        return xy, z, float(angles[best] - math.pi / 2), float(width[best]), float(clearance[best])  # yaw 0: along y

    def expert_action(self) -> np.ndarray:
        held = [n for n in self._active if self.robot.is_holding(n)]
        if held:
            return skills.pick(self, held[0], self.robot.target_position[:2], 0.0, 0.0)  # lifts what it holds
        here = self.robot.target_position[:2]
        world = [self.world_vertices(n) for n in self._active]
        grasps = [self.grasp(s, world) for s in range(NUM_OBJECTS)]
        # the nearest object with a clear grasp (it stays the nearest while the gripper approaches)
        clear = [s for s, g in enumerate(grasps) if g[4] >= MIN_CLEARANCE]
        slot = (min(clear, key=lambda s: float(np.linalg.norm(grasps[s][0] - here))) if clear
                else max(range(NUM_OBJECTS), key=lambda s: grasps[s][4]))
        xy, z, yaw, _, _ = grasps[slot]
        return skills.pick(self, self._active[slot], xy, z, yaw)
