"""RosRobot with each robot config's conventions, over an in-memory transport (no ROS needed)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from equimanip.robots import ObservationTimeout, PolicyRunner, load_robot_config
from equimanip.ros.franka_gripper import FrankaGripperServer
from equimanip.ros.messages import header, image_from_depth
from equimanip.ros.ros_robot import RosRobot
from equimanip.ros.tf_tree import tf_message
from equimanip.ros.transport import Publisher, Transport

DOWN = (1.0, 0.0, 0.0, 0.0)  # gripper pointing down
MOVE_GOAL, GRASP_GOAL = "/franka_gripper/move/goal", "/franka_gripper/grasp/goal"


class MemoryTransport(Transport):
    """Publishers record and loop back to this transport's subscribers; ``deliver`` calls them: the node
    logic without a network."""

    def __init__(self):
        self.sent: dict[str, list] = {}
        self.callbacks: dict[str, list] = {}

    def publisher(self, topic, msg_type, queue_size=1, latch=False) -> Publisher:
        box = self.sent.setdefault(topic, [])

        class Pub(Publisher):
            def publish(pub, msg):
                box.append(msg)
                for cb in self.callbacks.get(topic, []):
                    cb(msg)

        return Pub()

    def subscribe(self, topic, msg_type, callback, queue_size=1) -> None:
        self.callbacks.setdefault(topic, []).append(callback)

    def deliver(self, topic, msg) -> None:
        for cb in self.callbacks[topic]:
            cb(msg)

    def is_shutdown(self) -> bool:
        return False

    def shutdown(self) -> None: ...


def franka(gripper_server: bool = True) -> tuple[RosRobot, MemoryTransport]:
    """A RosRobot on the franka config; ``gripper_server``: our franka_gripper server answers its goals."""
    tr = MemoryTransport()
    server = FrankaGripperServer(tr, "/franka_gripper")
    if gripper_server:
        server.serve()
    robot = RosRobot(tr, load_robot_config("franka"), image_size=8)
    robot.connect()
    if gripper_server:
        server.publish_status()  # the client waits for it before its first goal
    return robot, tr


def joint_state(width: float) -> dict:
    return {"header": header("panda_link0"), "name": ["panda_finger_joint1", "panda_finger_joint2"],
            "position": [width / 2, width / 2], "velocity": [], "effort": []}


def ee_pose(x: float, y: float, z: float, t: float | None = None) -> dict:
    """The TF message franka_ros's robot_state_publisher would send (one hop here; chains below)."""
    return tf_message("panda_link0", "panda_hand_tcp", (x, y, z), DOWN, time.time() if t is None else t)


def test_franka_pose_commands_move_the_measured_pose():
    robot, tr = franka()
    c = robot.config
    tr.deliver(c.ee_pose_topic, ee_pose(0.5, 0.0, 0.3))
    tr.deliver(c.gripper_state_topic, joint_state(0.08))
    tr.deliver(c.depth_topic, image_from_depth(np.full((8, 8), 0.2, np.float32), "camera", encoding="16UC1"))
    seen = robot.observe(timeout=1.0)
    assert seen.obs["depth"].shape == (1, 8, 8) and seen.obs["depth"][0, 0, 0] == pytest.approx(0.2)
    assert seen.obs["holding"][0] == 0.0  # commanded open: not holding
    robot.send_action(np.array([-1, 1, 0, -1, 0], np.float32))
    (cmd,) = tr.sent[c.command_topic]
    assert cmd["header"]["frame_id"] == "panda_link0"
    p = cmd["pose"]["position"]
    assert (p["x"], p["y"], p["z"]) == pytest.approx((0.5 + c.dpos, 0.0, 0.3 - c.dpos))
    (goal,) = tr.sent[GRASP_GOAL]  # closing is a franka_gripper GraspAction goal
    assert goal["goal"]["width"] == 0.0 and goal["goal"]["force"] == c.gripper_force
    assert goal["goal"]["epsilon"] == {"inner": c.gripper_epsilon, "outer": c.gripper_epsilon}
    assert not tr.sent[MOVE_GOAL]


