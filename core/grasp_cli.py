"""``equimanip grasp ...``: 6-DoF grasp detection (generate data, train, evaluate in simulation)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


NO_FLAT_HELP = ("Edge Grasp's candidates only. By default a pruned edge whose contact normal is within 35° of "
                "horizontal is retried with it levelled, and when no candidate is left, contacts on the rim of an "
                "upward-facing surface are tried as top-down grasps: flat objects, whose sides the table crop all but "
                "removes, otherwise get no candidate at all (our extension)")
NO_FILL_HELP = ("the cloud alone decides collisions. By default the space under every seen upward-facing point, down "
                "to the table, counts as occupied, so a hand reaching inside an object under its top face (the far "
                "finger of many side grasps, in space one view does not see) is pruned (our extension)")

CLEAR_APPROACH_HELP = ("also prune hands whose way in, from the pre-grasp pose 5 cm back along the approach, meets "
                       "the cloud or the filled columns: such an approach stops on the contact and the hand closes "
                       "short of its grasp (our extension; default: only the hand at its grasp pose is checked)")


def add_eval_rule_options(g: argparse.ArgumentParser) -> None:
    """The flags that set how grasps are chosen and executed (``grasp eval`` and ``scripts/bench_grasp.py``);
    :func:`eval_rule_options` turns them into :class:`~equimanip.envs.grasping.benchmark.EvalSpec` fields."""
    g.add_argument("--fail-on-approach-contact", action="store_true",
                   help="a contact while approaching fails the attempt (as in data generation); by default the hand "
                        "stops at the contact and closes there, VGN's clutter-removal convention that Edge Grasp and "
                        "GIGA report with")
    g.add_argument("--min-score", dest="min_score", type=float, metavar="P",
                   help="do not execute a best grasp scored below P (in [0, 1]): take a new view instead; the third "
                        "such skip ends the round. Edge Grasp Network's evaluation uses 0.85 (default: execute "
                        "every best grasp)")
    g.add_argument("--no-flat-grasps", action="store_true", help=NO_FLAT_HELP)
    g.add_argument("--no-fill-columns", action="store_true", help=NO_FILL_HELP)
    g.add_argument("--clear-approach", action="store_true", help=CLEAR_APPROACH_HELP)
    g.add_argument("--deepen", type=float, metavar="M",
                   help="push candidate hands up to M metres deeper along their approach, in 4 mm steps, where they fit "
                        "clear of the cloud, the filled columns and the table (our extension). A model trained on "
                        "deeper hands (grasp generate --deepen) scores every depth that fits and the best is executed; "
                        "any other detector sends each hand as deep as it fits. Default: the model's own training "
                        "depth range (0 for the shipped models: fingertips 4 mm past the contact, as in Edge Grasp)")
    g.add_argument("--fill-shadows", type=float, default=0.0, metavar="M",
                   help="also prune hands that reach into the first M metres behind a seen point, away from the camera "
                        "(e.g. 0.02): one view does not see an object's far side, and a finger that meets it stops the "
                        "approach and the hand closes on nothing (our extension; default 0: off)")
    g.add_argument("--fill-crop", action="store_true",
                   help="also prune hands that reach past the workspace square the cloud is cropped to, where seen "
                        "points touch its wall: the crop cut off the rest of that object, and a finger that meets it "
                        "stops the approach (our extension; default: off)")
    g.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="fp32",
                   help="the network's arithmetic: fp32, bf16 (matrix products in bfloat16: about twice as fast "
                        "where the CPU has AVX-512 BF16 or AMX, or on an Ampere+ GPU; elsewhere slower) or auto (bf16 "
                        "where it is fast, else fp32) (default fp32)")


def eval_rule_options(args: argparse.Namespace) -> dict:
    """The :class:`~equimanip.envs.grasping.benchmark.EvalSpec` fields of :func:`add_eval_rule_options`' flags."""
    return {"allow_contact": not args.fail_on_approach_contact, "min_score": args.min_score,
            "flat_grasps": not args.no_flat_grasps, "fill_columns": not args.no_fill_columns,
            "clear_approach": args.clear_approach, "deepen": args.deepen, "fill_shadows": args.fill_shadows,
            "fill_crop": args.fill_crop, "precision": args.precision}


