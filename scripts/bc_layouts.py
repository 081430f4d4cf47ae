"""Which layouts a trained BC / SEIL policy solves: its evaluation episodes' success against the scene's geometry.

For each run, every final evaluation episode is reset again from its seed (no policy is run, so this
takes seconds) and described by the xy distances that set a tabletop task's difficulty: from the
gripper's start to each tracked body, and between each pair of bodies (straight, and along the axis
on which they are farther apart: whether one is inside a 0.4 m top-down view centred on the other).
Success is then shown per quantile bin of each distance (or split at ``--edges``), with the counts,
beside the same distances in the run's training demos. A few-demo
policy that generalises only to layouts like its demos' shows as a falling (or peaked) row.

    python scripts/bc_layouts.py outputs/bench_seil/BlockStacking-1demos-seil-1000steps-bf16-ep100/runs/seil-seed*
    python scripts/bc_layouts.py RUN... --edges 16
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import gymnasium as gym
import numpy as np


def layout(env: gym.Env, seed: int) -> dict[str, float]:
    """xy distances of the scene reset from ``seed``: gripper start → each body, and body ↔ body."""
    env.reset(seed=seed)
    u = env.unwrapped
    start = np.asarray(u.robot.target_position[:2], dtype=float)
    bodies = {name: np.asarray(u.body_xy_yaw(name)[0], dtype=float) for name in u.tracked_bodies()}
    out = {f"start→{name}": float(np.linalg.norm(xy - start)) for name, xy in bodies.items()}
    for (a, xa), (b, xb) in itertools.combinations(bodies.items(), 2):
        out[f"{a}↔{b}"] = float(np.linalg.norm(xa - xb))
        # the larger of |dx|, |dy|: with the gripper over one body, whether the other is in a top-down view
        out[f"{a}↔{b} on an axis"] = float(np.max(np.abs(xa - xb)))
    return out


def demo_seeds(config) -> list[int]:
    """Reset seeds of the run's training demos (empty when its dataset is not on this machine)."""
    from equimanip.dataset import Dataset

    if not config.dataset or not Path(config.dataset).exists():
        return []
    meta = Dataset.open(config.dataset).episodes_meta()  # the seeds without decoding any frame
    return [int(row["seed"]) for row in meta[: config.demos or len(meta)]]


def report(run: Path, bins: int, edges_cm: list[float] | None = None) -> list[str]:
    """Lines of success % (successes / episodes) per bin of each layout distance, for one run: quantile
    bins, or bins split at ``edges_cm``."""
    from equimanip.agents.bc import BCConfig, first_eval_seed

    if not (run / "config.json").exists():
        raise SystemExit(f"{run} is not a BC/SEIL run directory (no config.json)")
    config = BCConfig.from_json(run / "config.json")
    summary_path = run / "summary.json"
    if not summary_path.exists():
        raise SystemExit(f"{run} has no summary.json: the run has not finished its final evaluation")
    final = json.loads(summary_path.read_text())["final_eval"]
    if "episode_success" not in final:
        raise SystemExit(f"{run}: its evaluation has no per-episode record (made before episode_success was kept)")
    success = np.asarray(final["episode_success"], dtype=bool)
    env = gym.make(config.env, **config.env_options)
    layouts = [layout(env, first_eval_seed(config.seed) + i) for i in range(len(success))]
    demos = [layout(env, s) for s in demo_seeds(config)]
    env.close()
    lines = [f"{run}: {success.mean():.0%} of {len(success)} episodes"]
    for key in layouts[0]:
        values = np.array([lay[key] for lay in layouts])
        if edges_cm:
            inner = [e / 100 for e in edges_cm if values.min() < e / 100 < values.max()]
            edges = np.array([values.min(), *inner, values.max()])
        else:
            edges = np.quantile(values, np.linspace(0, 1, bins + 1))
        which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
        cells = [f"{100 * edges[b]:.0f}–{100 * edges[b + 1]:.0f} cm: {100 * success[which == b].mean():3.0f} % "
                 f"({success[which == b].sum()}/{np.sum(which == b)})" for b in range(len(edges) - 1) if np.any(which == b)]
        shown = ", ".join(f"{100 * d[key]:.0f}" for d in demos[:10]) + (" …" if len(demos) > 10 else "")
        lines.append(f"  {key:<32} {' | '.join(cells)}   demos: {shown or '—'} cm")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="BC/SEIL run directories with a finished evaluation")
    parser.add_argument("--bins", type=int, default=4, help="quantile bins per distance (default 4)")
    parser.add_argument("--edges", type=float, nargs="+", metavar="CM",
                        help="split every distance at these values in cm instead of quantiles (e.g. --edges 16)")
    args = parser.parse_args()
    if args.bins < 1:
        parser.error(f"--bins must be at least 1, got {args.bins}")
    if args.edges and (sorted(args.edges) != args.edges or min(args.edges) <= 0):
        parser.error(f"--edges must be positive distances in cm in increasing order, got {args.edges}")
    import equimanip  # noqa: F401  (registers the envs)

    for run in args.runs:
        print("\n".join(report(run, args.bins, args.edges)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
