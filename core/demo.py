"""Scripted-expert rollouts of every task: a success table with 95 % intervals, a plot and one
video per task (`equimanip demo`)."""

from __future__ import annotations

from pathlib import Path

from equimanip.atomic import atomic_write_text, write_json
from equimanip.rollout import rollout


def run_demo(out: Path, episodes: int = 20, seed: int = 0, progress: bool = True) -> list[dict]:
    """Roll out the expert on every registered task; write results.json, results.md, success.png, videos/."""
    from equimanip.envs import env_ids

    out = Path(out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    rows = []
    for env_id in env_ids():
        name = env_id.split("/", 1)[1]
        result = rollout(env_id, "expert", episodes=episodes, seed=seed, video=out / "videos" / f"{name}.mp4",
                         progress=progress).to_json()
        rows.append(result)
    write_json(out / "results.json", rows)
    table = ["| task | success | 95% CI | episodes (seeds) | mean length | steps/s |", "|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["success_ci95"]
        table.append(f"| {r['env']} | {r['success_rate']:.2f} | {lo:.2f}–{hi:.2f} | {r['num_episodes']} "
                     f"({seed}–{seed + episodes - 1}) | {r['mean_length']:.1f} | {r['steps_per_second']:.0f} |")
    text = "\n".join(table)
    atomic_write_text(out / "results.md", "# Scripted-expert rollouts\n\n" + text + "\n")
    _plot(rows, out / "success.png")
    print("\n" + text)
    print(f"\nwrote {out / 'results.md'}, {out / 'results.json'}, {out / 'success.png'} "
          f"and {len(rows)} videos in {out / 'videos'}")
    return rows


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["env"].split("/", 1)[1].replace("-v0", "") for r in rows]
    rates = [r["success_rate"] for r in rows]
    errs = [[max(0.0, r["success_rate"] - r["success_ci95"][0]) for r in rows],
            [max(0.0, r["success_ci95"][1] - r["success_rate"]) for r in rows]]
    fig, ax = plt.subplots(figsize=(1.2 * len(rows) + 2, 3.5))
    ax.bar(names, rates, yerr=errs, capsize=4, color="#4c72b0")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate (95% CI)")
    ax.set_title(f"Scripted expert, {rows[0]['num_episodes'] if rows else 0} episodes per task")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


__all__ = ["run_demo"]