def test_gripper_goals_are_sent_only_when_the_command_changes():
    robot, tr = franka()
    tr.deliver(robot.config.ee_pose_topic, ee_pose(0.5, 0.0, 0.3))
    for p in (1, 1, -1, -1, -1, 1):
        robot.send_action(np.array([p, 0, 0, 0, 0], np.float32))
    assert len(tr.sent[MOVE_GOAL]) == 2 and len(tr.sent[GRASP_GOAL]) == 1
    assert tr.sent[MOVE_GOAL][0]["goal"] == {"width": robot.config.gripper_open_value, "speed": robot.config.gripper_speed}
    ids = [g["goal_id"]["id"] for g in tr.sent[MOVE_GOAL] + tr.sent[GRASP_GOAL]]
    assert len(set(ids)) == 3  # every goal has its own id, as actionlib needs


def test_a_gripper_goal_without_result_is_logged_and_sent_again(caplog):
    robot, tr = franka(gripper_server=False)
    robot._gripper_client.timeout = 0.05
    tr.deliver(robot.config.ee_pose_topic, ee_pose(0.5, 0.0, 0.3))
    robot.send_action(np.array([-1, 0, 0, 0, 0], np.float32))
    robot.send_action(np.array([-1, 0, 0, 0, 0], np.float32))
    assert len(tr.sent[GRASP_GOAL]) == 2 and robot._gripper_client.failures == 2
    assert "no result for the grasp goal" in caplog.text
    assert len(tr.sent[robot.config.command_topic]) == 2  # the arm still gets its commands


def test_the_ee_pose_is_composed_from_tf_and_tf_static():
    robot, tr = franka()
    # robot_state_publisher: moving joints on /tf, the fixed hand on /tf_static (latched, old stamp)
    tr.deliver("/tf", tf_message("panda_link0", "panda_link8", (0.4, 0.1, 0.5), DOWN, time.time()))
    assert robot.ee_pose() is None and "no_transform" in robot.checks.skipped
    tr.deliver("/tf_static", tf_message("panda_link8", "panda_hand_tcp", (0.0, 0.0, 0.1034), (0, 0, 0, 1), 1.0))
    p = robot.ee_pose()["position"]
    assert (p["x"], p["y"], p["z"]) == pytest.approx((0.4, 0.1, 0.5 - 0.1034))  # the hand points down
    tr.deliver("/tf", tf_message("panda_link0", "panda_link8", (0.4, 0.1, 0.5), DOWN, time.time() - 10))
    assert "invalid" in robot.checks.skipped  # out of order: the newer transform is kept
    assert robot.ee_pose() is not None


def test_a_stale_tf_pose_is_not_used_for_a_pose_command():
    robot, tr = franka()
    tr.deliver(robot.config.ee_pose_topic, ee_pose(0.5, 0.0, 0.3, t=time.time() - 5))
    with pytest.raises(ObservationTimeout, match="no fresh end-effector pose"):
        robot.send_action(np.array([1, 0, 0, 0, 0], np.float32))
    assert robot.checks.skipped == {"stale": 1}


def test_a_closed_gripper_stopped_by_an_object_reads_as_holding():
    robot, tr = franka()
    c = robot.config
    tr.deliver(c.ee_pose_topic, ee_pose(0.5, 0.0, 0.1))
    robot.send_action(np.array([-1, 0, 0, 0, 0], np.float32))  # close
    tr.deliver(c.gripper_state_topic, joint_state(0.03))
    tr.deliver(c.depth_topic, image_from_depth(np.zeros((8, 8), np.float32), "camera"))
    assert robot.observe().obs["holding"][0] == 1.0
    tr.deliver(c.gripper_state_topic, joint_state(0.001))  # fingers met: nothing between them
    tr.deliver(c.depth_topic, image_from_depth(np.zeros((8, 8), np.float32), "camera"))
    assert robot.observe().obs["holding"][0] == 0.0


def test_the_workspace_box_of_the_config_limits_pose_commands():
    robot, tr = franka()
    c = robot.config
    tr.deliver(c.ee_pose_topic, ee_pose(c.limits.workspace_high[0] - 0.005, 0.0, 0.3))
    tr.deliver(c.gripper_state_topic, joint_state(0.08))
    tr.deliver(c.depth_topic, image_from_depth(np.zeros((8, 8), np.float32), "camera"))
    PolicyRunner(robot, lambda obs: np.array([1, 1, 0, 0, 0], np.float32), rate_hz=0).run(max_steps=1)
    (cmd,) = tr.sent[c.command_topic]
    assert cmd["pose"]["position"]["x"] == pytest.approx(c.limits.workspace_high[0])


