"""Real-robot adapters as configuration: topics, frames and command conventions of a ROS driver.

The shipped examples are ``assets/robots/franka.json`` (franka_ros) and ``assets/robots/ur.json``
(ur_robot_driver); ``sim.json`` is our own ``equimanip ros sim-robot``. Each key is documented in
``assets/robots/README.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from equimanip.robots.safety import SafetyLimits

COMMAND_TYPES = ("geometry_msgs/TwistStamped", "geometry_msgs/Twist", "geometry_msgs/PoseStamped")
GRIPPER_STATE_TYPES = ("std_msgs/Bool", "sensor_msgs/JointState")
GRIPPER_COMMAND_TYPES = ("std_msgs/Float32", "std_msgs/Float64", "franka_gripper/GraspAction")
EE_POSE_TYPES = ("geometry_msgs/PoseStamped", "tf2_msgs/TFMessage")


@dataclass(frozen=True)
class RobotConfig:
    """How one robot's ROS driver is reached. See ``assets/robots/README.md`` for each key."""

    name: str
    driver: str
    base_frame: str
    ee_frame: str
    depth_topic: str
    command_topic: str
    command_type: str
    gripper_state_topic: str
    gripper_state_type: str
    gripper_command_topic: str
    gripper_command_type: str = "std_msgs/Float32"
    ee_pose_topic: str = ""
    ee_pose_type: str = "geometry_msgs/PoseStamped"
    gripper_joints: tuple[str, ...] = ()
    holding_min_width: float = 0.004
    gripper_open_value: float = 1.0
    gripper_closed_value: float = -1.0
    gripper_speed: float = 0.1
    gripper_force: float = 20.0
    gripper_epsilon: float = 0.08
    gripper_timeout: float = 3.0
    depth_scale_16uc1: float = 0.001
    control_rate_hz: float = 10.0
    dpos: float = 0.02
    drot: float = 0.39269908169872414
    image_size: int = 64
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    notes: str = ""

    def __post_init__(self) -> None:
        for key, value, accepted in (("command_type", self.command_type, COMMAND_TYPES),
                                     ("gripper_state_type", self.gripper_state_type, GRIPPER_STATE_TYPES),
                                     ("gripper_command_type", self.gripper_command_type, GRIPPER_COMMAND_TYPES),
                                     ("ee_pose_type", self.ee_pose_type, EE_POSE_TYPES)):
            if value not in accepted:
                raise ValueError(f"{self.name}: unknown {key} {value!r}; accepted: {', '.join(accepted)}")
        if self.command_type == "geometry_msgs/PoseStamped" and not self.ee_pose_topic:
            raise ValueError(f"{self.name}: a PoseStamped command needs ee_pose_topic (the current gripper pose)")
        if self.gripper_state_type == "sensor_msgs/JointState" and not self.gripper_joints:
            raise ValueError(f"{self.name}: a JointState gripper state needs gripper_joints (the finger joint names)")
        for key in ("gripper_speed", "gripper_force", "gripper_timeout"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{self.name}: {key} must be positive, got {getattr(self, key)}")
        if self.control_rate_hz <= 0:
            raise ValueError(f"{self.name}: control_rate_hz must be positive, got {self.control_rate_hz}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RobotConfig:
        data = {k: v for k, v in data.items() if not k.startswith("_")}  # "_comment" keys document the file
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown robot config key(s) {unknown}; accepted: {', '.join(sorted(known))}")
        if "limits" in data:
            data["limits"] = SafetyLimits.from_dict(data["limits"])
        if "gripper_joints" in data:
            data["gripper_joints"] = tuple(data["gripper_joints"])
        try:
            return cls(**data)
        except TypeError as exc:  # a missing required key
            raise ValueError(f"robot config: {exc}") from None


def shipped_robot_configs() -> list[str]:
    """Names of the configs in ``assets/robots`` (``franka``, ``ur``, ``sim``)."""
    return sorted(p.name[:-5] for p in files("equimanip.assets").joinpath("robots").iterdir() if p.name.endswith(".json"))


def load_robot_config(name_or_path: str) -> RobotConfig:
    """A shipped config by name (``franka``, ``ur``, ``sim``) or a JSON file."""
    path = Path(name_or_path)
    if path.suffix == ".json" or path.exists():
        source = path
        text = path.read_text() if path.exists() else None
    else:
        source = files("equimanip.assets").joinpath("robots", f"{name_or_path}.json")
        text = source.read_text() if source.is_file() else None
    if text is None:
        raise ValueError(f"no robot config {name_or_path!r}: give a JSON file or one of {', '.join(shipped_robot_configs())}")
    try:
        return RobotConfig.from_dict(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON ({exc})") from None
