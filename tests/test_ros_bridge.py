"""The ROS 1 bridge against a real roscore: the sim-robot ↔ ROS ↔ policy-node loop, bad input, a
master restart, a flood. Every ROS party is its own process (rospy allows one node per process)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from equimanip.ros.testing import NodeProcess, in_process_episode, write_robot_config_in_sim, write_tiny_run

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "ros_probe.py"
IMAGE_SIZE = 32
STEPS = 20  # episode length of the loop tests (max_episode_steps)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A BC run directory with an untrained small CNN ({IMAGE_SIZE} px): loads and acts like a trained one."""
    return write_tiny_run(tmp_path_factory.mktemp("tiny_run"), IMAGE_SIZE, seed=0)


def probe(roscore, tmp_path: Path, scenario: str, *args, timeout: float = 60.0) -> dict:
    out = tmp_path / f"{scenario}.json"
    res = subprocess.run([sys.executable, str(PROBE), scenario, str(out), *[json.dumps(a) for a in args]],
                         env=roscore.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture
def policy_node(roscore, tiny_run, tmp_path):
    nodes = []

    def start(*extra: str) -> NodeProcess:
        node = NodeProcess(["ros", "policy-node", "--run", str(tiny_run), "--rate", "50", "--device", "cpu", *extra],
                           roscore.env, tmp_path / f"policy{len(nodes)}.log", cwd=ROOT)
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.stop()


@pytest.mark.parametrize("robot_name", ["sim", "franka", "ur"])
def test_loop_through_ros_equals_the_in_process_episode(roscore, tiny_run, tmp_path, robot_name):
    """sim-robot ↔ real master ↔ policy-node, lock-step: the same actions and outcome as in process,
    with our sim's topics and with the Franka adapter's conventions."""
    # franka: franka_ros's conventions (PoseStamped targets, EE pose from /tf, franka_gripper actions,
    # finger joint states) served by the sim robot, with the sim's workspace box
    # ur: ur_robot_driver's (unstamped Twist, tool0 pose from /tf, a finger JointState, a width topic)
    in_sim = robot_name != "sim"
    config = str(write_robot_config_in_sim(robot_name, tmp_path / f"{robot_name}.json")) if in_sim else robot_name
    sim = NodeProcess(["ros", "sim-robot", "--run", str(tiny_run), "--episodes", "1", "--seed", "7", "--rate", "50",
                       "--option", f"max_episode_steps={STEPS}", "--robot", config, "--json",
                       str(tmp_path / "sim.json")], roscore.env, tmp_path / "sim.log", cwd=ROOT)
    # --state-wait 2: a pose as new as the image even when the machine is busy (at the default 0.1 s a
    # loaded test run once used a pose 40 µm stale, and a PoseStamped target is pose + delta)
    policy = NodeProcess(["ros", "policy-node", "--run", str(tiny_run), "--rate", "50", "--device", "cpu",
                          "--robot", config, "--state-wait", "2"], roscore.env, tmp_path / "policy.log", cwd=ROOT)
    try:
        sim.wait(120)
    finally:
        policy.stop()
        sim.stop()
    through_ros = json.loads((tmp_path / "sim.json").read_text())["episodes"][0]
    # the real adapters read holding off the finger joint states, not the sim's contacts: the same
    # inference in process, so the loops must agree action for action
    report, actions = in_process_episode(tiny_run, 7, STEPS, holding_from_fingers=in_sim)
    assert through_ros["length"] == report.steps == len(actions)
    assert through_ros["success"] == report.info["is_success"]
    sent, wanted = np.array(through_ros["actions"]), np.clip(np.array(actions), -1, 1)
    np.testing.assert_allclose(sent[:, 1:], wanted[:, 1:], atol=1e-4)  # the deltas, through twists or poses
    np.testing.assert_array_equal(sent[:, 0] > 0, wanted[:, 0] > 0)  # the gripper command is open/closed
    assert "policy node stopped" in policy.text()


def test_sim_robot_publishes_camera_cloud_and_joint_states(roscore, tmp_path):
    sim = NodeProcess(["ros", "sim-robot", "--env", "BlockPicking-v0", "--option", f"image_size={IMAGE_SIZE}", "--republish",
                       "0.2"], roscore.env, tmp_path / "sim.log", cwd=ROOT)
    try:
        got = probe(roscore, tmp_path, "sim_topics")
    finally:
        sim.stop()
    assert got["depth_shape"] == [1, IMAGE_SIZE, IMAGE_SIZE] and got["encoding"] == "32FC1"
    assert got["points"] == 1024 and got["dropped"] == 0
    assert 0.2 < got["points_min"][0] and got["points_max"][0] < 0.8  # on and around the table
    assert got["joint_names"][:1] == ["panda_joint1"] and len(got["joint_names"]) == 9
    assert got["holding"] is False


def test_sim_robot_steps_once_per_command_and_ends_episodes(roscore, tmp_path):
    sim = NodeProcess(["ros", "sim-robot", "--env", "BlockPicking-v0", "--option", f"image_size={IMAGE_SIZE}", "--episodes", "1",
                       "--option", f"max_episode_steps={STEPS}", "--no-point-cloud", "--json", str(tmp_path / "sim.json")],
                      roscore.env, tmp_path / "sim.log", cwd=ROOT)
    try:
        got = probe(roscore, tmp_path, "drive_sim", 2 * STEPS)
        sim.wait(30)
    finally:
        sim.stop()
    result = json.loads((tmp_path / "sim.json").read_text())
    assert result["steps"] == result["episodes"][0]["length"] == STEPS  # truncated at the limit: one step per command
    assert got["episodes"][0]["length"] == STEPS
    # -0.2 m/s held for 0.1 s is 2 cm down: dz = -0.4 with the env's default dpos of 5 cm
    np.testing.assert_allclose(result["episodes"][0]["actions"][0], [1, 0, 0, -0.4, 0], atol=1e-5)


def test_policy_node_skips_bad_images_and_keeps_serving(roscore, policy_node, tmp_path):
    node = policy_node()
    got = probe(roscore, tmp_path, "bad_images", IMAGE_SIZE)
    for case in ("encoding_rgb8", "wrong_size", "short_data", "step_too_short", "nan_depth", "stale", "out_of_order"):
        assert got[case] == 0, (case, got)
    assert got["good"] == 1 and got["good_16uc1"] == 1, got
    log = node.text()
    for text in ("unsupported image encoding 'rgb8'", "image is 16×16, the policy needs 32×32", "expected step × height",
                 "row step 2 is shorter", "non-finite pixels", "(stale)", "(out_of_order)"):
        assert text in log, text
    assert node.proc.poll() is None  # still serving
    # the probe is gone: no more images, so the robot is held
    assert node.wait_for("robot held (observation_timeout: no new image", 5)


def test_policy_node_survives_a_master_restart(roscore, policy_node, tmp_path):
    """The master goes away and comes back: the node logs it, re-registers, and a new peer finds it."""
    node = policy_node()
    assert probe(roscore, tmp_path, "one_command", IMAGE_SIZE)["commands"] >= 1
    roscore.stop()
    assert node.wait_for("is unreachable", 10)
    roscore.start()
    assert node.wait_for("ROS master is back", 10)
    log = node.text()
    assert "ROS master http://127.0.0.1" in log and "is unreachable" in log
    assert "re-registered" in log
    assert probe(roscore, tmp_path, "one_command", IMAGE_SIZE)["commands"] >= 1  # a peer started after the restart
    assert node.proc.poll() is None


def test_policy_node_memory_stays_bounded_under_a_flood(roscore, policy_node, tmp_path):
    """4 MB images as fast as one process can send them: dropped by the bounded queue, memory flat."""
    import psutil

    node = policy_node()
    samples = []
    result = {}

    def run_probe():
        result.update(probe(roscore, tmp_path, "flood_images", IMAGE_SIZE, 4.0, 1024))

    import threading

    thread = threading.Thread(target=run_probe)
    thread.start()
    proc = psutil.Process(node.proc.pid)
    flooding = tmp_path / "flood_images.json.flooding"
    while thread.is_alive():
        if flooding.exists():
            samples.append(proc.memory_info().rss / 1e6)
        time.sleep(0.1)
    thread.join()
    assert result["bytes"] > 200e6, result  # the flood really was one (≥ 50 images of 4 MB)
    assert result["commands_during_flood"] >= 5, result  # good images still got answers
    print("policy node RSS MB during the flood:", [round(s) for s in samples])
    # a few 4 MB messages in flight make ±25 MB of noise (measured: 377-424 MB); a queue keeping
    # even a tenth of the flood would grow by > 20 MB per second, > 80 MB over the flood
    half = len(samples) // 2
    assert max(samples[half:]) - max(samples[:half]) < 32, [round(s) for s in samples]
    assert max(samples) - samples[0] < 96, [round(s) for s in samples]
    assert "image is 1024×1024" in node.text()


def test_realtime_sim_robot_holds_without_commands(roscore, tmp_path):
    """--mode realtime steps at its rate like a velocity-controlled robot: no command, no motion."""
    sim = NodeProcess(["ros", "sim-robot", "--env", "BlockPicking-v0", "--option", f"image_size={IMAGE_SIZE}", "--option",
                       "max_episode_steps=10", "--mode", "realtime", "--rate", "40", "--episodes", "1", "--no-point-cloud",
                       "--json", str(tmp_path / "sim.json")], roscore.env, tmp_path / "sim.log", cwd=ROOT)
    try:
        sim.wait(60)
    finally:
        sim.stop()
    (episode,) = json.loads((tmp_path / "sim.json").read_text())["episodes"]
    assert episode["length"] == 10
    np.testing.assert_array_equal(np.array(episode["actions"]), np.tile([1, 0, 0, 0, 0], (10, 1)))
