"""Scripted-expert rollouts of every task: a success table with 95 % intervals, a plot and one
video per task (`equimanip demo`)."""

from __future__ import annotations

from pathlib import Path

from equimanip.atomic import atomic_write_text, write_json
from equimanip.rollout import plot_success, rollout


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
    plot_success([r["env"].split("/", 1)[1].replace("-v0", "") for r in rows], [r["success_rate"] for r in rows],
                 [tuple(r["success_ci95"]) for r in rows],
                 f"Scripted expert, {rows[0]['num_episodes'] if rows else 0} episodes per task", out / "success.png")
    print("\n" + text)
    print(f"\nwrote {out / 'results.md'}, {out / 'results.json'}, {out / 'success.png'} "
          f"and {len(rows)} videos in {out / 'videos'}")
    return rows


__all__ = ["run_demo"]
