"""SEIL benchmark -> docs/benchmarks/seil.md (+ seil.json, seil.png).

Success over evaluation episodes for SEIL vs equivariant BC vs CNN BC (and CNN BC + transition
simulation) on BlockStacking, BlockInBowl and DrawerOpening with 1, 5 and 10 demos, several seeds,
each run an ordinary run directory of ``equimanip experiment`` (resumable: re-running skips finished
runs). Also reports training wall-clock per run, transition-simulation cost per call and env
steps/s during collection. The full grid is 108 runs (hours on a 2-core CPU): choose a subset with
the flags; the report says exactly what was run. Evaluation episodes may last 100 steps by default, as in
SEIL's released code (``--max-episode-steps 50`` keeps the tasks' own limit); the report gives each such
run's success within 50 steps from the same episodes.

    python scripts/bench_seil.py                                   # the full grid (hours)
    python scripts/bench_seil.py --tasks BlockInBowl --demos 1 10 --methods SEIL "CNN BC" --seeds 0
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shlex
import sys
from pathlib import Path

import numpy as np

TASKS = ("BlockStacking", "BlockInBowl", "DrawerOpening")
METHODS = {"SEIL": {"policy": "equi", "simulate_n": 4}, "Equi BC": {"policy": "equi", "simulate_n": 0},
           "CNN BC": {"policy": "cnn", "simulate_n": 0}, "CNN BC + TS": {"policy": "cnn", "simulate_n": 4},
           # variants, not in the default grid: 16 simulated samples per expert step instead of SEIL's 4, each
           # weighted like one (SEIL's rule: the expert sample's share falls to 1/17) or by 1/4 (its share stays 1/5)
           "SEIL 16 sims": {"policy": "equi", "simulate_n": 16},
           "SEIL 16 sims w0.25": {"policy": "equi", "simulate_n": 16, "sim_weight": 0.25},
           # SEIL's own rule: simulate in free space only (ours also carries a held object by default)
           "SEIL free-space sims": {"policy": "equi", "simulate_n": 4, "simulate_holding": False},
           # SEIL's released optimiser: Adam with weight decay 1e-5 at a constant rate (ours: cosine decay, no decay)
           "SEIL wd constant lr": {"policy": "equi", "simulate_n": 4, "weight_decay": 1e-5, "lr_schedule": "constant"},
           # SEIL's view: 0.6 m around the gripper (1.5 × its 0.4 m workspace; ours 0.4 m) at our 64 px; env options
           # of a variant apply to its demos, simulation and evaluation
           "SEIL 0.6 m view": {"policy": "equi", "simulate_n": 4, "env_options": {"view_size": 0.6}},
           # ours: planar perturbations up to 3 steps (std 3σ) with clipped corrective labels, views farther off the
           # demo's path (1-demo policies fail on layouts whose distances differ from their demo's)
           "SEIL wide sims": {"policy": "equi", "simulate_n": 4, "sim_reach": 3.0},
           # SEIL's own observation: 0.6 m at 128 px (4.7 mm per pixel); ≈ 4× the cost of a 64 px step
           "SEIL 128 px 0.6 m view": {"policy": "equi", "simulate_n": 4, "env_options": {"view_size": 0.6, "image_size": 128}},
           # SEIL trained exactly as shipped, also evaluated on 50 episodes after every tenth of training: the
           # paper's protocol (its figures: each run's best of 10 such evaluations); "evals" is popped into
           # eval_every = steps / evals
           "SEIL 10 evals": {"policy": "equi", "simulate_n": 4, "evals": 10},
           # the honest counterpart of that protocol: the 10 evaluations run on validation episodes, the best
           # of them is kept and the final evaluation tests it on the usual episodes (`--select-best`)
           "SEIL select best": {"policy": "equi", "simulate_n": 4, "evals": 10, "select_best": True},
           # ours: 2 of the 4 views of each step holding an object also shift it within the hand (up to 2 cm along
           # the jaw): demonstrated grasps are centred, and a policy that grasps off-centre chased the held cube
           "SEIL grasp offsets": {"policy": "equi", "simulate_n": 4, "grasp_offset_n": 2},
           # both: SEIL's 0.6 m view keeps the other cube in sight while one is held (at 0.4 m a cube 16 cm or more
           # away along an axis sits at the image's edge or beyond, where 5- and 10-demo BlockStacking failed most)
           "SEIL grasp offsets 0.6 m view": {"policy": "equi", "simulate_n": 4, "grasp_offset_n": 2,
                                             "env_options": {"view_size": 0.6}},
           # BlockStacking only: the expert keeps its height until it is above the cube it picks (task option
           # approach=overhead), so no demonstrated descent starts between two cubes
           "SEIL grasp offsets overhead": {"policy": "equi", "simulate_n": 4, "grasp_offset_n": 2,
                                           "env_options": {"approach": "overhead"}},
           # the default (offsets) with the weights selected on held-out episodes (`--select-best`)
           "SEIL grasp offsets select best": {"policy": "equi", "simulate_n": 4, "grasp_offset_n": 2, "evals": 10,
                                              "select_best": True},
           # offsets with SEIL's own observation (0.6 m at 128 px): the other cube in sight at finer pixels
           "SEIL grasp offsets 128 px 0.6 m view": {"policy": "equi", "simulate_n": 4, "grasp_offset_n": 2,
                                                    "env_options": {"view_size": 0.6, "image_size": 128}},
           # ours: the default's 0.4 m view plus SEIL's 0.6 m one as a second depth channel (`context_view`): fine
           # pixels for the grasp and the other cube always in sight (far layouts lose it at 0.4 m)
           "SEIL grasp offsets context view": {"policy": "equi", "simulate_n": 4, "grasp_offset_n": 2,
                                               "env_options": {"context_view": 0.6}},
           # BlockStacking only: the expert lets go wherever the cubes' centres line up, at any relative yaw (task
           # option stack_yaw=any), instead of first turning the held cube to within 4° of the lower one's faces
           "SEIL grasp offsets any yaw": {"policy": "equi", "simulate_n": 4, "grasp_offset_n": 2,
                                          "env_options": {"stack_yaw": "any"}},
           # both: the context channel removes the release look-alike of far layouts, any yaw the hover of a turned cube
           "SEIL grasp offsets context view any yaw": {"policy": "equi", "simulate_n": 4, "grasp_offset_n": 2,
                                                       "env_options": {"context_view": 0.6, "stack_yaw": "any"}},
           # ours: the views of a release step around the release pose, below it too, labelled open (`--release-views`)
           "SEIL grasp offsets release views": {"policy": "equi", "simulate_n": 4, "grasp_offset_n": 2,
                                                "release_views": True},
           # ours: grasps and releases (the steps where the gripper command changes) drawn 4 times as often
           "SEIL grasp offsets switch x4": {"policy": "equi", "simulate_n": 4, "grasp_offset_n": 2, "switch_weight": 4.0},
           # ours: three networks trained side by side, acting on their mean output (`--ensemble 3`)
           "SEIL grasp offsets ensemble 3": {"policy": "equi", "simulate_n": 4, "grasp_offset_n": 2, "ensemble": 3}}
PERIODIC_EPISODES = 50  # episodes of each evaluation during training, as in SEIL's code
DEFAULT_METHODS = ("SEIL", "Equi BC", "CNN BC", "CNN BC + TS")
# SEIL paper (REFERENCES §4): success % at 1 / 5 / 10 demos
PAPER = {"BlockStacking": {1: 71.5, 5: 99.5, 10: 98.5}, "BlockInBowl": {1: 75.0, 5: 98.0, 10: 100.0},
         "DrawerOpening": {1: 78.5, 5: 87.5, 10: 93.5}}
PAPER_CNN_BC_10 = {"BlockStacking": 79.0, "BlockInBowl": 99.0, "DrawerOpening": 76.0}
TASK_LIMIT = 50  # every task's own episode limit (steps); SEIL's released code evaluates with 100


def paper_figure(task: str, method: str, demos: int) -> float | None:
    """The paper's success % for a cell: SEIL (and its variants) at 1 / 5 / 10 demos, CNN BC at 10."""
    if method.startswith("SEIL"):
        return PAPER[task].get(demos)
    return PAPER_CNN_BC_10[task] if method == "CNN BC" and demos == 10 else None


