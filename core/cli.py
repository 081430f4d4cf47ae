"""The ``equimanip`` command line.

    equimanip envs [--json PATH]
    equimanip rollout --env ID --policy expert|random --episodes N --seed S [--camera C] [--video PATH] [--json PATH]
    equimanip demo [--episodes N] [--out DIR]
    equimanip train rl --env ID [--algo sac|sacfd] [--policy equi|cnn] [--group D4] [--steps N] --out RUN_DIR [--resume]
    equimanip train bc|seil (--dataset DIR | --env ID --demos N) [--policy equi|cnn] [--group D4] [--simulate-n 4] --out RUN_DIR
    equimanip collect --env ID --episodes N --seed S --out DATASET [--workers K]
    equimanip export --dataset DATASET --format robomimic --out FILE.hdf5
    equimanip eval --run RUN_DIR [--episodes N] [--seed S] [--json PATH] [--video PATH]
    equimanip experiment [--config FILE] [--out DIR]
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

from equimanip.grasp_cli import add_grasp_parser
from equimanip.ros_cli import add_ros_parser


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


def cmd_experiment(args: argparse.Namespace) -> int:
    from equimanip.experiment import run_experiment

    run_experiment(args.config, Path(args.out), progress=not args.no_progress)
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from equimanip.collect import collect

    summary = collect(args.env, episodes=args.episodes, seed=args.seed, out=Path(args.out), env_options=_env_options(args),
                      workers=args.workers, progress=not args.no_progress, flush_every=args.flush_every)
    lo, hi = summary["success_ci95"]
    first, last = summary["seed"], summary["seed"] + summary["episodes"] - 1
    new = (f"{summary['new_episodes']} new, {summary['env_steps_per_second']:.0f} env steps/s with {summary['workers']} "
           f"worker(s)" if summary["new_episodes"] else "none new: it already had them")
    print(f"{summary['out']}: {summary['episodes']} episodes of {summary['env_id']} (seeds {first}-{last}; {new}), "
          f"{summary['frames']} frames, expert success {summary['success_rate']:.3f} (95% CI {lo:.3f}-{hi:.3f}), "
          f"{summary['seconds']:.1f} s")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from equimanip.robomimic import EXPORT_FORMATS, export_robomimic

    if args.format not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {args.format!r}; accepted: {', '.join(EXPORT_FORMATS)}")
    result = export_robomimic(Path(args.dataset), Path(args.out))
    print(f"wrote {result['out']}: {result['demos']} demos, {result['samples']} samples ({args.format}; obs keys "
          f"{', '.join(result['obs_keys'])})")
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
             "bc_weight", "demo_fraction", "eval_every", "eval_episodes", "checkpoint_every", "batch_size", "learning_rate",
             "precision")


def cmd_train_bc(args: argparse.Namespace) -> int:
    from equimanip.agents.bc import BCConfig, train

    if args.config:
        config = BCConfig.from_json(Path(args.config))
    else:
        config = BCConfig(simulate_n=4 if args.trainer == "seil" else 0)
    overrides = {k: v for k, v in vars(args).items() if k in _BC_FLAGS and v is not None}
    if args.trainer == "bc" and args.simulate_n is None:
        overrides["simulate_n"] = 0
    if args.no_rotate:
        overrides["rotate"] = False
    if args.free_space_only:
        overrides["simulate_holding"] = False
    config = dataclasses.replace(config, **overrides)
    if args.trainer == "seil" and config.simulate_n == 0:
        raise ValueError("seil needs --simulate-n >= 1 (use `train bc` for behaviour cloning without transition simulation)")
    if args.trainer == "bc" and config.simulate_n > 0:
        raise ValueError("bc trains without transition simulation; use `train seil --simulate-n N` for that")
    if not (config.env or config.dataset):
        raise ValueError("give --dataset DIR (from `equimanip collect`) or --env ID to collect --demos N demos")
    options = _env_options(args)
    if options:
        if config.dataset:
            raise ValueError("--camera/--option set env options, which a --dataset already fixes; collect a new dataset")
        config.env_options = {**config.env_options, **options}
    summary = train(config, Path(args.out), resume=args.resume, progress=not args.no_progress)
    final = summary["final_eval"]
    lo, hi = final["success_ci95"]
    s = summary["samples"]
    selected = summary.get("selected")
    kept = f", weights of step {selected['step']} (validation {selected['success_rate']:.2f})" if selected else ""
    print(f"{summary['config']['env']} {summary['algo']}/{config.policy} seed {config.seed}: success {final['success_rate']:.2f} "
          f"(95% CI {lo:.2f}-{hi:.2f}, {final['episodes']} episodes) after {summary['steps']} steps on {s['expert']} expert + "
          f"{s['simulated']} simulated samples ({summary['seconds']['train']:.0f} s training){kept}; run in {args.out}")
    return 0


_BC_FLAGS = ("env", "dataset", "demos", "seed", "policy", "group", "simulate_n", "sigma", "sim_weight", "sim_reach",
             "grasp_offset_n", "grasp_offset", "release_views", "switch_weight", "steps", "batch_size", "learning_rate",
             "lr_schedule", "weight_decay", "n_hidden", "ensemble", "eval_every", "eval_episodes", "max_episode_steps",
             "periodic_eval_episodes", "select_best", "checkpoint_every", "device", "precision")


def _load_any_run(run: Path, device: str) -> tuple[Any, Any]:
    import json

    try:
        kind = json.loads((run / "config.json").read_text()).get("kind", "rl")
    except FileNotFoundError:
        raise ValueError(f"{run} is not a run directory (no config.json)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {run / 'config.json'}: {exc}") from exc
    if kind == "bc":
        from equimanip.agents.bc import load_run
    elif kind == "rl":
        from equimanip.agents.train_rl import load_run
    else:
        raise ValueError(f"{run} holds a run of unknown kind {kind!r}; accepted: rl, bc")
    return load_run(run, device=device)


def cmd_eval(args: argparse.Namespace) -> int:
    from equimanip.agents.train_rl import evaluate
    from equimanip.rollout import write_json

    model, config = _load_any_run(Path(args.run), device=args.device)
    if args.env and args.env.split("/")[-1] != config.env.split("/")[-1]:
        raise ValueError(f"{args.run} was trained on {config.env}, not {args.env}")
    result = evaluate(model, config, args.episodes, args.seed, video=Path(args.video) if args.video else None,
                      video_episodes=args.video_episodes, max_episode_steps=args.max_episode_steps)
    result = {"run": args.run, "env": config.env, **result}
    lo, hi = result["success_ci95"]
    print(f"{config.env}: success {result['success_rate']:.3f} (95% CI {lo:.3f}-{hi:.3f}) over {args.episodes} episodes "
          f"(seeds {args.seed}-{args.seed + args.episodes - 1}) of at most {result['max_episode_steps']} steps")
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
                       description="Run N episodes (seeds S, S+1, …) and report the success rate with a 95% Wilson "
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

    p = sub.add_parser("train", help="train an agent (rl: SAC / SACfD; bc, seil: imitation from demos)",
                       description="Train an agent. `equimanip train rl --help`, `train bc --help` and "
                                   "`train seil --help` list the options.")
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
    t.add_argument("--bc-weight", dest="bc_weight", type=float,
                   help="behaviour-cloning weight on the demos for sacfd (1, as equivariant SACfD's expert loss; 0: the "
                        "demos only sit in the buffer)")
    t.add_argument("--demo-fraction", dest="demo_fraction", type=float,
                   help="share of every SAC batch drawn from the demos for sacfd, the rest from the agent's own "
                        "transitions (RLPD's symmetric sampling: 0.5; default 0: uniform over the whole buffer)")
    t.add_argument("--eval-every", dest="eval_every", type=int, help="env steps between evaluations (1000)")
    t.add_argument("--eval-episodes", dest="eval_episodes", type=int, help="episodes per evaluation (20)")
    t.add_argument("--checkpoint-every", dest="checkpoint_every", type=int, help="env steps between checkpoints (1000)")
    t.add_argument("--batch-size", dest="batch_size", type=int, help="SAC batch size (64)")
    t.add_argument("--learning-rate", dest="learning_rate", type=float, help="Adam learning rate (1e-3)")
    t.add_argument("--device", help="auto (CUDA when present), cpu or cuda (default auto)")
    t.add_argument("--precision", choices=("auto", "fp32", "bf16"),
                   help="arithmetic of the SAC updates: auto = bf16 mixed precision where the hardware has bf16 matrix "
                        "units (Intel AMX or AVX-512 BF16 CPUs, Ampere+ GPUs), else fp32; acting and evaluation run in "
                        "fp32 (default auto)")
    t.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory (must be new or empty unless --resume)")
    t.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    t.set_defaults(func=cmd_train_rl)

    for name, what in (("bc", "behaviour cloning (no transition simulation)"),
                       ("seil", "SEIL: equivariant BC with transition simulation")):
        t = train_sub.add_parser(name, help=what, description=(
            f"Train {what} from a demonstration dataset (--dataset, from `equimanip collect`) or from --demos expert "
            "episodes collected into RUN_DIR/dataset (--env). Writes config.json, samples.npz, TensorBoard logs (tb/), "
            "eval.csv, checkpoint.pt, model.pt, curve.png, eval.mp4 and summary.json to RUN_DIR. Defaults (SEIL, "
            "REFERENCES §4): D4-equivariant network, 4 simulated samples per free-space step with sigma 0.4, random "
            "rotations of every batch, Adam lr 1e-3 with cosine decay, batch 64, 1000 steps, env options dpos=0.02 "
            "and image_size=64."))
        t.add_argument("--dataset", metavar="DIR", help="a dataset written by `equimanip collect` (fixes env and options)")
        t.add_argument("--env", metavar="ID", help="task id to collect demos in, e.g. equimanip/BlockInBowl-v0")
        t.add_argument("--config", metavar="FILE", help="a JSON config (keys of BCConfig); flags override it")
        t.add_argument("--demos", type=int, help="demonstrations used: the first N of the dataset, or N collected (10)")
        t.add_argument("--seed", type=int, help="seed of network, batches, perturbations, demos and eval episodes (0)")
        t.add_argument("--policy", choices=("equi", "cnn"), help="equivariant (escnn) or CNN network (default equi)")
        t.add_argument("--group", help="group of the equivariant network: C4, C8, D4, D8 (default D4)")
        t.add_argument("--simulate-n", dest="simulate_n", type=int,
                       help="simulated corrective samples per free-space expert step (seil: 4; bc: 0)")
        t.add_argument("--sigma", type=float, help="std of the simulated perturbations in action units (0.4)")
        t.add_argument("--sim-weight", dest="sim_weight", type=float,
                       help="sampling weight of a simulated sample relative to an expert one (1, SEIL's); 4/N with "
                            "--simulate-n N keeps SEIL's balance of expert and simulated samples")
        t.add_argument("--sim-reach", dest="sim_reach", type=float,
                       help="largest planar simulated perturbation in steps per axis (1, SEIL's: one-step "
                            "corrections); K > 1 draws (dx, dy) with std K·sigma up to ±K steps, views farther off the "
                            "demo's path labelled with the clipped step towards it (our extension)")
        t.add_argument("--grasp-offset-n", dest="grasp_offset_n", type=int,
                       help="of the --simulate-n views of each step holding an object, how many also shift it within "
                            "the hand along the jaw (our extension; default: half of them, 2 of 4; 0 turns them off, "
                            "SEIL's views; --free-space-only: 0): demonstrated grasps are centred, so a policy that "
                            "grasps off-centre has never seen its view; labels keep the object on the demo's path")
        t.add_argument("--grasp-offset", dest="grasp_offset", type=float,
                       help="largest in-hand shift of those views in metres (0.02)")
        t.add_argument("--release-views", dest="release_views", action="store_true", default=None,
                       help="draw the simulated views of a release step around the release pose itself, below it too, "
                            "labelled 'open' (our extension; SEIL's lie around the previous pose, above it): a policy "
                            "that comes down a little too far still lets go")
        t.add_argument("--switch-weight", dest="switch_weight", type=float,
                       help="draw the steps where the expert's gripper command changes (grasps, releases), their expert "
                            "sample and simulated views, W times as often (1, SEIL's; our extension): one such step per "
                            "grasp against dozens that keep the command")
        t.add_argument("--no-rotate", action="store_true", help="no random rotation of training batches")
        t.add_argument("--free-space-only", action="store_true",
                       help="simulate transitions only while nothing is held (the SEIL paper's setting); by default "
                            "held objects are carried with the virtual gripper")
        t.add_argument("--steps", type=int, help="gradient steps (1000: ≈ 6 min at 64 px on a 2-core CPU)")
        t.add_argument("--batch-size", dest="batch_size", type=int, help="batch size (64)")
        t.add_argument("--learning-rate", dest="learning_rate", type=float, help="Adam learning rate (1e-3)")
        t.add_argument("--lr-schedule", dest="lr_schedule", choices=("cosine", "constant"),
                       help="learning-rate schedule: cosine decay to 0 over the steps, or constant (default cosine)")
        t.add_argument("--weight-decay", dest="weight_decay", type=float,
                       help="Adam's L2 weight decay (default 0; SEIL's released code: 1e-5 with a constant rate)")
        t.add_argument("--n-hidden", dest="n_hidden", type=int, help="network width: regular fields of the encoder (32)")
        t.add_argument("--ensemble", dest="ensemble", type=int,
                       help="networks trained side by side on the same batches from different initial weights, the "
                            "policy acting on the mean of their outputs (1; our extension); K times the training time")
        t.add_argument("--eval-every", dest="eval_every", type=int, help="steps between evaluations (0: at the end only)")
        t.add_argument("--eval-episodes", dest="eval_episodes", type=int, help="evaluation episodes (50)")
        t.add_argument("--periodic-eval-episodes", dest="periodic_eval_episodes", type=int,
                       help="episodes of each evaluation during training (default: --eval-episodes); SEIL's protocol "
                            "evaluates 50 every tenth of training and reports the best (their time is not training time)")
        t.add_argument("--select-best", dest="select_best", action="store_true", default=None,
                       help="keep the weights that score best on validation episodes (held out from the final "
                            "evaluation) in the evaluations every --eval-every steps and after the last; the final "
                            "evaluation tests those weights (needs --eval-every)")
        t.add_argument("--max-episode-steps", dest="max_episode_steps", type=int,
                       help="step limit of evaluation episodes (default: the task's, 50; SEIL's code evaluates with 100)")
        t.add_argument("--checkpoint-every", dest="checkpoint_every", type=int, help="steps between checkpoints (250)")
        t.add_argument("--camera", choices=("gripper_topdown", "fixed_topdown"),
                       help="observation camera when collecting (a top-down one: transition simulation needs it)")
        t.add_argument("--option", action="append", type=_parse_option, metavar="KEY=VALUE",
                       help="env option when collecting, repeatable (e.g. image_size=128)")
        t.add_argument("--device", help="auto (CUDA when present), cpu or cuda (default auto)")
        t.add_argument("--precision", choices=("auto", "fp32", "bf16"),
                       help="training arithmetic: auto = bf16 mixed precision where the hardware has bf16 matrix units "
                            "(Intel AMX or AVX-512 BF16 CPUs, Ampere+ GPUs: ≈ 4× faster on a 2-core AMX Xeon, "
                            "1.8× on a Zen 4 EPYC), else fp32 (default auto)")
        t.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory (must be new or empty unless --resume)")
        t.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint")
        t.add_argument("--no-progress", action="store_true", help="hide progress bars")
        t.set_defaults(func=cmd_train_bc)

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
    p.add_argument("--max-episode-steps", type=int, metavar="N",
                   help="step limit of the episodes (default: the run's evaluation limit, else the task's, 50)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("experiment", help="the README's main job: a few-demo imitation experiment end to end",
                       description="Collect demos, train every method of the config (default: SEIL, equivariant BC and "
                                   "CNN BC on 10 demos of Block in Bowl), evaluate each on the same episodes, and write "
                                   "results.md/json (success with 95% Wilson intervals), success.png and seil_eval.mp4 to "
                                   "--out. Re-running resumes: finished runs are reused, interrupted ones continue.")
    p.add_argument("--config", metavar="FILE", help="experiment config (JSON; default: the shipped "
                                                     "assets/configs/seil_block_in_bowl.json, which documents every key)")
    p.add_argument("--out", default="outputs/experiment", metavar="DIR", help="output folder (default: outputs/experiment)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("demo", help="expert rollouts of every task: success table, bar plot and videos",
                       description="Roll out the scripted expert on every registered task, print a success table "
                                   "(with 95% intervals), and write results.json, results.md, a bar plot and one "
                                   "video per task to --out.")
    p.add_argument("--episodes", type=int, default=20, metavar="N", help="episodes per task (default: 20)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the first episode (default: 0)")
    p.add_argument("--out", default="outputs/demo", metavar="DIR", help="output folder (default: outputs/demo)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("collect", help="record scripted-expert demonstrations as a LeRobot v3.0 dataset",
                       description="Record N scripted-expert episodes (seeds S, S+1, …; failed ones are kept and "
                                   "marked) into DATASET in the LeRobot v3.0 layout (parquet; depth stored exactly as "
                                   "float32). An existing DATASET of the same env, options and seed is resumed from "
                                   "its first missing episode; any other settings are refused.")
    p.add_argument("--env", required=True, metavar="ID", help="environment id, e.g. equimanip/BlockInBowl-v0 "
                                                               "(the equimanip/ prefix may be left out)")
    p.add_argument("--episodes", type=int, required=True, metavar="N", help="episodes the dataset should hold")
    p.add_argument("--seed", type=int, required=True, metavar="S", help="reset seed of the first episode (episode i: S+i)")
    p.add_argument("--out", required=True, metavar="DATASET", help="dataset folder (new, empty, or one to resume)")
    p.add_argument("--workers", type=int, default=1, metavar="K",
                   help="record in K spawned processes (same data as 1; default: 1)")
    p.add_argument("--camera", choices=("gripper_topdown", "fixed_topdown", "side"),
                   help="observation camera (default: the env's, gripper_topdown)")
    p.add_argument("--option", action="append", type=_parse_option, metavar="KEY=VALUE",
                   help="any env option, repeatable, e.g. --option image_size=64 --option \"observations=('rgb',)\"; "
                        "see `equimanip envs` for the list")
    p.add_argument("--flush-every", dest="flush_every", type=int, default=25, metavar="E",
                   help="episodes per data file; each flush is committed, so a crash loses at most E-1 (default: 25)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("export", help="convert a dataset to another format (robomimic HDF5)",
                       description="Write a dataset recorded by `equimanip collect` in another layout: robomimic "
                                   "(data/demo_i with actions, rewards, dones, obs/, next_obs/; mask/train).")
    p.add_argument("--dataset", required=True, metavar="DATASET", help="a dataset folder written by `equimanip collect`")
    p.add_argument("--format", required=True, metavar="FORMAT", help="output format; accepted: robomimic")
    p.add_argument("--out", required=True, metavar="FILE", help="file to write, e.g. demos.hdf5 (replaced atomically)")
    p.set_defaults(func=cmd_export)

    add_grasp_parser(sub)
    add_ros_parser(sub)
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
