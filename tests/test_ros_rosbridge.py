"""ROS 2 users: the same nodes over rosbridge (roslibpy), against OUR small rosbridge v2 server
(equimanip.ros.rosbridge_server: a JSON relay on 127.0.0.1, not the real rosbridge_server)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from equimanip.ros.testing import BridgeServer, NodeProcess, in_process_episode, write_tiny_run

ROOT = Path(__file__).resolve().parents[1]
IMAGE_SIZE = 32
STEPS = 20  # episode length of the loop tests (max_episode_steps)


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    server = BridgeServer(log=tmp_path_factory.mktemp("bridge") / "server.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A BC run directory with an untrained small CNN ({IMAGE_SIZE} px): loads and acts like a trained one."""
    return write_tiny_run(tmp_path_factory.mktemp("tiny_run"), IMAGE_SIZE, seed=1)


class Client:
    """A rosbridge client in the test process (roslibpy allows many): publish and record."""

    def __init__(self, address: str, ros2: bool = True):
        from equimanip.ros.rosbridge import RosbridgeTransport

        host, port = address.split(":")
        self.transport = RosbridgeTransport("test_client", host, int(port), ros2=ros2)
        self.received: dict[str, list] = {}
        self.lock = threading.Lock()

    def record(self, topic: str, msg_type: str) -> list:
        box = self.received.setdefault(topic, [])

        def on(msg):
            with self.lock:
                box.append(msg)

        self.transport.subscribe(topic, msg_type, on, queue_size=50)
        return box

    def close(self) -> None:
        self.transport.shutdown()


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def env_without_ros_master() -> dict:
    import os

    env = dict(os.environ)
    env["ROS_MASTER_URI"] = "http://127.0.0.1:1"  # nothing there: these nodes must not need a ROS 1 master
    return env


def test_loop_over_rosbridge_equals_the_in_process_episode(bridge, tiny_run, tmp_path):
    common = ["--rosbridge", bridge.address, "--ros2", "--rate", "50"]
    sim = NodeProcess(["ros", "sim-robot", "--run", str(tiny_run), "--episodes", "1", "--seed", "3", "--no-point-cloud",
                       "--option", f"max_episode_steps={STEPS}",
                       "--json", str(tmp_path / "sim.json"), *common], env_without_ros_master(), tmp_path / "sim.log", cwd=ROOT)
    policy = NodeProcess(["ros", "policy-node", "--run", str(tiny_run), "--device", "cpu", "--state-wait", "2", *common],
                         env_without_ros_master(),
                         tmp_path / "policy.log", cwd=ROOT)
    try:
        sim.wait(120)
    finally:
        policy.stop()
        sim.stop()
    through_bridge = json.loads((tmp_path / "sim.json").read_text())["episodes"][0]
    report, actions = in_process_episode(tiny_run, 3, STEPS)
    assert through_bridge["length"] == report.steps and through_bridge["success"] == report.info["is_success"]
    sent, wanted = np.array(through_bridge["actions"]), np.clip(np.array(actions), -1, 1)
    np.testing.assert_allclose(sent[:, 1:], wanted[:, 1:], atol=1e-4)
    np.testing.assert_array_equal(sent[:, 0] > 0, wanted[:, 0] > 0)


@pytest.fixture(scope="module")
def grasp_server(bridge, tmp_path_factory):
    """One grasp server for the module (its start-up is most of a test's time); the restart test runs last."""
    log = tmp_path_factory.mktemp("grasp") / "grasp.log"
    node = NodeProcess(["ros", "grasp-server", "--detector", "heuristic", "--table-height", "0.0", "--device", "cpu",
                        "--rosbridge", bridge.address, "--ros2"], env_without_ros_master(), log, cwd=ROOT)
    assert node.wait_for("grasp server:", 60), node.text()
    yield node
    node.stop()


def scene(n: int = 4000) -> np.ndarray:
    from equimanip.policies.grasp.synthetic import box_cloud

    pts, _ = box_cloud(spacing=0.002, table_half_extent=0.15)
    return pts[np.random.default_rng(0).choice(len(pts), n)]


def test_grasp_server_over_rosbridge_answers_and_skips_bad_clouds(bridge, grasp_server):
    from equimanip.ros.messages import cloud_from_xyz

    client = Client(bridge.address)
    try:
        grasps = client.record("/equimanip/grasps", "geometry_msgs/PoseArray")
        scores = client.record("/equimanip/grasp_scores", "std_msgs/Float32MultiArray")
        pub = client.transport.publisher("/equimanip/camera/points", "sensor_msgs/PointCloud2")
        bad = cloud_from_xyz(scene(), "camera_link")
        bad["fields"] = bad["fields"][:2]
        # until the subscription is up a cloud can be lost, and a second cloud sent at once can replace a
        # first still queued (the queue holds one): re-send the bad one until it has been read and skipped
        deadline = time.monotonic() + 30
        while "no z field" not in grasp_server.text() and time.monotonic() < deadline:
            pub.publish(bad)
            time.sleep(0.2)
        assert "no z field" in grasp_server.text(), grasp_server.text()
        good = cloud_from_xyz(scene(), "camera_link")
        pub.publish(good)
        assert wait_until(lambda: grasps, 30), grasp_server.text()
        time.sleep(0.5)
        assert len(grasps) == 1  # the bad one was skipped
        answer = grasps[0]
        assert answer["header"]["frame_id"] == "camera_link"
        assert answer["header"]["stamp"] == {"sec": good["header"]["stamp"]["secs"], "nanosec": good["header"]["stamp"]["nsecs"]}
        assert len(scores[0]["data"]) == 2 * len(answer["poses"]) > 0
    finally:
        client.close()


def test_nodes_reconnect_when_the_bridge_restarts(bridge, grasp_server):
    from equimanip.ros.messages import cloud_from_xyz

    bridge.stop()
    assert grasp_server.wait_for("closed the connection: reconnecting", 10)
    bridge.start()
    assert grasp_server.wait_for("is back", 30), grasp_server.text()
    client = Client(bridge.address)
    try:
        grasps = client.record("/equimanip/grasps", "geometry_msgs/PoseArray")
        pub = client.transport.publisher("/equimanip/camera/points", "sensor_msgs/PointCloud2")
        time.sleep(0.5)
        pub.publish(cloud_from_xyz(scene(), "camera_link"))
        assert wait_until(lambda: grasps, 30), grasp_server.text()
    finally:
        client.close()
