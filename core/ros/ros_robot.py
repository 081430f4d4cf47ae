"""A robot reached through ROS topics, configured by a :class:`~equimanip.robots.RobotConfig`."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from equimanip.robots import ObservationTimeout, Robot, RobotConfig, RobotObservation, SafetyLimits, hold_action
from equimanip.ros.commands import gripper_value, pose_stamped_from_action, twist_from_action, twist_stamped_from_action
from equimanip.ros.checks import MessageChecks
from equimanip.ros.franka_gripper import FrankaGripperClient
from equimanip.ros.messages import MessageError, depth_from_image
from equimanip.ros.tf_tree import TransformTree
from equimanip.ros.transport import LatestMessage, Message, Transport, log


STATE_WAIT = 0.1  # seconds observe/send wait for gripper state and EE pose as new as the image


class RosRobot(Robot):
    """Depth image and gripper state in, end-effector commands out, through a :class:`Transport`.

    Every incoming message is checked (encoding, size, data length; stamps: a message older than
    ``max_age`` s or older than the last one accepted is skipped with a log line). :meth:`observe`
    returns only an image newer than the one the last action used, so each action answers a new
    view (a camera at 30 Hz under a 10 Hz policy always has one; the lock-step simulated robot sends
    one per action), with the gripper state (and, for pose commands, the EE pose) no older than that
    image where they carry stamps (waiting up to ``STATE_WAIT`` s: they come on other connections and
    may trail it). Commands follow ``config.command_type``, stamped with the image they answer;
    :meth:`hold` sends a zero twist (or the measured pose), stamped now, and keeps the gripper as it is.

    Args:
        transport: a connected transport.
        config: topics, frames and conventions; ``dpos``, ``drot``, ``image_size`` and
            ``control_rate_hz`` may be overridden by a policy's own (``**overrides``).
        max_age: seconds after which a message is stale.
        state_wait: seconds to wait for gripper state and EE pose as new as the image (default
            ``STATE_WAIT``; a lock-step simulation on a loaded machine may need more).
    """

    def __init__(self, transport: Transport, config: RobotConfig, max_age: float = 0.5, state_wait: float = STATE_WAIT,
                 **overrides: Any):
        if not state_wait >= 0:
            raise ValueError(f"state_wait must be a number of seconds >= 0, got {state_wait!r}")
        self.transport, self.config, self.max_age, self.state_wait = transport, config, max_age, float(state_wait)
        self.dpos = float(overrides.get("dpos", config.dpos))
        self.drot = float(overrides.get("drot", config.drot))
        self.image_size = int(overrides.get("image_size", config.image_size))
        self.rate_hz = float(overrides.get("control_rate_hz", config.control_rate_hz))
        self._images = LatestMessage()
        self._used_image = 0
        self._holding: float | None = None
        self._holding_stamp = -math.inf  # a Bool gripper state has no stamp: +inf, always current
        self._ee_pose_stamp = -math.inf
        self._ee_pose: dict | None = None
        self._commanded_open = True
        self._action_stamp: float | None = None  # stamp of the image the next action answers
        self._connected = False
        self.checks = MessageChecks(max_age)
        self._cmd_pub = self._grip_pub = None
        self._gripper_client: FrankaGripperClient | None = None
        self.tf = TransformTree()  # the end-effector pose when the driver publishes it as TF

    # -- incoming ----------------------------------------------------------------------------
    def _on_image(self, msg: Message) -> None:
        topic = self.config.depth_topic
        try:
            depth = depth_from_image(msg, size=self.image_size, scale_16uc1=self.config.depth_scale_16uc1)
        except MessageError as exc:
            self.checks.skip(topic, "invalid", str(exc))
            return
        t = self.checks.fresh(topic, msg)
        if t is not None:
            self._images.put((depth, t))

    def _on_gripper(self, msg: Message) -> None:
        topic = self.config.gripper_state_topic
        if self.config.gripper_state_type == "std_msgs/Bool":
            self._holding = float(bool(msg.get("data", False)))
            self._holding_stamp = math.inf
            return
        try:
            t = self.checks.fresh(topic, msg)
            positions = dict(zip(msg["name"], msg["position"]))
            width = sum(float(positions[j]) for j in self.config.gripper_joints)
        except (KeyError, TypeError, ValueError) as exc:
            joints = list(self.config.gripper_joints)
            self.checks.skip(topic, "invalid", f"JointState without the gripper joints {joints} ({exc})")
            return
        if t is not None:
            # a closed gripper that stops before its fingers meet holds something; an action-driven one
            # counts as closed once its grasp goal has finished
            closed = self._gripper_client.closed if self._gripper_client is not None else not self._commanded_open
            self._holding = float(closed and width > self.config.holding_min_width)
            self._holding_stamp = t

    def _on_ee_pose(self, msg: Message) -> None:
        t = self.checks.fresh(self.config.ee_pose_topic, msg)
        if t is not None:
            self._ee_pose, self._ee_pose_stamp = msg.get("pose"), t

    def _on_tf(self, msg: Message, static: bool) -> None:
        topic = "/tf_static" if static else self.config.ee_pose_topic
        for problem in self.tf.update(msg, static=static):
            self.checks.skip(topic, "invalid", problem)

    def ee_pose(self) -> dict | None:
        """The last measured ``geometry_msgs/Pose`` of ``ee_frame`` in ``base_frame`` (``None`` before one came,
        or when TF's is older than ``max_age``)."""
        return self._ee_pose_and_stamp(log=True)[0]

    def _ee_pose_and_stamp(self, log: bool) -> tuple[dict | None, float]:
        c = self.config
        if c.ee_pose_type != "tf2_msgs/TFMessage":
            return self._ee_pose, self._ee_pose_stamp
        try:
            found, t = self.tf.pose(c.base_frame, c.ee_frame)
        except LookupError as exc:
            if log:
                self.checks.skip(c.ee_pose_topic, "no_transform", str(exc))
            return None, -math.inf
        if time.time() - t > self.max_age:
            if log:
                self.checks.skip(c.ee_pose_topic, "stale", f"{c.base_frame} -> {c.ee_frame} is {time.time() - t:.3f} s old")
            return None, -math.inf
        return found, t

    def _newer_than(self, latest: Any, t: float | None, what: str) -> Any:
        """``latest()`` → ``(value, stamp)``: wait up to ``state_wait`` s for a value stamped no earlier than the
        image ``t`` (it comes on another connection and may trail the image), then return the newest value."""
        value, stamp = latest()
        deadline = time.monotonic() + self.state_wait
        while (t is not None and stamp < t - 1e-6 and time.monotonic() < deadline
               and not self.transport.is_shutdown()):
            time.sleep(0.001)
            value, stamp = latest()
        if t is not None and stamp < t - 1e-6 and value is not None:
            log.info("%s is %.3f s older than the image after waiting %.3f s: using it (--state-wait waits longer)",
                     what, t - stamp, self.state_wait)
        return value

    # -- the Robot interface -----------------------------------------------------------------
    def connect(self) -> None:
        if self._connected:
            return
        c, tr = self.config, self.transport
        tr.subscribe(c.depth_topic, "sensor_msgs/Image", self._on_image, queue_size=1)
        tr.subscribe(c.gripper_state_topic, c.gripper_state_type, self._on_gripper, queue_size=1)
        if c.ee_pose_topic and c.ee_pose_type == "tf2_msgs/TFMessage":
            # TF comes in bursts of several messages (one per publisher): keep a few
            tr.subscribe(c.ee_pose_topic, c.ee_pose_type, lambda m: self._on_tf(m, False), queue_size=10)
            tr.subscribe("/tf_static", c.ee_pose_type, lambda m: self._on_tf(m, True), queue_size=10)
        elif c.ee_pose_topic:
            tr.subscribe(c.ee_pose_topic, c.ee_pose_type, self._on_ee_pose, queue_size=1)
        self._cmd_pub = tr.publisher(c.command_topic, c.command_type, queue_size=1)
        if c.gripper_command_type == "franka_gripper/GraspAction":
            self._gripper_client = FrankaGripperClient(tr, c.gripper_command_topic, c.gripper_open_value, c.gripper_speed,
                                                       c.gripper_force, c.gripper_epsilon, c.gripper_timeout)
            self._gripper_client.connect()
        else:
            self._grip_pub = tr.publisher(c.gripper_command_topic, c.gripper_command_type, queue_size=1)
        self._connected = True
        log.info("robot %s: depth %s, gripper state %s -> commands %s (%s), gripper %s; dpos %.3f m, drot %.3f rad, %d px",
                 c.name, c.depth_topic, c.gripper_state_topic, c.command_topic, c.command_type, c.gripper_command_topic,
                 self.dpos, self.drot, self.image_size)

    def observe(self, timeout: float = 1.0) -> RobotObservation:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            value, count = self._images.get(newer_than=self._used_image, timeout=max(left, 0.0))
            if count > self._used_image and self._holding is not None:
                break
            if left <= 0 or self.transport.is_shutdown():
                missing = (f"no new image on {self.config.depth_topic}" if count <= self._used_image
                           else f"no gripper state on {self.config.gripper_state_topic} yet")
                raise ObservationTimeout(f"{missing} within {timeout} s")
            time.sleep(0.005)  # an image but no gripper state yet
        self._used_image = count
        depth, t = value
        self._action_stamp = t
        holding = self._newer_than(lambda: (self._holding, self._holding_stamp), t, "gripper state")
        return RobotObservation({"depth": depth, "holding": np.array([holding], dtype=np.float32)}, t)

    def _send(self, action: np.ndarray, t: float | None, hold: bool = False) -> None:
        c = self.config
        period = 1.0 / self.rate_hz
        # the gripper first: a lock-step robot steps once it has both halves of the action, and an
        # action-driven gripper finishes closing before the arm moves
        if self._gripper_client is not None:
            if not hold:  # a hold never starts a gripper motion (it could drop what the fingers hold)
                self._gripper_client.command(float(np.asarray(action)[0]) > 0.0)
        else:
            self._grip_pub.publish({"data": gripper_value(action, c.gripper_open_value, c.gripper_closed_value)})
        if c.command_type == "geometry_msgs/TwistStamped":
            self._cmd_pub.publish(twist_stamped_from_action(action, self.dpos, self.drot, period, c.base_frame, t))
        elif c.command_type == "geometry_msgs/Twist":
            self._cmd_pub.publish(twist_from_action(action, self.dpos, self.drot, period))
        else:
            # the pose the policy saw with its image, or newer (a target from an older pose is a wrong delta)
            current = self._newer_than(lambda: self._ee_pose_and_stamp(log=False), t, "end-effector pose")
            if current is None:
                self.ee_pose()  # logs why there is none
                raise ObservationTimeout(f"no fresh end-effector pose ({c.base_frame} -> {c.ee_frame}) on {c.ee_pose_topic}: "
                                         "cannot send a PoseStamped")
            self._cmd_pub.publish(pose_stamped_from_action(action, current, self.dpos, self.drot, c.base_frame, t))

    def send_action(self, action: np.ndarray) -> None:
        if not self._connected:
            raise RuntimeError("RosRobot is not connected: call connect() first")
        self._commanded_open = float(np.asarray(action)[0]) > 0.0
        # stamped with the image it answers: the receiver knows the command's age since sensing
        self._send(action, self._action_stamp)

    def hold(self) -> None:
        if not self._connected:
            return
        try:
            self._send(hold_action(self._commanded_open), None, hold=True)
        except Exception as exc:  # hold must not raise; the driver's own timeout stops a velocity controller
            log.error("hold command failed: %s", exc)

    def disconnect(self) -> None:
        self.hold()

    def ee_position(self) -> np.ndarray | None:
        current = self.ee_pose()
        if current is None:
            return None
        p = current["position"]
        return np.array([p["x"], p["y"], p["z"]], dtype=np.float64)

    def safety_limits(self) -> SafetyLimits:
        return self.config.limits
