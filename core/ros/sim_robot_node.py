"""``equimanip ros sim-robot``: our simulation as a ROS robot (camera, point cloud, joint states out; commands in).

Two ways to step, chosen by ``mode``:

- ``lockstep`` (default): one env step per command, the command being the policy's answer to the
  latest image (its ``header.stamp`` is that image's stamp; commands for older images are skipped),
  so an episode through ROS is the in-process episode, action for action. While no command comes,
  the current image is re-sent every ``republish`` seconds with a new stamp (late subscribers).
- ``realtime``: steps at ``rate_hz`` like a real velocity-controlled robot, applying the newest
  command if it is younger than ``command_timeout`` s, else holding (zero motion).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from equimanip.robots import RobotConfig
from equimanip.ros.commands import action_from_pose, action_from_twist
from equimanip.ros.franka_gripper import FrankaGripperServer
from equimanip.ros.messages import MessageError, cloud_from_xyz, header, header_seconds, image_from_depth, pose
from equimanip.ros.checks import RateLimitedLog
from equimanip.ros.tf_tree import tf_message
from equimanip.ros.transport import LatestMessage, Message, Transport, log
from equimanip.symmetry import ACTION_DIM, ACTION_INDEX

POINTS_TOPIC = "/equimanip/camera/points"
JOINT_STATES_TOPIC = "/equimanip/joint_states"
EPISODE_TOPIC = "/equimanip/episode"
RESET_TOPIC = "/equimanip/reset"
CAMERA_FRAME = "equimanip_camera"
MODES = ("lockstep", "realtime")


@dataclass
class SimRobotResults:
    episodes: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    skipped_commands: int = 0

    def to_json(self) -> dict[str, Any]:
        n = len(self.episodes)
        return {"episodes": self.episodes, "num_episodes": n, "steps": self.steps,
                "success_rate": sum(e["success"] for e in self.episodes) / n if n else 0.0,
                "skipped_commands": self.skipped_commands}


class SimRobotNode:
    """Serve a :class:`~equimanip.envs.sim_robot.SimRobot` on the topics of ``config`` (``assets/robots/sim.json``).

    The config's conventions are served as a real driver would: twist or pose commands, the gripper
    state as ``std_msgs/Bool`` or finger ``sensor_msgs/JointState``, the end-effector pose as
    ``PoseStamped`` or TF, the gripper commands as topics or franka_gripper actions; so
    ``--robot franka`` exercises the Franka adapter end to end (in the sim's world frame).

    Args:
        transport: a connected transport.
        robot: a connected SimRobot (its first episode is reset with ``seed``).
        config: topic names and the control rate the commands were scaled with.
        episodes: stop after this many episodes (seeds ``seed``, ``seed + 1``, …); ``None`` serves forever.
        mode: ``lockstep`` or ``realtime`` (module docstring).
    """

    def __init__(self, transport: Transport, robot: Any, config: RobotConfig, seed: int = 0, episodes: int | None = None,
                 mode: str = "lockstep", rate_hz: float | None = None, republish: float = 1.0,
                 command_timeout: float = 0.5):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")
        self.tr, self.robot, self.config, self.mode = transport, robot, config, mode
        self.seed, self.episodes = seed, episodes
        self.rate_hz = float(rate_hz or config.control_rate_hz)
        self.republish, self.command_timeout = republish, command_timeout
        self.results = SimRobotResults()
        self._motions = LatestMessage()  # (action with p unset, stamp it answers, arrival time)
        self._gripper = LatestMessage()
        self._gripper_server: FrankaGripperServer | None = None
        self._published_pose: dict | None = None  # the measured pose sent with the latest image
        self._resets = LatestMessage()
        self._log = RateLimitedLog()
        self._published_stamp = 0.0
        self._episode_seed = seed
        self._episode_steps = 0
        self._episode_actions: list[list[float]] = []  # what the env received (the --json results list them)

    # -- callbacks ---------------------------------------------------------------------------
    def _on_command(self, msg: Message) -> None:
        try:
            # an unstamped Twist cannot say which image it answers: take it as an answer to the latest
            t = header_seconds(msg) if "header" in msg else self._published_stamp
            if self.config.command_type == "geometry_msgs/PoseStamped":
                current = self._published_pose
                if current is None:
                    raise MessageError("no end-effector pose published yet")
                motion = action_from_pose(msg["pose"], current, True, self.robot.dpos, self.robot.drot)
            else:
                twist = msg["twist"] if "twist" in msg else msg
                motion = action_from_twist(twist, True, self.robot.dpos, self.robot.drot, 1.0 / self.rate_hz)
        except (MessageError, KeyError, TypeError) as exc:
            self._skip("invalid command", f"{self.config.command_topic}: command skipped: {exc}")
            return
        self._motions.put((motion, t, time.time()))

    def _on_gripper(self, msg: Message) -> None:
        self._gripper.put(float(msg.get("data", 0.0)))

    def _on_reset(self, msg: Message) -> None:
        self._resets.put(int(msg.get("data", 0)))

    def _skip(self, key: str, text: str) -> None:
        self.results.skipped_commands += 1
        self._log.warn(key, text)

    # -- publishing --------------------------------------------------------------------------
    def _publish(self) -> None:
        c = self.config
        seen = self.robot.observe()
        t = time.time()
        self._published_stamp = t
        if c.gripper_state_type == "sensor_msgs/JointState":
            # the fingers share the opening, as franka_gripper's joint_states report it
            share = self.robot.finger_width() / len(c.gripper_joints)
            self._pub_holding.publish({"header": header(c.base_frame, t), "name": list(c.gripper_joints),
                                       "position": [share] * len(c.gripper_joints), "velocity": [], "effort": []})
        else:
            self._pub_holding.publish({"data": bool(seen.obs["holding"][0] > 0.5)})
        names, positions = self.robot.joint_state()
        self._pub_joints.publish({"header": header(c.base_frame, t), "name": list(names),
                                  "position": positions.tolist(), "velocity": [], "effort": []})
        position, quaternion = self.robot.ee_pose()
        self._published_pose = pose(position, quaternion)
        if c.ee_pose_topic and c.ee_pose_type == "tf2_msgs/TFMessage":
            self._pub_ee.publish(tf_message(c.base_frame, c.ee_frame, position, quaternion, t))
        elif c.ee_pose_topic:
            self._pub_ee.publish({"header": header(c.base_frame, t), "pose": self._published_pose})
        if self._gripper_server is not None:
            self._gripper_server.publish_status()
        if "point_cloud" in seen.obs:
            self._pub_points.publish(cloud_from_xyz(seen.obs["point_cloud"], self.config.base_frame, t))
        # the image last: a policy that answers it finds the gripper state already there
        self._pub_depth.publish(image_from_depth(seen.obs["depth"], CAMERA_FRAME, t))

    def _end_episode(self, info: dict[str, Any]) -> None:
        record = {"seed": self._episode_seed, "success": bool(info.get("is_success", False)), "length": self._episode_steps,
                  "invalid": bool(info.get("invalid", False))}
        self._pub_episode.publish({"data": json.dumps(record)})
        self.results.episodes.append({**record, "actions": self._episode_actions})
        log.info("episode %d (seed %d): %s after %d steps", len(self.results.episodes), self._episode_seed,
                 "success" if record["success"] else "failure", self._episode_steps)

    def _reset(self, seed: int) -> None:
        self._episode_seed, self._episode_steps, self._episode_actions = seed, 0, []
        self.robot.reset(seed)

    # -- serving -----------------------------------------------------------------------------
    def serve(self) -> SimRobotResults:
        c, tr = self.config, self.tr
        self._pub_depth = tr.publisher(c.depth_topic, "sensor_msgs/Image", queue_size=2)
        self._pub_points = tr.publisher(POINTS_TOPIC, "sensor_msgs/PointCloud2", queue_size=2)
        self._pub_joints = tr.publisher(JOINT_STATES_TOPIC, "sensor_msgs/JointState", queue_size=2)
        self._pub_holding = tr.publisher(c.gripper_state_topic, c.gripper_state_type, queue_size=2)
        if c.ee_pose_topic:
            self._pub_ee = tr.publisher(c.ee_pose_topic, c.ee_pose_type, queue_size=2)
        self._pub_episode = tr.publisher(EPISODE_TOPIC, "std_msgs/String", queue_size=10, latch=True)
        tr.subscribe(c.command_topic, c.command_type, self._on_command, queue_size=2)
        if c.gripper_command_type == "franka_gripper/GraspAction":
            self._gripper_server = FrankaGripperServer(tr, c.gripper_command_topic)
            self._gripper_server.serve()
            gripper_mailbox = self._gripper_server.commands  # True = open
        else:
            tr.subscribe(c.gripper_command_topic, c.gripper_command_type, self._on_gripper, queue_size=2)
            gripper_mailbox = self._gripper
        tr.subscribe(RESET_TOPIC, "std_msgs/Int64", self._on_reset, queue_size=1)
        self._reset(self.seed)
        log.info("sim robot: %s, %s mode at %.1f Hz; image %s, commands %s", self.robot.env_id, self.mode, self.rate_hz,
                 c.depth_topic, c.command_topic)
        self._publish()
        used_motion = used_grip = used_reset = 0
        open_gripper = True
        last_publish = last_status = time.monotonic()
        next_tick = time.monotonic()
        while not tr.is_shutdown() and (self.episodes is None or len(self.results.episodes) < self.episodes):
            if self._resets.count > used_reset:
                seed, used_reset = self._resets.get()
                self._reset(seed)
                self._publish()
                last_publish = time.monotonic()
                continue
            if self.mode == "lockstep":
                item, count = self._motions.get(newer_than=used_motion, timeout=0.05)
                if count == used_motion:
                    if self._gripper_server is not None and time.monotonic() - last_status > 0.2:
                        self._gripper_server.publish_status()  # at 5 Hz, as an actionlib server does
                        last_status = time.monotonic()
                    if time.monotonic() - last_publish > self.republish:
                        self._publish()
                        last_publish = time.monotonic()
                    continue
                used_motion = count
                motion, t, _ = item
                if abs(t - self._published_stamp) > 1e-5:
                    self._skip("old command", "command skipped: it answers an older image (lockstep)")
                    continue
                if self._gripper_server is not None:
                    # an action client waits for the goal's result before it sends the arm command
                    value, _ = gripper_mailbox.get(timeout=0)
                else:
                    # the policy sends the gripper half first; wait briefly if it is still on its way
                    value, used_grip = gripper_mailbox.get(newer_than=used_grip, timeout=0.2)
            else:
                next_tick += 1.0 / self.rate_hz
                tr.sleep_until(next_tick)
                item, _ = self._motions.get(timeout=0)
                value, _ = gripper_mailbox.get(timeout=0)
                motion = item[0] if item is not None and time.time() - item[2] <= self.command_timeout else None
            if isinstance(value, bool):
                open_gripper = value
            elif value is not None:
                open_gripper = value > (c.gripper_open_value + c.gripper_closed_value) / 2
            action = np.zeros(ACTION_DIM, dtype=np.float32) if motion is None else motion.copy()  # none: hold
            action[ACTION_INDEX["p"]] = 1.0 if open_gripper else -1.0
            action = np.clip(action, -1.0, 1.0)
            self._episode_actions.append([round(float(v), 6) for v in action])
            self._episode_steps += 1
            self.results.steps += 1
            try:
                self.robot.send_action(action)
            except Exception as exc:  # a simulator failure ends the episode, not the node
                log.error("env step failed (episode ends as invalid): %s: %s", type(exc).__name__, exc)
                seen = None
            else:
                seen = self.robot.observe()
            if seen is None or seen.done:
                self._end_episode(seen.info if seen is not None else {"invalid": True, "error": True})
                if self.episodes is None or len(self.results.episodes) < self.episodes:
                    self._reset(self._episode_seed + 1)
                else:
                    break
            self._publish()
            last_publish = time.monotonic()
        return self.results
