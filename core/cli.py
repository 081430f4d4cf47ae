"""The ``equimanip`` command line.

    equimanip envs [--json PATH]
    equimanip rollout --env ID --policy expert|random --episodes N --seed S [--camera C] [--video PATH] [--json PATH]
    equimanip demo [--episodes N] [--out DIR]
    equimanip train rl --env ID [--algo sac|sacfd] [--policy equi|cnn] [--group D4] [--steps N] --out RUN_DIR [--resume]
    equimanip eval --run RUN_DIR [--episodes N] [--seed S] [--json PATH] [--video PATH]
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any
from collections.abc import Sequence


def _parse_option(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--option expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # plain strings need no quotes
    return key.strip(), value


def _env_options(args: argparse.Namespace) -> dict[str, Any]:
    options = dict(args.option or [])
    if getattr(args, "camera", None):
        options["camera"] = args.camera
    return options


def cmd_envs(args: argparse.Namespace) -> int:
    from equimanip.envs import TASKS
    from equimanip.envs.cameras import CAMERAS, CORRUPTIONS
    from equimanip.envs.tabletop import EnvOptions, OPTIONAL_OBSERVATIONS

    rows = []
    for env_id in sorted(TASKS):
        cls = TASKS[env_id]
        doc = (cls.__doc__ or "").strip().splitlines()
        rows.append({
            "id": env_id,
            "max_episode_steps": cls.max_episode_steps,
            "summary": doc[0] if doc else "",
            "symmetry": cls.symmetry.group.name,
            "task_options": dict(cls.task_options),
        })
    common = {f.name: f.default for f in dataclasses.fields(EnvOptions)}
    if args.json:
        from equimanip.rollout import write_json

        write_json(args.json, {"environments": rows, "cameras": list(CAMERAS), "corruptions": list(CORRUPTIONS),
                               "observations": list(OPTIONAL_OBSERVATIONS), "options": common})
    for row in rows:
        extra = f"  task options: {row['task_options']}" if row["task_options"] else ""
        print(f"{row['id']:<34} steps≤{row['max_episode_steps']:<4} symmetry {row['symmetry']:<3} {row['summary']}{extra}")
    print(f"\ncameras: {', '.join(CAMERAS)}")
    print(f"extra observations: {', '.join(OPTIONAL_OBSERVATIONS)} (depth and holding always present)")
    print(f"corruptions: {', '.join(CORRUPTIONS)}")
    print("options (gym.make(id, **options) or --option KEY=VALUE):")
    for key, value in common.items():
        print(f"  {key} = {value!r}")
    return 0


def cmd_rollout(args: argparse.Namespace) -> int:
    from equimanip.rollout import rollout, write_json

    result = rollout(args.env if "/" in args.env else f"equimanip/{args.env}", policy=args.policy,
                     episodes=args.episodes, seed=args.seed, env_options=_env_options(args), video=args.video,
                     video_episodes=args.video_episodes, progress=not args.no_progress)
    data = result.to_json()
    lo, hi = data["success_ci95"]
    print(f"{data['env']} [{data['policy']}] success {data['success_rate']:.3f} (95% CI {lo:.3f}-{hi:.3f}) over "
          f"{data['num_episodes']} episodes (seeds {args.seed}-{args.seed + args.episodes - 1}), "
          f"mean length {data['mean_length']:.1f}, {data['steps_per_second']:.0f} steps/s")
    if args.json:
        write_json(args.json, data)
        print(f"wrote {args.json}")
    if args.video:
        print(f"wrote {args.video}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from equimanip.demo import run_demo

    run_demo(out=Path(args.out), episodes=args.episodes, seed=args.seed, progress=not args.no_progress)
    return 0


def cmd_train_rl(args: argparse.Namespace) -> int:
    from equimanip.agents.train_rl import RLConfig, train

    if args.config:
        config = RLConfig.from_json(Path(args.config))
        overrides = {k: v for k, v in vars(args).items() if k in _RL_FLAGS and v is not None}
        config = dataclasses.replace(config, **overrides)
    else:
        if not args.env:
            raise ValueError("--env is required (or give --config FILE)")
        config = RLConfig(**{k: v for k, v in vars(args).items() if k in _RL_FLAGS and v is not None})
    options = dict(args.option or [])
    if args.camera:
        options["camera"] = args.camera
    if options:
        config.env_options = {**config.env_options, **options}
    summary = train(config, Path(args.out), resume=args.resume, progress=not args.no_progress)
    final = summary["final_eval"]
    lo, hi = final["success_ci95"]
    print(f"{config.env} {config.algo}/{config.policy} seed {config.seed}: final success {final['success_rate']:.2f} "
          f"(95% CI {lo:.2f}-{hi:.2f}, {final['episodes']} episodes) after {summary['num_timesteps']} steps; run in {args.out}")
    return 0


_RL_FLAGS = ("env", "algo", "policy", "group", "steps", "demos", "seed", "device", "n_hidden", "augment_copies",
             "bc_weight", "eval_every", "eval_episodes", "checkpoint_every", "batch_size", "learning_rate")


def cmd_eval(args: argparse.Namespace) -> int:
    from equimanip.agents.train_rl import evaluate, load_run
    from equimanip.rollout import write_json

    model, config = load_run(Path(args.run), device=args.device)
    if args.env and args.env.split("/")[-1] != config.env.split("/")[-1]:
        raise ValueError(f"{args.run} was trained on {config.env}, not {args.env}")
    result = evaluate(model, config, args.episodes, args.seed, video=Path(args.video) if args.video else None,
                      video_episodes=args.video_episodes)
    result = {"run": args.run, "env": config.env, **result}
    lo, hi = result["success_ci95"]
    print(f"{config.env}: success {result['success_rate']:.3f} (95% CI {lo:.3f}-{hi:.3f}) over {args.episodes} episodes "
          f"(seeds {args.seed}-{args.seed + args.episodes - 1})")
    if args.json:
        write_json(args.json, result)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="equimanip",
        description="Robot manipulation learning that exploits symmetry: tabletop environments with latent "
                    "symmetry and scripted experts.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("envs", help="list registered environments, cameras and options",
                       description="List the registered environments (equimanip/<Task>-v0) with their episode limit, "
                                   "symmetry group and options, plus the cameras, extra observations and symmetry "
                                   "corruptions every task accepts.")
    p.add_argument("--json", metavar="PATH", help="also write the listing as JSON to PATH")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser("rollout", help="run episodes with the scripted expert or a random policy",
                       description="Run N episodes (seeds S, S+1, …) and report the success rate with a 95%% Wilson "
                                   "interval, episode lengths and returns.")
    p.add_argument("--env", required=True, metavar="ID", help="environment id, e.g. equimanip/BlockPicking-v0 "
                                                               "(the equimanip/ prefix may be left out)")
    p.add_argument("--policy", default="expert", choices=("expert", "random"),
                   help="expert: the task's scripted expert (privileged state); random: uniform actions (default: expert)")
    p.add_argument("--episodes", type=int, default=10, metavar="N", help="number of episodes (default: 10)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the first episode (default: 0)")
    p.add_argument("--camera", choices=("gripper_topdown", "fixed_topdown", "side"),
                   help="observation camera (default: the env's, gripper_topdown)")
    p.add_argument("--option", action="append", type=_parse_option, metavar="KEY=VALUE",
                   help="any env option, repeatable, e.g. --option dpos=0.02 --option \"corruptions=('mirror',)\"; "
                        "see `equimanip envs` for the list")
    p.add_argument("--video", metavar="PATH", help="write an mp4 of the first episode(s) (side view with the robot)")
    p.add_argument("--video-episodes", type=int, default=1, metavar="K", help="episodes in the video (default: 1)")
    p.add_argument("--json", metavar="PATH", help="write {success_rate, episodes: [...], ...} as JSON to PATH")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_rollout)

    p = sub.add_parser("train", help="train an agent (rl: SAC / SACfD with equivariant or CNN networks)",
                       description="Train an agent. `equimanip train rl --help` lists the RL options.")
    train_sub = p.add_subparsers(dest="trainer", metavar="TRAINER")
    train_sub.required = True
    t = train_sub.add_parser("rl", help="SAC or SAC from demonstrations through stable-baselines3",
                             description="Train SAC/SACfD with an equivariant (escnn) or CNN actor and critic. Writes to "
                                         "RUN_DIR: config.json, TensorBoard logs (tb/), eval.csv, checkpoints, model.zip, "
                                         "curve.png and eval.mp4. Unset options take the config file's or the defaults "
                                         "(equivariant SACfD: D4, 20 demos, 4 augmented copies, batch 64, lr 1e-3).")
    t.add_argument("--env", metavar="ID", help="task id, e.g. equimanip/BlockPulling-v0")
    t.add_argument("--config", metavar="FILE", help="a JSON config (keys of RLConfig); flags override it")
    t.add_argument("--algo", choices=("sac", "sacfd"), help="sac, or sacfd: expert demos in the buffer (default sacfd)")
    t.add_argument("--policy", choices=("equi", "cnn"), help="equivariant (escnn) or CNN networks (default equi)")
    t.add_argument("--group", help="symmetry group of the networks and augmentation: C4, C8, D4, D8 (default D4)")
    t.add_argument("--steps", type=int, help="env steps to train (default 5000)")
    t.add_argument("--demos", type=int, help="expert episodes in the buffer for sacfd (default 20)")
    t.add_argument("--seed", type=int, help="seed of networks, resets, demos and augmentation (default 0)")
    t.add_argument("--camera", choices=("gripper_topdown", "fixed_topdown", "side"), help="observation camera")
    t.add_argument("--option", action="append", type=_parse_option, metavar="KEY=VALUE",
                   help="env option, repeatable (e.g. image_size=64)")
    t.add_argument("--n-hidden", dest="n_hidden", type=int, help="regular fields of the equivariant encoder (64)")
    t.add_argument("--augment-copies", dest="augment_copies", type=int,
                   help="symmetry-transformed copies of every transition in the buffer (4; 0 disables)")
    t.add_argument("--bc-weight", dest="bc_weight", type=float, help="behaviour-cloning weight on the demos (0)")
    t.add_argument("--eval-every", dest="eval_every", type=int, help="env steps between evaluations (1000)")
    t.add_argument("--eval-episodes", dest="eval_episodes", type=int, help="episodes per evaluation (20)")
    t.add_argument("--checkpoint-every", dest="checkpoint_every", type=int, help="env steps between checkpoints (1000)")
    t.add_argument("--batch-size", dest="batch_size", type=int, help="SAC batch size (64)")
    t.add_argument("--learning-rate", dest="learning_rate", type=float, help="Adam learning rate (1e-3)")
    t.add_argument("--device", help="auto (CUDA when present), cpu or cuda (default auto)")
    t.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory (must be new or empty unless --resume)")
    t.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    t.set_defaults(func=cmd_train_rl)

    p = sub.add_parser("eval", help="evaluate a trained run",
                       description="Load the policy of RUN_DIR and run deterministic episodes (seeds S, S+1, …).")
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="a run directory written by `equimanip train`")
    p.add_argument("--env", metavar="ID", help="check that the run was trained on this env")
    p.add_argument("--episodes", type=int, default=50, metavar="N", help="episodes (default 50)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the first episode (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--json", metavar="PATH", help="write {success_rate, success_ci95, ...} as JSON")
    p.add_argument("--video", metavar="PATH", help="write an mp4 of the first episode(s)")
    p.add_argument("--video-episodes", type=int, default=1, metavar="K", help="episodes in the video (default 1)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("demo", help="the README's main job: expert rollouts of every task, table and videos",
                       description="Roll out the scripted expert on every registered task, print a success table "
                                   "(with 95%% intervals), and write results.json, results.md, a bar plot and one "
                                   "video per task to --out.")
    p.add_argument("--episodes", type=int, default=20, metavar="N", help="episodes per task (default: 20)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the first episode (default: 0)")
    p.add_argument("--out", default="outputs/demo", metavar="DIR", help="output folder (default: outputs/demo)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:  # bad input: say what was wrong, no traceback
        print(f"equimanip {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `equimanip envs | head`: stop quietly, like other Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
