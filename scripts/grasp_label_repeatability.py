"""How repeatable is a simulated grasp label? Candidates re-executed with their pose jittered.

`equimanip grasp generate` labels each candidate by one simulated attempt. If a millimetre or a degree
changed the outcome, the labels would be noise a network cannot learn. This builds scenes as the generator
does, samples the detector's candidates, executes a few per scene from the same physics snapshot at the exact
pose and ``--repeats`` times with a random jitter (translation ``--jitter-mm`` RMS, rotation about a random
axis by a normal angle of ``--jitter-deg`` std), and reports how often the jittered outcome agrees.

    python scripts/grasp_label_repeatability.py --objects '/work/shared/grasp_objects/pile_train#test' --scene pile
"""

from __future__ import annotations

import argparse

import numpy as np


def jittered(pose: np.ndarray, rng: np.random.Generator, metres: float, degrees: float) -> np.ndarray:
    """``pose`` moved by a random translation (``metres`` RMS) and turned about a random axis."""
    out = pose.copy()
    out[:3, 3] += rng.normal(0.0, metres / np.sqrt(3.0), 3)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.radians(degrees) * rng.normal()
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    out[:3, :3] = (np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k) @ pose[:3, :3]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", required=True, help="object set (as for `grasp generate`)")
    parser.add_argument("--scene", choices=("pile", "packed"), default="pile", help="scene type (default pile)")
    parser.add_argument("--scenes", type=int, default=15, help="scenes (default 15)")
    parser.add_argument("--per-scene", type=int, default=12, help="candidates executed per scene (default 12)")
    parser.add_argument("--repeats", type=int, default=3, help="jittered executions per candidate (default 3)")
    parser.add_argument("--jitter-mm", type=float, default=1.0, help="translation jitter, mm RMS (default 1)")
    parser.add_argument("--jitter-deg", type=float, default=1.0, help="rotation jitter, degrees std (default 1)")
    parser.add_argument("--seed", type=int, default=77, help="scene seed (default 77)")
    args = parser.parse_args()

    import torch

    from equimanip.agents.grasp_data import GenerateConfig, _world
    from equimanip.policies.grasp.edges import preprocess_cloud, sample_edges

    config = GenerateConfig(objects=args.objects, scene=args.scene, scenes=args.scenes, seed=args.seed,
                            fill_columns=True)
    rows = []
    for s in range(args.scenes):
        world = _world(config)
        try:
            rng = np.random.default_rng([config.seed, s])
            world.generate(config.scene, config.num_objects, rng)
            obs = world.observe(rng)
            p, n = preprocess_cloud(obs.points, viewpoint=obs.viewpoint, table_height=obs.table_height)
            if len(p) < 20:
                continue
            edges = sample_edges(p, n, num_approach=32, table_height=obs.table_height,
                                 generator=torch.Generator().manual_seed(s))
            poses = edges.poses.numpy().astype(np.float64)
            snapshot = world.sim.save_state()
            for i in rng.choice(len(poses), size=min(args.per_scene, len(poses)), replace=False):
                outcomes = []
                for k in range(args.repeats + 1):
                    pose = poses[i] if k == 0 else jittered(poses[i], np.random.default_rng([s, int(i), k]),
                                                            args.jitter_mm / 1000, args.jitter_deg)
                    world.sim.restore_state(snapshot)
                    outcomes.append(int(world.execute(pose, allow_contact=True).success))
                rows.append(outcomes)
        finally:
            world.close()
    r = np.array(rows)
    base, jit = r[:, 0], r[:, 1:]
    print(f"{args.scene} ({args.objects}), {args.scenes} scenes, {len(r)} candidates, {args.repeats} jitters each "
          f"({args.jitter_mm:g} mm, {args.jitter_deg:g}°): success {base.mean():.3f} at the exact pose; a jittered "
          f"attempt agrees with it {np.mean(jit == base[:, None]):.3f}; all agree {np.mean((r == r[:, :1]).all(1)):.3f}; "
          f"P(success | exact succeeded) {jit[base == 1].mean():.3f}, P(success | exact failed) {jit[base == 0].mean():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