def eval_rule_flags(options: dict) -> str:
    """The ``grasp eval`` flags that give :func:`eval_rule_options`' ``options`` (defaults left out), each with a
    leading space: how a benchmark cell names its command."""
    return (("" if options["allow_contact"] else " --fail-on-approach-contact")
            + ("" if options["min_score"] is None else f" --min-score {options['min_score']}")
            + ("" if options["flat_grasps"] else " --no-flat-grasps")
            + ("" if options["fill_columns"] else " --no-fill-columns")
            + (" --clear-approach" if options["clear_approach"] else "")
            + ("" if options["deepen"] is None else f" --deepen {options['deepen']:g}")
            + ("" if not options["fill_shadows"] else f" --fill-shadows {options['fill_shadows']:g}")
            + (" --fill-crop" if options["fill_crop"] else "")
            + ("" if options["precision"] == "fp32" else f" --precision {options['precision']}"))


def cmd_grasp_generate(args: argparse.Namespace) -> int:
    from equimanip.agents.grasp_data import GenerateConfig, generate

    config = GenerateConfig(objects=args.objects, scene=args.scene, scenes=args.scenes, num_objects=args.num_objects,
                            grasps_per_scene=args.grasps_per_scene, num_approach=args.num_approach, noise=args.noise,
                            seed=args.seed, shard_size=args.shard_size, flat_grasps=not args.no_flat_grasps,
                            allow_contact=not args.fail_on_approach_contact, fill_columns=args.fill_columns,
                            deepen=args.deepen)
    summary = generate(config, Path(args.out), workers=args.workers, ray_address=args.ray, progress=not args.no_progress)
    print(f"{summary['out']}: {summary['shards']} shards ({summary['new_shards']} new), {summary['new_grasps']} new "
          f"labelled grasps ({summary['new_positives']} successful) in {summary['wall_s']:.1f} s: "
          f"{summary['grasps_per_second']:.1f} grasps/s with {summary['workers']} worker(s), "
          f"{summary['grasps_per_second_per_process']:.1f} per process")
    return 0


def cmd_grasp_eval(args: argparse.Namespace) -> int:
    from equimanip.atomic import write_json
    from equimanip.envs.grasping.benchmark import EvalSpec, evaluate

    spec = EvalSpec(detector=args.detector, scene=args.scene, objects=args.objects, num_objects=args.num_objects,
                    noise=args.noise, device=args.device, **eval_rule_options(args))
    result = evaluate(spec, rounds=args.rounds, seeds=args.seeds, workers=args.workers, progress=not args.no_progress,
                      video=args.video)
    g, d = result["gsr"], result["dr"]
    print(f"{args.detector} on {args.scene} scenes of {args.objects}: GSR {100 * g['mean']:.1f} ± {100 * g['std']:.1f} %, "
          f"DR {100 * d['mean']:.1f} ± {100 * d['std']:.1f} % (mean ± std over seeds {args.seeds}; {args.rounds} rounds "
          f"each, {result['attempts']} attempts, {result['wall_s']:.0f} s)")
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    else:
        print(json.dumps({k: result[k] for k in ("gsr", "dr", "attempts", "rounds", "end_reasons", "failures")}))
    if args.video:
        print(f"wrote {args.video}")
    return 0


