"""A ROS 1 test node run as a subprocess by tests/test_ros_*.py: publishes prepared messages, records answers.

    python tests/ros_probe.py SCENARIO OUT.json [ARGS...]

rospy allows one node per process and binds it to one master, so the test process itself never
starts a node; each scenario is one process like this. Results are JSON written to OUT.json.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np
import rospy
from geometry_msgs.msg import TwistStamped
from sensor_msgs.msg import Image, JointState, PointCloud2
from std_msgs.msg import Bool, Float32, String

from equimanip.ros.messages import image_from_depth, xyz_from_cloud
from equimanip.ros.ros1 import to_dict, to_msg

DEPTH, HOLDING = "/equimanip/camera/depth", "/equimanip/gripper_holding"
CMD, GRIP = "/equimanip/cmd_twist", "/equimanip/gripper_command"


class Recorder:
    def __init__(self, topic: str, cls: type):
        self.messages: list = []
        self.lock = threading.Lock()
        self.sub = rospy.Subscriber(topic, cls, self._on, queue_size=100)

    def _on(self, msg) -> None:
        with self.lock:
            self.messages.append(msg)

    def wait(self, n: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.messages) < n:
            time.sleep(0.01)
        return len(self.messages)


def wait_connected(pub: rospy.Publisher, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while pub.get_num_connections() == 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"nobody subscribed {pub.resolved_name} within {timeout} s")
        time.sleep(0.05)


def image(size: int, encoding: str = "32FC1", t: float | None = None, depth: float = 0.1) -> Image:
    return to_msg(Image, image_from_depth(np.full((size, size), depth, np.float32), "cam", t, encoding=encoding))


def modified(msg, **fields):
    for key, value in fields.items():
        setattr(msg, key, value)
    return msg


def restamped(msg, t: float):
    msg.header.stamp = rospy.Time.from_sec(t)
    return msg


def policy_inputs(size: int):
    """Publishers of the policy node's inputs, connected, and a recorder of its commands."""
    pub_img = rospy.Publisher(DEPTH, Image, queue_size=10)
    pub_hold = rospy.Publisher(HOLDING, Bool, queue_size=10, latch=True)
    cmds = Recorder(CMD, TwistStamped)
    wait_connected(pub_img)
    wait_connected(pub_hold)
    pub_hold.publish(Bool(False))
    deadline = time.monotonic() + 30  # until the node answers a first good image
    while not cmds.messages and time.monotonic() < deadline:
        pub_img.publish(image(size))
        cmds.wait(1, 0.5)
    return pub_img, pub_hold, cmds


def answers(cmds: Recorder, img: Image, timeout: float) -> int:
    """Commands that answer ``img`` (stamped with its stamp; a hold is stamped with its own time)."""
    deadline = time.monotonic() + timeout
    while True:
        with cmds.lock:
            n = sum(m.header.stamp == img.header.stamp for m in cmds.messages)
        if n or time.monotonic() > deadline:
            if n:
                time.sleep(0.1)  # a second answer would be a bug: give it time to show
                with cmds.lock:
                    n = sum(m.header.stamp == img.header.stamp for m in cmds.messages)
            return n
        time.sleep(0.01)


