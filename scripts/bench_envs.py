"""Environment throughput benchmark -> docs/benchmarks/envs.md.

Measures, on this machine:
  * env steps/s per task and camera, step-only (random actions, resets excluded) and with the
    scripted expert including resets, in one process;
  * scaling with 1 and 2 worker processes (each its own env; aggregate steps/s);
  * where the time of a BlockPicking step goes (physics, rendering, IK, expert, the rest);
  * a baseline side by side in the same run: the same env stepped BulletArm's way, waiting ~290
    physics sub-steps per action for the arm to converge (REFERENCES §2), as a ratio.

    python scripts/bench_envs.py [--steps 300] [--out docs/benchmarks/envs.md] [--tasks ...] [--cameras ...]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np


def _make(env_id: str, **options):
    import equimanip

    return equimanip.make(env_id, **options)


def step_only(env_id: str, camera: str, steps: int, seed: int = 0, **options) -> float:
    """Steps/s with random actions, excluding reset time."""
    env = _make(env_id, camera=camera, **options)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    elapsed, done_steps = 0.0, 0
    while done_steps < steps:
        action = rng.uniform(-1, 1, 5).astype(np.float32)
        t = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        elapsed += time.perf_counter() - t
        done_steps += 1
        if terminated or truncated:
            env.reset(seed=seed + done_steps)
    env.close()
    return done_steps / elapsed


def expert_with_resets(env_id: str, camera: str, steps: int, seed: int = 0, **options) -> tuple[float, float]:
    """Steps/s with the expert, resets included; also the success rate of the episodes run."""
    env = _make(env_id, camera=camera, **options)
    unwrapped = env.unwrapped
    done_steps, successes, episodes = 0, 0, 0
    t = time.perf_counter()
    while done_steps < steps:
        env.reset(seed=seed + episodes)
        episodes += 1
        while True:
            _, _, terminated, truncated, info = env.step(unwrapped.expert_action())
            done_steps += 1
            if terminated or truncated:
                successes += int(info["is_success"])
                break
    elapsed = time.perf_counter() - t
    env.close()
    return done_steps / elapsed, successes / episodes


def _worker(args: tuple) -> tuple[int, float]:
    env_id, camera, steps, seed = args
    env = _make(env_id, camera=camera)
    unwrapped = env.unwrapped
    n = 0
    t = time.perf_counter()
    episode = 0
    while n < steps:
        env.reset(seed=seed + 1000 * episode)
        episode += 1
        while True:
            _, _, terminated, truncated, _ = env.step(unwrapped.expert_action())
            n += 1
            if terminated or truncated:
                break
    return n, time.perf_counter() - t


def scaling(env_id: str, camera: str, steps: int, workers: int) -> float:
    """Aggregate expert steps/s (resets included) of ``workers`` processes running side by side."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers) as pool:
        pool.map(_worker, [(env_id, camera, 20, 99)] * workers)  # warm-up: imports and first loads
        t = time.perf_counter()
        results = pool.map(_worker, [(env_id, camera, steps, w) for w in range(workers)])
        wall = time.perf_counter() - t
    return sum(n for n, _ in results) / wall


