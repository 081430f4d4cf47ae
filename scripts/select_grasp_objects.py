"""Split pybullet_data's random_urdfs into the grasp benchmark's fixed train/test object ids.

Every object is loaded at the benchmark's size (longest side 6 cm), dropped on the table and left
to settle; it is excluded when its mesh does not load or has a degenerate bounding box (e.g. #168),
when it does not come to rest within 3 s, or when it ends up off or through the table. Of the
kept ids, every fifth (by a fixed seed) is a test object. Writes assets/grasp/random_urdfs_split.json.

    python scripts/select_grasp_objects.py
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import pybullet_data

from equimanip.atomic import write_json
from equimanip.envs.sim.pybullet_sim import PyBulletSimulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check(sim: PyBulletSimulator, object_id: int) -> str | None:
    """Why an object is excluded, or None when it is fine."""
    path = os.path.join(pybullet_data.getDataPath(), "random_urdfs", f"{object_id:03d}", f"{object_id:03d}.urdf")
    if not os.path.exists(path):
        return "missing"
    try:
        sim.load_urdf("probe", path, (0, 0, 1.0))
    except Exception as exc:  # pybullet raises its own error type for broken files
        return f"does not load: {exc}"
    try:
        lo, hi = sim.aabb("probe")
        size = hi - lo
        if not np.all(np.isfinite(size)) or size.min() < 1e-4:
            return f"degenerate bounding box {np.round(size, 5).tolist()}"
        sim.remove("probe")
        scale = 0.06 / float(size.max())
        sim.load_urdf("probe", path, (0, 0, 0.1), scale=scale)
        for _ in range(30):
            sim.step(24)
            if np.linalg.norm(sim.velocity("probe")[0]) < 0.005 and np.linalg.norm(sim.velocity("probe")[1]) < 0.05:
                break
        else:
            return "does not come to rest"
        lo, hi = sim.aabb("probe")
        pos, _ = sim.get_pose("probe")
        if lo[2] < -0.005 or np.linalg.norm(pos[:2]) > 0.1:
            return "falls through or rolls off the table"
        return None
    finally:
        if sim.has("probe"):
            sim.remove("probe")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/test draw (default 0)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="fraction of kept ids for testing (0.2)")
    args = parser.parse_args()
    sim = PyBulletSimulator()
    sim.load_urdf("table", "plane.urdf", (0, 0, 0), fixed=True)
    kept, excluded = [], {}
    for object_id in range(1000):
        reason = check(sim, object_id)
        if reason is None:
            kept.append(object_id)
        else:
            excluded[str(object_id)] = reason
    rng = np.random.default_rng(args.seed)
    test = sorted(int(i) for i in rng.choice(kept, size=round(args.test_fraction * len(kept)), replace=False))
    train = sorted(set(kept) - set(test))
    out = os.path.join(ROOT, "assets", "grasp", "random_urdfs_split.json")
    write_json(out, {"source": "pybullet_data/random_urdfs", "made_by": "scripts/select_grasp_objects.py",
                     "seed": args.seed, "train": train, "test": test, "excluded": excluded})
    print(f"kept {len(kept)} ({len(train)} train, {len(test)} test), excluded {len(excluded)}: wrote {out}")


if __name__ == "__main__":
    main()
