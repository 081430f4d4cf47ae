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
    # what a 2-core CPU affords (≈ 40 min per equivariant run): 64 px, n_hidden 32, bf16 where fast
    python scripts/bench_rl.py --part learning --seeds 0 --steps 5000 --image-size 64 --n-hidden 32
    python scripts/bench_rl.py --part cost --steps 40 --image-size 64 --n-hidden 32 --cost-precisions fp32 bf16 \
        --out docs/benchmarks/rl_cost_64_h32.md
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


def cost(env_id: str, camera: str, steps: int, image_size: int, n_hidden: int, precisions: list[str]) -> list[str]:
    import equimanip
    from equimanip.agents.replay import SymmetricReplayBuffer
    from equimanip.agents.sacfd import SACfD
    from equimanip.agents.sb3_policy import ImageSACPolicy
    from equimanip.policies import CNNActor, EquivariantActor, export

    rows = ["## Wall-clock per 1 k env steps, SAC updates included (one process, CPU)", "",
            f"{env_id}, `{camera}` camera, {image_size}×{image_size}, batch 64, one gradient step per env step, "
            f"4 augmented copies per transition, equivariant networks with n_hidden = {n_hidden} (D4), CNN at its default "
            f"width; measured over {steps} steps after 64 warm-up steps, every configuration in this one process.", "",
            f"| networks | precision | s / 1 k steps | ratio to CNN {precisions[0]} |", "|---|---|---|---|"]
    results = {}
    for network in ("cnn", "equi"):
        for precision in precisions:
            env = equimanip.make(env_id, camera=camera, image_size=image_size)
            model = SACfD(ImageSACPolicy, env, policy_kwargs={"network": network, "group": "D4", "n_hidden": n_hidden},
                          buffer_size=20_000, learning_starts=64, batch_size=64, replay_buffer_class=SymmetricReplayBuffer,
                          replay_buffer_kwargs={"group": "D4", "n_copies": 4}, precision=precision, seed=0, device="cpu")
            model.learn(64)
            t = time.perf_counter()
            model.learn(steps, reset_num_timesteps=False)
            results[network, precision] = (time.perf_counter() - t) / steps * 1000
    base = results["cnn", precisions[0]]
    for (network, precision), value in results.items():
        rows.append(f"| {network} | {precision} | {value:.0f} | {value / base:.2f}× |")

    rows += ["", "## Actor inference latency (batch 1, CPU, ms, median of 50; equivariant actors with n_hidden = 64)", "",
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


def run_name(task: str, network: str, seed: int, image_size: int, n_hidden: int, demo_fraction: float = 0.0) -> str:
    extra = f"_df{demo_fraction:g}" if demo_fraction else ""
    return f"{task.split('/')[-1]}_{network}_{image_size}px_h{n_hidden}{extra}_s{seed}"


def learning(tasks: list[str], seeds: list[int], steps: int, camera: str, image_size: int, n_hidden: int,
             precision: str, out: Path, report: Path, networks: list[str], report_only: bool = False,
             eval_episodes: int = 50, demo_fraction: float = 0.0) -> list[str]:
    """Train (or resume, or just read) one ``equimanip train rl`` run per task, network and seed; tabulate
    and plot success vs env steps. A run's wall-clock is measured when this script trains it from start to end."""
    import json

    from equimanip.rollout import wilson_interval

    curves: dict[tuple[str, str], dict[int, list[dict]]] = {}
    walls: dict[tuple[str, str], list[float]] = {}
    resolved: set[str] = set()
    for task in tasks:
        for network in networks:
            for seed in seeds:
                run = out / run_name(task, network, seed, image_size, n_hidden, demo_fraction)
                done = (run / "summary.json").exists()
                if not done and not report_only:
                    args = [sys.executable, "-m", "equimanip", "train", "rl", "--env", task, "--algo", "sacfd",
                            "--policy", network, "--group", "D4", "--steps", str(steps), "--seed", str(seed),
                            "--camera", camera, "--option", f"image_size={image_size}", "--n-hidden", str(n_hidden),
                            "--precision", precision, "--demo-fraction", str(demo_fraction),
                            "--eval-every", "1000", "--eval-episodes", str(eval_episodes),
                            "--out", str(run), "--no-progress"]
                    resumed = (run / "config.json").exists()
                    if resumed:
                        args.append("--resume")
                    t = time.perf_counter()
                    subprocess.run(args, check=True)
                    if not resumed:
                        (run / "bench.json").write_text(json.dumps({"train_and_eval_s": time.perf_counter() - t}))
                    done = True
                if not done or not (run / "eval.csv").exists():
                    continue
                lines = (run / "eval.csv").read_text().splitlines()[1:]
                curve = [dict(zip(["steps", "rate", "lo", "hi", "len"], map(float, ln.split(",")))) for ln in lines]
                curves.setdefault((task, network), {})[seed] = curve
                if (run / "summary.json").exists():
                    resolved.add(json.loads((run / "summary.json").read_text()).get("precision", "fp32"))
                if (run / "bench.json").exists():
                    walls.setdefault((task, network), []).append(json.loads((run / "bench.json").read_text())["train_and_eval_s"])
    rows = ["## Success rate vs env steps (SACfD, side camera)", "",
            f"SACfD (20 expert episodes in the buffer, 4 D4-transformed copies of every transition, batch 64, lr 1e-3, "
            f"one update per env step, a behaviour-cloning step on the demos after each update (weight 1), "
            f"{f'{demo_fraction:g} of every batch drawn from the demos' if demo_fraction else 'uniform sampling'}), "
            f"`{camera}` camera at {image_size}×{image_size}, equivariant networks with "
            f"n_hidden = {n_hidden} regular D4 fields, CNN at its default width; updates in `--precision {precision}` "
            f"({', '.join(sorted(resolved)) or 'none finished'} on this machine). "
            f"Evaluated every 1,000 env steps on {eval_episodes} episodes (seeds `2_000_000 + 1000·seed` …, the same for both "
            "networks); success over all seeds' episodes with its 95 % Wilson interval, each seed's figure in brackets. "
            f"Runs under `{out}`; plot: `{report.with_suffix('.png').name}`.", ""]
    points = sorted({int(p["steps"]) for runs in curves.values() for c in runs.values() for p in c})
    rows += ["| task | networks | seeds | " + " | ".join(f"{s:,} steps" for s in points) + " | train + eval s / run |",
             "|---|---|---|" + "---|" * len(points) + "---|"]
    summary: dict[tuple[str, str], list[tuple[int, float, float, float]]] = {}
    for (task, network), runs in curves.items():
        cells = []
        for step in points:
            rates = [next((p["rate"] for p in c if int(p["steps"]) == step), None) for c in runs.values()]
            if any(r is None for r in rates):
                cells.append("")
                continue
            k = sum(round(r * eval_episodes) for r in rates)
            n = eval_episodes * len(rates)
            lo, hi = wilson_interval(k, n)
            summary.setdefault((task, network), []).append((step, k / n, lo, hi))
            cells.append(f"{k / n:.2f} ({lo:.2f}–{hi:.2f}) [{' / '.join(f'{r:.2f}' for r in rates)}]")
        wall = walls.get((task, network))
        rows.append(f"| {task.split('/')[-1]} | {network} | {', '.join(map(str, runs))} | " + " | ".join(cells)
                    + (f" | {np.mean(wall):.0f} |" if wall else " |  |"))
    plot_learning(summary, report.with_suffix(".png"))
    return rows


def plot_learning(summary: dict[tuple[str, str], list[tuple[int, float, float, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({t for t, _ in summary})
    if not tasks:
        return
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for (t, network), pts in sorted(summary.items()):
            if t != task:
                continue
            steps, rate, lo, hi = zip(*pts)
            ax.plot(steps, rate, marker="o", label=network)
            ax.fill_between(steps, lo, hi, alpha=0.2)
        ax.set_title(task.split("/")[-1], fontsize=9)
        ax.set_xlabel("env steps")
        ax.set_ylabel("eval success (95 % CI)")
        ax.set_ylim(-0.02, 1.02)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("cost", "learning"), default="cost")
    parser.add_argument("--steps", type=int, default=300, help="cost: measured env steps; learning: env steps per run")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--tasks", nargs="*", default=["equimanip/BlockPulling-v0", "equimanip/BlockPicking-v0"])
    parser.add_argument("--camera", default="side")
    parser.add_argument("--image-size", type=int, default=128, help="camera image size in pixels")
    parser.add_argument("--n-hidden", type=int, default=64, help="regular fields of the equivariant encoder (64 as published)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="learning: arithmetic of the SAC updates (auto: bf16 where the hardware has bf16 units)")
    parser.add_argument("--cost-precisions", nargs="*", choices=("fp32", "bf16"), default=["fp32"],
                        help="cost: precisions of the SAC updates to time side by side (the first is the baseline)")
    parser.add_argument("--networks", nargs="*", default=["equi", "cnn"], help="learning: networks to compare")
    parser.add_argument("--demo-fraction", type=float, default=0.0,
                        help="learning: share of every SAC batch drawn from the demos (0: uniform over the buffer)")
    parser.add_argument("--eval-episodes", type=int, default=50, help="learning: evaluation episodes per point")
    parser.add_argument("--report-only", action="store_true", help="learning: tabulate the finished runs, train nothing")
    parser.add_argument("--runs", default="outputs/bench_rl", help="learning: run directories")
    parser.add_argument("--out", help="report path (default docs/benchmarks/rl_cost.md or rl.md)")
    args = parser.parse_args()

    from equimanip.provenance import git_commit

    commit = git_commit() or "unknown"
    head = ["# RL benchmark", "",
            f"Command: `python scripts/bench_rl.py {' '.join(sys.argv[1:])}` at commit `{commit}`, "
            f"{time.strftime('%Y-%m-%d')}; {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"CUDA {'yes' if torch.cuda.is_available() else 'no'}.", ""]
    out = Path(args.out if args.out else ("docs/benchmarks/rl_cost.md" if args.part == "cost" else "docs/benchmarks/rl.md"))
    if args.part == "cost":
        body = cost(args.tasks[0], args.camera, args.steps, args.image_size, args.n_hidden, args.cost_precisions)
    else:
        body = learning(args.tasks, args.seeds, args.steps, args.camera, args.image_size, args.n_hidden, args.precision,
                        Path(args.runs), out, args.networks, args.report_only,
                        args.eval_episodes, args.demo_fraction)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(head + body) + "\n"
    out.write_text(text)
    print(text)

if __name__ == "__main__":
    main()
