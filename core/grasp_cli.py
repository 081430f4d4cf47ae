"""``equimanip grasp ...``: 6-DoF grasp detection (generate data, train, evaluate in simulation)."""

from __future__ import annotations

import argparse


def add_grasp_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``equimanip grasp`` and its sub-commands."""
    p = sub.add_parser("grasp", help="6-DoF grasp detection from point clouds (Edge Grasp Network)",
                       description="Grasp detection: `equimanip grasp COMMAND --help` lists each command's options.")
    grasp_sub = p.add_subparsers(dest="grasp_command", metavar="COMMAND")
    grasp_sub.required = True

    # --- grasp train (agents/grasp_train.py) ---
    def cmd_grasp_train(args: argparse.Namespace) -> int:
        from equimanip.agents.grasp_train import train_from_args

        return train_from_args(args)

    t = grasp_sub.add_parser("train", help="train an Edge Grasp or VN-Edge scorer on labelled grasp data",
                             description="Train a grasp scorer (BCE on simulated outcomes, balanced positives and "
                                         "negatives). RUN_DIR gets config.json, tb/ (TensorBoard), checkpoint.pt, "
                                         "model.pt (for `--detector RUN_DIR/model.pt`), curve.png and summary.json.")
    t.add_argument("--data", required=True, metavar="DATA", help="dataset folder written by `equimanip grasp generate`")
    t.add_argument("--model", required=True, choices=("edge", "vn-edge"),
                   help="edge: Edge Grasp Network (rotation augmentation); vn-edge: vector neurons, SE(3)-invariant")
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
    t.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    t.set_defaults(func=cmd_grasp_train)
