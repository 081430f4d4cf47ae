"""Grasp-success benchmark: GSR and DR of several detectors side by side on the same rounds.

Every detector plays the same rounds (round r of seed s is the same scene and viewpoint draw for
all), following the VGN / Edge Grasp protocol (``equimanip grasp eval``). Cells accumulate in
``docs/benchmarks/grasp.json`` (a finished cell with the same settings is reused) and the table is
rewritten to ``docs/benchmarks/grasp.md`` with the command, machine and commit.

    python scripts/bench_grasp.py --detectors default vn-edge heuristic random-edge --scenes packed pile \\
        --objects random-urdfs-test --rounds 50 --seeds 0 1 --workers 2
    python scripts/bench_grasp.py --detectors vgn=runs/grasp_vgn/model.pt heuristic --scenes pile \\
        --objects /path/to/pile_train#test --rounds 50 --seeds 0 1
    python scripts/bench_grasp.py --throughput      # data-generation throughput only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_JSON = ROOT / "docs" / "benchmarks" / "grasp.json"
OUT_MD = ROOT / "docs" / "benchmarks" / "grasp.md"
PAPER = {  # REFERENCES.md §5: single view, unseen objects
    ("Edge Grasp", "packed"): "GSR 92.0 ± 1.4", ("Edge Grasp", "pile"): "GSR 89.9 ± 1.8, DR 92.8 ± 1.6",
    ("VN-Edge", "packed"): "GSR 92.3", ("VN-Edge", "pile"): "GSR 92.3", ("random edge", "any"): "GSR 40–44",
}


def commit() -> str:
    from equimanip.provenance import git_commit

    return git_commit() or "unknown"


def load() -> dict:
    return json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else {"cells": {}, "throughput": None}


def save(data: dict) -> None:
    from equimanip.atomic import atomic_write_text, write_json

    write_json(OUT_JSON, data)
    atomic_write_text(OUT_MD, render(data))


def render(data: dict) -> str:
    lines = ["# Grasp-success benchmark (simulated, VGN / Edge Grasp protocol)", "",
             "Written by `scripts/bench_grasp.py`; every row names its command. Protocol "
             "(`equimanip.envs.grasping`): pybullet at 240 Hz, 30 cm workspace, floating Franka hand; each round "
             "drops 5 objects as a *pile* or *packed* scene; one depth view per attempt from a random viewpoint "
             "(30° from vertical, 0.6 m) with VGN's `dex` noise; approach, close, retreat 10 cm (side grasps, more "
             "than 60° from vertical: straight up); success if the "
             "fingers stay > 8 mm apart on an object; a round ends when the table is clear, no grasp is found or "
             "after two failures in a row. GSR = successes / attempts, DR = removed / present, mean ± std over "
             "seeds. All detectors play the same rounds. *On contact*: what a contact during the approach does. "
             "\"closes\" is VGN's clutter-removal evaluation (`execute_grasp(..., allow_contact=True)`, which Edge "
             "Grasp and GIGA report with): the hand stops there and closes; \"fails\" fails the attempt (VGN's "
             "data generation; `--fail-on-approach-contact`); \"fails, old retreat\": cells run before side grasps "
             "lifted straight up (they retreated along the approach). *Skipped below*: Edge Grasp Network's rule "
             "(`--min-score`): a best grasp scored below it is not executed, a new view is taken, the third skip "
             "ends the round. *Flat grasps*: our levelled and rim candidates for flat objects (`sample_edges(flat_grasps=True)`, "
             "the default since they were added; \"no\": Edge Grasp's candidates only, `--no-flat-grasps`, and every cell "
             "run before; \"filled columns\": the filled-column check too, the default since the eighth session, "
             "`--no-fill-columns` turns it off). *Failures*: collision before the grasp pose (pre-grasp or approach) / "
             "closed on nothing after the approach stopped on a contact / closed on nothing at the grasp pose (cells "
             "run before the count was kept: —).", "",
             "| detector | scene | objects | on contact | seeds × rounds | GSR % (mean ± std) | DR % (mean ± std) | "
             "attempts | failures | skipped below | flat grasps | wall s | HEAD when run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in data["cells"].values():
        r = cell["result"]
        contact = {True: "closes", False: "fails"}.get(r.get("allow_contact"), "fails, old retreat")
        lines.append(f"| {cell['label']} | {r['scene']} | `{r['objects']}` | {contact} | "
                     f"{len(r['seeds'])} × {r['rounds_per_seed']} | "
                     f"{100 * r['gsr']['mean']:.1f} ± {100 * r['gsr']['std']:.1f} | "
                     f"{100 * r['dr']['mean']:.1f} ± {100 * r['dr']['std']:.1f} | {r['attempts']} | {_failures(r)} | "
                     f"{'—' if r.get('min_score') is None else r['min_score']} | "
                     f"{'yes' if r.get('flat_grasps') else 'no'}{', filled columns' if r.get('fill_columns') else ''}"
                     f"{', clear approach' if r.get('clear_approach') else ''}"
                     f"{', deepen ' + format(r['deepen'], 'g') + ' m' if r.get('deepen') is not None else ''}"
                     f"{', shadows ' + format(r['fill_shadows'], 'g') + ' m' if r.get('fill_shadows') else ''}"
                     f"{', crop walls' if r.get('fill_crop') else ''}"
                     f"{'' if r.get('precision', 'fp32') == 'fp32' else ', ' + r['precision']} | "
                     f"{r['wall_s']:.0f} "
                     f"| {cell['commit']} |")
    lines += ["", "Commands:", ""]
    for cell in data["cells"].values():
        lines.append(f"- {cell['label']} / {cell['result']['scene']}: `{cell['command']}`")
    lines += ["", "The paper's figures (Huang et al. 2023, single view, unseen objects, 5 seeds × 100 rounds): "
              + "; ".join(f"{k[0]} {k[1]}: {v}" for k, v in PAPER.items()) + "."]
    t = data.get("throughput")
    if t:
        lines += ["", "## Data generation throughput", "",
                  f"`{t['command']}` on {t['machine']} (commit {t['commit']}): {t['grasps']} labelled grasps from "
                  f"{t['scenes']} {t['scene']} scenes in {t['wall_s']:.1f} s with one process: "
                  f"**{t['grasps_per_second']:.1f} labelled grasps per second per core** "
                  f"({t['positives']} successful). Each scene: build (≈ 0.05 s), one render, edge sampling, then "
                  "one simulated attempt per labelled grasp from a physics snapshot."]
    lines += ["", "Detection latency and its growth with the cloud size: "
              "[`grasp_latency.md`](grasp_latency.md) (`scripts/bench_grasp_latency.py`)."]
    return "\n".join(lines) + "\n"


def _failures(result: dict) -> str:
    f = result.get("failures")
    if f is None:
        return "—"
    return f"{f['pregrasp_collision'] + f['approach_collision']} / {f['closed_after_contact']} / {f['closed_at_pose']}"


def run_cells(args: argparse.Namespace, data: dict) -> None:
    from equimanip.grasp_cli import eval_rule_flags, eval_rule_options
    from equimanip.envs.grasping.benchmark import EvalSpec, evaluate

    for entry in args.detectors:
        label, _, detector = entry.rpartition("=")
        label = label or {"default": "Edge Grasp (shipped)", "vn-edge": "VN-Edge (shipped)",
                          "random-edge": "random edge", "heuristic": "antipodal heuristic"}.get(detector, detector)
        for scene in args.scenes:
            allow_contact = not args.fail_on_approach_contact
            key = json.dumps([label, detector, scene, args.objects, args.noise, args.rounds, args.seeds,
                              "closes on contact" if allow_contact else "fails on contact"]
                             + ([] if args.min_score is None else [f"min score {args.min_score}"])
                             + ([] if args.no_flat_grasps else ["flat grasps"])
                             + ([] if args.no_fill_columns else ["fill columns"])
                             + (["clear approach"] if args.clear_approach else [])
                             + ([f"deepen {args.deepen:g}"] if args.deepen is not None else [])
                             + ([f"fill shadows {args.fill_shadows:g}"] if args.fill_shadows else [])
                             + (["fill crop"] if args.fill_crop else [])
                             + ([] if args.precision == "fp32" else [args.precision]))
            if key in data["cells"] and not args.force:
                print(f"reusing {label} / {scene}")
                continue
            rules = eval_rule_options(args)
            spec = EvalSpec(detector=detector, scene=scene, objects=args.objects, noise=args.noise, **rules)
            result = evaluate(spec, rounds=args.rounds, seeds=args.seeds, workers=args.workers, progress=True)
            result.pop("rounds_log")
            command = (f"equimanip grasp eval --detector {detector} --scene {scene} --objects '{args.objects}' "
                       f"--rounds {args.rounds} --seeds {' '.join(map(str, args.seeds))} --noise {args.noise}"
                       + eval_rule_flags(rules))
            data["cells"][key] = {"label": label, "result": result, "command": command, "commit": commit()}
            save(data)
            g, d = result["gsr"], result["dr"]
            print(f"{label} / {scene}: GSR {100 * g['mean']:.1f} ± {100 * g['std']:.1f}, "
                  f"DR {100 * d['mean']:.1f} ± {100 * d['std']:.1f} ({result['attempts']} attempts)")


def throughput(data: dict, scenes: int) -> None:
    from equimanip.agents.grasp_data import GenerateConfig, generate

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        s = generate(GenerateConfig(scene="pile", scenes=scenes, shard_size=scenes, seed=12345), tmp, progress=False)
        wall = time.perf_counter() - start
    data["throughput"] = {"command": f"python scripts/bench_grasp.py --throughput --throughput-scenes {scenes}",
                          "machine": f"{platform.machine()}, {os.cpu_count()} cores", "commit": commit(),
                          "scene": "pile", "scenes": scenes, "grasps": s["new_grasps"], "positives": s["new_positives"],
                          "wall_s": wall, "grasps_per_second": s["new_grasps"] / wall}
    save(data)
    print(f"{s['new_grasps']} grasps in {wall:.1f} s: {s['new_grasps'] / wall:.1f} per second per core")


def main() -> None:
    from equimanip.grasp_cli import add_eval_rule_options

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detectors", nargs="*", default=[], metavar="[LABEL=]NAME|PATH",
                        help="detectors to compare (names or model.pt paths, optionally labelled)")
    parser.add_argument("--scenes", nargs="+", default=["packed", "pile"], choices=("packed", "pile"))
    parser.add_argument("--objects", default="random-urdfs-test", help="object set (see `equimanip grasp eval --help`)")
    parser.add_argument("--rounds", type=int, default=50, help="rounds per seed (50)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds (0 1)")
    parser.add_argument("--noise", default="dex", choices=("dex", "none"))
    parser.add_argument("--workers", type=int, default=2, help="processes (2)")
    parser.add_argument("--force", action="store_true", help="re-run cells that are already in grasp.json")
    add_eval_rule_options(parser)  # the same flags as `equimanip grasp eval`
    parser.add_argument("--throughput", action="store_true", help="measure data-generation throughput")
    parser.add_argument("--throughput-scenes", type=int, default=6, help="scenes for --throughput (6)")
    args = parser.parse_args()
    data = load()
    if args.throughput:
        throughput(data, args.throughput_scenes)
    if args.detectors:
        run_cells(args, data)
    save(data)
    print(f"wrote {OUT_MD.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
