"""``equimanip ros ...``: the ROS bridge nodes."""

from __future__ import annotations

import argparse


def add_ros_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``equimanip ros`` and its sub-commands."""
    p = sub.add_parser("ros", help="ROS bridge: grasp server, policy node, simulated robot",
                       description="ROS nodes: `equimanip ros COMMAND --help` lists each command's options.")
    ros_sub = p.add_subparsers(dest="ros_command", metavar="COMMAND")
    ros_sub.required = True
