"""Driver message types Debian lacks (franka_gripper), built at run time: the same MD5 sums as the
driver's generated code, and goals that Debian's real actionlib server accepts from our client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from equimanip.ros.driver_msgs import definitions
from equimanip.ros.ros1 import message_class

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "ros_probe.py"

# from franka_ros 0.10's generated headers (rosserial franka_gripper/*.h, getMD5()): a driver
# drops a connection whose MD5 differs, so these must match exactly
FRANKA_MD5 = {"franka_gripper/GraspActionGoal": "7bd1a6e7f94ef15bb6dd05cb170e7909",
              "franka_gripper/MoveActionGoal": "f8907a1e7bb902f2e4c7db8e1cf3d24f"}


@pytest.mark.parametrize("msg_type", sorted(FRANKA_MD5))
def test_franka_gripper_goals_have_the_drivers_md5(msg_type):
    assert message_class(msg_type)._md5sum == FRANKA_MD5[msg_type]


def test_every_driver_type_builds_and_round_trips_through_bytes():
    from io import BytesIO

    for msg_type in definitions():
        cls = message_class(msg_type)
        buf = BytesIO()
        cls().serialize(buf)
        cls().deserialize(buf.getvalue())
        assert cls._type == msg_type


def test_an_unknown_type_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown ROS message type 'franka_gripper/Nope'"):
        message_class("franka_gripper/Nope")


def test_our_gripper_client_drives_a_real_actionlib_server(roscore, tmp_path):
    """Debian's actionlib.SimpleActionServer (what franka_gripper_node uses) gets our goals, field for field."""
    server_out = tmp_path / "server.json"
    server = subprocess.Popen([sys.executable, str(PROBE), "actionlib_gripper_server", str(server_out), "3", "60"],
                              env=roscore.env, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        out = tmp_path / "client.json"
        res = subprocess.run([sys.executable, str(PROBE), "gripper_client", str(out), json.dumps([0, 0, 1, 0]), "30"],
                             env=roscore.env, capture_output=True, text=True, timeout=90, cwd=ROOT)
        assert res.returncode == 0, res.stderr[-3000:]
        _, err = server.communicate(timeout=60)
        assert server.returncode == 0, err[-3000:]
    finally:
        server.kill()
    client = json.loads(out.read_text())
    assert client == {"results": [True, True, True, True], "failures": 0}
    goals = json.loads(server_out.read_text())["goals"]
    # close, (close again: no goal), open, close
    assert [g["action"] for g in goals] == ["grasp", "move", "grasp"]
    assert goals[0] == {"action": "grasp", "width": 0.0, "epsilon": {"inner": 0.01, "outer": 0.01}, "speed": 0.05,
                        "force": 30.0}
    assert goals[1] == {"action": "move", "width": 0.08, "speed": 0.05}
