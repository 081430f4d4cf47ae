"""``equimanip grasp ...``: 6-DoF grasp detection (generate data, train, evaluate in simulation)."""

from __future__ import annotations

import argparse


def add_grasp_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``equimanip grasp`` and its sub-commands."""
    p = sub.add_parser("grasp", help="6-DoF grasp detection from point clouds (Edge Grasp Network)",
                       description="Grasp detection: `equimanip grasp COMMAND --help` lists each command's options.")
    grasp_sub = p.add_subparsers(dest="grasp_command", metavar="COMMAND")
    grasp_sub.required = True