def breakdown(env_id: str, camera: str, steps: int) -> dict[str, float]:
    """Milliseconds per step spent in physics, rendering, IK, the expert and the rest."""
    env = _make(env_id, camera=camera)
    u = env.unwrapped
    totals: dict[str, float] = defaultdict(float)

    def timed(obj, name, key):
        original = getattr(obj, name)

        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                totals[key] += time.perf_counter() - t

        setattr(obj, name, wrapper)

    timed(u.sim, "step", "physics (sub-steps)")
    timed(u.camera, "render", "rendering (incl. finger painting)")
    timed(u.robot, "_arm_targets", "inverse kinematics")
    n = 0
    expert_time = 0.0
    t0 = time.perf_counter()
    episode = 0
    step_time = 0.0
    while n < steps:
        env.reset(seed=episode)
        episode += 1
        while True:
            t = time.perf_counter()
            action = u.expert_action()
            expert_time += time.perf_counter() - t
            t = time.perf_counter()
            _, _, terminated, truncated, _ = env.step(action)
            step_time += time.perf_counter() - t
            n += 1
            if terminated or truncated:
                break
    total = time.perf_counter() - t0
    env.close()
    out = {k: 1000 * v / n for k, v in totals.items()}
    # physics/rendering/IK of resets are inside totals too; report per step of the whole run
    out["scripted expert"] = 1000 * expert_time / n
    out["everything else (Python, resets, observation assembly)"] = 1000 * total / n - sum(out.values())
    out["total"] = 1000 * total / n
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="env steps per measurement (default 300)")
    parser.add_argument("--out", default="docs/benchmarks/envs.md", help="markdown report path")
    parser.add_argument("--tasks", nargs="*", help="task ids (default: all registered)")
    parser.add_argument("--cameras", nargs="*", default=["gripper_topdown", "fixed_topdown", "side"])
    args = parser.parse_args()

    import torch  # noqa: F401  (only to keep thread settings comparable with training runs)

    import equimanip
    from equimanip.envs import env_ids

    tasks = args.tasks or env_ids()
    lines = ["# Environment throughput", ""]
    from equimanip.provenance import git_commit

    commit = git_commit() or "unknown"
    lines += [f"Command: `python scripts/bench_envs.py --steps {args.steps}` at commit `{commit}`, "
              f"{time.strftime('%Y-%m-%d')}, equimanip {equimanip.__version__}.",
              f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}, no GPU used (pybullet TinyRenderer, DIRECT mode). 128×128 images, "
              "20 physics sub-steps at 240 Hz per action.", ""]

    print("per task and camera ...", file=sys.stderr)
    lines += ["## Steps/s per task and camera (one process)", "",
              "*step-only*: random actions, reset time excluded. *expert + resets*: the scripted expert's "
              "episodes back to back, resets and expert computation included.", "",
              "| task | camera | step-only steps/s | expert + resets steps/s | expert success in run |",
              "|---|---|---|---|---|"]
    for env_id in tasks:
        for camera in args.cameras:
            so = step_only(env_id, camera, args.steps)
            ex, success = expert_with_resets(env_id, camera, args.steps)
            lines.append(f"| {env_id} | {camera} | {so:.0f} | {ex:.0f} | {success:.2f} |")
            print(lines[-1], file=sys.stderr)

    print("baseline ...", file=sys.stderr)
    ref = "equimanip/BlockPicking-v0"
    ours = step_only(ref, "gripper_topdown", args.steps)
    slow = step_only(ref, "gripper_topdown", max(args.steps // 5, 30), substeps=290)
    lines += ["", "## Side by side: fixed sub-steps vs waiting for convergence", "",
              "Same env, same process, random actions: our fixed 20 sub-steps per action against BulletArm's way of "
              "stepping (≈ 290 sub-steps per action while the arm converges, REFERENCES §2).", "",
              "| BlockPicking, gripper_topdown | steps/s | ratio |", "|---|---|---|",
              f"| 20 sub-steps (ours) | {ours:.0f} | {ours / slow:.1f}× |",
              f"| 290 sub-steps (BulletArm-style wait) | {slow:.0f} | 1.0× |"]

    print("image size ...", file=sys.stderr)
    lines += ["", "## Cost growth with image size (BlockPicking, step-only steps/s)", "",
              "| image size | gripper_topdown | side (shadows) | side, `shadows=False` |", "|---|---|---|---|"]
    for size in (64, 128, 256):
        n = max(args.steps // (4 if size == 256 else 1), 30)
        top = step_only(ref, "gripper_topdown", n, image_size=size)
        side = step_only(ref, "side", max(n // 4, 30), image_size=size)
        side_plain = step_only(ref, "side", max(n // 4, 30), image_size=size, shadows=False)
        lines.append(f"| {size}×{size} | {top:.0f} | {side:.0f} | {side_plain:.0f} |")
        print(lines[-1], file=sys.stderr)

    print("scaling ...", file=sys.stderr)
    lines += ["", "## Scaling with worker processes (BlockPicking, expert + resets)", "",
              "| camera | 1 process steps/s | 2 processes steps/s (aggregate) | speed-up |", "|---|---|---|---|"]
    for camera in ("gripper_topdown", "side"):
        one = scaling(ref, camera, args.steps, 1)
        two = scaling(ref, camera, args.steps, 2)
        lines.append(f"| {camera} | {one:.0f} | {two:.0f} | {two / one:.2f}× |")
        print(lines[-1], file=sys.stderr)

    print("breakdown ...", file=sys.stderr)
    lines += ["", "## Where the time goes (BlockPicking, expert + resets, ms per step)", ""]
    for camera in ("gripper_topdown", "side"):
        parts = breakdown(ref, camera, args.steps)
        total = parts.pop("total")
        lines += [f"**{camera}** — {total:.2f} ms per step ({1000 / total:.0f} steps/s):", "",
                  "| part | ms/step | share |", "|---|---|---|"]
        for key, value in sorted(parts.items(), key=lambda kv: -kv[1]):
            lines.append(f"| {key} | {value:.2f} | {value / total:.0%} |")
        lines.append("")
    lines += ["Reference points (REFERENCES §2, measured on this machine class): BulletArm block picking ≈ 40 steps/s "
              "step-only and ≈ 32 with resets in one process, ×1.9 with two processes; its time goes to ≈ 290 "
              "sub-steps waiting for convergence, rendering the arm (≈ 16 ms) and Python convergence checks.", ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
