"""Few-demo imitation experiments from a config file: demos, training, evaluation, table and plot.

The README's main job is ``equimanip experiment`` with the shipped config
``assets/configs/seil_block_in_bowl.json``: 10 scripted demos of Block in Bowl, SEIL against CNN
BC trained on the same demos, each evaluated on the same 50 episodes
(``seil_block_in_bowl_ablation.json`` adds equivariant BC without transition simulation).
Everything lands in ``--out``: ``datasets/`` (LeRobot v3.0), ``runs/<method>-seed<k>/`` (full run
directories), ``results.json``, ``results.md``, ``success.png`` and ``seil_eval.mp4``. Re-running
resumes: finished runs are reused, interrupted ones continue from their checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

from equimanip.atomic import atomic_write_text, write_json

DEFAULT_CONFIG = "seil_block_in_bowl.json"
_KEYS = {"description", "env", "env_options", "demos", "seeds", "eval_episodes", "train", "methods"}
# BCConfig fields the experiment sets for every run (env options: the experiment's, through its demos);
# a method may set any other
_RUN_KEYS = {"env", "dataset", "demos", "seed", "eval_episodes", "env_options"}


def _method_keys() -> set[str]:
    from equimanip.agents.bc import BCConfig

    return {f.name for f in dataclasses.fields(BCConfig)} - _RUN_KEYS


def default_config_path() -> Path:
    return Path(str(files("equimanip.assets").joinpath("configs", DEFAULT_CONFIG)))


def load_config(path: str | Path | None) -> dict[str, Any]:
    """Read and check an experiment config (JSON); see the shipped one for every key."""
    path = Path(path) if path else default_config_path()
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"experiment config {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"experiment config {path} is not valid JSON: {exc}") from exc
    unknown = sorted(set(config) - _KEYS)
    if unknown:
        raise ValueError(f"unknown keys {unknown} in {path}; accepted: {', '.join(sorted(_KEYS))}")
    for key in ("env", "methods"):
        if key not in config:
            raise ValueError(f"{path} lacks {key!r}")
    if not isinstance(config["methods"], dict) or not config["methods"]:
        raise ValueError(f"{path}: 'methods' must map method names to settings, e.g. {{\"SEIL\": {{\"policy\": \"equi\"}}}}")
    accepted = _method_keys()
    for name, method in config["methods"].items():
        bad = sorted(set(method) - accepted)
        if bad:
            raise ValueError(f"{path}: method {name!r} has unknown keys {bad}; accepted: {', '.join(sorted(accepted))}")
    config.setdefault("env_options", {})
    config.setdefault("demos", 10)
    config.setdefault("seeds", [0])
    config.setdefault("eval_episodes", 50)
    config.setdefault("train", {})
    return config


def method_slug(name: str) -> str:
    """A method's name as a folder name: ``CNN BC + TS`` -> ``cnn-bc-plus-ts``."""
    return name.lower().replace(' ', '-').replace('+', 'plus')


def _check_reusable(run: Path, summary: dict[str, Any], wanted: dict[str, Any]) -> None:
    """A finished run is reused only if it was trained with the settings the config asks for now."""
    from equimanip.agents.bc import PREDATING_RUN_VALUES

    trained = {**PREDATING_RUN_VALUES, **summary.get("config", {})}
    differ = [f"{k}={trained.get(k)!r} (the config asks for {v!r})" for k, v in sorted(wanted.items())
              if k in trained and trained[k] != v]
    if differ:
        raise ValueError(f"{run} is a finished run with other settings: {', '.join(differ)}; "
                         "write this experiment to another --out, or delete that run to retrain it")