def test_hold_resends_the_measured_pose_and_keeps_the_gripper():
    robot, tr = franka()
    c = robot.config
    tr.deliver(c.ee_pose_topic, ee_pose(0.4, 0.1, 0.2))
    robot.hold()
    (cmd,) = tr.sent[c.command_topic]
    assert cmd["pose"]["position"] == {"x": 0.4, "y": 0.1, "z": 0.2}
    assert not tr.sent[MOVE_GOAL] and not tr.sent[GRASP_GOAL]  # a hold never moves the fingers


def test_ur_twist_commands_are_delta_over_period():
    tr = MemoryTransport()
    robot = RosRobot(tr, load_robot_config("ur"), image_size=8)
    robot.connect()
    robot.send_action(np.array([1, 0.5, 0, 0, -1], np.float32))
    (cmd,) = tr.sent[robot.config.command_topic]
    assert set(cmd) == {"linear", "angular"}  # unstamped geometry_msgs/Twist
    assert cmd["linear"]["x"] == pytest.approx(0.5 * robot.dpos * robot.config.control_rate_hz)
    assert cmd["angular"]["z"] == pytest.approx(-robot.drot * robot.config.control_rate_hz)
    robot.hold()
    assert tr.sent[robot.config.command_topic][-1]["linear"] == {"x": 0.0, "y": 0.0, "z": 0.0}


def test_ur_workspace_box_uses_the_tool0_pose_from_tf():
    """ur_robot_driver's TF: ``base`` is a static child of ``base_link`` (turned 180° about z), beside the arm."""
    tr = MemoryTransport()
    robot = RosRobot(tr, load_robot_config("ur"), image_size=8)
    robot.connect()
    c = robot.config
    tr.deliver("/tf_static", tf_message("base_link", "base", (0, 0, 0), (0, 0, 1, 0), 1.0))
    x_high = c.limits.workspace_high[0]
    # tool0 at x = x_high - 5 mm in base, i.e. at -(x_high - 5 mm) in base_link
    tr.deliver("/tf", tf_message("base_link", "tool0", (-(x_high - 0.005), 0.40, 0.2), DOWN, time.time()))
    p = robot.ee_pose()["position"]
    assert (p["x"], p["y"], p["z"]) == pytest.approx((x_high - 0.005, -0.40, 0.2))
    tr.deliver(c.gripper_state_topic, {**joint_state(0.08), "name": ["finger_joint"], "position": [0.08]})
    tr.deliver(c.depth_topic, image_from_depth(np.zeros((8, 8), np.float32), "camera"))
    PolicyRunner(robot, lambda obs: np.array([1, 1, 0, 0, 0], np.float32), rate_hz=0).run(max_steps=1)
    (cmd,) = tr.sent[c.command_topic]
    # +1 in x is a full dpos step; the box leaves 5 mm: the twist is scaled to reach the box edge
    assert cmd["linear"]["x"] * (1.0 / c.control_rate_hz) == pytest.approx(0.005)


def test_observe_times_out_without_a_new_image():
    robot, tr = franka()
    tr.deliver(robot.config.gripper_state_topic, joint_state(0.08))
    t = time.monotonic()
    with pytest.raises(ObservationTimeout, match="no new image"):
        robot.observe(timeout=0.2)
    assert time.monotonic() - t < 1.0


def test_stale_and_malformed_images_are_skipped_and_counted():
    robot, tr = franka()
    topic = robot.config.depth_topic
    tr.deliver(topic, image_from_depth(np.zeros((8, 8), np.float32), "camera", t=time.time() - 10))
    tr.deliver(topic, {**image_from_depth(np.zeros((8, 8), np.float32), "camera"), "encoding": "mono8"})
    tr.deliver(topic, image_from_depth(np.zeros((4, 4), np.float32), "camera"))
    assert robot.checks.skipped == {"stale": 1, "invalid": 2}


def test_a_negative_state_wait_is_a_clear_error():
    with pytest.raises(ValueError, match="state_wait must be a number of seconds >= 0"):
        RosRobot(MemoryTransport(), load_robot_config("franka"), state_wait=-0.1)