def bad_images(size: int) -> dict:
    """Each bad image must bring no command; good ones after them one each."""
    pub_img, _, cmds = policy_inputs(size)
    out = {"first": len(cmds.messages)}
    time.sleep(0.3)
    now = time.time()
    good = image(size)
    cases = {
        "encoding_rgb8": lambda: modified(image(size), encoding="rgb8"),
        "wrong_size": lambda: image(size // 2),
        "short_data": lambda: modified(image(size), data=good.data[:-4]),
        "step_too_short": lambda: modified(image(size), step=2, data=good.data[: 2 * size]),
        "nan_depth": lambda: image(size, depth=float("nan")),
        "stale": lambda: image(size, t=time.time() - 30.0),
    }
    for name, make in cases.items():
        msg = make()
        pub_img.publish(msg)
        out[name] = answers(cmds, msg, 0.4)
    # good, then one stamped before it (out of order), then a good 16UC1 one
    t_good = time.time()
    msg = image(size, t=t_good)
    pub_img.publish(msg)
    out["good"] = answers(cmds, msg, 3.0)
    msg = image(size, t=t_good - 0.05)
    pub_img.publish(msg)
    out["out_of_order"] = answers(cmds, msg, 0.4)
    msg = image(size, encoding="16UC1")
    pub_img.publish(msg)
    out["good_16uc1"] = answers(cmds, msg, 3.0)
    out["elapsed"] = time.time() - now
    return out


def one_command(size: int) -> dict:
    """A good image in, a command out (after a master restart: through the re-registered node)."""
    _, _, cmds = policy_inputs(size)
    m = cmds.messages[0]
    return {"commands": len(cmds.messages), "frame_id": m.header.frame_id}


def flood_images(size: int, seconds: float, big: int) -> dict:
    """Big images (wrong size: skipped after being read) as fast as possible, a good one every 0.1 s."""
    pub_img, _, cmds = policy_inputs(size)
    flood = to_msg(Image, image_from_depth(np.zeros((big, big), np.float32), "cam"))
    open(FLOODING, "w").close()  # the node is up and answering: the test samples memory from here on
    sent, before = 0, len(cmds.messages)
    end = time.monotonic() + seconds
    next_good = 0.0
    while time.monotonic() < end:
        flood.header.stamp = rospy.Time.from_sec(time.time())
        pub_img.publish(flood)
        sent += 1
        if time.monotonic() > next_good:
            pub_img.publish(image(size))
            next_good = time.monotonic() + 0.1
    time.sleep(0.5)
    return {"sent": sent, "bytes": sent * len(flood.data), "commands_during_flood": len(cmds.messages) - before}


def sim_topics() -> dict:
    """One of each message the sim robot publishes, decoded with our conversions."""
    recs = {"image": Recorder(DEPTH, Image), "points": Recorder("/equimanip/camera/points", PointCloud2),
            "joints": Recorder("/equimanip/joint_states", JointState), "holding": Recorder(HOLDING, Bool)}
    for rec in recs.values():
        rec.wait(1, 30.0)
    from equimanip.ros.messages import depth_from_image

    img = to_dict(recs["image"].messages[0])
    pts, dropped = xyz_from_cloud(to_dict(recs["points"].messages[0]))
    joints = recs["joints"].messages[0]
    return {"depth_shape": list(depth_from_image(img).shape), "encoding": img["encoding"], "points": len(pts),
            "dropped": dropped, "points_min": pts.min(0).tolist(), "points_max": pts.max(0).tolist(),
            "joint_names": list(joints.name), "holding": bool(recs["holding"].messages[0].data)}


def drive_sim(steps: int) -> dict:
    """Act as a (constant) policy for the sim robot: answer each image with a downward twist."""
    pub_cmd = rospy.Publisher(CMD, TwistStamped, queue_size=10)
    pub_grip = rospy.Publisher(GRIP, Float32, queue_size=10)
    images = Recorder(DEPTH, Image)
    episodes = Recorder("/equimanip/episode", String)
    wait_connected(pub_cmd)
    wait_connected(pub_grip)
    images.wait(1, 30.0)
    answered = 0
    while answered < steps:
        n = images.wait(answered + 1, 5.0)
        if n <= answered:
            break
        last = images.messages[-1]
        answered = n
        cmd = TwistStamped()
        cmd.header.stamp = last.header.stamp
        cmd.twist.linear.z = -0.2
        pub_grip.publish(Float32(1.0))
        pub_cmd.publish(cmd)
    return {"images": len(images.messages), "episodes": [json.loads(m.data) for m in episodes.messages]}


def scene_cloud(n: int, seed: int = 0, nan: int = 0) -> np.ndarray:
    """A 5×4×6 cm box on a 30 cm table square (z = 0), ``n`` points, ``nan`` of them NaN."""
    from equimanip.policies.grasp.synthetic import box_cloud

    pts, _ = box_cloud(spacing=0.002, table_half_extent=0.15)
    rng = np.random.default_rng(seed)
    out = pts[rng.choice(len(pts), n, replace=len(pts) < n)] + rng.normal(0, 0.0005, (n, 3))
    out[:nan] = np.nan
    return out.astype(np.float32)


def grasp_inputs():
    from geometry_msgs.msg import PoseArray
    from std_msgs.msg import Float32MultiArray
    from visualization_msgs.msg import MarkerArray

    pub = rospy.Publisher("/equimanip/camera/points", PointCloud2, queue_size=10)
    recs = {"grasps": Recorder("/equimanip/grasps", PoseArray), "scores": Recorder("/equimanip/grasp_scores", Float32MultiArray),
            "markers": Recorder("/equimanip/grasp_markers", MarkerArray)}
    wait_connected(pub)
    for rec in recs.values():  # the server publishes only when clouds come: wait for its connections
        deadline = time.monotonic() + 30
        while rec.sub.get_num_connections() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    return pub, recs


def grasp_answers(recs, msg, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with recs["grasps"].lock:
            got = [m for m in recs["grasps"].messages if m.header.stamp == msg.header.stamp]
        if got:
            return got
        time.sleep(0.01)
    return []


def bad_clouds() -> dict:
    """Each malformed cloud is skipped; a good one (with NaN points) is answered in its frame."""
    from equimanip.ros.messages import cloud_from_xyz

    pub, recs = grasp_inputs()
    good = lambda: to_msg(PointCloud2, cloud_from_xyz(scene_cloud(5000, nan=50), "camera_link"))  # noqa: E731
    cases = {
        "missing_z": lambda: modified(good(), fields=good().fields[:2]),
        "all_nan": lambda: to_msg(PointCloud2, cloud_from_xyz(np.full((100, 3), np.nan), "camera_link")),
        "empty": lambda: to_msg(PointCloud2, cloud_from_xyz(np.zeros((0, 3)), "camera_link")),
        "wrong_point_step": lambda: modified(good(), point_step=8, row_step=8 * 5000),
        "short_data": lambda: modified(good(), data=good().data[:-12]),
        "stale": lambda: restamped(good(), time.time() - 60),
    }
    out = {}
    for name, make in cases.items():
        msg = make()
        pub.publish(msg)
        out[name] = len(grasp_answers(recs, msg, 0.5))
    msg = good()
    pub.publish(msg)
    (answer, *more) = grasp_answers(recs, msg, 20.0) or [None]
    time.sleep(0.3)
    scores = recs["scores"].messages[-1]
    markers = recs["markers"].messages[-1]
    out["good"] = {"answers": 1 + len(more) if answer else 0, "frame_id": answer.header.frame_id if answer else None,
                   "poses": len(answer.poses) if answer else 0, "scores": len(scores.data),
                   "labels": [d.label for d in scores.layout.dim], "markers": len(markers.markers),
                   "z": [p.position.z for p in answer.poses] if answer else []}
    return out


def flood_clouds(seconds: float, n: int) -> dict:
    """``n``-point clouds as fast as one process can publish them."""
    from equimanip.ros.messages import cloud_from_xyz

    pub, recs = grasp_inputs()
    msg = to_msg(PointCloud2, cloud_from_xyz(scene_cloud(n), "camera_link"))
    pub.publish(msg)  # a first one, answered: the detector's working memory is then allocated
    if not grasp_answers(recs, msg, 30.0):
        raise SystemExit("the grasp server did not answer the warm-up cloud")
    open(FLOODING, "w").close()  # the test samples memory from here on
    sent = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        msg.header.stamp = rospy.Time.from_sec(time.time())
        pub.publish(msg)
        sent += 1
    time.sleep(1.0)
    return {"sent": sent, "bytes": sent * len(msg.data), "answered": len(recs["grasps"].messages)}


def actionlib_gripper_server(goals: int, timeout: float) -> dict:
    """franka_gripper's two actions served by Debian's actionlib.SimpleActionServer (as franka_gripper_node
    does) with our generated classes; records the goals until ``goals`` came."""
    import actionlib

    from equimanip.ros.ros1 import message_class

    received: list = []

    def serve(name: str):
        server = None
        result_cls = message_class(f"franka_gripper/{name.capitalize()}Result")

        def execute(goal) -> None:
            received.append({"action": name, **to_dict(goal)})
            server.set_succeeded(result_cls(success=True, error=""))

        action_cls = message_class(f"franka_gripper/{name.capitalize()}Action")
        server = actionlib.SimpleActionServer(f"/franka_gripper/{name}", action_cls, execute_cb=execute, auto_start=False)
        server.start()
        return server

    servers = [serve("move"), serve("grasp")]  # noqa: F841 (kept alive while serving)
    deadline = time.monotonic() + timeout
    while len(received) < goals and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # let the last result go out
    return {"goals": received}


def gripper_client(commands: list, server_wait: float) -> dict:
    """Our FrankaGripperClient (its own node, through Ros1Transport) sends open/close commands."""
    from equimanip.ros.franka_gripper import FrankaGripperClient, status_topic
    from equimanip.ros.ros1 import Ros1Transport, message_class

    tr = Ros1Transport("probe_gripper_client", anonymous=True)
    client = FrankaGripperClient(tr, "/franka_gripper", open_width=0.08, speed=0.05, force=30.0, epsilon=0.01, timeout=5.0)
    client.connect()
    # as actionlib's wait_for_server: the server's status topic is there before the first goal
    rospy.wait_for_message(status_topic("/franka_gripper", "grasp"), message_class("actionlib_msgs/GoalStatusArray"),
                           timeout=server_wait)
    time.sleep(0.5)  # the server's goal subscriber connects to our fresh publishers
    results = [client.command(bool(c)) for c in commands]
    tr.shutdown()
    return {"results": results, "failures": client.failures}


OWN_NODE = {"gripper_client"}  # scenarios that start their node through our transport

SCENARIOS = {"actionlib_gripper_server": actionlib_gripper_server, "gripper_client": gripper_client,
             "bad_images": bad_images, "bad_clouds": bad_clouds, "flood_clouds": flood_clouds, "one_command": one_command,
             "flood_images": flood_images, "sim_topics": sim_topics, "drive_sim": drive_sim}

if __name__ == "__main__":
    name, out_path, *args = sys.argv[1:]
    FLOODING = out_path + ".flooding"
    if name not in OWN_NODE:
        rospy.init_node(f"probe_{name}", anonymous=True, disable_signals=True, disable_rostime=True)
    result = SCENARIOS[name](*[json.loads(a) for a in args])
    with open(out_path, "w") as f:
        json.dump(result, f)
    rospy.signal_shutdown("done")