def run_experiment(config_path: str | Path | None, out: str | Path, progress: bool = True) -> list[dict[str, Any]]:
    """Run every method × seed of the config; write results.json/.md, success.png and a video."""
    from equimanip.agents.bc import DEMO_SEED, PREDATING_RUN_VALUES, BCConfig, train
    from equimanip.collect import collect
    from equimanip.rollout import plot_success, wilson_interval

    config = load_config(config_path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "experiment_config.json", config)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for seed in config["seeds"]:
        dataset = out / "datasets" / f"seed{seed}"
        collected = collect(config["env"], config["demos"], DEMO_SEED + 1000 * int(seed), dataset,
                            env_options=config["env_options"], progress=progress)
        collect_log = dataset.parent / f"seed{seed}.collect.json"  # throughput of the run that collected them
        if collected["new_episodes"]:
            write_json(collect_log, collected)
        collect_rate = json.loads(collect_log.read_text())["env_steps_per_second"] if collect_log.exists() else None
        for name, method in config["methods"].items():
            settings = {**config["train"], **method}
            bc = BCConfig(dataset=str(dataset), demos=config["demos"], seed=int(seed), eval_episodes=config["eval_episodes"],
                          **settings)
            run = out / "runs" / f"{method_slug(name)}-seed{seed}"
            if (run / "summary.json").exists():
                summary = json.loads((run / "summary.json").read_text())
                # settings as resolved (a default that changed since the run was trained must not pass unseen)
                resolved = dataclasses.replace(bc).validate()
                _check_reusable(run, summary, {"demos": config["demos"], "eval_episodes": config["eval_episodes"],
                                               **settings, **{k: getattr(resolved, k) for k in PREDATING_RUN_VALUES}})
            else:
                summary = train(bc, run, resume=(run / "config.json").exists(), progress=progress)
            final = summary["final_eval"]
            rows.append({"method": name, "seed": int(seed), "success_rate": final["success_rate"],
                         "successes": round(final["success_rate"] * final["episodes"]), "episodes": final["episodes"],
                         "eval_seeds": final["seeds"], "max_episode_steps": final.get("max_episode_steps"),
                         "train_seconds": summary["seconds"]["train"],
                         "samples": summary["samples"]["total"], "simulated": summary["samples"]["simulated"],
                         "steps": summary["steps"], "precision": summary.get("precision", "fp32"),
                         "code": summary.get("code"), "run": str(run),
                         "expert_success": collected["success_rate"],
                         "collect_steps_per_second": collect_rate,
                         "simulate_ms_per_call": summary["samples"].get("simulate_ms_per_call", 0.0)})
    table = []
    for name in config["methods"]:
        mine = [r for r in rows if r["method"] == name]
        k = sum(r["successes"] for r in mine)
        n = sum(r["episodes"] for r in mine)
        lo, hi = wilson_interval(k, n)
        table.append({"method": name, "success_rate": k / n, "ci95": [lo, hi], "episodes": n, "seeds": [r["seed"] for r in mine],
                      "train_seconds": sum(r["train_seconds"] for r in mine) / len(mine),
                      "samples": mine[0]["samples"], "simulated": mine[0]["simulated"]})
    elapsed = time.perf_counter() - start
    write_json(out / "results.json", {"config": config, "runs": rows, "table": table, "wall_clock_seconds": elapsed})
    md = _markdown(config, table, elapsed)
    atomic_write_text(out / "results.md", md)
    plot_success([r["method"] for r in table], [r["success_rate"] for r in table], [tuple(r["ci95"]) for r in table],
                 f"{config['env'].split('/')[-1]}, {config['demos']} demos, {table[0]['episodes']} episodes",
                 out / "success.png", colors=["#c44e52", "#4c72b0", "#8c8c8c", "#55a868"][: len(table)])
    video = next((Path(r["run"]) / "eval.mp4" for r in rows if r["method"] == next(iter(config["methods"]))), None)
    if video is not None and video.exists():
        shutil.copyfile(video, out / "seil_eval.mp4")
    print("\n" + md)
    print(f"wrote {out / 'results.md'}, {out / 'results.json'}, {out / 'success.png'} and {out / 'seil_eval.mp4'}")
    return table


def _markdown(config: dict[str, Any], table: list[dict[str, Any]], elapsed: float) -> str:
    env = config["env"].split("/")[-1]
    lines = [f"# {env}: {config['demos']} demos, {config['eval_episodes']} evaluation episodes per seed",
             "", "| method | success | 95% CI | episodes | seeds | samples (simulated) | training s/run |",
             "|---|---|---|---|---|---|---|"]
    for r in table:
        lo, hi = r["ci95"]
        lines.append(f"| {r['method']} | {r['success_rate']:.2f} | {lo:.2f}–{hi:.2f} | {r['episodes']} | "
                     f"{', '.join(map(str, r['seeds']))} | {r['samples']} ({r['simulated']}) | {r['train_seconds']:.0f} |")
    lines += ["", f"Total wall clock {elapsed / 60:.1f} min. Same demos and evaluation episodes for every method."]
    return "\n".join(lines) + "\n"


__all__ = ["run_experiment", "load_config", "default_config_path"]
