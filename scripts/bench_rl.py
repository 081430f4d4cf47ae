"""RL benchmark -> docs/benchmarks/rl_cost.md and docs/benchmarks/rl.md.

Two parts:

* ``--part cost`` (minutes, -> docs/benchmarks/rl_cost.md): wall-clock per 1 k env steps *including SAC updates*, equivariant vs
  CNN, side by side in one process; and inference latency of the exported (plain torch) actor vs
  the escnn one, and vs the CNN.
* ``--part learning`` (hours on this CPU, -> docs/benchmarks/rl.md): success rate vs env steps for equivariant vs CNN SACfD
  on BlockPulling and BlockPicking with the side camera, several seeds, evaluated on 50 episodes per
  point, with 95 % intervals. Each run is an ordinary ``equimanip train rl`` run directory.

    python scripts/bench_rl.py --part cost
    python scripts/bench_rl.py --part learning --seeds 0 1 2 --steps 5000
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch


def cost(env_id: str, camera: str, steps: int, image_size: int) -> list[str]:
    import equimanip
    from equimanip.agents.replay import SymmetricReplayBuffer
    from equimanip.agents.sacfd import SACfD
    from equimanip.agents.sb3_policy import ImageSACPolicy
    from equimanip.policies import CNNActor, EquivariantActor, export

    rows = ["## Wall-clock per 1 k env steps, SAC updates included (one process, CPU)", "",
            f"{env_id}, `{camera}` camera, {image_size}×{image_size}, batch 64, one gradient step per env step, "
            "4 augmented copies per transition; measured over "
            f"{steps} steps after {64} warm-up steps.", "",
            "| networks | s / 1 k steps | ratio to CNN |", "|---|---|---|"]
    results = {}
    for network in ("cnn", "equi"):
        env = equimanip.make(env_id, camera=camera, image_size=image_size)
        model = SACfD(ImageSACPolicy, env, policy_kwargs={"network": network, "group": "D4"}, buffer_size=20_000,
                      learning_starts=64, batch_size=64, replay_buffer_class=SymmetricReplayBuffer,
                      replay_buffer_kwargs={"group": "D4", "n_copies": 4}, seed=0, device="cpu")
        model.learn(64)
        t = time.perf_counter()
        model.learn(steps, reset_num_timesteps=False)
        results[network] = (time.perf_counter() - t) / steps * 1000
    for network in ("cnn", "equi"):
        rows.append(f"| {network} | {results[network]:.0f} | {results[network] / results['cnn']:.2f}× |")

    rows += ["", "## Actor inference latency (batch 1, CPU, ms, median of 50)", "",
             "| actor | 64×64 | 128×128 |", "|---|---|---|"]
    lat: dict[str, list[float]] = {"escnn D4 (training mode: filters expanded per call)": [],
                                   "escnn D4 (eval mode: cached filters)": [],
                                   "exported D4 (plain torch)": [], "CNN": []}
    for size in (64, 128):
        actor = EquivariantActor("D4", image_size=size)
        plain = export(actor)
        cnn = CNNActor(image_size=size).eval()
        x = torch.randn(1, 2, size, size)
        cases = [("escnn D4 (training mode: filters expanded per call)", actor.train()),
                 ("escnn D4 (eval mode: cached filters)", None), ("exported D4 (plain torch)", plain), ("CNN", cnn)]
        for name, module in cases:
            if module is None:
                module = actor.eval()
            with torch.no_grad():
                for _ in range(5):
                    module(x)
                times = []
                for _ in range(50):
                    t = time.perf_counter()
                    module(x)
                    times.append(time.perf_counter() - t)
            lat[name].append(1000 * float(np.median(times)))
    for name, values in lat.items():
        rows.append(f"| {name} | {values[0]:.2f} | {values[1]:.2f} |")
    return rows


def learning(tasks: list[str], seeds: list[int], steps: int, camera: str, out: Path) -> list[str]:
    rows = ["## Success rate vs env steps (SACfD, side camera)", ""]
    curves: dict[tuple[str, str], list[list[dict]]] = {}
    for task in tasks:
        for network in ("equi", "cnn"):
            for seed in seeds:
                run = out / f"{task.split('/')[-1]}_{network}_s{seed}"
                args = [sys.executable, "-m", "equimanip", "train", "rl", "--env", task, "--algo", "sacfd",
                        "--policy", network, "--group", "D4", "--steps", str(steps), "--seed", str(seed),
                        "--camera", camera, "--eval-every", "1000", "--eval-episodes", "50", "--out", str(run),
                        "--no-progress"]
                if (run / "config.json").exists() and not (run / "summary.json").exists():
                    args.append("--resume")
                if not (run / "summary.json").exists():
                    subprocess.run(args, check=True)
                lines = (run / "eval.csv").read_text().splitlines()[1:]
                curve = [dict(zip(["steps", "rate", "lo", "hi", "len"], map(float, ln.split(",")))) for ln in lines]
                curves.setdefault((task, network), []).append(curve)
    rows += [f"Seeds {seeds}, {steps} env steps, 50 evaluation episodes per point; mean over seeds "
             "(range over seeds in brackets).", "", "| task | networks | final success | per seed |", "|---|---|---|---|"]
    for (task, network), runs in curves.items():
        finals = [r[-1]["rate"] for r in runs]
        rows.append(f"| {task} | {network} | {np.mean(finals):.2f} [{min(finals):.2f}, {max(finals):.2f}] | "
                    f"{', '.join(f'{f:.2f}' for f in finals)} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("cost", "learning"), default="cost")
    parser.add_argument("--steps", type=int, default=300, help="cost: measured env steps; learning: env steps per run")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--tasks", nargs="*", default=["equimanip/BlockPulling-v0", "equimanip/BlockPicking-v0"])
    parser.add_argument("--camera", default="side")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--runs", default="outputs/bench_rl", help="learning: run directories")
    parser.add_argument("--out", help="report path (default docs/benchmarks/rl_cost.md or rl.md)")
    args = parser.parse_args()

    from equimanip.provenance import git_commit

    commit = git_commit() or "unknown"
    head = ["# RL benchmark", "",
            f"Command: `python scripts/bench_rl.py --part {args.part} --steps {args.steps}` at commit `{commit}`, "
            f"{time.strftime('%Y-%m-%d')}; {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"CUDA {'yes' if torch.cuda.is_available() else 'no'}.", ""]
    if args.part == "cost":
        body = cost(args.tasks[0], args.camera, args.steps, args.image_size)
    else:
        body = learning(args.tasks, args.seeds, args.steps, args.camera, Path(args.runs))
    out = Path(args.out if args.out else ("docs/benchmarks/rl_cost.md" if args.part == "cost" else "docs/benchmarks/rl.md"))
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(head + body) + "\n"
    out.write_text(text)
    print(text)

if __name__ == "__main__":
    main()
