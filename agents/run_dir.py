"""What every training run directory shares: opening it (new, or resumed with the saved config),
the evaluation log ``eval.csv`` and the learning-curve plot ``curve.png``."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from equimanip.atomic import atomic_write_text


def open_run(run: Path, config: Any, load: Callable[[Path], Any], resume: bool) -> Any:
    """The config a run goes on with: on ``resume`` the one saved in ``run/config.json`` (refused
    when ``config`` names another env), else ``config`` itself, validated, in a new or empty ``run``."""
    config_path = run / "config.json"
    if resume:
        if not config_path.exists():
            raise ValueError(f"--resume: {run} holds no run (no config.json)")
        saved = load(config_path).validate()
        if config.env and saved.env.split("/")[-1] != config.validate().env.split("/")[-1]:
            raise ValueError(f"{run} is a run of {saved.env}, not {config.env}; use a new run directory")
        return saved
    config.validate()
    if run.exists() and any(run.iterdir()):
        raise ValueError(f"run directory {run} is not empty; pass --resume to continue it or choose a new one")
    run.mkdir(parents=True, exist_ok=True)
    return config


def plot_curve(rows: list[dict], path: Path, title: str, xlabel: str = "env steps") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["steps"] for r in rows]
    rate = [r["success_rate"] for r in rows]
    lo = [r["ci_low"] for r in rows]
    hi = [r["ci_high"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(steps, rate, marker="o")
    ax.fill_between(steps, lo, hi, alpha=0.25)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("eval success rate (95% CI)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def read_eval(run: Path) -> list[dict]:
    path = run / "eval.csv"
    if not path.exists():
        return []
    with open(path) as f:
        # steps stay integers, so a resumed run writes them back as it first did
        return [{k: int(float(v)) if k == "steps" else float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def write_eval(run: Path, rows: list[dict]) -> None:
    header = ["steps", "success_rate", "ci_low", "ci_high", "mean_length"]
    lines = [",".join(header)] + [",".join(str(r[h]) for h in header) for r in rows]
    atomic_write_text(run / "eval.csv", "\n".join(lines) + "\n")
