"""Add the camera position of every scene to grasp data written before shards kept it.

`equimanip grasp generate` now stores where each scene was seen from (`viewpoints` in the shards), which a
net that reads the view rays needs. Older data can get it back without labelling anything again: a scene is
rebuilt from its seed (the generator's own draws), observed, and the preprocessed cloud must equal the stored
one exactly, or the folder is refused. Each shard is rewritten atomically; shards that have viewpoints are
skipped, so an interrupted run resumes.

    python scripts/grasp_add_viewpoints.py outputs/grasp_data_s9/vgn_pile outputs/grasp_data_s9/vgn_packed --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing
from pathlib import Path

import numpy as np


def add_to_shard(folder: str, shard: str) -> tuple[str, int]:
    """Replay the scenes of one shard and rewrite it with their viewpoints; ``(shard, scenes added)``."""
    from equimanip.agents.grasp_data import GenerateConfig, _world
    from equimanip.agents.grasp_dataset import read_meta, read_shard, write_shard
    from equimanip.policies.grasp.edges import preprocess_cloud

    config = GenerateConfig(**read_meta(folder)["config"])
    scenes = read_shard(shard)
    if all(s["viewpoint"] is not None for s in scenes):
        return shard, 0
    for scene in scenes:
        world = _world(config)
        try:
            rng = np.random.default_rng([config.seed, scene["scene_seed"]])
            world.generate(config.scene, config.num_objects, rng)
            obs = world.observe(rng)
        finally:
            world.close()
        points, _ = preprocess_cloud(obs.points, viewpoint=obs.viewpoint, table_height=obs.table_height)
        if points.shape != scene["points"].shape or not np.array_equal(points, scene["points"]):
            raise ValueError(f"{shard}: scene {scene['scene_seed']} does not rebuild to the stored cloud "
                             "(other objects, code or pybullet than the data was made with); no viewpoints added")
        scene["viewpoint"] = np.asarray(obs.viewpoint, dtype=np.float64)
    write_shard(shard, scenes)
    return shard, len(scenes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="grasp data folders (from `equimanip grasp generate`)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    args = parser.parse_args()
    from tqdm import tqdm

    from equimanip.agents.grasp_dataset import read_meta

    jobs = []
    for folder in args.folders:
        read_meta(folder)  # a folder that is not grasp data fails here, before any work
        jobs += [(folder, str(p)) for p in sorted(Path(folder).glob("shard-*.npz"))]
    added = 0
    with multiprocessing.get_context("spawn").Pool(max(1, args.workers)) as pool:
        for _, n in tqdm(pool.starmap(add_to_shard, jobs) if args.workers > 1 else
                         (add_to_shard(*job) for job in jobs), total=len(jobs), unit="shard"):
            added += n
    print(f"viewpoints added to {added} scenes in {len(jobs)} shards of {len(args.folders)} folder(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