def simulate_cost(calls: int = 200) -> list[str]:
    """``simulate`` vs a real env step, side by side in one process (BlockInBowl, mid-episode)."""
    import time

    import gymnasium as gym

    import equimanip  # noqa: F401

    rows = ["| image | `simulate` ms/call | calls/s | env step ms (physics + render) | simulate / step |",
            "|---|---|---|---|---|"]
    for size in (64, 128):
        env = gym.make("equimanip/BlockInBowl-v0", dpos=0.02, image_size=size)
        u = env.unwrapped
        env.reset(seed=0)
        for _ in range(5):
            env.step(u.expert_action())
        rng = np.random.default_rng(0)
        deltas = np.clip(rng.normal(0, 0.4, (calls, 4)), -1, 1)
        t = time.perf_counter()
        for d in deltas:
            u.simulate(d)
        sim_ms = (time.perf_counter() - t) / calls * 1000
        state = u.save_state()
        t = time.perf_counter()
        for _ in range(calls // 4):
            u.restore_state(state)
            env.step(np.zeros(5, np.float32))
        step_ms = (time.perf_counter() - t) / (calls // 4) * 1000
        env.close()
        rows.append(f"| {size}×{size} | {sim_ms:.2f} | {1000 / sim_ms:.0f} | {step_ms:.2f} | {sim_ms / step_ms:.2f} |")
    return rows


def _bc_step_seconds(size: int, steps: int, batch: int) -> dict[str, list[float]]:
    import time

    import torch
    import torch.nn.functional as F
    from escnn import nn as enn

    from equimanip.policies import CNNBCHead, EquivariantBCHead
    from equimanip.policies.device import autocast

    cpu = torch.device("cpu")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 2, size, size, generator=gen)
    y = torch.rand(batch, 5, generator=gen) * 2 - 1
    equi = EquivariantBCHead("D4", 2, size, 32).train()
    cnn = CNNBCHead(2, size, 96).train()
    # (network, forward, precision): the trainer's forward for each setting it can take
    nets = {"D4 equivariant, channels-last, fp32": (equi, lambda: equi(x), "fp32"),
            "D4 equivariant, channels-last, bf16 mixed": (equi, lambda: equi(x), "bf16"),
            "D4 equivariant, contiguous, fp32": (equi, lambda: equi.head(equi.encoder.net(
                enn.GeometricTensor(x.contiguous(), equi.encoder.in_type))).tensor.flatten(1), "fp32"),
            "CNN (channels-last), fp32": (cnn, lambda: cnn(x), "fp32"),
            "CNN (channels-last), bf16 mixed": (cnn, lambda: cnn(x), "bf16")}
    optimizers = {name: torch.optim.Adam(net.parameters(), 1e-4) for name, (net, _, _) in nets.items()}
    times: dict[str, list[float]] = {name: [] for name in nets}
    for _ in range(2):
        for name, (_, forward, precision) in nets.items():
            for i in range(steps + 1):
                t = time.perf_counter()
                with autocast(cpu, precision):
                    out = forward()
                loss = F.mse_loss(torch.tanh(out.float()), y)
                optimizers[name].zero_grad()
                loss.backward()
                optimizers[name].step()
                if i:  # the first step of a round warms caches up
                    times[name].append(time.perf_counter() - t)
    return times


def step_cost(batch: int = 64) -> list[str]:
    """One BC gradient step (forward, MSE on tanh, backward, Adam) of each network, side by side in one
    process, interleaved over two rounds: the channels-last D4 network in fp32 and in bf16 mixed precision
    (what ``precision="auto"`` picks on AMX / AVX-512 BF16 CPUs) against the same network fed escnn's default contiguous
    layout, and the CNN baseline in both precisions."""
    import torch

    from equimanip.policies.device import bf16_is_fast

    auto = "bf16 mixed" if bf16_is_fast(torch.device("cpu")) else "fp32"
    rows = [f"`precision=auto` trains in {auto} on this CPU.", "",
            "| image | network | ms / step | vs contiguous fp32 D4 |", "|---|---|---|---|"]
    for size, steps in ((64, 8), (128, 3)):
        times = _bc_step_seconds(size, steps, batch)
        base = float(np.median(times["D4 equivariant, contiguous, fp32"]))
        for name, ts in times.items():
            sec = float(np.median(ts))
            rows.append(f"| {size}×{size} | {name} | {sec * 1000:.0f} | {sec / base:.2f} |")
    return rows


def best_of_evals(run: Path, summary: dict) -> dict:
    """The paper's figure for a run evaluated during training: its best 50-episode evaluation, the last one
    being the final evaluation's first 50 episodes (the same seeds as the others). Empty without them."""
    from equimanip.agents.run_dir import read_eval

    config = summary["config"]
    if (not config.get("eval_every") or config.get("periodic_eval_episodes") != PERIODIC_EPISODES
            or config.get("select_best")):  # those evaluations ran on validation episodes, not the reported ones
        return {}
    rates = [r["success_rate"] for r in read_eval(run) if r["steps"] < summary["steps"]]
    rates.append(float(np.mean(summary["final_eval"]["episode_success"][:PERIODIC_EPISODES])))
    return {"evals": len(rates), "best_eval": max(rates), "eval_curve": rates}


def protocol_table(runs: list[dict]) -> list[str]:
    """Runs evaluated during training: the final evaluation beside the paper's figure (each run's best of its
    50-episode evaluations, mean over runs) and every evaluation in order."""
    cells: dict[tuple, list[dict]] = {}
    for r in sorted((r for r in runs if r.get("best_eval") is not None), key=lambda r: r["seed"]):
        cells.setdefault((r["task"], r["demos"], r["method"], r["steps"], r["precision"], r["eval_steps"]), []).append(r)
    if not cells:
        return []
    lines = ["", f"The paper's protocol: SEIL's code evaluates {PERIODIC_EPISODES} episodes after every tenth of training "
             "and its figures average each run's best evaluation. Runs evaluated that way (the last evaluation is the "
             f"final one's first {PERIODIC_EPISODES} episodes; every evaluation uses the same episode seeds, as the final "
             "one does) — a best-of figure picks the luckiest of several noisy estimates, so it reads higher than the "
             "final evaluation of the same runs:", "",
             "| task | demos | method | steps | precision | episode limit | final % | best of evaluations % | paper % | "
             "evaluations in order, per seed (%) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (task, demos, method, n_steps, prec, limit), mine in sorted(cells.items(),
                                                                     key=lambda c: (TASKS.index(c[0][0]), *c[0][1:])):
        final = 100 * sum(r["successes"] for r in mine) / sum(r["episodes"] for r in mine)
        best = 100 * float(np.mean([r["best_eval"] for r in mine]))
        paper = paper_figure(task, method, demos)
        curves = "; ".join(f"seed {r['seed']}: " + " ".join(f"{100 * x:.0f}" for x in r["eval_curve"]) for r in mine)
        lines.append(f"| {task} | {demos} | {method} | {n_steps:,} | {prec} | {limit} | {final:.1f} | {best:.1f} | "
                     f"{'' if paper is None else paper} | {curves} |")
    return lines


def matrix(runs: list[dict]) -> list[str]:
    """The results as one row per task × method × steps × precision and one column per demo count (the
    README's table): mean success %, and with several seeds the 95 % Wilson interval and each seed's figure."""
    from equimanip.rollout import wilson_interval

    demo_counts = sorted({r["demos"] for r in runs})
    lines = ["| task | method | steps | precision | episode limit | "
             + " | ".join(f"{d} demo{'s' * (d > 1)}" for d in demo_counts) + " |",
             "|---|---|---|---|---|" + "---|" * len(demo_counts)]
    for task in TASKS:
        for method in METHODS:
            for n_steps, prec, limit in sorted({(r["steps"], r["precision"], r["eval_steps"]) for r in runs
                                                if r["task"] == task and r["method"] == method}):
                cells = []
                for demos in demo_counts:
                    mine = sorted((r for r in runs if r["task"] == task and r["method"] == method and r["demos"] == demos
                                   and r["steps"] == n_steps and r["precision"] == prec and r["eval_steps"] == limit),
                                  key=lambda r: r["seed"])
                    if not mine:
                        cells.append("—")
                        continue
                    k, n = sum(r["successes"] for r in mine), sum(r["episodes"] for r in mine)
                    cell = f"{100 * k / n:.1f}"
                    if len(mine) > 1:
                        lo, hi = wilson_interval(k, n)
                        cell += (f" ({100 * lo:.0f}–{100 * hi:.0f}; "
                                 + " / ".join(f"{100 * r['success_rate']:.0f}" for r in mine) + ")")
                    paper = paper_figure(task, method, demos)
                    if paper is not None:
                        cell += f" [paper {paper:g}]"
                    cells.append(cell)
                lines.append(f"| {task} | {method} | {n_steps:,} | {prec} | {limit} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS, help="tasks (default: all three)")
    parser.add_argument("--demos", nargs="+", type=int, default=[1, 5, 10], help="demo counts (default: 1 5 10)")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=list(METHODS),
                        help="methods (default: the four of the paper's comparison). Variants of SEIL: 'SEIL 16 sims' "
                             "(16 simulated samples per expert step), 'SEIL 16 sims w0.25' (the same, each weighted 1/4), "
                             "'SEIL free-space sims' (no simulation while an object is held, as in SEIL's code), "
                             "'SEIL wd constant lr' (Adam weight decay 1e-5, constant rate, as in SEIL's code), "
                             "'SEIL 0.6 m view' (top-down view 0.6 m wide instead of 0.4, as in SEIL's code, still 64 px), "
                             "'SEIL 128 px 0.6 m view' (SEIL's own observation, 0.6 m at 128 px; ≈ 4× the step cost), "
                             "'SEIL wide sims' (planar perturbations up to 3 steps, labelled with clipped steps back), "
                             "'SEIL 10 evals' (SEIL as shipped, also evaluated on 50 episodes after every tenth of training: "
                             "the report adds each run's best evaluation, the paper's protocol), 'SEIL select best' "
                             "(those ten evaluations on held-out validation episodes; the best-scoring weights are kept "
                             "and the final evaluation tests them: `train seil --select-best`), 'SEIL grasp offsets' (2 of the 4 "
                             "views of each carried step also shift the held object up to 2 cm along the jaw: `train seil "
                             "--grasp-offset-n 2`), 'SEIL grasp offsets 0.6 m view' (that, with the 0.6 m view), "
                             "'SEIL grasp offsets overhead' (that, BlockStacking only, with demos whose expert keeps its "
                             "height until above the cube: task option approach=overhead), 'SEIL grasp offsets 128 px 0.6 m "
                             "view' (offsets with SEIL's own observation), 'SEIL grasp offsets select best' (offsets, "
                             "--select-best)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (default: 0 1 2)")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per run (default: 100)")
    parser.add_argument("--steps", type=int, default=1000,
                        help="gradient steps per run (default: 1000: ≈ 3 min of bf16 training on a 2-core Zen 4, ≈ 5–6 min "
                             "in fp32 on 2 AVX2 cores; runs with other step "
                             "counts get their own folders and table rows)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="training arithmetic (default auto: bf16 mixed precision on AMX / AVX-512 BF16 CPUs and Ampere+ "
                             "GPUs, else fp32); bf16 runs get their own folders and table rows")
    parser.add_argument("--max-episode-steps", type=int, default=100,
                        help="step limit of evaluation episodes (default 100, as SEIL's released code evaluates; the report "
                             f"also gives each such run's success within the tasks' own {TASK_LIMIT} steps, from the same "
                             "episodes); runs with another limit than 50 get their own folders and table rows")
    parser.add_argument("--out", default="outputs/bench_seil", help="run directories (default: outputs/bench_seil)")
    parser.add_argument("--report", default="docs/benchmarks/seil.md", help="markdown report (default: docs/benchmarks/seil.md)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--no-costs", action="store_true",
                        help="leave out the simulate and training-step cost tables (≈ 2 min; for filling the grid in pieces)")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: rewrite the report from the runs under --out and those of the previous report")
    args = parser.parse_args()

    from equimanip.experiment import method_slug, run_experiment
    from equimanip.policies import resolve_device
    from equimanip.policies.device import resolve_precision
    from equimanip.rollout import success_within, wilson_interval

    out = Path(args.out)
    precision = resolve_precision(args.precision, resolve_device("auto"))
    # fp32 folders keep the names of the runs made before precision was a setting
    suffix = "" if precision == "fp32" else f"-{precision}"
    if args.max_episode_steps < TASK_LIMIT:
        parser.error(f"--max-episode-steps must be at least the tasks' own limit, {TASK_LIMIT}")
    suffix += "" if args.max_episode_steps == TASK_LIMIT else f"-ep{args.max_episode_steps}"
    for task in args.tasks if not args.report_only else ():
        for demos in args.demos:
            for method in args.methods:
                # one experiment folder per task × demos × method; seeds accumulate over invocations
                # (finished runs are reused), so the grid can be filled in pieces
                where = out / f"{task}-{demos}demos-{method_slug(method)}-{args.steps}steps{suffix}"
                where.mkdir(parents=True, exist_ok=True)
                old = json.loads((where / "config.json").read_text())["seeds"] if (where / "config.json").exists() else []
                # in-hand offsets became the default after most rows were run: a method without them says so
                settings = {"grasp_offset_n": 0, **METHODS[method]}
                env_options = {"dpos": 0.02, "image_size": 64, **settings.pop("env_options", {})}
                evals = settings.pop("evals", 0)
                if evals:
                    if args.steps % evals or args.episodes < PERIODIC_EPISODES:
                        parser.error(f"{method!r} needs --steps divisible by {evals} and --episodes ≥ {PERIODIC_EPISODES}")
                    settings.update(eval_every=args.steps // evals, periodic_eval_episodes=PERIODIC_EPISODES)
                config = {"env": f"equimanip/{task}-v0", "env_options": env_options, "demos": demos,
                          "seeds": sorted(set(old) | set(args.seeds)), "eval_episodes": args.episodes,
                          "train": {"steps": args.steps, "batch_size": 64, "learning_rate": 0.001, "n_hidden": 32,
                                    "sigma": 0.4, "precision": precision, "max_episode_steps": args.max_episode_steps},
                          "methods": {method: settings}}
                (where / "config.json").write_text(json.dumps(config, indent=2))
                run_experiment(where / "config.json", where, progress=not args.no_progress)
    # the report covers every experiment under --out (this and earlier invocations) and the runs of the
    # previous report (seil.json: run folders do not survive a move to another machine), exactly what was run
    rows, steps, episodes = [], set(), set()
    for task in TASKS:
        for res in sorted(out.glob(f"{task}-*demos-*steps*/results.json")):
            result = json.loads(res.read_text())
            demos = int(result["config"]["demos"])
            for run in result["runs"]:
                summary = json.loads((Path(run["run"]) / "summary.json").read_text())
                # relative to the working directory when inside it, so the committed report names no machine's paths
                where_run = Path(run["run"]).resolve()
                here = Path.cwd().resolve()
                shown = where_run.relative_to(here) if where_run.is_relative_to(here) else where_run
                limit = int(summary["final_eval"].get("max_episode_steps") or TASK_LIMIT)
                within = success_within(summary["final_eval"], TASK_LIMIT)[0] if limit > TASK_LIMIT else None
                rows.append({"task": task, "demos": demos, "precision": "fp32", **run, "run": str(shown),
                             "eval_steps": limit, f"successes_within_{TASK_LIMIT}": within,
                             **best_of_evals(Path(run["run"]), summary),
                             "simulate_ms_per_call": summary["samples"].get("simulate_ms_per_call", 0.0),
                             "simulate_calls": summary["samples"].get("simulate_calls", 0)})
    report_json = Path(args.report).with_suffix(".json")
    if report_json.exists():
        key = lambda r: (r["task"], r["demos"], r["method"], r["steps"], r["precision"], r["eval_steps"], r["seed"])  # noqa: E731
        here = {key(r) for r in rows}
        # runs recorded before the episode limit was a setting ran the tasks' own
        earlier = [{"precision": "fp32", "eval_steps": TASK_LIMIT, **r}
                   for r in json.loads(report_json.read_text()).get("runs", [])]
        earlier = [r for r in earlier if key(r) not in here]
        rows += earlier
        if earlier:
            print(f"kept {len(earlier)} runs of the previous report {report_json} (their folders are not under {out})")
    steps.update((r["steps"], r["precision"], r["eval_steps"]) for r in rows)
    episodes.update(r["episodes"] for r in rows)
    lines = ["# SEIL benchmark: few-demo imitation", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU; Python "
             f"{sys.version.split()[0]}. Rows: every experiment under `{out}` and the runs kept from the previous "
             f"report (run on earlier machines; their commits are in git history) (last command: "
             f"`python scripts/bench_seil.py {shlex.join(sys.argv[1:])}`); cells not listed were not run.", "",
             f"Each run: the first N scripted demos of a LeRobot v3.0 dataset (seed `1_000_000 + 1000·seed`), "
             f"{'/'.join(sorted({str(n) for n, _, _ in steps}, key=int))} gradient steps "
             f"(batch 64, Adam 1e-3, random rotations of every batch), "
             "gripper-centred top-down depth 64×64 over 0.4 m (variants 'SEIL 0.6 m view': 0.6 m; "
             "'SEIL 128 px 0.6 m view': 128×128 over 0.6 m), dpos 2 cm; "
             f"evaluated on {'/'.join(map(str, sorted(episodes)))} episodes "
             "(seeds `2_000_000 + 1000·seed` …, the same for every method). Success: mean over seeds, "
             "95 % Wilson interval over all evaluation episodes. Precision: the training arithmetic (bf16: mixed "
             "precision, fp32 weights; evaluation always fp32). Episode limit: the steps an evaluation episode may "
             f"take: the tasks' own {TASK_LIMIT}, or 100 as in SEIL's released code (its `--max_episode_steps` default; "
             "the paper's figures also take the best of 10 evaluations over training, we take the final one); a "
             f"100-step run's success within {TASK_LIMIT} steps comes from the same episodes (a success ends an "
             "episode). The paper's protocol differs in one more way: SEIL's code evaluates 50 episodes every 2,000 of "
             "its 20 k training steps, and its bar-chart helper (`plotEvalBarChart` in `scripts/plot_multiple.py`) takes "
             "each run's best evaluation, averaged over 4 runs; we report the final evaluation, and for the variant "
             "'SEIL 10 evals' each run's best as well (the protocol table below the matrix). 'SEIL select best' "
             "picks the weights by the same ten evaluations run on held-out validation episodes (seeds "
             "`3_000_000 + 1000·seed` …); its success is the final evaluation of those weights, on the episodes above. "
             "'SEIL' rows use SEIL's own views (`--grasp-offset-n 0`); `equimanip train seil` now defaults to in-hand "
             "offsets, the 'SEIL grasp offsets' rows (DrawerOpening holds nothing the offsets shift, so its 'SEIL' "
             "rows are the default's too).", "",
             f"| task | demos | method | steps | precision | episode limit | success % | 95 % CI | within {TASK_LIMIT} steps % "
             "| seeds | paper % | train s / run | code |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    summary = []
    for task in TASKS:
        for demos in sorted({r["demos"] for r in rows}):
            for method, (n_steps, prec, limit) in itertools.product(METHODS, sorted(steps)):
                mine = [r for r in rows if r["task"] == task and r["demos"] == demos and r["method"] == method
                        and r["steps"] == n_steps and r["precision"] == prec and r["eval_steps"] == limit]
                if not mine:
                    continue
                k, n = sum(r["successes"] for r in mine), sum(r["episodes"] for r in mine)
                lo, hi = wilson_interval(k, n)
                paper = paper_figure(task, method, demos)
                secs = float(np.mean([r["train_seconds"] for r in mine]))
                # the code each run was trained with (runs before it was recorded: "earlier")
                code = ", ".join(sorted({str(r.get("code") or "earlier") for r in mine}))
                short = [r.get(f"successes_within_{TASK_LIMIT}") for r in mine]
                within = None if limit == TASK_LIMIT or None in short else sum(short) / n
                summary.append({"task": task, "demos": demos, "method": method, "steps": n_steps, "precision": prec,
                                "eval_steps": limit, "success": k / n, f"success_within_{TASK_LIMIT}": within,
                                "ci95": [lo, hi], "episodes": n, "seeds": [r["seed"] for r in mine],
                                "train_seconds": secs, "paper": paper, "code": code})
                lines.append(f"| {task} | {demos} | {method} | {n_steps} | {prec} | {limit} | {100 * k / n:.1f} | "
                             f"{100 * lo:.1f}–{100 * hi:.1f} | {'' if within is None else f'{100 * within:.1f}'} | "
                             f"{', '.join(str(r['seed']) for r in mine)} | {'' if paper is None else paper} | "
                             f"{secs:.0f} | {code} |")
    lines += ["", "The same runs by demo count (seeds: mean, and with several seeds the 95 % interval and each seed's "
                  "figure, seeds in order; bracketed: the paper's SEIL and, at 10 demos, CNN BC):", ""] + matrix(rows)
    lines += protocol_table(rows)
    sim = [r for r in rows if r["simulate_calls"]]
    if sim:
        ms = float(np.average([r["simulate_ms_per_call"] for r in sim], weights=[r["simulate_calls"] for r in sim]))
        lines += ["", f"Transition simulation: {ms:.2f} ms per `simulate` call ({1000 / ms:.0f} calls/s) at 64×64, "
                      f"averaged over {sum(r['simulate_calls'] for r in sim)} calls (BulletArm: 36–74 ms)."]
    if not args.no_costs:
        import torch

        lines += ["", "Transition simulation vs a real env step, same process (`simulate_cost()`, 200 calls each; "
                  "the step restores a snapshot first):", ""] + simulate_cost()
        lines += ["", f"Training step cost (`step_cost()`, batch 64, median over two interleaved rounds, "
                  f"{torch.get_num_threads()} torch threads):", ""] + step_cost()
    rates = [r["collect_steps_per_second"] for r in rows if r.get("collect_steps_per_second")]
    if rates:
        lines.append(f"\nCollection: {np.median(rates):.0f} env steps/s (median over datasets; expert + 64×64 render, "
                     "one process).")
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text("\n".join(lines) + "\n")
    Path(args.report).with_suffix(".json").write_text(json.dumps({"args": vars(args), "table": summary, "runs": rows}, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
