"""What deeper hands cost when sampling candidates: writes docs/benchmarks/grasp_depths.md.

    .venv/bin/python scripts/bench_grasp_depths.py [--objects random-urdfs-test] [--views 12] [--repeats 3]

For simulated pile views (one noisy depth view each, VGN's protocol), ``sample_edges`` side by side in
one process, interleaved per view: Edge Grasp's depth only (``deepen=0``), each hand as deep as it fits
(``deepen=0.016``, what a depth-blind net gets with ``--deepen``) and every depth that fits
(``deepen=0.016, all_depths=True``, what a net trained with ``grasp generate --deepen`` scores). Reports
the median milliseconds per view, the ratio to ``deepen=0`` and the median number of candidates.
Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from equimanip.atomic import atomic_write_text
from equimanip.envs.grasping.camera import DepthCamera
from equimanip.envs.grasping.objects import load_object_set
from equimanip.envs.grasping.world import GraspWorld
from equimanip.policies.grasp.edges import preprocess_cloud, sample_edges

ROOT = Path(__file__).resolve().parents[1]
MODES = {"Edge Grasp's depth (`deepen=0`)": {},
         "deepest that fits (`deepen=0.016`)": {"deepen": 0.016},
         "every depth that fits (`deepen=0.016, all_depths=True`)": {"deepen": 0.016, "all_depths": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", default="random-urdfs-test", help="object set (a name or DIR[#train|#test])")
    parser.add_argument("--scene", default="pile", choices=("pile", "packed"))
    parser.add_argument("--views", type=int, default=12, help="simulated views (scene seeds 0 … N-1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per view and mode (the first is a warm-up)")
    parser.add_argument("--num-approach", type=int, default=64, help="approach points (the benchmark's 64)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks/grasp_depths.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    world = GraspWorld(load_object_set(args.objects), camera=DepthCamera(noise="dex"))
    clouds = []
    for i in range(args.views):
        rng = np.random.default_rng(i)
        world.generate(args.scene, 5, rng)
        obs = world.observe(rng)
        clouds.append((*preprocess_cloud(obs.points, viewpoint=obs.viewpoint, table_height=obs.table_height),
                       obs.table_height))
    world.close()
    times: dict[str, list[float]] = {m: [] for m in MODES}
    counts: dict[str, list[int]] = {m: [] for m in MODES}
    for i, (p, n, table) in enumerate(clouds):
        for r in range(args.repeats + 1):
            for mode, kw in MODES.items():  # interleaved: the modes share the machine's state
                t0 = time.perf_counter()
                es = sample_edges(p, n, num_approach=args.num_approach, table_height=table,
                                  generator=torch.Generator().manual_seed(i), **kw)
                if r:
                    times[mode].append(1000 * (time.perf_counter() - t0))
                    counts[mode].append(len(es))
    base = float(np.median(times[next(iter(MODES))]))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    lines = ["# Candidate sampling with deeper hands", "",
             f"`python scripts/bench_grasp_depths.py --objects '{args.objects}' --scene {args.scene} --views {args.views} "
             f"--repeats {args.repeats}` on {platform.processor() or platform.machine()}, {args.threads} torch threads, "
             f"commit {commit}: `sample_edges` on {args.views} simulated {args.scene} views ({args.num_approach} approach "
             f"points, filled columns, table at the view's height), the modes interleaved per view, "
             f"{args.repeats} timed repeats each after a warm-up. The candidates of the third mode are (edge, depth) "
             "pairs: a depth-scoring detector scores at most `max_edges` of them.", "",
             "| mode | median ms per view | vs `deepen=0` | median candidates |", "|---|---|---|---|"]
    for mode in MODES:
        ms = float(np.median(times[mode]))
        lines.append(f"| {mode} | {ms:.1f} | {ms / base:.2f}× | {int(np.median(counts[mode]))} |")
    atomic_write_text(Path(args.out), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