def add_grasp_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``equimanip grasp`` and its sub-commands."""
    p = sub.add_parser("grasp", help="6-DoF grasp detection from point clouds (Edge Grasp Network)",
                       description="Grasp detection: `equimanip grasp COMMAND --help` lists each command's options.")
    grasp_sub = p.add_subparsers(dest="grasp_command", metavar="COMMAND")
    grasp_sub.required = True

    objects_help = ("URDF objects: a folder of .urdf files (searched recursively; e.g. the VGN-style sets, sized for "
                    "the hand) or a named split of pybullet_data/random_urdfs, which needs no download: "
                    "random-urdfs-train, random-urdfs-test")
    g = grasp_sub.add_parser("eval", help="simulated grasp-success benchmark (VGN protocol): GSR and DR",
                             description="Clutter-removal rounds in pybullet (240 Hz, 30 cm workspace, floating Franka "
                                         "hand): each round drops --num-objects objects as a pile or packed scene, then "
                                         "repeats one noisy depth view from a random viewpoint -> best grasp -> approach, "
                                         "close, retreat 10 cm, until the table is clear, no grasp is found or two "
                                         "attempts in a row fail. Prints GSR (successes/attempts) and DR (objects "
                                         "removed/present) as mean ± std over seeds.")
    g.add_argument("--detector", default="default", metavar="NAME|PATH",
                   help="default (the shipped Edge Grasp model), vn-edge (shipped VN-Edge), random-edge (random scores "
                        "over valid edges, no network), heuristic (geometric antipodal score), a model.pt from "
                        "`equimanip grasp train`, or several nets joined by + (a.pt+b.pt: an ensemble scoring the mean "
                        "of their success probabilities) (default: default)")
    g.add_argument("--scene", choices=("pile", "packed"), default="pile", help="scene type (default pile)")
    g.add_argument("--objects", default="random-urdfs-test", metavar="DIR|NAME",
                   help=objects_help + " (default random-urdfs-test: objects no shipped model was trained on)")
    g.add_argument("--rounds", type=int, default=100, metavar="N", help="rounds per seed (default 100)")
    g.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], metavar="S",
                   help="seeds; round r of seed s is the same scene for every detector (default 0 1 2 3 4)")
    g.add_argument("--num-objects", dest="num_objects", type=int, default=5, metavar="K",
                   help="objects dropped per round (default 5)")
    g.add_argument("--noise", choices=("dex", "none"), default="dex",
                   help="depth noise: dex (VGN's multiplicative Gamma + smooth Gaussian field) or none (default dex)")
    g.add_argument("--workers", type=int, default=1, metavar="K",
                   help="processes playing rounds in parallel; results do not depend on it (default 1)")
    g.add_argument("--device", default="cpu", help="device of the detector's network: cpu, auto, cuda (default cpu)")
    add_eval_rule_options(g)
    g.add_argument("--json", metavar="PATH", help="write gsr, dr (mean, std, per seed), attempts and the per-round log")
    g.add_argument("--video", metavar="PATH", help="also write an mp4 of the first round of the first seed")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    g.set_defaults(func=cmd_grasp_eval)

    g = grasp_sub.add_parser("generate", help="label sampled edge grasps by simulated attempts (training data)",
                             description="For each scene: drop objects (pile or packed), take one noisy depth view, "
                                         "sample candidate edge grasps on the cloud and label --grasps-per-scene of them "
                                         "by executing each in simulation (the scene restored in between). Writes "
                                         "shard-*.npz (atomic) and meta.json to --out; re-running resumes, and the data "
                                         "is the same for any --workers or Ray cluster.")
    g.add_argument("--objects", default="random-urdfs-train", metavar="DIR|NAME",
                   help=objects_help + " (default random-urdfs-train)")
    g.add_argument("--scene", choices=("pile", "packed"), default="pile", help="scene type (default pile)")
    g.add_argument("--scenes", type=int, required=True, metavar="N", help="number of scenes")
    g.add_argument("--out", required=True, metavar="DATA", help="output folder (new, or one to resume)")
    g.add_argument("--grasps-per-scene", dest="grasps_per_scene", type=int, default=128, metavar="G",
                   help="candidates labelled per scene (default 128)")
    g.add_argument("--num-approach", dest="num_approach", type=int, default=64, metavar="A",
                   help="approach points sampled per scene (default 64)")
    g.add_argument("--num-objects", dest="num_objects", type=int, default=5, metavar="K", help="objects per scene (5)")
    g.add_argument("--noise", choices=("dex", "none"), default="dex", help="depth noise (default dex)")
    g.add_argument("--seed", type=int, default=0, metavar="S", help="seed; scene i is drawn from (S, i) (default 0)")
    g.add_argument("--shard-size", dest="shard_size", type=int, default=8, metavar="M", help="scenes per shard (8)")
    g.add_argument("--no-flat-grasps", action="store_true", help=NO_FLAT_HELP.replace("Edge Grasp's candidates only",
                   "label Edge Grasp's candidates only"))
    g.add_argument("--fill-columns", action="store_true",
                   help="label only candidates that pass the detector's filled-column check (by default the hands it "
                        "would prune are labelled too, mostly as failures)")
    g.add_argument("--deepen", type=float, default=0.0, metavar="M",
                   help="also label hands pushed 4, 8, … up to M metres deeper along their approach (every depth that "
                        "fits clear of the cloud and the table is a candidate; the depth is stored with the label), so "
                        "that a net trained on the data scores the depth (e.g. 0.016; default 0: Edge Grasp's depth, "
                        "fingertips 4 mm past the contact)")
    g.add_argument("--fail-on-approach-contact", action="store_true",
                   help="label an attempt whose approach touches anything a failure (VGN's data generation, and the "
                        "data the shipped models were trained on); by default the hand closes where it stopped, as "
                        "`equimanip grasp eval` executes grasps, so the labels say what the evaluation will see")
    g.add_argument("--workers", type=int, default=1, metavar="K", help="local processes (default 1)")
    g.add_argument("--ray", metavar="ADDRESS", help="run the shards as Ray tasks on the cluster at ADDRESS (e.g. "
                                                    "ray://head:10001 or auto), or 'local' for a private single-machine "
                                                    "Ray; needs `pip install ray==2.60.0`")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    g.set_defaults(func=cmd_grasp_generate)

    # --- grasp train (agents/grasp_train.py) ---
    def cmd_grasp_train(args: argparse.Namespace) -> int:
        from equimanip.agents.grasp_train import train_from_args

        return train_from_args(args)

    t = grasp_sub.add_parser("train", help="train an Edge Grasp or VN-Edge scorer on labelled grasp data",
                             description="Train a grasp scorer (BCE on simulated outcomes, balanced positives and "
                                         "negatives). RUN_DIR gets config.json, tb/ (TensorBoard), checkpoint.pt, "
                                         "model.pt (for `--detector RUN_DIR/model.pt`), curve.png and summary.json.")
    t.add_argument("--data", required=True, nargs="+", metavar="DATA",
                   help="dataset folder(s) written by `equimanip grasp generate` (several are trained on together, "
                        "e.g. a pile and a packed folder)")
    t.add_argument("--model", required=True, choices=("edge", "vn-edge"),
                   help="edge: Edge Grasp Network (rotation augmentation); vn-edge: vector neurons, SE(3)-invariant")
    t.add_argument("--rotation-axes", dest="rotation_axes", choices=("so3", "z"),
                   help="edge: augment with uniform 3-D rotations (so3, the paper's) or rotations about the table "
                        "normal only (z: gravity stays down); vn-edge is invariant and ignores it (default so3)")
    t.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory (must be new or empty unless --resume)")
    t.add_argument("--steps", type=int, default=2000, help="total optimiser steps (default 2000; on --resume the new total)")
    t.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4, the paper's)")
    t.add_argument("--batch-scenes", dest="batch_scenes", type=int, default=4, help="scenes per step (default 4)")
    t.add_argument("--edges-per-scene", dest="edges_per_scene", type=int,
                   help="edges per scene and step, half positives and half negatives where possible (default 64)")
    t.add_argument("--val-every", dest="val_every", type=int, help="steps between validations (default 200)")
    t.add_argument("--checkpoint-every", dest="checkpoint_every", type=int, help="steps between checkpoints (default 200)")
    t.add_argument("--seed", type=int, default=0, help="seed of init, split, sampling and augmentation (default 0)")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N (default auto)")
    t.add_argument("--net", nargs="+", metavar="KEY=VALUE",
                   help="network hyper-parameters, e.g. --net radius=0.06 max_ball_points=384 frame_points=192 (the "
                        "fields of EdgeNetConfig / VNEdgeNetConfig: radius of the ball each approach point sees, m; "
                        "max_ball_points kept per ball; k of the kNN graph; conv_channels; global_dim; head; "
                        "frame_points and frame_channels of the grasp-frame branch; edge only: view_rays=1 also reads "
                        "where each point was seen from, which needs data with viewpoints and a viewpoint at detection; "
                        "lists comma-separated). Saved in "
                        "the checkpoint, so the detector rebuilds the same net (default: the config's defaults)")
    t.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    t.set_defaults(func=cmd_grasp_train)
