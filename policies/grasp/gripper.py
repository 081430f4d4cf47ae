"""Geometry of the parallel-jaw gripper (the Franka hand), shared by grasp construction, collision
pruning and the simulated hand, so that a grasp pose means the same thing everywhere.

The grasp frame (a 4×4 pose in the point cloud's frame):
    origin  the TCP: midway between the two fingertips (the tip ends of the open fingers);
    z axis  the approach direction, from the palm towards the object;
    y axis  the closing axis: the fingers sit at ±width/2 along y and close towards the origin;
    x axis  y × z.
The palm face lies ``finger_depth`` behind the TCP (at −finger_depth·z); the hand's base link
(``panda_hand`` of pybullet_data's Panda) lies ``tcp_offset`` behind it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GripperGeometry:
    """Dimensions of a parallel-jaw gripper in metres (defaults: the Franka hand of pybullet_data)."""

    max_width: float = 0.08  # full opening between the finger pads
    finger_depth: float = 0.046  # palm face to fingertip, along the approach axis
    finger_width: float = 0.021  # finger extent along x
    finger_thickness: float = 0.012  # finger pad extent along y (outwards from the pad)
    palm_half_width: float = 0.104  # palm extent along ±y
    palm_half_depth: float = 0.032  # palm extent along ±x
    palm_height: float = 0.092  # palm extent behind the palm face, along −z
    tcp_offset: float = 0.1122  # hand base link origin to TCP, along z (finger joint 0.0584 + finger 0.0538)
    tip_margin: float = 0.004  # edge grasps: how far the fingertips reach past the contact point


FRANKA_HAND = GripperGeometry()
