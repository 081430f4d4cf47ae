"""Choose the ``random_urdfs`` objects of ClutterGrasping (prints the id list for OBJECT_IDS).

An object (scaled as the task scales it) is kept when:
  1. placed as the task places it (file orientation, just touching the table) it stays put: over
     1.25 s it moves < 2 mm and turns < 3° (no rolling or tipping), and it stands >= 1.5 cm tall;
  2. it is cheap to simulate: at rest on the table it costs less than ``--max-cost`` times a 4 cm
     cube's physics time (timed: meshes with many hull vertices cost up to 30x a cube);
  3. the task's expert never fails with it over ``--seeds`` episodes that use the list so far
     (failures are charged to the object the gripper closed on).

    python scripts/select_clutter_objects.py [--seeds 2000] [--max-cost 3]
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter

import numpy as np


def rests_stably(sim, object_id: int) -> bool:
    """Placed as the task places it (file orientation, just touching the table), it stays put."""
    from equimanip.envs.tasks.clutter_grasping import REST, SIZE, mesh_vertices, rotation_matrix, urdf_path

    path = sim.resolve_path(urdf_path(object_id))
    verts = mesh_vertices(path)
    if not np.all(np.isfinite(verts)):  # e.g. #168
        return False
    scale = SIZE / float(np.max(verts.max(0) - verts.min(0)))
    start = (0.5, 0.0, REST - scale * verts[:, 2].min())
    sim.load_urdf("o", path, start, scale=scale, inertia_from_file=False)
    sim.set_dynamics("o", lateral_friction=1.0)
    sim.step(300)
    pos, quat = sim.get_pose("o")
    lin, ang = sim.velocity("o")
    turn = math.degrees(math.acos(np.clip((np.trace(rotation_matrix(quat)) - 1) / 2, -1, 1)))
    height = float(np.ptp((scale * verts @ rotation_matrix(quat).T)[:, 2]))
    sim.remove("o")
    still = np.linalg.norm(lin) < 0.005 and np.linalg.norm(ang) < 0.1
    return bool(still and np.linalg.norm(pos - start) < 0.002 and turn < 3.0 and height >= 0.015)


def _rest_cost(sim, load) -> float:
    """Physics time per step added by the body that ``load`` puts at rest on the table (best of 3)."""

    def timed() -> float:
        best = math.inf
        for _ in range(3):
            t = time.process_time()
            sim.step(120)
            best = min(best, time.process_time() - t)
        return best / 120

    base = timed()
    load()
    sim.step(10)
    cost = timed() - base
    sim.remove("o")
    return cost


def relative_physics_cost(sim, object_id: int) -> float:
    """Physics cost of the object at rest, relative to a 4 cm cube's (the same on any machine)."""
    from equimanip.envs.tasks.clutter_grasping import SIZE, mesh_vertices, urdf_path

    path = sim.resolve_path(urdf_path(object_id))
    verts = mesh_vertices(path)
    scale = SIZE / float(np.max(verts.max(0) - verts.min(0)))
    cube = _rest_cost(sim, lambda: sim.create_box("o", (0.02, 0.02, 0.02), (0.5, 0.0, 0.0201)))
    obj = _rest_cost(sim, lambda: sim.load_urdf("o", path, (0.5, 0.0, 0.001 - scale * verts[:, 2].min()), scale=scale,
                                                inertia_from_file=False))
    return obj / max(cube, 1e-9)


def expert_failures(ids: list[int], seeds: int) -> Counter:
    import gymnasium as gym

    import equimanip.envs.tasks.clutter_grasping as task

    task.OBJECT_IDS = tuple(ids)
    env = gym.make("equimanip/ClutterGrasping-v0")
    u = env.unwrapped
    failures: Counter = Counter()
    for seed in range(seeds):
        env.reset(seed=seed)
        tried = set()
        for _ in range(100):
            action = u.expert_action()
            if action[0] < 0:  # closing: on the object nearest the gripper
                here = u.robot.target_position[:2]
                tried.add(min(u.tracked_bodies(), key=lambda n: np.linalg.norm(u.sim.get_pose(n)[0][:2] - here)))
            _, _, term, trunc, info = env.step(action)
            if term or trunc:
                break
        if not info["is_success"]:
            failures.update(int(n.removeprefix("object")) for n in tried)
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--max-cost", type=float, default=3.0)
    args = parser.parse_args()
    from equimanip.envs.sim import make_simulator

    sim = make_simulator("pybullet")
    sim.create_box("table", (0.6, 0.6, 0.01), (0.5, 0.0, -0.01), mass=0.0)
    sim.set_dynamics("table", lateral_friction=1.0)
    ids = [i for i in range(1000) if rests_stably(sim, i)]
    print(f"{len(ids)} objects rest stably")
    ids = [i for i in ids if min(relative_physics_cost(sim, i) for _ in range(2)) < args.max_cost]
    print(f"{len(ids)} are cheap to simulate")
    while failures := expert_failures(ids, args.seeds):
        print("expert failures:", dict(failures))
        ids = [i for i in ids if i not in failures]
    print(f"{len(ids)} objects:\n{tuple(ids)}")


if __name__ == "__main__":
    main()
